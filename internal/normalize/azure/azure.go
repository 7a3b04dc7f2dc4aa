// Package azure decodes Azure logs into normalized events (source
// "azure_activity"): the Activity Log, resource logs (Key Vault AuditEvent
// and the like), and Entra ID (Azure AD) audit and sign-in logs.
//
// # Shapes
//
// One record of any of these is decoded:
//   - diagnostic-settings exports (Event Hubs, storage): camelCase records
//     with time, resourceId, operationName, category, resultType,
//     callerIpAddress, correlationId, identity and properties. The Event
//     Hubs envelope {"records":[...]} is unwrapped by the dispatcher
//     (internal/normalize/detect), which keeps kube-audit categories for
//     the Kubernetes decoder;
//   - the Activity Log REST API's EventData, as `az monitor activity-log
//     list` prints it (eventTimestamp, caller, claims, eventDataId,
//     operationName/status/category as {"value","localizedValue"});
//   - Log Analytics rows of the AzureActivity, AuditLogs and SigninLogs
//     tables (PascalCase columns; JSON columns such as InitiatedBy may be
//     JSON strings): keys are matched ignoring case everywhere, and a JSON
//     string is read as the value it holds where an object is expected;
//   - Microsoft Graph directoryAudit and signIn objects;
//   - AKS control-plane log categories other than kube-audit
//     (kube-apiserver, guard, …): decoded as events carrying the log line.
//
// The source's own batch form is a REST or Graph list, {"value":[...]};
// each bad item is reported as a *normalize.ItemError.
//
// # Normalized fields
//
// "|" separates alternatives in the order tried; LA = Log Analytics
// column; props = the record's properties object (for Log Analytics and
// Graph rows, the row itself).
//
//	normalized field   ← Activity Log / resource log field
//	source             ← "azure_activity"
//	time               ← time | eventTimestamp | TimeGenerated
//	id                 ← eventDataId | properties.eventDataId | sha256 fallback (below)
//	action             ← operationNameValue (LA) | operationName (string, or .value), trimmed, case as given
//	outcome            ← resultType | status.value | ActivityStatusValue: Success/Succeeded → success,
//	                     Failure/Failed → failure, Start/Started/Accept/Accepted/Active/… → unknown;
//	                     with neither, HTTP status (properties.httpStatusCode, properties.statusCode
//	                     name, resultSignature): ≥ 400 → failure, 2xx → success. A numeric
//	                     properties.httpStatusCode ≥ 400 (Key Vault) means failure whatever resultType says
//	actor.name         ← UPN claim (http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn, upn)
//	                     | name claim for idtyp=user | appid claim (azp) for an application | caller | oid;
//	                     storage logs without claims: identity.requester upn | appId | objectId, else
//	                     identity.type (AccountKey, SAS, Anonymous) with type anonymous (no principal named)
//	actor.id           ← object id claim (http://schemas.microsoft.com/identity/claims/objectidentifier, oid)
//	                     for every kind of principal: one stable key per principal
//	actor.type         ← user (UPN, or idtyp=user with a name, or a caller with "@"); service_account (an application:
//	                     service principal or managed identity — appid without UPN, or a GUID caller);
//	                     service (a caller that is neither, e.g. "Microsoft.Advisor"; or no identity at all,
//	                     then actor.name ← the resource provider, e.g. "Microsoft.Insights")
//	actor.groups       ← groups claim (comma-separated)
//	actor.source_ip    ← callerIpAddress | httpRequest.clientIpAddress | ipaddr claim (valid IPs only;
//	                     "address:port" as storage logs write it gives the address)
//	actor.source_ips   ← every distinct one of those
//	actor.user_agent   ← properties.clientInfo (Key Vault) | properties.userAgent
//	actor.session_id   ← uti claim (the token's unique id, not a credential)
//	actor.mfa          ← "mfa" in the authnmethodsreferences claim
//	target.id          ← resourceId, in its original casing when properties.entity or the authorization
//	                     scope repeats it (the export upper-cases it); for Key Vault secret, key and
//	                     certificate operations properties.id (https://VAULT.vault.azure.net/secrets/NAME/VERSION)
//	target.type        ← resource type of target.id ("Microsoft.KeyVault/vaults",
//	                     "Microsoft.Network/networkSecurityGroups/securityRules"): spelled as the authorization
//	                     action or resourceType.value spells it, else as a table of well-known types does, else as given
//	target.name        ← last name segment of target.id
//	cloud.provider     ← "azure"
//	cloud.account      ← subscription id of resourceId (lower case) | subscriptionId
//	cloud.region       ← location (as given, often "global")
//	cloud.service      ← resourceProviderName.value | ResourceProviderValue | namespace of operationName |
//	                     namespace of target.type; well-known namespaces spelled "Microsoft.KeyVault"
//	cloud.error_code   ← on failure: properties.statusMessage error.code | properties.statusCode |
//	                     resultSignature without "Failed." | httpStatusCode
//	k8s.cluster        ← the managedClusters name in resourceId (lower case), for AKS resources
//
//	normalized field   ← Entra ID audit field (props = properties | the row)
//	time               ← time | props.activityDateTime | TimeGenerated
//	id                 ← props.id (Id) — Entra's own event id
//	action             ← operationName | props.activityDisplayName, trimmed ("Add member to role")
//	outcome            ← props.result: success → success, failure/timeout → failure, else unknown
//	actor.*            ← props.initiatedBy.user: name ← userPrincipalName | displayName | id, id ← id,
//	                     type user, source_ip ← ipAddress; or props.initiatedBy.app: name ← appId |
//	                     servicePrincipalName | displayName, id ← servicePrincipalId, type service_account
//	                     (service when the app has no appId: Microsoft's own services); neither: name ←
//	                     loggedByService, type service
//	actor.user_agent   ← props.additionalDetails "User-Agent" | UserAgent (LA)
//	target.*           ← props.targetResources[0]: id, type ("User", "ServicePrincipal", "Application"),
//	                     name ← userPrincipalName | displayName
//	cloud.service      ← "Microsoft.aadiam"; cloud.account and cloud.region stay empty (tenant-level log)
//	cloud.error_code   ← props.resultReason on failure
//
//	normalized field   ← Entra ID sign-in field (SignInLogs, NonInteractiveUserSignInLogs,
//	                     ServicePrincipalSignInLogs, ManagedIdentitySignInLogs, …)
//	time               ← time | props.createdDateTime | TimeGenerated
//	id                 ← props.id (Id)
//	action             ← operationName | "Sign-in activity"
//	outcome            ← props.status.errorCode | resultType: 0 → success, any other code → failure
//	actor.*            ← user sign-ins: name ← userPrincipalName | userDisplayName | userId, id ← userId,
//	                     type user; service principal and managed identity sign-ins: name ← appId |
//	                     servicePrincipalName, id ← servicePrincipalId, type service_account
//	actor.source_ip    ← props.ipAddress | callerIpAddress
//	actor.user_agent   ← props.userAgent
//	actor.session_id   ← props.uniqueTokenIdentifier (the uti claim the issued token carries)
//	actor.mfa          ← props.authenticationRequirement is multiFactorAuthentication and the sign-in succeeded
//	target.*           ← the application signed in to: type "application", id ← appId, name ← appDisplayName
//	                     (for service principals the resource: resourceDisplayName)
//	cloud.error_code   ← the error code on failure ("50126")
//
// AKS control-plane records (category kube-apiserver, guard, …): message ←
// properties.log, log.stream ← properties.stream, actor ← the category
// (lower case) as a service, target ← the cluster, k8s.cluster ← its name,
// outcome unknown, id ← sha256 fallback.
//
// # Applications and Azure Workload Identity
//
// An application (service principal or managed identity) is named by its
// client id — the appid claim, initiatedBy.app.appId, a sign-in's appId —
// because that is what Azure Workload Identity binds a Kubernetes service
// account to (the azure.workload.identity/client-id annotation): identity
// resolution matches actor.name against a service account's cloud
// identities. actor.id stays the principal's object id for users and
// applications alike, the key Entra ID and Azure RBAC use for the
// principal.
//
// # Event ids
//
// Activity Log records exported by diagnostic settings, resource logs
// and AKS control-plane records carry no unique event id (nor does any
// record whose id field is missing): correlationId is shared by every record
// of one operation (its Start and its Success, and each resource an ARM
// deployment touches). Their id is then "sha256:" and the first 32 hex
// digits of the SHA-256 of these fields, each followed by a NUL byte:
// the time as written, correlationId, the action (above), resultType,
// resultSignature, resourceId, the caller's object id claim,
// callerIpAddress, properties.id and properties.requestUri (string values
// as written; a missing or non-string field counts as empty). A record
// delivered twice (Event Hubs is at-least-once) keeps its id; two records
// of one operation differ in time or resultType.
//
// # Errors
//
// A record without a usable time, without an operation name, or a
// sign-in naming neither a user nor a service principal, is
// ErrInvalidEvent. Other records that name no actor get the documented
// fallbacks above rather than an error, since Azure emits records of its
// own actions (service health, autoscale, some policy records) without
// one.
//
// # Raw and secrets
//
// With Options.Raw, Event.Raw is the record as map[string]any with two
// changes. First, a string holding a JSON object or array at the top
// level of the record (Log Analytics JSON columns: InitiatedBy,
// TargetResources, Claims, Properties, …) or directly in properties
// (requestbody, responseBody, statusMessage) is replaced by its parsed
// value, so rules read raw?.properties?.requestbody?.properties?.access
// whatever the shape; strings deeper down (Entra's modifiedProperties
// values) stay as written. Second, secrets are redacted (redact.go): the
// value of every key naming a password, secret, token, connection string,
// credential or access key (keys that only name or describe one — …Id,
// …Name, …Type — are kept, and so are the keys, secrets and certificates
// permission lists of a Key Vault access policy's permissions object), the
// opaque token claims aio and rh, and secrets written inside any string
// (AccountKey=…, SharedAccessKey=…, sig=…, "password":"…", Bearer
// tokens, JWTs). Normalized fields never
// carry request bodies; the error code is scrubbed the same way.
package azure

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// Claim names of Entra ID access tokens as Azure Resource Manager logs them.
const (
	claimUPN  = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	claimName = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimOID  = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	claimAMR  = "http://schemas.microsoft.com/claims/authnmethodsreferences"
)

// Detect reports whether v is an Azure record or a REST/Graph list of
// them. A record has an operationName and a resourceId, category or
// caller (any casing), and is not a kube-audit record nor clearly another
// source's (CloudTrail's Records, GCP's protoPayload, Kubernetes' auditID);
// Graph directoryAudit and signIn objects are recognized by their own keys.
func Detect(v *fastjson.Value) bool {
	if v == nil || v.Type() != fastjson.TypeObject {
		return false
	}
	if items, ok := batchItems(v); ok {
		return len(items) == 0 || isRecord(items[0])
	}
	return isRecord(v)
}

// isRecord reports whether v is one Azure record.
func isRecord(v *fastjson.Value) bool {
	if v == nil || v.Type() != fastjson.TypeObject {
		return false
	}
	if v.Exists("Records") || v.Exists("protoPayload") || v.Exists("auditID") || v.Exists("eventSource") {
		return false
	}
	if op := get(v, "operationName"); op != nil {
		c := bytesOf(get(v, "category"))
		if c == nil {
			c = bytesOf(get(v, "categoryValue"))
		}
		if len(c) >= len("kube-audit") && equalFold(c[:len("kube-audit")], "kube-audit") {
			return false
		}
		return get(v, "resourceId") != nil || get(v, "category") != nil || get(v, "caller") != nil ||
			get(v, "categoryValue") != nil || get(v, "_ResourceId") != nil
	}
	// Microsoft Graph directoryAudit and signIn.
	if v.Exists("activityDisplayName") && v.Exists("initiatedBy") {
		return true
	}
	return v.Exists("createdDateTime") && v.Exists("appId") && v.Exists("status") &&
		(v.Exists("userPrincipalName") || v.Exists("servicePrincipalId"))
}

// batchItems returns the items of a REST or Graph list: {"value":[...]}
// with no operationName of its own.
func batchItems(v *fastjson.Value) ([]*fastjson.Value, bool) {
	items := v.Get("value")
	if items == nil || items.Type() != fastjson.TypeArray || v.Exists("operationName") {
		return nil, false
	}
	a, _ := items.Array()
	if len(a) == 0 && !v.Exists("nextLink") && !v.Exists("@odata.context") && !v.Exists("@odata.nextLink") {
		return nil, false
	}
	return a, true
}

// Decode decodes a value Detect accepted: one record or a list of them.
func Decode(v *fastjson.Value, o normalize.Options, _ normalize.Meta) ([]*event.Event, []error) {
	if items, ok := batchItems(v); ok {
		var evs []*event.Event
		var errs []error
		for i, it := range items {
			if !isRecord(it) {
				errs = append(errs, normalize.Itemf(i, normalize.ErrUnknownFormat, "%s is not an Azure record", describe(it)))
				continue
			}
			ev, err := decode(it, o)
			if err != nil {
				errs = append(errs, &normalize.ItemError{Index: i, Err: err})
				continue
			}
			evs = append(evs, ev)
		}
		return evs, errs
	}
	ev, err := decode(v, o)
	if err != nil {
		return nil, []error{err}
	}
	return []*event.Event{ev}, nil
}

func describe(v *fastjson.Value) string {
	if v == nil || v.Type() != fastjson.TypeObject {
		return normalize.TypeName(v)
	}
	return "an object without operationName"
}

type kind int

const (
	kindActivity kind = iota // Activity Log and resource logs
	kindAudit                // Entra ID audit
	kindSignIn               // Entra ID sign-ins
	kindAKSLog               // AKS control-plane log lines
)

// record is one record being decoded.
type record struct {
	s     *scratch
	v     *fastjson.Value // the record
	props *fastjson.Value // properties, parsed when a JSON string; nil when absent
	// top and p index the members of the record and of props; they live
	// in the record, on the stack, so filling them needs no GC write
	// barriers.
	top, p index
	// eProps: Entra fields are in props (else in the record itself, as
	// in Log Analytics and Graph rows).
	eProps bool
	kind   kind
	cat    []byte // category as written (aliases the parser's buffer)
	ev     *event.Event
}

func decode(v *fastjson.Value, o normalize.Options) (*event.Event, error) {
	s := getScratch()
	defer s.release()
	var r record
	r.s, r.v, r.ev = s, v, &event.Event{Source: event.SourceAzureActivity}
	r.top.build(v)
	r.props = s.object(r.top[kProperties])
	if r.props == nil {
		r.props = s.object(r.top[kPropertiesD])
	}
	r.p.build(r.props)
	r.cat = bytesOf(r.top[kCategory])
	if r.cat == nil {
		r.cat = bytesOf(r.top[kCategoryValue])
	}
	r.classify()

	ev := r.ev
	var rawTime []byte
	var err error
	if ev.Time, rawTime, err = r.time(); err != nil {
		return nil, err
	}
	ev.Action = r.action()
	if ev.Action == "" {
		return nil, fmt.Errorf("%w: Azure record without operationName", normalize.ErrInvalidEvent)
	}
	ev.Cloud.Provider = event.ProviderAzure
	switch r.kind {
	case kindAudit:
		r.audit()
	case kindSignIn:
		r.signIn()
		if ev.Actor.Name == "" {
			return nil, fmt.Errorf("%w: Entra ID sign-in without a user or service principal", normalize.ErrInvalidEvent)
		}
	case kindAKSLog:
		r.aksLog()
	default:
		ev.ID = firstOf(strOf(r.top[kEventDataID]), strOf(r.p[kEventDataID]))
		r.activity()
	}
	if ev.ID == "" {
		ev.ID = r.hashID(rawTime)
	}
	if o.Raw {
		ev.SetRawFunc(normalize.DeferRaw(v, o, rawRecord))
	}
	return ev, nil
}

// ent returns the index holding Entra fields.
func (r *record) ent() *index {
	if r.eProps {
		return &r.p
	}
	return &r.top
}

// classify decides what kind of record r is.
func (r *record) classify() {
	p := &r.p
	r.eProps = r.props != nil && (p[kInitiatedBy] != nil || p[kActivityDisplayName] != nil ||
		p[kCreatedDateTime] != nil || p[kUserPrincipalName] != nil || p[kServicePrincipalID] != nil)
	e := r.ent()
	switch {
	case equalFold(r.cat, "auditlogs") || e[kInitiatedBy] != nil || e[kLoggedByService] != nil:
		r.kind = kindAudit
	case hasSuffixFold(r.cat, "signinlogs") || (e[kCreatedDateTime] != nil && e[kAppID] != nil):
		r.kind = kindSignIn
	case p[kLog] != nil && parseResourceID(strOf(r.top[kResourceID])).Cluster != "":
		r.kind = kindAKSLog
	default:
		r.kind = kindActivity
	}
}

// time returns the event time and its text as written (for hashID).
func (r *record) time() (time.Time, []byte, error) {
	for _, t := range [...]*fastjson.Value{r.top[kTime], r.top[kEventTimestamp],
		r.ent()[kActivityDateTime], r.ent()[kCreatedDateTime], r.top[kTimeGenerated]} {
		if t == nil || t.Type() == fastjson.TypeNull {
			continue
		}
		ts, ok := normalize.Time(t)
		if !ok {
			return time.Time{}, nil, fmt.Errorf("%w: Azure record time %s is not a timestamp", normalize.ErrInvalidEvent, clip(t.String()))
		}
		if b := bytesOf(t); b != nil {
			return ts, b, nil
		}
		return ts, t.MarshalTo(nil), nil
	}
	return time.Time{}, nil, fmt.Errorf("%w: Azure record without a time (time, eventTimestamp, activityDateTime, createdDateTime or TimeGenerated)", normalize.ErrInvalidEvent)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func (r *record) action() string {
	a := strOf(r.top[kOperationNameValue])
	if a == "" {
		a = strOf(r.top[kOperationName])
	}
	if a == "" {
		a = strOf(r.ent()[kActivityDisplayName])
	}
	if a == "" && r.kind == kindSignIn {
		a = "Sign-in activity"
	}
	return strings.TrimSpace(a)
}

// hashID is the documented fallback id.
func (r *record) hashID(rawTime []byte) string {
	claims := r.claims()
	buf := r.s.buf[:0]
	for _, f := range [...][]byte{
		rawTime,
		bytesOf(r.top[kCorrelationID]),
		[]byte(r.ev.Action),
		bytesOf(r.top[kResultType]),
		bytesOf(r.top[kResultSignature]),
		bytesOf(r.top[kResourceID]),
		claimBytes(claims, claimOID, "oid"),
		bytesOf(r.top[kCallerIPAddress]),
		bytesOf(r.p[kID]),
		bytesOf(r.p[kRequestURI]),
	} {
		buf = append(buf, f...)
		buf = append(buf, 0)
	}
	r.s.buf = buf
	sum := sha256.Sum256(buf)
	var out [len("sha256:") + 32]byte
	copy(out[:], "sha256:")
	hex.Encode(out[len("sha256:"):], sum[:16])
	return string(out[:])
}

// claims returns the token claims of an Activity Log or resource log
// record: identity.claims (export), identity.claim (Key Vault), claims
// (REST) or Claims_d/Claims (Log Analytics).
func (r *record) claims() *fastjson.Value {
	id := r.s.object(r.top[kIdentity])
	if c := r.s.object(get(id, "claims")); c != nil {
		return c
	}
	if c := r.s.object(get(id, "claim")); c != nil {
		return c
	}
	if c := r.s.object(r.top[kClaimsD]); c != nil {
		return c
	}
	return r.s.object(r.top[kClaims])
}

// claimStr returns the first of the named claims present. Claim names
// are case-sensitive: exact matches only.
func claimStr(claims *fastjson.Value, names ...string) string {
	return string(claimBytes(claims, names...))
}

// claimBytes is claimStr without the copy (see bytesOf).
func claimBytes(claims *fastjson.Value, names ...string) []byte {
	if claims == nil {
		return nil
	}
	for _, n := range names {
		if b := bytesOf(claims.Get(n)); b != nil {
			return b
		}
	}
	return nil
}

// activity fills an Activity Log or resource log event.
func (r *record) activity() {
	ev, v, s := r.ev, r.v, r.s

	// Target, from the resource id in its best casing.
	rid := strOf(r.top[kResourceID])
	if rid == "" {
		rid = strOf(r.top[kResourceIDLA])
	}
	authz := s.object(s.path(v, "identity", "authorization"))
	if authz == nil {
		authz = s.object(r.top[kAuthorizationD])
	}
	if authz == nil {
		authz = s.object(r.top[kAuthorization])
	}
	for _, alt := range [...][]byte{bytesOf(r.p[kEntity]), bytesOf(get(authz, "scope"))} {
		if len(alt) == len(rid) && string(alt) != rid && equalFold(alt, rid) {
			rid = string(alt)
			break
		}
	}
	res := parseResourceID(rid)
	ev.Target.ID, ev.Target.Type, ev.Target.Name = rid, res.Type, res.Name
	if _, known := knownTypes[strings.ToLower(res.Type)]; !known {
		// Take the spelling of the REST resourceType or the RBAC action.
		for _, t := range []string{strOf(r.top[kResourceType]), typeOfAction(strOf(get(authz, "action"))), typeOfAction(ev.Action)} {
			if t != "" && strings.EqualFold(t, res.Type) && t != strings.ToUpper(t) {
				ev.Target.Type = canonicalType(t)
				break
			}
		}
	}
	if id := bytesOf(r.p[kID]); bytes.HasPrefix(id, []byte("https://")) {
		if obj, typ, name, ok := vaultObject(string(id)); ok {
			ev.Target.ID, ev.Target.Type, ev.Target.Name = obj, typ, name
		}
	}
	ev.K8s.Cluster = res.Cluster

	// Cloud.
	ev.Cloud.Account = strings.ToLower(res.Subscription)
	if ev.Cloud.Account == "" {
		ev.Cloud.Account = strings.ToLower(strOf(r.top[kSubscriptionID]))
	}
	ev.Cloud.Region = strOf(r.top[kLocation])
	ev.Cloud.Service = strOf(r.top[kResourceProviderName])
	if ev.Cloud.Service == "" {
		ev.Cloud.Service = strOf(r.top[kResourceProviderValue])
	}
	if ev.Cloud.Service == "" {
		ev.Cloud.Service = namespaceOf(ev.Action)
	}
	if ev.Cloud.Service == "" {
		ev.Cloud.Service = namespaceOf(ev.Target.Type)
	}
	ev.Cloud.Service = canonicalNamespace(ev.Cloud.Service)

	r.activityOutcome()
	r.activityActor()
}

// vaultObject reads a Key Vault object URL
// (https://VAULT.vault.azure.net/secrets/NAME[/VERSION]).
func vaultObject(id string) (obj, typ, name string, ok bool) {
	rest, found := strings.CutPrefix(id, "https://")
	if !found {
		return "", "", "", false
	}
	host, p, _ := strings.Cut(rest, "/")
	if !strings.Contains(host, ".vault.") && !strings.Contains(host, ".vaultcore.") && !strings.Contains(host, ".managedhsm.") {
		return "", "", "", false
	}
	coll, p, _ := strings.Cut(p, "/")
	name, _, _ = strings.Cut(p, "/")
	name, _, _ = strings.Cut(name, "?")
	switch coll {
	case "secrets", "keys", "certificates", "deletedsecrets", "deletedkeys", "deletedcertificates", "storage":
	default:
		return "", "", "", false
	}
	if name == "" {
		return "", "", "", false
	}
	return id, "Microsoft.KeyVault/vaults/" + coll, name, true
}

// result maps Azure result words to an outcome ("" when not one).
func result(b []byte) string {
	out, _ := lookupFold(results, bytes.TrimSuffix(b, []byte(".")))
	return out
}

var results = map[string]string{
	"success": event.OutcomeSuccess, "succeeded": event.OutcomeSuccess,
	"failure": event.OutcomeFailure, "failed": event.OutcomeFailure, "timeout": event.OutcomeFailure,
	"start": event.OutcomeUnknown, "started": event.OutcomeUnknown, "accept": event.OutcomeUnknown,
	"accepted": event.OutcomeUnknown, "active": event.OutcomeUnknown, "inprogress": event.OutcomeUnknown,
	"in progress": event.OutcomeUnknown, "resolved": event.OutcomeUnknown, "updated": event.OutcomeUnknown,
	"canceled": event.OutcomeUnknown, "cancelled": event.OutcomeUnknown,
}

// httpStatuses maps the status names properties.statusCode and
// resultSignature use to HTTP codes.
var httpStatuses = map[string]int{
	"ok": 200, "created": 201, "accepted": 202, "nocontent": 204,
	"badrequest": 400, "unauthorized": 401, "forbidden": 403, "notfound": 404, "methodnotallowed": 405,
	"conflict": 409, "preconditionfailed": 412, "toomanyrequests": 429,
	"internalservererror": 500, "badgateway": 502, "serviceunavailable": 503, "gatewaytimeout": 504,
}

func (r *record) activityOutcome() {
	ev := r.ev
	out := result(bytesOf(r.top[kResultType]))
	if out == "" {
		out = result(bytesOf(r.top[kStatus]))
	}
	if out == "" {
		out = result(bytesOf(r.top[kActivityStatusValue]))
	}
	code := 0
	if c := r.p[kHTTPStatusCode]; c != nil {
		code = normalize.Int(c)
	}
	if code == 0 {
		code, _ = lookupFold(httpStatuses, bytesOf(r.p[kStatusCode]))
	}
	if code == 0 {
		// "OK", "Forbidden", "Succeeded.Created", "Failed.Conflict"
		sig := bytesOf(r.top[kResultSignature])
		if i := bytes.LastIndexByte(sig, '.'); i >= 0 && i+1 < len(sig) {
			sig = sig[i+1:]
		}
		code, _ = lookupFold(httpStatuses, sig)
	}
	switch {
	case out == event.OutcomeFailure:
	case normalize.Int(r.p[kHTTPStatusCode]) >= 400:
		out = event.OutcomeFailure
	case out == "" && code >= 400:
		out = event.OutcomeFailure
	case out == "" && code >= 200 && code < 300:
		out = event.OutcomeSuccess
	case out == "":
		out = event.OutcomeUnknown
	}
	ev.Outcome = out
	if out != event.OutcomeFailure {
		return
	}
	// The error: the ARM error code in statusMessage, else the status.
	if msg := r.s.object(r.p[kStatusMessage]); msg != nil {
		if c := strOf(get(get(msg, "error"), "code")); c != "" {
			ev.Cloud.ErrorCode = c
		} else if c := strOf(get(msg, "code")); c != "" {
			ev.Cloud.ErrorCode = c
		}
	}
	if ev.Cloud.ErrorCode == "" {
		if sc := strOf(r.p[kStatusCode]); sc != "" {
			ev.Cloud.ErrorCode = sc
		}
	}
	if ev.Cloud.ErrorCode == "" {
		ev.Cloud.ErrorCode = strOf(r.top[kActivitySubstatusValue])
	}
	if ev.Cloud.ErrorCode == "" {
		sig := bytes.TrimPrefix(bytesOf(r.top[kResultSignature]), []byte("Failed."))
		if result(sig) == "" {
			ev.Cloud.ErrorCode = string(sig)
		}
	}
	if ev.Cloud.ErrorCode == "" && code >= 400 {
		ev.Cloud.ErrorCode = fmt.Sprint(code)
	}
	ev.Cloud.ErrorCode = scrubString(ev.Cloud.ErrorCode)
}

func (r *record) activityActor() {
	ev, a := r.ev, &r.ev.Actor
	claims := r.claims()
	upn := claimStr(claims, claimUPN, "upn")
	oid := claimStr(claims, claimOID, "oid")
	appid := claimStr(claims, "appid", "azp")
	idtyp := claimBytes(claims, "idtyp")
	caller := strOf(r.top[kCaller])
	// Storage resource logs name the caller in identity.requester, and the
	// kind of credential in identity.type.
	id := r.s.object(r.top[kIdentity])
	if claims == nil {
		if req := r.s.object(get(id, "requester")); req != nil {
			upn = strOf(get(req, "upn"))
			oid = strOf(get(req, "objectId"))
			appid = strOf(get(req, "appId"))
		}
	}
	userName := ""
	if equalFold(idtyp, "user") {
		userName = firstOf(claimStr(claims, claimName, "unique_name", "name"), caller, oid)
	}
	switch {
	case upn != "":
		a.Name, a.Type = upn, "user"
	case userName != "":
		a.Name, a.Type = userName, "user"
	case appid != "":
		a.Name, a.Type = appid, "service_account"
	case caller != "":
		a.Name, a.Type = caller, callerType(caller)
	case oid != "":
		a.Name, a.Type = oid, "service_account"
	case get(id, "type") != nil && strOf(get(id, "type")) != "":
		// A storage request made with an account key, a SAS or nothing:
		// the log names no principal.
		a.Name, a.Type = strOf(get(id, "type")), "anonymous"
	default:
		// Azure acting on its own (health, autoscale, some policy records).
		a.Name, a.Type = firstOf(ev.Cloud.Service, "Azure"), "service"
	}
	a.ID = oid
	if g := claimStr(claims, "groups"); g != "" {
		a.Groups = splitList(g)
	}
	a.SessionID = claimStr(claims, "uti")
	a.MFA = containsFold(claimBytes(claims, claimAMR, "amr"), "mfa")
	r.addIPs(bytesOf(r.top[kCallerIPAddress]), bytesOf(get(r.s.object(r.top[kHTTPRequest]), "clientIpAddress")), claimBytes(claims, "ipaddr"))
	a.UserAgent = firstOf(strOf(r.p[kClientInfo]), strOf(r.p[kUserAgent]))
}

// callerType types a REST/Log Analytics caller without claims.
func callerType(c string) string {
	switch {
	case strings.Contains(c, "@"):
		return "user"
	case isGUID(c):
		return "service_account"
	}
	return "service"
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
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

// addIPs sets SourceIPs to the distinct valid addresses among ips (in
// their canonical form) and SourceIP to the first.
func (r *record) addIPs(ips ...[]byte) {
	a := &r.ev.Actor
	for _, b := range ips {
		b = bytes.TrimSpace(b)
		if len(b) == 0 || len(b) > 64 {
			continue
		}
		dup := false
		for _, have := range a.SourceIPs {
			dup = dup || have == string(b)
		}
		if dup {
			continue
		}
		s := string(b)
		addr, err := netip.ParseAddr(s)
		if err != nil {
			// Storage logs write "address:port".
			ap, err := netip.ParseAddrPort(s)
			if err != nil {
				continue
			}
			addr, s = ap.Addr(), ap.Addr().String()
		}
		if addr.Is6() {
			s = addr.String()
		}
		a.SourceIPs = append(a.SourceIPs, s)
	}
	if len(a.SourceIPs) > 0 {
		a.SourceIP = a.SourceIPs[0]
	}
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// entraCloud fills the cloud context of Entra ID records.
func (r *record) entraCloud() {
	r.ev.Cloud.Service = "Microsoft.aadiam"
	if ns := namespaceOf(parseResourceID(strOf(r.top[kResourceID])).Type); ns != "" {
		r.ev.Cloud.Service = canonicalNamespace(ns)
	}
}

// audit fills an Entra ID audit event.
func (r *record) audit() {
	ev, e, s, a := r.ev, r.ent(), r.s, &r.ev.Actor
	ev.ID = firstOf(strOf(e[kID]), strOf(r.top[kID]))
	r.entraCloud()

	switch result(bytesOf(e[kResult])) {
	case event.OutcomeSuccess:
		ev.Outcome = event.OutcomeSuccess
	case event.OutcomeFailure:
		ev.Outcome = event.OutcomeFailure
		ev.Cloud.ErrorCode = scrubString(strings.TrimSpace(strOf(e[kResultReason])))
	default:
		ev.Outcome = event.OutcomeUnknown
	}

	ib := s.object(e[kInitiatedBy])
	user := s.object(get(ib, "user"))
	app := s.object(get(ib, "app"))
	switch {
	case user != nil && firstOf(strOf(get(user, "userPrincipalName")), strOf(get(user, "id"))) != "":
		a.Name = firstOf(strOf(get(user, "userPrincipalName")), strOf(get(user, "displayName")), strOf(get(user, "id")))
		a.ID = strOf(get(user, "id"))
		a.Type = "user"
		r.addIPs(bytesOf(get(user, "ipAddress")))
	case app != nil && firstOf(strOf(get(app, "appId")), strOf(get(app, "servicePrincipalName")), strOf(get(app, "displayName"))) != "":
		appID := strOf(get(app, "appId"))
		a.Name = firstOf(appID, strOf(get(app, "servicePrincipalName")), strOf(get(app, "displayName")))
		a.ID = strOf(get(app, "servicePrincipalId"))
		a.Type = "service_account"
		if appID == "" {
			a.Type = "service"
		}
	default:
		a.Name, a.Type = firstOf(strOf(e[kLoggedByService]), "Microsoft Entra ID"), "service"
	}
	r.addIPs(bytesOf(r.top[kCallerIPAddress]))
	for _, d := range s.array(e[kAdditionalDetails]) {
		if strings.EqualFold(strOf(get(d, "key")), "User-Agent") {
			a.UserAgent = strOf(get(d, "value"))
			break
		}
	}
	if a.UserAgent == "" {
		a.UserAgent = strOf(r.top[kUserAgent])
	}

	if ts := s.array(e[kTargetResources]); len(ts) > 0 {
		t := s.object(ts[0])
		ev.Target.ID = strOf(get(t, "id"))
		ev.Target.Type = strOf(get(t, "type"))
		ev.Target.Name = firstOf(strOf(get(t, "userPrincipalName")), strOf(get(t, "displayName")))
	}
}

// signIn fills an Entra ID sign-in event.
func (r *record) signIn() {
	ev, e, a := r.ev, r.ent(), &r.ev.Actor
	ev.ID = firstOf(strOf(e[kID]), strOf(r.top[kID]))
	r.entraCloud()

	code := strOf(get(r.s.object(e[kStatus]), "errorCode"))
	if code == "" {
		code = strOf(r.top[kResultType])
	}
	switch {
	case code == "0":
		ev.Outcome = event.OutcomeSuccess
	case code != "":
		ev.Outcome = event.OutcomeFailure
		ev.Cloud.ErrorCode = code
	default:
		ev.Outcome = event.OutcomeUnknown
	}

	spID := strOf(e[kServicePrincipalID])
	upn := strOf(e[kUserPrincipalName])
	appID := strOf(e[kAppID])
	if containsFold(r.cat, "serviceprincipal") || containsFold(r.cat, "managedidentity") || (upn == "" && spID != "") {
		a.Name = firstOf(appID, strOf(e[kServicePrincipalName]), spID)
		a.ID = spID
		a.Type = "service_account"
		ev.Target.Type = "application"
		ev.Target.Name = strOf(e[kResourceDisplayName])
		ev.Target.ID = firstOf(strOf(e[kResourceIdentity]), guidOrEmpty(strOf(e[kResourceID])))
	} else {
		a.Name = firstOf(upn, strOf(e[kUserDisplayName]), strOf(e[kUserID]), strOf(r.top[kIdentity]))
		a.ID = strOf(e[kUserID])
		a.Type = "user"
		ev.Target.Type = "application"
		ev.Target.Name = strOf(e[kAppDisplayName])
		ev.Target.ID = appID
	}
	r.addIPs(bytesOf(e[kIPAddress]), bytesOf(r.top[kCallerIPAddress]))
	a.UserAgent = strOf(e[kUserAgent])
	a.SessionID = strOf(e[kUniqueTokenIdentifier])
	a.MFA = ev.Outcome == event.OutcomeSuccess &&
		strings.EqualFold(strOf(e[kAuthenticationRequirement]), "multiFactorAuthentication")
}

func guidOrEmpty(s string) string {
	if isGUID(s) {
		return s
	}
	return ""
}

// aksLog fills an AKS control-plane log event.
func (r *record) aksLog() {
	ev := r.ev
	rid := strOf(r.top[kResourceID])
	res := parseResourceID(rid)
	ev.Outcome = event.OutcomeUnknown
	ev.Message = strings.TrimRight(strOf(r.p[kLog]), "\r\n")
	ev.Log.Stream = strOf(r.p[kStream])
	ev.Actor.Name, ev.Actor.Type = firstOf(strings.ToLower(string(r.cat)), "aks"), "service"
	ev.Target.ID, ev.Target.Type, ev.Target.Name = rid, res.Type, res.Cluster
	ev.K8s.Cluster = res.Cluster
	ev.Cloud.Account = strings.ToLower(res.Subscription)
	ev.Cloud.Service = "Microsoft.ContainerService"
}
