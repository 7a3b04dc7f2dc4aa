package k8saudit

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// Detect reports whether v is a Kubernetes audit Event, an EventList (or
// a list of Events without kind), an
// {"event": {...}} wrapper of one, or a GKE Cloud Logging entry of the
// Kubernetes API server (protoPayload.serviceName "k8s.io").
func Detect(v *fastjson.Value) bool {
	if v == nil || v.Type() != fastjson.TypeObject {
		return false
	}
	o, _ := v.Object()
	if o.Get("auditID") != nil {
		return true
	}
	if isGKE(v) {
		return true
	}
	if o.Get("verb") != nil && o.Get("objectRef") != nil {
		return true
	}
	switch string(bytesOf(o.Get("kind"))) {
	case "Event", "EventList":
		av := bytesOf(o.Get("apiVersion"))
		return len(av) == 0 || bytes.HasPrefix(av, []byte("audit.k8s.io"))
	}
	if e := object(o.Get("event")); e != nil && e.Get("auditID") != nil {
		return true
	}
	// An EventList without kind (old captures): its first item tells.
	if items := array(o.Get("items")); len(items) > 0 && object(items[0]).Get("auditID") != nil {
		return true
	}
	return false
}

// Decode decodes a value Detect accepted: one audit Event (bare or
// wrapped), an EventList or a GKE LogEntry. Each bad
// item of an EventList is reported as a *normalize.ItemError beside the
// good ones.
func Decode(v *fastjson.Value, o normalize.Options, _ normalize.Meta) ([]*event.Event, []error) {
	var evs []*event.Event
	var err error
	// The common case first: an Event, found by its auditID (a key lookup
	// that misses costs a scan of every key).
	kind := bytesOf(v.Get("kind"))
	switch {
	case string(kind) == "EventList":
		return batch(array(v.Get("items")), o)
	case v.Get("auditID") != nil:
		evs, err = decodeEvent(v, o)
	case isGKE(v):
		evs, err = decodeGKE(v, o)
	case len(kind) == 0 && v.Get("items") != nil && v.Get("items").Type() == fastjson.TypeArray:
		// An EventList without kind (old captures).
		return batch(array(v.Get("items")), o)
	default:
		evs, err = decodeEvent(v, o)
	}
	if err != nil {
		return nil, []error{err}
	}
	return evs, nil
}

func batch(items []*fastjson.Value, o normalize.Options) ([]*event.Event, []error) {
	evs := make([]*event.Event, 0, len(items))
	var errs []error
	for i, it := range items {
		if it.Type() != fastjson.TypeObject {
			errs = append(errs, normalize.Itemf(i, normalize.ErrUnknownFormat, "%s is not an audit event", normalize.TypeName(it)))
			continue
		}
		one, err := decodeEvent(it, o)
		if err != nil {
			errs = append(errs, &normalize.ItemError{Index: i, Err: err})
			continue
		}
		evs = append(evs, one...)
	}
	return evs, errs
}

// top holds the audit Event's top-level fields, found in one pass.
type top struct {
	kind, apiVersion, auditID, verb, stage, level, requestURI, userAgent *fastjson.Value
	user, impUser, sourceIPs, objectRef, respStatus, reqObj, respObj     *fastjson.Value
	annotations, metadata, rrt, stt, ts, event                           *fastjson.Value
}

func (t *top) read(v *fastjson.Value) {
	visit(v, func(k []byte, v *fastjson.Value) {
		if v.Type() == fastjson.TypeNull {
			return
		}
		switch string(k) {
		case "kind":
			t.kind = v
		case "apiVersion":
			t.apiVersion = v
		case "auditID":
			t.auditID = v
		case "verb":
			t.verb = v
		case "stage":
			t.stage = v
		case "level":
			t.level = v
		case "requestURI":
			t.requestURI = v
		case "userAgent":
			t.userAgent = v
		case "user":
			t.user = v
		case "impersonatedUser":
			t.impUser = v
		case "sourceIPs":
			t.sourceIPs = v
		case "objectRef":
			t.objectRef = v
		case "responseStatus":
			t.respStatus = v
		case "requestObject":
			t.reqObj = v
		case "responseObject":
			t.respObj = v
		case "annotations":
			t.annotations = v
		case "metadata":
			t.metadata = v
		case "requestReceivedTimestamp":
			t.rrt = v
		case "stageTimestamp":
			t.stt = v
		case "timestamp":
			t.ts = v
		case "event":
			t.event = v
		}
	})
}

// Annotation and user.extra keys read by the decoder.
const (
	annDecision       = "authorization.k8s.io/decision"
	annReason         = "authorization.k8s.io/reason"
	annIssuedCredID   = "authentication.kubernetes.io/issued-credential-id"
	annLastApplied    = "kubectl.kubernetes.io/last-applied-configuration"
	extraCredentialID = "authentication.kubernetes.io/credential-id"
	extraAccessKeyID  = "accessKeyId" // EKS: the AWS access key of an IAM-authenticated caller
)

// decodeEvent decodes one audit Event, or the Event of a wrapper, into a
// one-element slice.
func decodeEvent(v *fastjson.Value, o normalize.Options) ([]*event.Event, error) {
	var t top
	t.read(v)
	// A wrapper whose "event" holds the audit event: Splunk HEC
	// ({"time":..., "event":{...}}) and similar shippers.
	if inner := object(t.event); inner != nil && t.auditID == nil && t.verb == nil {
		v = inner
		t = top{}
		t.read(v)
	}
	if av := bytesOf(t.apiVersion); len(av) > 0 {
		switch string(av) {
		case "audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1":
		default:
			return nil, fmt.Errorf("%w: apiVersion %q is not audit.k8s.io", normalize.ErrUnknownFormat, av)
		}
	}
	if k := bytesOf(t.kind); len(k) > 0 && string(k) != "Event" {
		return nil, fmt.Errorf("%w: kind %q is not an audit Event", normalize.ErrUnknownFormat, k)
	}
	id, verb := bytesOf(t.auditID), bytesOf(t.verb)
	switch {
	case len(id) == 0 && len(verb) == 0:
		return nil, fmt.Errorf("%w: no auditID and no verb", normalize.ErrUnknownFormat)
	case len(id) == 0:
		return nil, fmt.Errorf("%w: auditID missing", normalize.ErrInvalidEvent)
	case len(verb) == 0:
		return nil, fmt.Errorf("%w: verb missing", normalize.ErrInvalidEvent)
	}
	ts, err := eventTime(&t)
	if err != nil {
		return nil, err
	}

	ev, a := newEvent()
	ev.Source = event.SourceK8sAudit
	ev.ID = a.str(id)
	ev.Time = ts
	ev.Action = a.valueBytes(verb)
	k := &ev.K8s
	k.Cluster = o.Cluster
	if o.Provider != "" {
		ev.Cloud.Provider, ev.Cloud.Account = o.Provider, o.Account
	}
	k.Verb = ev.Action
	k.Stage = a.value(t.stage)
	k.Level = a.value(t.level)
	k.RequestURI = a.value(t.requestURI)

	// Actor.
	var extra *fastjson.Value
	visit(t.user, func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "username":
			ev.Actor.Name = a.value(v)
		case "uid":
			ev.Actor.ID = a.value(v)
		case "groups":
			ev.Actor.Groups = a.strings(v)
		case "extra":
			extra = object(v)
		}
	})
	ev.Actor.SessionID = sessionID(a, extra)
	if imp := object(t.impUser); imp != nil && len(bytesOf(imp.Get("username"))) > 0 {
		ev.Actor.Impersonator = ev.Actor.Name
		ev.Actor.Name = a.value(imp.Get("username"))
		ev.Actor.ID = a.value(imp.Get("uid"))
		ev.Actor.Groups = a.strings(imp.Get("groups"))
	}
	ev.Actor.Type, k.ServiceAccount = actorType(a, ev.Actor.Name, ev.Actor.Groups)
	ev.Actor.SourceIPs = a.strings(t.sourceIPs)
	if len(ev.Actor.SourceIPs) > 0 {
		ev.Actor.SourceIP = ev.Actor.SourceIPs[0]
	}
	ev.Actor.UserAgent = a.value(t.userAgent)

	// Target.
	visit(t.objectRef, func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "resource":
			ev.Target.Type = a.value(v)
		case "subresource":
			ev.Target.Subresource = a.value(v)
		case "apiGroup":
			ev.Target.Group = a.value(v)
		case "namespace":
			ev.Target.Namespace = a.value(v)
		case "name":
			ev.Target.Name = a.value(v)
		case "uid":
			ev.Target.ID = a.value(v)
		}
	})
	reqObj, respObj := object(t.reqObj), object(t.respObj)
	targetFallback(a, ev, reqObj, respObj)

	// Response and authorization.
	if rs := object(t.respStatus); rs != nil {
		k.ResponseCode, _ = intOf(rs.Get("code"))
	}
	issuedID := annotations(a, k, object(t.annotations))
	ev.Outcome = outcome(k.ResponseCode, k.Decision)

	// Exec/attach query parameters.
	if ev.Target.Subresource == "exec" || ev.Target.Subresource == "attach" {
		k.Command, k.Container = execQuery(a, k.RequestURI)
	}
	objects(a, ev, reqObj, respObj, issuedID)
	if o.Raw {
		ev.SetRawFunc(normalize.DeferRaw(v, o, func(v *fastjson.Value) map[string]any { return rawEvent(new(alloc), v) }))
	}
	return a.one(ev), nil
}

// targetFallback completes the target from the request and response
// objects' metadata: the name of a created object is often only known
// from them.
func targetFallback(a *alloc, ev *event.Event, reqObj, respObj *fastjson.Value) {
	if ev.Target.Name == "" {
		ev.Target.Name = a.value(object(respObj.Get("metadata")).Get("name"))
	}
	if ev.Target.Name == "" {
		ev.Target.Name = a.value(object(reqObj.Get("metadata")).Get("name"))
	}
	if ev.Target.Namespace == "" && ev.Target.Type != "namespaces" {
		ev.Target.Namespace = a.value(object(reqObj.Get("metadata")).Get("namespace"))
	}
	ev.K8s.Namespace = ev.Target.Namespace
	if ev.Target.Type == "pods" {
		ev.K8s.Pod = ev.Target.Name
	}
}

// annotations reads the audit annotations (GKE: the entry's labels) into
// k, and returns the credential id of an issued token.
func annotations(a *alloc, k *event.K8s, ann *fastjson.Value) (issuedID string) {
	if ann == nil {
		return ""
	}
	annObj, _ := ann.Object()
	k.Annotations = make(map[string]string, annObj.Len())
	annObj.Visit(func(key []byte, v *fastjson.Value) {
		if b := bytesOf(v); b != nil {
			ks, vs := a.valueBytes(key), a.valueBytes(b)
			k.Annotations[ks] = vs
			switch ks {
			case annDecision:
				k.Decision = vs
			case annReason:
				k.Reason = vs
			case annIssuedCredID:
				issuedID = vs
			}
		}
	})
	return issuedID
}

// objects fills what comes from the request and response objects, once
// the target and outcome are known.
func objects(a *alloc, ev *event.Event, reqObj, respObj *fastjson.Value, issuedID string) {
	k := &ev.K8s
	// A service-account token handed out (TokenRequest): whom it is for,
	// and its credential id, which requests made with it carry in
	// user.extra.
	if ev.Target.Type == "serviceaccounts" && ev.Target.Subresource == "token" && ev.Action == "create" && ev.Outcome != event.OutcomeFailure && ev.Target.Name != "" {
		ev.Issued.Subject = a.concat("system:serviceaccount:", ev.Target.Namespace, ":", ev.Target.Name)
		ev.Issued.SessionID = issuedID
	}
	// A pod bound to a node by the scheduler.
	if ev.Target.Type == "pods" && ev.Target.Subresource == "binding" {
		k.Node = a.value(object(reqObj.Get("target")).Get("name"))
	}
	// The request object; the response object when the request was not
	// logged, or for a patch, whose request body is only a fragment while
	// the response holds the whole resulting object.
	obj := reqObj
	if respObj != nil && (obj == nil || ev.Action == "patch") && string(kindOf(respObj)) != "Status" {
		obj = respObj
	}
	if obj != nil {
		decodeObject(a, k, obj, ev.Target.Type)
	}
}

// kindOf returns an object's kind: its "kind", or the type name GKE puts
// in "@type" ("core.k8s.io/v1.Pod").
func kindOf(obj *fastjson.Value) []byte {
	if k := bytesOf(obj.Get("kind")); len(k) > 0 {
		return k
	}
	t := bytesOf(obj.Get("@type"))
	if i := bytes.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return nil
}

// sessionID returns the credential id of the authenticated user (the JTI
// of a service-account token, from Kubernetes 1.29), or on EKS the AWS
// access key id of an IAM-authenticated caller.
func sessionID(a *alloc, extra *fastjson.Value) string {
	if extra == nil {
		return ""
	}
	if ids := array(extra.Get(extraCredentialID)); len(ids) > 0 {
		if s := a.value(ids[0]); s != "" {
			return s
		}
	}
	if ids := array(extra.Get(extraAccessKeyID)); len(ids) > 0 {
		return a.value(ids[0])
	}
	return ""
}

// view returns b as a string without copying, for parsing only: the
// result must not outlive the call.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// eventTime picks the event time: when the request was received, else the
// stage time, else the v1beta1 timestamp, else metadata.creationTimestamp.
func eventTime(t *top) (time.Time, error) {
	for _, f := range [...]struct {
		name string
		v    *fastjson.Value
	}{{"requestReceivedTimestamp", t.rrt}, {"stageTimestamp", t.stt}, {"timestamp", t.ts}} {
		b := bytesOf(f.v)
		if len(b) == 0 {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, view(b))
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %s %q is not an RFC 3339 time", normalize.ErrInvalidEvent, f.name, b)
		}
		return ts.UTC(), nil
	}
	if b := bytesOf(object(t.metadata).Get("creationTimestamp")); len(b) > 0 {
		if ts, err := time.Parse(time.RFC3339Nano, view(b)); err == nil {
			return ts.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: no timestamp (requestReceivedTimestamp, stageTimestamp or timestamp)", normalize.ErrInvalidEvent)
}

// actorType classifies a Kubernetes identity and returns the
// "namespace/name" of a service account.
func actorType(a *alloc, name string, groups []string) (typ, serviceAccount string) {
	const saPrefix = "system:serviceaccount:"
	switch {
	case name == "system:anonymous" || slices.Contains(groups, "system:unauthenticated"):
		return "anonymous", ""
	case strings.HasPrefix(name, saPrefix):
		rest := name[len(saPrefix):]
		if ns, sa, ok := strings.Cut(rest, ":"); ok {
			return "service_account", a.concat(ns, "/", sa)
		}
		return "service_account", rest
	case strings.HasPrefix(name, "system:node:"):
		return "node", ""
	case strings.HasPrefix(name, "system:"):
		return "system", ""
	case name == "":
		return "unknown", ""
	}
	return "user", ""
}

// outcome derives the outcome from the response code, else the
// authorizer's decision.
func outcome(code int, decision string) string {
	switch {
	case code >= 400:
		return event.OutcomeFailure
	case code > 0:
		return event.OutcomeSuccess
	case decision == "forbid":
		return event.OutcomeFailure
	}
	return event.OutcomeUnknown
}

// execQuery returns the command and container of an exec or attach
// request URI, read like url.Values: pairs holding a semicolon or a bad
// escape are skipped.
func execQuery(a *alloc, uri string) (command []string, container string) {
	_, q, ok := strings.Cut(uri, "?")
	if !ok {
		return nil, ""
	}
	q, _, _ = strings.Cut(q, "#")
	n := strings.Count(q, "command=")
	if n > 0 {
		command = a.slice(n)
	}
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		key, val, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(key, "%+") {
			var err error
			if key, err = url.QueryUnescape(key); err != nil {
				continue
			}
		}
		if key != "command" && key != "container" {
			continue
		}
		if strings.ContainsAny(val, "%+") {
			var err error
			if val, err = url.QueryUnescape(val); err != nil {
				continue
			}
		}
		// uri already lives in the event's arena; an unescaped value is a
		// fresh string.
		switch key {
		case "command":
			command = append(command, val)
		case "container":
			if container == "" {
				container = val
			}
		}
	}
	if len(command) == 0 {
		command = nil
	}
	return command, container
}
