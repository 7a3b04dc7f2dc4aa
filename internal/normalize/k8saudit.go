package normalize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
)

// K8sAudit normalizes Kubernetes audit events: audit.k8s.io/v1 and v1beta1
// Event and EventList, with or without apiVersion and kind, single or in a
// JSON array, bare or wrapped as {"event": {...}} (Splunk HEC style).
type K8sAudit struct {
	// Cluster is the cluster name stamped on every event. Default: "".
	Cluster string
}

var _ Normalizer = (*K8sAudit)(nil)

// Source implements Normalizer.
func (*K8sAudit) Source() string { return event.SourceK8sAudit }

// Normalize implements Normalizer.
func (n *K8sAudit) Normalize(msg []byte, _ Meta) ([]*event.Event, []error) {
	var v any
	// Numbers decode as float64 so that rule conditions over raw fields
	// compare them with plain number literals.
	dec := json.NewDecoder(bytes.NewReader(msg))
	if err := dec.Decode(&v); err != nil {
		return nil, []error{fmt.Errorf("%w: %v", ErrNotJSON, err)}
	}
	if dec.More() {
		return nil, []error{fmt.Errorf("%w: trailing data after the first JSON value", ErrNotJSON)}
	}
	switch t := v.(type) {
	case map[string]any:
		if items, ok := eventListItems(t); ok {
			return n.batch(items)
		}
		ev, err := n.event(t)
		if err != nil {
			return nil, []error{err}
		}
		return []*event.Event{ev}, nil
	case []any:
		return n.batch(t)
	default:
		return nil, []error{fmt.Errorf("%w: a JSON %s is not an audit event", ErrUnknownFormat, jsonType(v))}
	}
}

func (n *K8sAudit) batch(items []any) ([]*event.Event, []error) {
	var evs []*event.Event
	var errs []error
	for i, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			errs = append(errs, &ItemError{Index: i, Err: fmt.Errorf("%w: a JSON %s is not an audit event", ErrUnknownFormat, jsonType(it))})
			continue
		}
		ev, err := n.event(obj)
		if err != nil {
			errs = append(errs, &ItemError{Index: i, Err: err})
			continue
		}
		evs = append(evs, ev)
	}
	return evs, errs
}

// eventListItems returns the items of an EventList.
func eventListItems(m map[string]any) ([]any, bool) {
	kind, _ := m["kind"].(string)
	items, ok := m["items"].([]any)
	if kind == "EventList" || (kind == "" && ok && m["auditID"] == nil) {
		return items, true
	}
	return nil, false
}

func (n *K8sAudit) event(m map[string]any) (*event.Event, error) {
	// A wrapper whose "event" holds the audit event: Splunk HEC
	// ({"time":..., "event":{...}}) and similar shippers.
	if inner, ok := m["event"].(map[string]any); ok && m["auditID"] == nil && m["verb"] == nil {
		m = inner
	}
	if av := str(m, "apiVersion"); av != "" && av != "audit.k8s.io/v1" && av != "audit.k8s.io/v1beta1" && av != "audit.k8s.io/v1alpha1" {
		return nil, fmt.Errorf("%w: apiVersion %q is not audit.k8s.io", ErrUnknownFormat, av)
	}
	if k := str(m, "kind"); k != "" && k != "Event" {
		return nil, fmt.Errorf("%w: kind %q is not an audit Event", ErrUnknownFormat, k)
	}
	id := str(m, "auditID")
	verb := str(m, "verb")
	if id == "" && verb == "" {
		return nil, fmt.Errorf("%w: no auditID and no verb", ErrUnknownFormat)
	}
	if id == "" {
		return nil, fmt.Errorf("%w: auditID missing", ErrInvalidEvent)
	}
	if verb == "" {
		return nil, fmt.Errorf("%w: verb missing", ErrInvalidEvent)
	}
	ts, err := eventTime(m)
	if err != nil {
		return nil, err
	}
	redact(m)

	ev := &event.Event{Source: event.SourceK8sAudit, ID: id, Time: ts, Action: verb, Raw: m}
	k := &ev.K8s
	k.Cluster = n.Cluster
	k.Verb = verb
	k.Stage = str(m, "stage")
	k.Level = str(m, "level")
	k.RequestURI = str(m, "requestURI")

	// Actor.
	user, _ := m["user"].(map[string]any)
	ev.Actor.Name = str(user, "username")
	ev.Actor.ID = str(user, "uid")
	ev.Actor.Groups = strs(user["groups"])
	if imp, ok := m["impersonatedUser"].(map[string]any); ok && str(imp, "username") != "" {
		ev.Actor.Impersonator = ev.Actor.Name
		ev.Actor.Name = str(imp, "username")
		ev.Actor.ID = str(imp, "uid")
		ev.Actor.Groups = strs(imp["groups"])
	}
	ev.Actor.Type, k.ServiceAccount = actorType(ev.Actor.Name, ev.Actor.Groups)
	ev.Actor.SourceIPs = strs(m["sourceIPs"])
	if len(ev.Actor.SourceIPs) > 0 {
		ev.Actor.SourceIP = ev.Actor.SourceIPs[0]
	}
	ev.Actor.UserAgent = str(m, "userAgent")

	// Target.
	ref, _ := m["objectRef"].(map[string]any)
	ev.Target.Type = str(ref, "resource")
	ev.Target.Subresource = str(ref, "subresource")
	ev.Target.Group = str(ref, "apiGroup")
	ev.Target.Namespace = str(ref, "namespace")
	ev.Target.Name = str(ref, "name")
	ev.Target.ID = str(ref, "uid")
	reqObj, _ := m["requestObject"].(map[string]any)
	respObj, _ := m["responseObject"].(map[string]any)
	if ev.Target.Name == "" {
		ev.Target.Name = str(mapAt(respObj, "metadata"), "name")
	}
	if ev.Target.Name == "" {
		ev.Target.Name = str(mapAt(reqObj, "metadata"), "name")
	}
	if ev.Target.Namespace == "" && ev.Target.Type != "namespaces" {
		ev.Target.Namespace = str(mapAt(reqObj, "metadata"), "namespace")
	}
	k.Namespace = ev.Target.Namespace
	if ev.Target.Type == "pods" {
		k.Pod = ev.Target.Name
	}

	// Response and authorization.
	if rs, ok := m["responseStatus"].(map[string]any); ok {
		k.ResponseCode = intOf(rs["code"])
	}
	if ann, ok := m["annotations"].(map[string]any); ok {
		k.Annotations = make(map[string]string, len(ann))
		for key, v := range ann {
			if s, ok := v.(string); ok {
				k.Annotations[key] = s
			}
		}
		k.Decision = k.Annotations["authorization.k8s.io/decision"]
		k.Reason = k.Annotations["authorization.k8s.io/reason"]
	}
	ev.Outcome = outcome(k.Stage, k.ResponseCode, k.Decision)

	// Exec/attach query parameters.
	if ev.Target.Subresource == "exec" || ev.Target.Subresource == "attach" {
		if u, err := url.Parse(k.RequestURI); err == nil {
			q := u.Query()
			k.Command = q["command"]
			k.Container = q.Get("container")
		}
	}

	// The request object; the response object when the request was not
	// logged, or for a patch, whose request body is only a fragment while
	// the response holds the whole resulting object.
	obj := reqObj
	if respObj != nil && (obj == nil || verb == "patch") && str(respObj, "kind") != "Status" {
		obj = respObj
	}
	if obj != nil {
		decodeObject(k, obj, ev.Target.Type)
	}
	return ev, nil
}

// eventTime picks the event time: when the request was received, else the
// stage time, else the v1beta1 timestamp.
func eventTime(m map[string]any) (time.Time, error) {
	for _, f := range []string{"requestReceivedTimestamp", "stageTimestamp", "timestamp"} {
		s := str(m, f)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %s %q is not an RFC 3339 time", ErrInvalidEvent, f, s)
		}
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, str(mapAt(m, "metadata"), "creationTimestamp")); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%w: no timestamp (requestReceivedTimestamp, stageTimestamp or timestamp)", ErrInvalidEvent)
}

func actorType(name string, groups []string) (typ, serviceAccount string) {
	switch {
	case name == "system:anonymous" || slices.Contains(groups, "system:unauthenticated"):
		return "anonymous", ""
	case strings.HasPrefix(name, "system:serviceaccount:"):
		rest := strings.TrimPrefix(name, "system:serviceaccount:")
		if ns, sa, ok := strings.Cut(rest, ":"); ok {
			return "service_account", ns + "/" + sa
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

func outcome(stage string, code int, decision string) string {
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

// podSpecPath says where the pod spec sits in each workload kind.
var podSpecPath = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"PodTemplate":           {"template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// resourceKinds maps resources to kinds for request objects without kind
// (patches, some old captures).
var resourceKinds = map[string]string{
	"pods": "Pod", "deployments": "Deployment", "replicasets": "ReplicaSet", "statefulsets": "StatefulSet",
	"daemonsets": "DaemonSet", "jobs": "Job", "cronjobs": "CronJob", "replicationcontrollers": "ReplicationController",
	"roles": "Role", "clusterroles": "ClusterRole", "rolebindings": "RoleBinding", "clusterrolebindings": "ClusterRoleBinding",
	"configmaps": "ConfigMap", "secrets": "Secret", "services": "Service",
}

func decodeObject(k *event.K8s, obj map[string]any, resource string) {
	kind := str(obj, "kind")
	if kind == "" {
		kind = resourceKinds[resource]
	}
	k.Kind = kind
	if labels, ok := mapAt(obj, "metadata")["labels"].(map[string]any); ok {
		k.Labels = make(map[string]string, len(labels))
		for key, v := range labels {
			if s, ok := v.(string); ok {
				k.Labels[key] = s
			}
		}
	}
	for _, o := range list(mapAt(obj, "metadata")["ownerReferences"]) {
		om := asMap(o)
		if c, _ := om["controller"].(bool); c || k.Owner == "" {
			k.Owner = str(om, "kind") + "/" + str(om, "name")
		}
	}
	if path, ok := podSpecPath[kind]; ok {
		spec := obj
		for _, p := range path {
			spec = mapAt(spec, p)
		}
		if spec != nil {
			k.Workload = workload(spec)
		}
	}
	switch kind {
	case "Role", "ClusterRole":
		for _, r := range list(obj["rules"]) {
			rm, _ := r.(map[string]any)
			k.RBAC.Rules = append(k.RBAC.Rules, event.PolicyRule{
				Verbs: strs(rm["verbs"]), APIGroups: strs(rm["apiGroups"]), Resources: strs(rm["resources"]),
				ResourceNames: strs(rm["resourceNames"]), NonResourceURLs: strs(rm["nonResourceURLs"]),
			})
		}
	case "RoleBinding", "ClusterRoleBinding":
		rr := mapAt(obj, "roleRef")
		k.RBAC.RoleRef = event.RoleRef{Kind: str(rr, "kind"), Name: str(rr, "name")}
		for _, s := range list(obj["subjects"]) {
			sm, _ := s.(map[string]any)
			k.RBAC.Subjects = append(k.RBAC.Subjects, event.Subject{Kind: str(sm, "kind"), Name: str(sm, "name"), Namespace: str(sm, "namespace")})
		}
	case "ConfigMap", "Secret":
		for _, f := range []string{"data", "stringData", "binaryData"} {
			for key := range mapAt(obj, f) {
				k.DataKeys = append(k.DataKeys, key)
			}
		}
		slices.Sort(k.DataKeys)
		k.DataKeys = slices.Compact(k.DataKeys)
	case "Service":
		k.ServiceType = str(mapAt(obj, "spec"), "type")
	}
}

func workload(spec map[string]any) event.Workload {
	w := event.Workload{Present: true}
	w.HostNetwork, _ = spec["hostNetwork"].(bool)
	w.HostPID, _ = spec["hostPID"].(bool)
	w.HostIPC, _ = spec["hostIPC"].(bool)
	w.ServiceAccount = str(spec, "serviceAccountName")
	if w.ServiceAccount == "" {
		w.ServiceAccount = str(spec, "serviceAccount")
	}
	for _, v := range list(spec["volumes"]) {
		if hp := mapAt(asMap(v), "hostPath"); hp != nil {
			w.HostPaths = append(w.HostPaths, str(hp, "path"))
		}
	}
	podSC := mapAt(spec, "securityContext")
	for _, group := range []struct{ field, kind string }{{"initContainers", "init"}, {"containers", "container"}, {"ephemeralContainers", "ephemeral"}} {
		for _, c := range list(spec[group.field]) {
			cm := asMap(c)
			ct := container(cm, podSC)
			ct.Kind = group.kind
			w.Containers = append(w.Containers, ct)
			if ct.Image != "" {
				w.Images = append(w.Images, ct.Image)
			}
		}
	}
	return w
}

func container(c, podSC map[string]any) event.Container {
	sc := mapAt(c, "securityContext")
	ct := event.Container{Name: str(c, "name"), Image: str(c, "image")}
	ct.Privileged, _ = sc["privileged"].(bool)
	ct.AllowPrivilegeEscalation = true
	if ape, ok := sc["allowPrivilegeEscalation"].(bool); ok {
		ct.AllowPrivilegeEscalation = ape
	}
	// Effective runAsUser / runAsNonRoot: container over pod.
	uid, hasUID := intField(sc, "runAsUser")
	if !hasUID {
		uid, hasUID = intField(podSC, "runAsUser")
	}
	nonRoot, hasNonRoot := sc["runAsNonRoot"].(bool)
	if !hasNonRoot {
		nonRoot, hasNonRoot = podSC["runAsNonRoot"].(bool)
	}
	switch {
	case hasUID:
		ct.RunAsRoot = uid == 0
	case hasNonRoot:
		ct.RunAsRoot = !nonRoot
	default:
		ct.RunAsRoot = true // the image's user decides; most images run as root
	}
	for _, capa := range strs(mapAt(sc, "capabilities")["add"]) {
		ct.AddedCapabilities = append(ct.AddedCapabilities, strings.TrimPrefix(strings.ToUpper(capa), "CAP_"))
	}
	for _, p := range list(c["ports"]) {
		if hp, ok := intField(asMap(p), "hostPort"); ok && hp > 0 {
			ct.HostPorts = append(ct.HostPorts, hp)
		}
	}
	return ct
}

// Redacted replaces secret values in raw events.
const Redacted = "[REDACTED]"

// redact removes secret values from the raw event before anything else
// sees it: Secret data and stringData (and the last-applied annotation that
// repeats them), TokenReview and TokenRequest tokens.
func redact(m map[string]any) {
	for _, f := range []string{"requestObject", "responseObject"} {
		obj, ok := m[f].(map[string]any)
		if !ok {
			continue
		}
		redactObject(obj, str(mapAt(m, "objectRef"), "resource"))
		for _, it := range list(obj["items"]) {
			if im, ok := it.(map[string]any); ok {
				redactObject(im, "")
			}
		}
	}
}

func redactObject(obj map[string]any, resource string) {
	kind := str(obj, "kind")
	switch {
	case kind == "Secret" || (kind == "" && resource == "secrets"):
		for _, f := range []string{"data", "stringData"} {
			if d, ok := obj[f].(map[string]any); ok {
				for k := range d {
					d[k] = Redacted
				}
			}
		}
		if ann, ok := mapAt(obj, "metadata")["annotations"].(map[string]any); ok {
			if _, ok := ann["kubectl.kubernetes.io/last-applied-configuration"]; ok {
				ann["kubectl.kubernetes.io/last-applied-configuration"] = Redacted
			}
		}
	case kind == "TokenReview":
		if spec, ok := obj["spec"].(map[string]any); ok && spec["token"] != nil {
			spec["token"] = Redacted
		}
	case kind == "TokenRequest":
		if st, ok := obj["status"].(map[string]any); ok && st["token"] != nil {
			st["token"] = Redacted
		}
	}
}

// Helpers over decoded JSON.

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func mapAt(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	return v
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func strs(v any) []string {
	l, _ := v.([]any)
	if len(l) == 0 {
		return nil
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func intOf(v any) int {
	f, _ := v.(float64)
	if f != f || f > 1<<31 || f < -(1<<31) { // NaN or out of range
		return 0
	}
	return int(f)
}

func intField(m map[string]any, k string) (int, bool) {
	f, ok := m[k].(float64)
	if !ok {
		return 0, false
	}
	return intOf(f), true
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// DetectK8sAudit reports whether v looks like a Kubernetes audit Event,
// EventList or {"event":{...}} wrapper. Transitional: the fastjson-native
// decoder replaces this file.
func DetectK8sAudit(v *fastjson.Value) bool {
	if v.Exists("auditID") || v.Exists("verb") && v.Exists("objectRef") {
		return true
	}
	switch Str(v, "kind") {
	case "Event", "EventList":
		return strings.HasPrefix(Str(v, "apiVersion"), "audit.k8s.io") || Str(v, "apiVersion") == ""
	}
	if e := v.Get("event"); e != nil && e.Exists("auditID") {
		return true
	}
	return false
}

// DecodeK8sAudit decodes a value DetectK8sAudit accepted.
func DecodeK8sAudit(v *fastjson.Value, o Options, _ Meta) ([]*event.Event, []error) {
	n := &K8sAudit{Cluster: o.Cluster}
	m := Map(v)
	if items, ok := eventListItems(m); ok {
		return n.batch(items)
	}
	ev, err := n.event(m)
	if err != nil {
		return nil, []error{err}
	}
	if !o.Raw {
		ev.Raw = nil
	}
	return []*event.Event{ev}, nil
}
