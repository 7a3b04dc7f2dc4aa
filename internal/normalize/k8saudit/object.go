package k8saudit

import (
	"bytes"
	"slices"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
)

// resourceKinds maps resources to kinds for request objects without kind
// (patches, some old captures).
var resourceKinds = map[string]string{
	"pods": "Pod", "deployments": "Deployment", "replicasets": "ReplicaSet", "statefulsets": "StatefulSet",
	"daemonsets": "DaemonSet", "jobs": "Job", "cronjobs": "CronJob", "replicationcontrollers": "ReplicationController",
	"roles": "Role", "clusterroles": "ClusterRole", "rolebindings": "RoleBinding", "clusterrolebindings": "ClusterRoleBinding",
	"configmaps": "ConfigMap", "secrets": "Secret", "services": "Service",
}

// decodeObject fills the fields taken from the request (or response)
// object obj.
func decodeObject(a *alloc, k *event.K8s, obj *fastjson.Value, resource string) {
	var kindV, typeV, meta, spec, rules, roleRef, subjects, data, stringData, binaryData, template *fastjson.Value
	visit(obj, func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "kind":
			kindV = v
		case "@type":
			typeV = v
		case "metadata":
			meta = v
		case "spec":
			spec = v
		case "rules":
			rules = v
		case "roleRef":
			roleRef = v
		case "subjects":
			subjects = v
		case "data":
			data = v
		case "stringData":
			stringData = v
		case "binaryData":
			binaryData = v
		case "template":
			template = v
		}
	})
	kind := a.value(kindV)
	if kind == "" {
		// GKE: "@type": "core.k8s.io/v1.Pod".
		if t := bytesOf(typeV); len(t) > 0 {
			if i := bytes.LastIndexByte(t, '.'); i >= 0 {
				kind = a.valueBytes(t[i+1:])
			}
		}
	}
	if kind == "" {
		kind = resourceKinds[resource]
	}
	k.Kind = kind
	decodeMetadata(a, k, object(meta))

	var podSpec *fastjson.Value
	switch kind {
	case "Pod":
		podSpec = spec
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController":
		podSpec = object(spec).Get("template", "spec")
	case "PodTemplate":
		podSpec = object(template).Get("spec")
	case "CronJob":
		podSpec = object(spec).Get("jobTemplate", "spec", "template", "spec")
	}
	if podSpec = object(podSpec); podSpec != nil {
		workload(a, &k.Workload, podSpec)
		if kind == "Pod" {
			if node := a.value(podSpec.Get("nodeName")); node != "" {
				k.Node = node
			}
		}
	}

	switch kind {
	case "Role", "ClusterRole":
		rs := array(rules)
		if len(rs) > 0 {
			k.RBAC.Rules = make([]event.PolicyRule, len(rs))
			for i, r := range rs {
				k.RBAC.Rules[i] = event.PolicyRule{
					Verbs: a.strings(r.Get("verbs")), APIGroups: a.strings(r.Get("apiGroups")), Resources: a.strings(r.Get("resources")),
					ResourceNames: a.strings(r.Get("resourceNames")), NonResourceURLs: a.strings(r.Get("nonResourceURLs")),
				}
			}
		}
	case "RoleBinding", "ClusterRoleBinding":
		rr := object(roleRef)
		k.RBAC.RoleRef = event.RoleRef{Kind: a.value(rr.Get("kind")), Name: a.value(rr.Get("name"))}
		ss := array(subjects)
		if len(ss) > 0 {
			k.RBAC.Subjects = make([]event.Subject, len(ss))
			for i, s := range ss {
				k.RBAC.Subjects[i] = event.Subject{Kind: a.value(s.Get("kind")), Name: a.value(s.Get("name")), Namespace: a.value(s.Get("namespace"))}
			}
		}
	case "ConfigMap", "Secret":
		k.DataKeys = dataKeys(a, object(data), object(stringData), object(binaryData))
	case "Service":
		k.ServiceType = a.value(object(spec).Get("type"))
	}
}

// decodeMetadata reads labels, annotations (minus the last-applied
// configuration, which repeats the whole object) and the controlling
// owner.
func decodeMetadata(a *alloc, k *event.K8s, meta *fastjson.Value) {
	visit(meta, func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "labels":
			k.Labels = stringMap(a, v, "")
		case "annotations":
			k.ObjectAnnotations = stringMap(a, v, annLastApplied)
		case "ownerReferences":
			for _, or := range array(v) {
				if isTrue(or.Get("controller")) || k.Owner == "" {
					k.Owner = a.concat(view(bytesOf(or.Get("kind"))), "/", view(bytesOf(or.Get("name"))))
				}
			}
		}
	})
}

// stringMap returns the string values of the object v, without the key
// skip; nil when none.
func stringMap(a *alloc, v *fastjson.Value, skip string) map[string]string {
	if v == nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	o, _ := v.Object()
	if o.Len() == 0 {
		return nil
	}
	m := make(map[string]string, o.Len())
	o.Visit(func(key []byte, v *fastjson.Value) {
		if b := bytesOf(v); b != nil && string(key) != skip {
			m[a.valueBytes(key)] = a.valueBytes(b)
		}
	})
	if len(m) == 0 {
		return nil
	}
	return m
}

// dataKeys returns the sorted, distinct keys of a ConfigMap's or Secret's
// data, stringData and binaryData. Values are never read.
func dataKeys(a *alloc, objs ...*fastjson.Value) []string {
	n := 0
	for _, o := range objs {
		if o != nil {
			oo, _ := o.Object()
			n += oo.Len()
		}
	}
	if n == 0 {
		return nil
	}
	keys := a.slice(n)
	for _, o := range objs {
		visit(o, func(key []byte, _ *fastjson.Value) { keys = append(keys, a.valueBytes(key)) })
	}
	slices.Sort(keys)
	return slices.Clip(slices.Compact(keys))
}

// workload reads a pod spec into w.
func workload(a *alloc, w *event.Workload, spec *fastjson.Value) {
	w.Present = true
	var podSC, sa, saOld *fastjson.Value
	var groups [3][]*fastjson.Value
	var volumes []*fastjson.Value
	visit(spec, func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "hostNetwork":
			w.HostNetwork = isTrue(v)
		case "hostPID":
			w.HostPID = isTrue(v)
		case "hostIPC":
			w.HostIPC = isTrue(v)
		case "serviceAccountName":
			sa = v
		case "serviceAccount":
			saOld = v
		case "volumes":
			volumes = array(v)
		case "securityContext":
			podSC = object(v)
		case "initContainers":
			groups[0] = array(v)
		case "containers":
			groups[1] = array(v)
		case "ephemeralContainers":
			groups[2] = array(v)
		}
	})
	w.ServiceAccount = a.value(sa)
	if w.ServiceAccount == "" {
		w.ServiceAccount = a.value(saOld)
	}
	for _, vol := range volumes {
		if hp := object(vol.Get("hostPath")); hp != nil {
			if w.HostPaths == nil {
				w.HostPaths = a.slice(len(volumes))
			}
			w.HostPaths = append(w.HostPaths, a.value(hp.Get("path")))
		}
	}
	w.HostPaths = slices.Clip(w.HostPaths)
	n := len(groups[0]) + len(groups[1]) + len(groups[2])
	if n == 0 {
		return
	}
	var pod security
	pod.read(podSC)
	w.Containers = make([]event.Container, n)
	i := 0
	for gi, kind := range [...]string{"init", "container", "ephemeral"} {
		for _, c := range groups[gi] {
			ct := &w.Containers[i]
			i++
			container(a, ct, c, &pod)
			ct.Kind = kind
			if ct.Image != "" {
				if w.Images == nil {
					w.Images = a.slice(n)
				}
				w.Images = append(w.Images, ct.Image)
			}
		}
	}
	w.Images = slices.Clip(w.Images)
}

// security is the part of a securityContext the decoder reads; a pod's
// runAsUser and runAsNonRoot fold into its containers'.
type security struct {
	uid           int
	hasUID        bool
	nonRoot       bool
	hasNonRoot    bool
	privileged    bool
	escalation    bool
	hasEscalation bool
	capsAdd       *fastjson.Value
}

func (s *security) read(sc *fastjson.Value) {
	visit(sc, func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "runAsUser":
			s.uid, s.hasUID = intOf(v)
		case "runAsNonRoot":
			s.nonRoot, s.hasNonRoot = boolOf(v)
		case "privileged":
			s.privileged = isTrue(v)
		case "allowPrivilegeEscalation":
			s.escalation, s.hasEscalation = boolOf(v)
		case "capabilities":
			s.capsAdd = object(v).Get("add")
		}
	})
}

// container reads one container with its effective security settings
// into ct.
func container(a *alloc, ct *event.Container, c *fastjson.Value, pod *security) {
	var scV, ports *fastjson.Value
	visit(c, func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "name":
			ct.Name = a.value(v)
		case "image":
			ct.Image = a.value(v)
		case "securityContext":
			scV = v
		case "ports":
			ports = v
		}
	})
	var sc security
	sc.read(object(scV))
	ct.Privileged = sc.privileged
	ct.AllowPrivilegeEscalation = true
	if sc.hasEscalation {
		ct.AllowPrivilegeEscalation = sc.escalation
	}
	// Effective runAsUser / runAsNonRoot: container over pod.
	uid, hasUID := sc.uid, sc.hasUID
	if !hasUID {
		uid, hasUID = pod.uid, pod.hasUID
	}
	nonRoot, hasNonRoot := sc.nonRoot, sc.hasNonRoot
	if !hasNonRoot {
		nonRoot, hasNonRoot = pod.nonRoot, pod.hasNonRoot
	}
	switch {
	case hasUID:
		ct.RunAsRoot = uid == 0
	case hasNonRoot:
		ct.RunAsRoot = !nonRoot
	default:
		ct.RunAsRoot = true // the image's user decides; most images run as root
	}
	if caps := array(sc.capsAdd); len(caps) > 0 {
		ct.AddedCapabilities = a.slice(len(caps))
		for _, c := range caps {
			if b := bytesOf(c); b != nil {
				ct.AddedCapabilities = append(ct.AddedCapabilities, capability(a, b))
			}
		}
		ct.AddedCapabilities = slices.Clip(ct.AddedCapabilities)
		if len(ct.AddedCapabilities) == 0 {
			ct.AddedCapabilities = nil
		}
	}
	for _, p := range array(ports) {
		if hp, ok := intOf(object(p).Get("hostPort")); ok && hp > 0 {
			ct.HostPorts = append(ct.HostPorts, hp)
		}
	}
}

// capability returns a capability name upper case without its CAP_
// prefix, as strings.TrimPrefix(strings.ToUpper(s), "CAP_") would.
func capability(a *alloc, b []byte) string {
	upper := true
	for _, c := range b {
		if c >= 0x80 || ('a' <= c && c <= 'z') {
			upper = false
			break
		}
	}
	if !upper {
		// Rare: let the standard library handle case mapping (non-ASCII
		// included), then copy into the arena.
		s := strings.ToUpper(string(b))
		if len(s) >= 4 && s[:4] == "CAP_" {
			s = s[4:]
		}
		return s
	}
	if len(b) >= 4 && string(b[:4]) == "CAP_" {
		b = b[4:]
	}
	return a.valueBytes(b)
}
