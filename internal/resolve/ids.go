package resolve

import (
	"strings"

	"github.com/vigia-dev/vigia/internal/event"
)

// Service-account annotations that bind a Kubernetes service account to a
// cloud identity.
const (
	AnnotationIRSA  = "eks.amazonaws.com/role-arn"        // AWS IAM Roles for Service Accounts: role ARN
	AnnotationGKE   = "iam.gke.io/gcp-service-account"    // GKE Workload Identity: GCP service account email
	AnnotationAzure = "azure.workload.identity/client-id" // Azure Workload Identity: application (client) id
)

// boundAnnotations lists the annotations in the order their identities are
// reported.
var boundAnnotations = []string{AnnotationIRSA, AnnotationGKE, AnnotationAzure}

const saUserPrefix = "system:serviceaccount:"

// saUser returns "NS/NAME" for a Kubernetes service-account user name
// "system:serviceaccount:NS:NAME".
func saUser(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, saUserPrefix)
	if !ok {
		return "", false
	}
	ns, sa, ok := strings.Cut(rest, ":")
	if !ok || !validName(ns) || !validName(sa) {
		return "", false
	}
	return ns + "/" + sa, true
}

// saUserName is the inverse of saUser.
func saUserName(nsName string) string {
	ns, name, _ := strings.Cut(nsName, "/")
	return saUserPrefix + ns + ":" + name
}

// validName accepts a Kubernetes namespace or object name as a key part:
// not empty, and without the separators keys use.
func validName(s string) bool {
	return s != "" && len(s) <= 253 && !strings.ContainsAny(s, "/@: \t\r\n")
}

// cloudID returns the key form of a cloud identity: an IAM role ARN
// without its path (assumed-role session ARNs name the role without it,
// and role names are unique in an account), e-mail addresses and GUIDs in
// lower case, anything else (a session ARN, an access key id) as is.
func cloudID(id string) string {
	id = strings.TrimSpace(id)
	if isSessionARN(id) {
		return id
	}
	if role, ok := roleARN(id); ok {
		return role
	}
	if strings.Contains(id, "@") || isGUID(id) {
		return strings.ToLower(id)
	}
	return id
}

// roleARN returns the pathless role ARN for an IAM role ARN
// ("arn:aws:iam::ACCT:role/PATH/NAME") or an assumed-role session ARN
// ("arn:aws:sts::ACCT:assumed-role/NAME/SESSION").
func roleARN(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[4] == "" {
		return "", false
	}
	partition, service, account, resource := parts[1], parts[2], parts[4], parts[5]
	var name string
	switch {
	case service == "iam" && strings.HasPrefix(resource, "role/"):
		r := strings.TrimPrefix(resource, "role/")
		name = r[strings.LastIndexByte(r, '/')+1:]
	case service == "sts" && strings.HasPrefix(resource, "assumed-role/"):
		r := strings.TrimPrefix(resource, "assumed-role/")
		name, _, _ = strings.Cut(r, "/")
	default:
		return "", false
	}
	if name == "" {
		return "", false
	}
	return "arn:" + partition + ":iam::" + account + ":role/" + name, true
}

// isSessionARN reports whether arn is an assumed-role session ARN.
func isSessionARN(arn string) bool {
	parts := strings.SplitN(arn, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/")
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// gkeSubject returns "NS/NAME" for a GKE Workload Identity principal: the
// legacy "serviceAccount:PROJECT.svc.id.goog[NS/NAME]" or the federation
// form "principal://iam.googleapis.com/projects/N/locations/global/
// workloadIdentityPools/PROJECT.svc.id.goog/subject/ns/NS/sa/NAME".
func gkeSubject(s string) (string, bool) {
	if _, rest, ok := strings.Cut(s, ".svc.id.goog["); ok {
		inner, _, ok := strings.Cut(rest, "]")
		if !ok {
			return "", false
		}
		ns, name, ok := strings.Cut(inner, "/")
		if ok && validName(ns) && validName(name) {
			return ns + "/" + name, true
		}
		return "", false
	}
	if _, rest, ok := strings.Cut(s, ".svc.id.goog/subject/ns/"); ok {
		ns, after, ok := strings.Cut(rest, "/sa/")
		if ok && validName(ns) && validName(after) {
			return ns + "/" + after, true
		}
	}
	return "", false
}

// rawAt returns the string at path in a raw event object, "" when any
// level is missing.
func rawAt(m map[string]any, path ...string) string {
	for i, p := range path {
		v, ok := m[p]
		if !ok {
			return ""
		}
		if i == len(path)-1 {
			s, _ := v.(string)
			return s
		}
		if m, ok = v.(map[string]any); !ok {
			return ""
		}
	}
	return ""
}

// rawMap returns the object at path, nil when missing.
func rawMap(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		next, _ := m[p].(map[string]any)
		if next == nil {
			return nil
		}
		m = next
	}
	return m
}

// gcpDelegatedSA returns the Kubernetes service account behind a GCP
// audit event made through GKE Workload Identity: K8s.ServiceAccount as
// the GCP normalizer sets it, else the principal subject of the caller or
// of the first service-account delegation, from the actor fields or the
// raw LogEntry (protoPayload.authenticationInfo).
func gcpDelegatedSA(ev *event.Event) (string, bool) {
	if sa := ev.K8s.ServiceAccount; strings.Count(sa, "/") == 1 { // set by the GCP normalizer
		ns, name, _ := strings.Cut(sa, "/")
		if validName(ns) && validName(name) {
			return sa, true
		}
	}
	for _, s := range []string{ev.Actor.Name, ev.Actor.ID, ev.Actor.Impersonator} {
		if sa, ok := gkeSubject(s); ok {
			return sa, true
		}
	}
	for _, auth := range []map[string]any{
		rawMap(ev.RawMap(), "protoPayload", "authenticationInfo"),
		rawMap(ev.RawMap(), "authenticationInfo"),
	} {
		if auth == nil {
			continue
		}
		if sa, ok := gkeSubject(rawAt(auth, "principalSubject")); ok {
			return sa, true
		}
		chain, _ := auth["serviceAccountDelegationInfo"].([]any)
		for _, d := range chain {
			dm, _ := d.(map[string]any)
			if sa, ok := gkeSubject(rawAt(dm, "principalSubject")); ok {
				return sa, true
			}
		}
	}
	return "", false
}

// azureAppIDs returns the application (client) ids an Azure event carries
// in its token claims (appid, azp) or sign-in properties (appId).
func azureAppIDs(ev *event.Event) []string {
	var ids []string
	for _, claims := range []map[string]any{
		rawMap(ev.RawMap(), "claims"),
		rawMap(ev.RawMap(), "identity", "claims"),
		rawMap(ev.RawMap(), "properties", "claims"),
	} {
		for _, c := range []string{"appid", "azp"} {
			if s := rawAt(claims, c); s != "" {
				ids = append(ids, s)
			}
		}
	}
	if s := rawAt(ev.RawMap(), "properties", "appId"); s != "" {
		ids = append(ids, s)
	}
	return ids
}
