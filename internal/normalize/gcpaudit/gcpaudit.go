// Package gcpaudit decodes GCP Cloud Audit Logs: Cloud Logging LogEntry
// records whose protoPayload is a google.cloud.audit.AuditLog — Admin
// Activity (logName …/logs/cloudaudit.googleapis.com%2Factivity), Data
// Access (%2Fdata_access), System Event (%2Fsystem_event) and Policy Denied
// (%2Fpolicy) — into normalized events (Source gcp_audit).
//
// # Shapes
//
//   - The LogEntry JSON of the Logging API, Logs Explorer downloads,
//     `gcloud logging read --format=json`, Cloud Storage sinks (JSON lines)
//     and Pub/Sub sinks: {"protoPayload": {"@type": "type.googleapis.com/
//     google.cloud.audit.AuditLog", ...}, "insertId", "logName", ...}. The
//     dispatcher unwraps arrays, JSON lines, gzip and Pub/Sub messages; this
//     package decodes the records inside. An entry without "@type" is
//     accepted when its logName is a cloudaudit.googleapis.com log.
//   - The BigQuery sink schema, as exported from BigQuery as JSON:
//     "protopayload_auditlog" instead of "protoPayload", with request,
//     response and metadata as JSON strings (requestJson, responseJson,
//     metadataJson), the IAM policy delta in servicedata_v1_iam, and null
//     for absent fields.
//
// Not decoded here (Detect returns false): GKE Kubernetes audit entries
// (protoPayload.serviceName "k8s.io", the Kubernetes audit decoder's), and
// LogEntry records that are not audit logs (VPC flow logs, load balancer
// request logs, container stdout: jsonPayload/textPayload records).
//
// # Normalized fields
//
//	normalized field     ← source field
//	source               ← "gcp_audit"
//	time                 ← timestamp, else receiveTimestamp (RFC 3339; the BigQuery "… UTC" form too)
//	id                   ← "<parent>/<insertId>": the log's parent (projects/P, organizations/O,
//	                       folders/F, billingAccounts/B, the part of logName before /logs/) and
//	                       insertId; insertId alone when logName is absent (see below)
//	action               ← protoPayload.methodName, else resource.labels.method
//	outcome              ← failure when protoPayload.status.code != 0, the log is Policy Denied, or
//	                       the method is google.login.LoginService.loginFailure (a Workspace sign-in failure);
//	                       unknown for the first entry of a long-running operation
//	                       (operation.first true, operation.last not) without an error status;
//	                       success otherwise (no status means success)
//	actor.name           ← authenticationInfo.principalEmail, else authenticationInfo.principalSubject;
//	                       "anonymous" when neither is set; protoPayload.serviceName for a
//	                       System Event entry without a principal
//	actor.id             ← authenticationInfo.principalSubject ("user:…", "serviceAccount:…", "principal://…")
//	actor.type           ← from the principal (see below)
//	actor.source_ip(s)   ← requestMetadata.callerIp, as reported ("gce-internal-ip" and "private" included)
//	actor.user_agent     ← requestMetadata.callerSuppliedUserAgent
//	actor.impersonator   ← authenticationInfo.serviceAccountDelegationInfo[0]: firstPartyPrincipal.principalEmail,
//	                       else its principalSubject (the original caller of a delegation chain)
//	actor.session_id     ← authenticationInfo.serviceAccountKeyName (the service account key used)
//	target.id            ← protoPayload.resourceName (the full resource name)
//	target.name          ← the last segment of resourceName ("subnet-1", "my-sink"); for Cloud
//	                       Storage objects (…/buckets/B/objects/O) the object name O
//	target.type          ← resource.type ("project", "service_account", "gcs_bucket", "logging_sink", ...)
//	cloud.provider       ← "gcp"
//	cloud.account        ← resource.labels.project_id, else the project of logName (empty for
//	                       organization, folder and billing account logs)
//	cloud.region         ← resource.labels.location, region or zone, else
//	                       protoPayload.resourceLocation.currentLocations[0]
//	cloud.service        ← protoPayload.serviceName, else resource.labels.service
//	cloud.error_code     ← the gRPC name of status.code ("PERMISSION_DENIED" for 7); PERMISSION_DENIED
//	                       for a Policy Denied entry without a status
//	k8s.service_account  ← "NS/KSA" of a GKE Workload Identity principal, in
//	                       authenticationInfo.principalSubject or any
//	                       serviceAccountDelegationInfo[].principalSubject:
//	                       "serviceAccount:PROJECT.svc.id.goog[NS/KSA]" or
//	                       "principal://iam.googleapis.com/…/workloadIdentityPools/PROJECT.svc.id.goog/subject/ns/NS/sa/KSA"
//	k8s.cluster          ← resource.labels.cluster_name (GKE cluster and node pool operations)
//	issued.subject       ← for a successful iamcredentials GenerateAccessToken or GenerateIdToken:
//	                       the caller ("system:serviceaccount:NS:KSA" for a Workload Identity caller)
//	issued.principal     ← the service account the token acts as: resource.labels.email_id, else the
//	                       e-mail in resourceName or request.name
//	issued.session_id    ← for a successful CreateServiceAccountKey or UploadServiceAccountKey: the new
//	                       key's name, response.name ("projects/P/serviceAccounts/EMAIL/keys/KEY_ID";
//	                       JSON shape only, not the BigQuery responseJson)
//	issued.principal     ← idem: the key's service account, resource.labels.email_id
//	raw                  ← the record in LogEntry JSON shape (a BigQuery-shaped record is
//	                       converted, see below), secrets redacted; only with Options.Raw
//
// # Actor types
//
//   - "service_account": a principal ending in .gserviceaccount.com that is
//     not a Google-managed service agent — user-managed service accounts
//     (NAME@PROJECT.iam.gserviceaccount.com) and the default ones
//     (PROJECT_NUMBER-compute@developer.gserviceaccount.com,
//     PROJECT@appspot.gserviceaccount.com, PROJECT_NUMBER@cloudbuild…):
//     they run customer code, so their credentials can be stolen; also
//     Workload Identity pool subjects (GKE and federated workloads).
//   - "service": Google-managed service agents acting on their own —
//     service-PROJECT_NUMBER@*.iam.gserviceaccount.com, *@gcp-sa-*.iam.gserviceaccount.com,
//     PROJECT_NUMBER@cloudservices.gserviceaccount.com — system@google.com, and
//     System Event entries without a principal. Customers cannot create
//     keys for them; rules usually leave them out.
//   - "user": any other e-mail (people, including personal accounts), and
//     Workforce Identity pool subjects.
//   - "anonymous": no principal at all. Google also omits the e-mail of
//     some callers from outside the organization whose read-only call was
//     denied, so rules about anonymous access should require outcome success.
//
// # Event id
//
// insertId is unique only within a project (Cloud Logging drops entries
// with the same project, timestamp and insertId as duplicates), and an
// organization- or folder-level aggregated sink mixes many projects, so the
// id is prefixed with the log's parent resource. To find the entry in Logs
// Explorer, query insertId="…" (the part after the last "/") in that
// project. A record without insertId (Cloud Logging always sets one, so
// only hand-made records lack it) gets "sha256:" and the first 24 hex
// digits of the SHA-256 of its JSON, so that a replayed record keeps its
// id; losing an audit record over a missing id would be worse.
//
// # Raw and redaction
//
// Event.Raw is the record as a map in LogEntry JSON shape, so rule
// conditions read raw.protoPayload.request, .response, .metadata and
// .serviceData whatever the export: a BigQuery-shaped record is converted
// (protopayload_auditlog → protoPayload; requestJson, responseJson and
// metadataJson parsed into request, response and metadata;
// servicedata_v1_* → serviceData; nulls dropped). Before it is kept, every string value under
// a key naming a secret is replaced by "[REDACTED]", and so is everything
// below such a key: keys containing privatekey, password, passwd, secret,
// token, credential, apikey, keystring or cookie, case-insensitive, except
// identifiers, names and types (secretId, tokenType, privateKeyType);
// Authorization headers; and payload.data (Secret Manager secret versions).
// A BigQuery JSON string that does not parse is replaced whole. Then
// redact.Value scrubs the free-form parts — everything in protoPayload but
// its names, authenticationInfo and authorizationInfo, and the entry's
// labels — for credential patterns (bearer tokens, private key blocks,
// key=value secrets, JWTs, API keys in a startup script, say) and masks the
// secret-looking keys it knows, names included.
// No other normalized field is taken from request or response bodies.
package gcpaudit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// AuditLogType is the @type of an AuditLog protoPayload.
const AuditLogType = "type.googleapis.com/google.cloud.audit.AuditLog"

// Log names (after "/logs/", URL-decoded) of the four audit logs.
const (
	LogActivity    = "cloudaudit.googleapis.com/activity"
	LogDataAccess  = "cloudaudit.googleapis.com/data_access"
	LogSystemEvent = "cloudaudit.googleapis.com/system_event"
	LogPolicy      = "cloudaudit.googleapis.com/policy"
)

// payload returns the AuditLog payload of a LogEntry and whether the
// record is in the BigQuery sink schema.
func payload(v *fastjson.Value) (pp *fastjson.Value, bq bool) {
	if pp = v.Get("protoPayload"); pp != nil && pp.Type() == fastjson.TypeObject {
		return pp, false
	}
	if pp = v.Get("protopayload_auditlog"); pp != nil && pp.Type() == fastjson.TypeObject {
		return pp, true
	}
	return nil, false
}

// Detect reports whether v is a Cloud Audit Logs LogEntry (JSON or
// BigQuery shape) that is not a GKE Kubernetes audit entry.
func Detect(v *fastjson.Value) bool {
	pp, bq := payload(v)
	if pp == nil {
		return false
	}
	if !bq {
		t := pp.GetStringBytes("@type")
		switch {
		case t != nil && string(t) != AuditLogType:
			return false
		case t == nil && !strings.Contains(string(v.GetStringBytes("logName")), "cloudaudit.googleapis.com"):
			return false
		}
	}
	return string(pp.GetStringBytes("serviceName")) != "k8s.io"
}

// Decode decodes one audit LogEntry Detect accepted. The source has no
// batch form of its own (arrays and JSON lines are the dispatcher's), so
// it returns one event or one error.
func Decode(v *fastjson.Value, o normalize.Options, _ normalize.Meta) ([]*event.Event, []error) {
	ev, err := decode(v, o)
	if err != nil {
		return nil, []error{err}
	}
	return []*event.Event{ev}, nil
}

func decode(v *fastjson.Value, o normalize.Options) (*event.Event, error) {
	pp, bq := payload(v)
	if pp == nil {
		return nil, fmt.Errorf("%w: a LogEntry without an AuditLog protoPayload", normalize.ErrUnknownFormat)
	}
	ev := &event.Event{Source: event.SourceGCPAudit}

	t, ok := entryTime(v, "timestamp")
	if !ok {
		t, ok = entryTime(v, "receiveTimestamp")
	}
	if !ok {
		return nil, fmt.Errorf("%w: audit LogEntry without a valid timestamp or receiveTimestamp", normalize.ErrInvalidEvent)
	}
	ev.Time = t

	ev.Action = normalize.Str(pp, "methodName")
	if ev.Action == "" {
		ev.Action = normalize.Str(v, "resource", "labels", "method")
	}
	if ev.Action == "" {
		return nil, fmt.Errorf("%w: AuditLog without methodName", normalize.ErrInvalidEvent)
	}

	logName := normalize.Str(v, "logName")
	parent, log := splitLogName(logName)
	id := normalize.Str(v, "insertId")
	if id == "" {
		sum := sha256.Sum256(v.MarshalTo(nil))
		id = "sha256:" + hex.EncodeToString(sum[:12])
	}
	if parent != "" {
		id = parent + "/" + id
	}
	ev.ID = id

	// Outcome and error code.
	ev.Outcome = event.OutcomeSuccess
	code, errName := status(pp)
	switch op := v.Get("operation"); {
	case code != 0 || errName != "":
		ev.Outcome = event.OutcomeFailure
		ev.Cloud.ErrorCode = errName
	case log == LogPolicy:
		ev.Outcome = event.OutcomeFailure
		ev.Cloud.ErrorCode = "PERMISSION_DENIED"
	case ev.Action == "google.login.LoginService.loginFailure":
		// A Google Workspace sign-in failure shared with Cloud Logging:
		// the record succeeds, the sign-in it reports did not.
		ev.Outcome = event.OutcomeFailure
	case op != nil && op.GetBool("first") && !op.GetBool("last"):
		ev.Outcome = event.OutcomeUnknown
	}

	// Cloud context.
	ev.Cloud.Provider = event.ProviderGCP
	ev.Cloud.Account = normalize.Str(v, "resource", "labels", "project_id")
	if ev.Cloud.Account == "" {
		if p, ok := strings.CutPrefix(parent, "projects/"); ok {
			ev.Cloud.Account = p
		}
	}
	for _, k := range [...]string{"location", "region", "zone"} {
		if ev.Cloud.Region = normalize.Str(v, "resource", "labels", k); ev.Cloud.Region != "" {
			break
		}
	}
	if ev.Cloud.Region == "" {
		if locs := pp.GetArray("resourceLocation", "currentLocations"); len(locs) > 0 {
			ev.Cloud.Region = string(locs[0].GetStringBytes())
		}
	}
	ev.Cloud.Service = normalize.Str(pp, "serviceName")
	if ev.Cloud.Service == "" {
		ev.Cloud.Service = normalize.Str(v, "resource", "labels", "service")
	}

	// Actor.
	wiActor := actor(ev, pp, log)

	// Target.
	ev.Target.ID = normalize.Str(pp, "resourceName")
	ev.Target.Name = shortName(ev.Target.ID)
	ev.Target.Type = normalize.Str(v, "resource", "type")
	ev.K8s.Cluster = normalize.Str(v, "resource", "labels", "cluster_name")

	issued(ev, v, pp, wiActor)

	if o.Raw {
		ev.SetRawFunc(normalize.DeferRaw(v, o, func(v *fastjson.Value) map[string]any { return rawRecord(v, bq) }))
	}
	return ev, nil
}

// entryTime reads a LogEntry timestamp: RFC 3339, Unix seconds, or the
// "2006-01-02 15:04:05.999 UTC" form of BigQuery exports.
func entryTime(v *fastjson.Value, key string) (time.Time, bool) {
	x := v.Get(key)
	if x != nil && x.Type() == fastjson.TypeString {
		if s, ok := strings.CutSuffix(string(x.GetStringBytes()), " UTC"); ok {
			return normalize.ParseTime(s)
		}
	}
	return normalize.Time(v, key)
}

// splitLogName splits "projects/P/logs/cloudaudit.googleapis.com%2Factivity"
// into its parent ("projects/P") and its URL-decoded log id.
func splitLogName(logName string) (parent, log string) {
	i := strings.Index(logName, "/logs/")
	if i < 0 {
		return "", ""
	}
	parent, log = logName[:i], logName[i+len("/logs/"):]
	return parent, strings.ReplaceAll(strings.ReplaceAll(log, "%2F", "/"), "%2f", "/")
}

// status returns the AuditLog status code and its gRPC name ("" for OK).
// A code written as a name ("PERMISSION_DENIED") is taken as is.
func status(pp *fastjson.Value) (int, string) {
	c := pp.Get("status", "code")
	if c == nil {
		return 0, ""
	}
	switch c.Type() {
	case fastjson.TypeNumber:
		f, _ := c.Float64()
		n := int(f)
		if n == 0 && f != 0 {
			n = -1 // a fraction: not a code, but not OK either
		}
		return n, codeName(n)
	case fastjson.TypeString:
		s := string(c.GetStringBytes())
		if n, err := strconv.Atoi(s); err == nil {
			return n, codeName(n)
		}
		if s == "" || s == "OK" {
			return 0, ""
		}
		return -1, s
	}
	return 0, ""
}

// grpcCodes are the names of the google.rpc.Code values.
var grpcCodes = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

// codeName returns the gRPC name of code: "" for OK, "CODE_<n>" for a code
// outside google.rpc.Code.
func codeName(code int) string {
	switch {
	case code == 0:
		return ""
	case code > 0 && code < len(grpcCodes):
		return grpcCodes[code]
	}
	return "CODE_" + strconv.Itoa(code)
}

// shortName is the last segment of a resource name; for a Cloud Storage
// object (…/buckets/B/objects/O, O may hold slashes) it is O.
func shortName(name string) string {
	if i := strings.Index(name, "/objects/"); i >= 0 && strings.Contains(name[:i], "buckets/") {
		return name[i+len("/objects/"):]
	}
	name = strings.TrimRight(name, "/")
	return name[strings.LastIndexByte(name, '/')+1:]
}

// issued records the token a successful iamcredentials GenerateAccessToken
// or GenerateIdToken handed out: to the caller, acting as the target
// service account. Identity resolution links a GKE Workload Identity
// Kubernetes service account to its Google service account this way.
func issued(ev *event.Event, v, pp *fastjson.Value, wiActor bool) {
	if ev.Outcome == event.OutcomeSuccess && ev.Cloud.Service == "iam.googleapis.com" &&
		(strings.HasSuffix(ev.Action, ".CreateServiceAccountKey") || strings.HasSuffix(ev.Action, ".UploadServiceAccountKey")) {
		// A new service-account key: its resource name, whose last segment
		// is the key id a caller authenticating with it reports in
		// serviceAccountKeyName (actor.session_id).
		if key := normalize.Str(pp, "response", "name"); strings.Contains(key, "/keys/") {
			ev.Issued.SessionID = key
			ev.Issued.Principal = normalize.Str(v, "resource", "labels", "email_id")
		}
		return
	}
	if ev.Outcome != event.OutcomeSuccess || ev.Cloud.Service != "iamcredentials.googleapis.com" {
		return
	}
	if !strings.HasSuffix(ev.Action, "GenerateAccessToken") && !strings.HasSuffix(ev.Action, "GenerateIdToken") {
		return
	}
	sa := normalize.Str(v, "resource", "labels", "email_id")
	if sa == "" {
		for _, n := range []string{ev.Target.ID, normalize.Str(pp, "request", "name")} {
			if s := n[strings.LastIndexByte(n, '/')+1:]; strings.Contains(s, "@") {
				sa = s
				break
			}
		}
	}
	if sa == "" {
		return
	}
	ev.Issued.Principal = sa
	ev.Issued.Subject = ev.Actor.Name
	if ns, name, ok := strings.Cut(ev.K8s.ServiceAccount, "/"); ok && wiActor {
		ev.Issued.Subject = "system:serviceaccount:" + ns + ":" + name
	}
}
