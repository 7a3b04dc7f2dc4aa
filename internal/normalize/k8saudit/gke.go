package k8saudit

import (
	"fmt"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// isGKE reports whether v is a Cloud Logging entry of GKE's Kubernetes
// API server audit (protoPayload.serviceName "k8s.io").
func isGKE(v *fastjson.Value) bool {
	pp := v.Get("protoPayload")
	return pp != nil && string(get(pp, "serviceName")) == "k8s.io"
}

// grpcCodes maps google.rpc.Code values to their names and to the HTTP
// status the API server would have answered.
var grpcCodes = [...]struct {
	name string
	http int
}{
	0: {"OK", 200}, 1: {"CANCELLED", 499}, 2: {"UNKNOWN", 500}, 3: {"INVALID_ARGUMENT", 400},
	4: {"DEADLINE_EXCEEDED", 504}, 5: {"NOT_FOUND", 404}, 6: {"ALREADY_EXISTS", 409},
	7: {"PERMISSION_DENIED", 403}, 8: {"RESOURCE_EXHAUSTED", 429}, 9: {"FAILED_PRECONDITION", 400},
	10: {"ABORTED", 409}, 11: {"OUT_OF_RANGE", 400}, 12: {"UNIMPLEMENTED", 501}, 13: {"INTERNAL", 500},
	14: {"UNAVAILABLE", 503}, 15: {"DATA_LOSS", 500}, 16: {"UNAUTHENTICATED", 401},
}

// decodeGKE decodes a GKE LogEntry of the Kubernetes API server.
func decodeGKE(v *fastjson.Value, o normalize.Options) ([]*event.Event, error) {
	var insertID, opID, ts, recvTS, resLabels, labels, pp *fastjson.Value
	visit(v, func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "insertId":
			insertID = v
		case "operation":
			opID = object(v).Get("id")
		case "timestamp":
			ts = v
		case "receiveTimestamp":
			recvTS = v
		case "resource":
			resLabels = object(object(v).Get("labels"))
		case "labels":
			labels = object(v)
		case "protoPayload":
			pp = v
		}
	})
	var method, resName, authn, reqMeta, req, resp, status *fastjson.Value
	visit(pp, func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "methodName":
			method = v
		case "resourceName":
			resName = v
		case "authenticationInfo":
			authn = object(v)
		case "requestMetadata":
			reqMeta = object(v)
		case "request":
			req = object(v)
		case "response":
			resp = object(v)
		case "status":
			status = object(v)
		}
	})
	id := bytesOf(insertID)
	if len(id) == 0 {
		id = bytesOf(opID)
	}
	if len(id) == 0 {
		return nil, fmt.Errorf("%w: GKE audit entry without insertId", normalize.ErrInvalidEvent)
	}
	m := string(bytesOf(method))
	resource, sub, verb, ok := parseMethod(m)
	if !ok {
		return nil, fmt.Errorf("%w: GKE audit entry with methodName %q, not io.k8s.GROUP.VERSION.RESOURCE.VERB", normalize.ErrInvalidEvent, m)
	}
	t, ok := normalize.Time(ts)
	if !ok {
		t, ok = normalize.Time(recvTS)
	}
	if !ok {
		return nil, fmt.Errorf("%w: GKE audit entry without a valid timestamp (%q)", normalize.ErrInvalidEvent, bytesOf(ts))
	}

	ev, a := newEvent()
	ev.Source = event.SourceK8sAudit
	ev.ID = a.str(id)
	ev.Time = t
	// m is a copy: its parts are kept as they are.
	ev.Action = verb
	k := &ev.K8s
	k.Verb = ev.Action
	k.Cluster = a.value(resLabels.Get("cluster_name"))
	if k.Cluster == "" {
		k.Cluster = o.Cluster
	}
	ev.Cloud.Provider = event.ProviderGCP
	ev.Cloud.Account = a.value(resLabels.Get("project_id"))
	ev.Cloud.Region = a.value(resLabels.Get("location"))
	ev.Cloud.Service = "k8s.io"

	// Actor: GKE logs the authenticated principal only, without groups.
	ev.Actor.Name = a.value(authn.Get("principalEmail"))
	ev.Actor.Type, k.ServiceAccount = actorType(a, ev.Actor.Name, nil)
	if ev.Actor.Type == "user" && strings.HasSuffix(ev.Actor.Name, ".gserviceaccount.com") {
		ev.Actor.Type = "service_account" // a Google service account, not a Kubernetes one
	}
	if ip := a.value(reqMeta.Get("callerIp")); ip != "" {
		ev.Actor.SourceIP = ip
		ev.Actor.SourceIPs = append(a.slice(1), ip)
	}
	ev.Actor.UserAgent = a.value(reqMeta.Get("callerSuppliedUserAgent"))

	// Target: the method names the resource and subresource; the resource
	// name holds group, namespace and name.
	ev.Target.Type = resource
	ev.Target.Subresource = sub
	ev.Target.Group, ev.Target.Namespace, ev.Target.Name = parseResourceName(a.value(resName), resource)
	targetFallback(a, ev, req, resp)

	// Outcome: a Status response carries the HTTP code; otherwise the
	// entry's google.rpc status code says it.
	issuedID := annotations(a, k, labels)
	code, hasCode := -1, false
	if status != nil {
		code, hasCode = 0, true
		if c, ok := intOf(status.Get("code")); ok {
			code = c
		}
	}
	if resp != nil && string(kindOf(resp)) == "Status" {
		if c, ok := intOf(resp.Get("code")); ok && c > 0 {
			k.ResponseCode = c
		}
	}
	if hasCode && code >= 0 && code < len(grpcCodes) {
		if k.ResponseCode == 0 {
			k.ResponseCode = grpcCodes[code].http
		}
		if code != 0 {
			ev.Cloud.ErrorCode = grpcCodes[code].name
		}
	} else if hasCode && k.ResponseCode == 0 {
		k.ResponseCode = 500 // a code outside google.rpc.Code: an error of some kind
	}
	ev.Outcome = outcome(k.ResponseCode, k.Decision)

	// An exec or attach request body, when GKE logs it (PodExecOptions,
	// PodAttachOptions), holds the command and container.
	if (sub == "exec" || sub == "attach") && req != nil {
		k.Command = a.strings(req.Get("command"))
		k.Container = a.value(req.Get("container"))
	}
	objects(a, ev, req, resp, issuedID)
	if o.Raw {
		ev.SetRawFunc(normalize.DeferRaw(v, o, func(v *fastjson.Value) map[string]any { return rawGKE(new(alloc), v, resource, sub) }))
	}
	return a.one(ev), nil
}

// parseMethod splits a GKE method name, io.k8s.GROUP.VERSION.RESOURCE[.SUBRESOURCE].VERB
// ("io.k8s.core.v1.pods.exec.create", "io.k8s.authorization.rbac.v1.clusterrolebindings.create"):
// the group has any number of dots, and the version is the segment that
// reads like one (v1, v1beta1, v2alpha3).
func parseMethod(m string) (resource, sub, verb string, ok bool) {
	rest, found := strings.CutPrefix(m, "io.k8s.")
	if !found {
		return "", "", "", false
	}
	var segs [16]string
	n := 0
	for rest != "" && n < len(segs) {
		var s string
		s, rest, _ = strings.Cut(rest, ".")
		segs[n] = s
		n++
	}
	if rest != "" {
		return "", "", "", false
	}
	for i := 1; i < n; i++ {
		if !isVersion(segs[i]) {
			continue
		}
		switch n - i - 1 {
		case 2:
			resource, verb = segs[i+1], segs[i+2]
		case 3:
			resource, sub, verb = segs[i+1], segs[i+2], segs[i+3]
		default:
			continue
		}
		if resource == "" || verb == "" {
			break
		}
		return resource, sub, verb, true
	}
	return "", "", "", false
}

// isVersion reports whether s is a Kubernetes API version: v1, v1beta1, v2alpha3.
func isVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' || s[1] < '1' || s[1] > '9' {
		return false
	}
	i := 2
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == len(s) {
		return true
	}
	rest := s[i:]
	for _, p := range []string{"alpha", "beta"} {
		if q, ok := strings.CutPrefix(rest, p); ok && q != "" && strings.Trim(q, "0123456789") == "" {
			return true
		}
	}
	return false
}

// parseResourceName reads a GKE resource name, GROUP/VERSION[/namespaces/NS]/RESOURCE[/NAME[/SUBRESOURCE]]
// ("core/v1/namespaces/shop/pods/api-1/exec"); the core group reads "".
// resource, from the method name, tells a namespace's own name
// ("core/v1/namespaces/shop") from a namespace prefix.
func parseResourceName(rn, resource string) (group, ns, name string) {
	var segs [8]string
	n := 0
	for rn != "" && n < len(segs) {
		var s string
		s, rn, _ = strings.Cut(rn, "/")
		segs[n] = s
		n++
	}
	if n < 3 {
		return "", "", ""
	}
	group = segs[0]
	if group == "core" {
		group = ""
	}
	rest := segs[2:n]
	if rest[0] == "namespaces" && resource != "namespaces" && len(rest) >= 3 {
		ns = rest[1]
		rest = rest[2:]
	}
	if len(rest) >= 2 {
		name = rest[1]
	}
	return group, ns, name
}

// rawGKE converts a GKE entry to Event.Raw with the request and response
// bodies redacted. The bodies are also reachable as raw.requestObject and
// raw.responseObject, as in a plain audit event, so that a rule reading
// them works whatever the cluster.
func rawGKE(a *alloc, v *fastjson.Value, resource, sub string) map[string]any {
	m, _ := a.any(v).(map[string]any)
	pp := mapAt(m, "protoPayload")
	for _, f := range [...][2]string{{"request", "requestObject"}, {"response", "responseObject"}} {
		b, ok := pp[f[0]]
		if !ok {
			continue
		}
		b = redactBody(b, resource, sub)
		pp[f[0]] = b
		if _, taken := m[f[1]]; !taken {
			m[f[1]] = b
		}
	}
	return m
}
