package gcpaudit

import (
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// Actor types (event.Actor.Type) this source uses.
const (
	TypeUser           = "user"
	TypeServiceAccount = "service_account"
	TypeService        = "service"
	TypeAnonymous      = "anonymous"
)

// actor fills ev.Actor (and ev.K8s.ServiceAccount for GKE Workload
// Identity) from the AuditLog's authenticationInfo and requestMetadata. It
// reports whether the actor itself is a Workload Identity principal.
func actor(ev *event.Event, pp *fastjson.Value, log string) (wiActor bool) {
	ai := pp.Get("authenticationInfo")
	email := normalize.Str(ai, "principalEmail")
	subject := normalize.Str(ai, "principalSubject")
	a := &ev.Actor
	a.ID = subject
	a.Name = email
	if a.Name == "" {
		a.Name = subject
	}
	switch {
	case a.Name != "":
		a.Type = PrincipalType(a.Name)
	case log == LogSystemEvent:
		// Google acting on its own (live migration, autoscaling, ...).
		a.Name, a.Type = ev.Cloud.Service, TypeService
		if a.Name == "" {
			a.Name = "system@google.com"
		}
	default:
		a.Name, a.Type = "anonymous", TypeAnonymous
	}
	if ksa := WorkloadIdentity(subject); ksa != "" {
		ev.K8s.ServiceAccount, wiActor = ksa, true
	} else if ksa := WorkloadIdentity(email); ksa != "" {
		ev.K8s.ServiceAccount, wiActor = ksa, true
	}

	a.SessionID = normalize.Str(ai, "serviceAccountKeyName")
	if ip := normalize.Str(pp, "requestMetadata", "callerIp"); ip != "" {
		a.SourceIP = ip
		a.SourceIPs = []string{ip}
	}
	a.UserAgent = normalize.Str(pp, "requestMetadata", "callerSuppliedUserAgent")

	// Delegation chain: the first entry is the original caller.
	for i, d := range ai.GetArray("serviceAccountDelegationInfo") {
		ds := normalize.Str(d, "principalSubject")
		if i == 0 {
			a.Impersonator = normalize.Str(d, "firstPartyPrincipal", "principalEmail")
			if a.Impersonator == "" {
				a.Impersonator = ds
			}
		}
		if ev.K8s.ServiceAccount == "" {
			ev.K8s.ServiceAccount = WorkloadIdentity(ds)
		}
	}
	return wiActor
}

// PrincipalType classifies a principal e-mail or subject as TypeUser,
// TypeServiceAccount or TypeService (see the package documentation).
func PrincipalType(p string) string {
	switch {
	case strings.HasPrefix(p, "principal://"), strings.HasPrefix(p, "principalSet://"):
		if strings.Contains(p, "/workforcePools/") {
			return TypeUser
		}
		return TypeServiceAccount
	case strings.HasPrefix(p, "serviceAccount:"):
		p = p[len("serviceAccount:"):]
		if strings.Contains(p, ".svc.id.goog[") {
			return TypeServiceAccount
		}
	case strings.HasPrefix(p, "user:"):
		return TypeUser
	}
	at := strings.LastIndexByte(p, '@')
	if at < 0 {
		return TypeUser
	}
	local, domain := p[:at], strings.ToLower(p[at+1:])
	switch {
	case domain == "google.com" && local == "system":
		return TypeService
	case strings.HasSuffix(domain, ".gserviceaccount.com"):
		if isServiceAgent(local, domain) {
			return TypeService
		}
		return TypeServiceAccount
	}
	return TypeUser
}

// isServiceAgent reports whether a service account e-mail is a
// Google-managed service agent.
func isServiceAgent(local, domain string) bool {
	if strings.HasPrefix(domain, "gcp-sa-") || domain == "cloudservices.gserviceaccount.com" {
		return true
	}
	n, ok := strings.CutPrefix(local, "service-")
	return ok && n != "" && strings.HasSuffix(domain, ".iam.gserviceaccount.com") && digits(n)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// WorkloadIdentity returns "NS/KSA" for a GKE Workload Identity principal —
// "serviceAccount:PROJECT.svc.id.goog[NS/KSA]" (also without the
// "serviceAccount:" prefix) or "principal://iam.googleapis.com/projects/N/
// locations/global/workloadIdentityPools/PROJECT.svc.id.goog/subject/ns/NS/sa/KSA"
// — and "" for any other principal.
func WorkloadIdentity(p string) string {
	if i := strings.Index(p, ".svc.id.goog["); i >= 0 && strings.HasSuffix(p, "]") {
		ksa := p[i+len(".svc.id.goog[") : len(p)-1]
		if ns, name, ok := strings.Cut(ksa, "/"); ok && ns != "" && name != "" && !strings.Contains(name, "/") {
			return ksa
		}
		return ""
	}
	if strings.HasPrefix(p, "principal://") && strings.Contains(p, ".svc.id.goog/subject/ns/") {
		rest := p[strings.Index(p, "/subject/ns/")+len("/subject/ns/"):]
		ns, name, ok := strings.Cut(rest, "/sa/")
		if ok && ns != "" && name != "" && !strings.Contains(ns, "/") && !strings.Contains(name, "/") {
			return ns + "/" + name
		}
	}
	return ""
}
