package containerlog

import (
	"strings"
)

// podRef is what a kubelet log path tells about its container.
type podRef struct {
	Namespace, Pod, PodUID, Container, ContainerID string
}

// parsePath reads the pod of a kubelet log path or Fluent Bit tag:
//
//	/var/log/containers/POD_NAMESPACE_CONTAINER-ID.log   (ID: 64 hex digits, optional)
//	kube.var.log.containers.POD_NAMESPACE_CONTAINER-ID.log  (Fluent Bit tail tag)
//	/var/log/pods/NAMESPACE_POD_UID/CONTAINER/N.log      (also rotated N.log.DATE[.gz])
//
// Pod, namespace and container names cannot contain "_", which makes the
// split unambiguous. Any directory may precede the name, so a copied
// file keeps its meaning. ok is false when p has neither shape.
func parsePath(p string) (ref podRef, ok bool) {
	if p == "" {
		return ref, false
	}
	if strings.IndexByte(p, '\\') >= 0 {
		p = strings.ReplaceAll(p, `\`, "/")
	}
	if ref, ok := parsePodsPath(p); ok {
		return ref, true
	}
	base := p
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	} else if i := strings.Index(base, "log.containers."); i >= 0 {
		// A Fluent Bit tag: the path with "/" turned into ".".
		base = base[i+len("log.containers."):]
	}
	name, found := strings.CutSuffix(base, ".log")
	if !found {
		return ref, false
	}
	a, b, c, ok := split3(name)
	if !ok || !isName(a) || !isName(b) {
		return ref, false
	}
	ref.Pod, ref.Namespace, ref.Container = a, b, c
	if n := len(ref.Container); n > 65 && ref.Container[n-65] == '-' && isHex(ref.Container[n-64:]) {
		ref.Container, ref.ContainerID = ref.Container[:n-65], ref.Container[n-64:]
	}
	if !isName(ref.Container) {
		return podRef{}, false
	}
	return ref, true
}

// parsePodsPath reads .../NAMESPACE_POD_UID/CONTAINER/N.log[.suffix].
func parsePodsPath(p string) (ref podRef, ok bool) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ref, false
	}
	file := p[i+1:]
	j := strings.LastIndexByte(p[:i], '/')
	if j < 0 {
		return ref, false
	}
	container := p[j+1 : i]
	podDir := p[:j]
	if k := strings.LastIndexByte(podDir, '/'); k >= 0 {
		podDir = podDir[k+1:]
	}
	num, rest, found := strings.Cut(file, ".log")
	if !found || num == "" || !isDigits(num) || (rest != "" && rest[0] != '.') {
		return ref, false
	}
	ns, pod, uid, ok := split3(podDir)
	if !ok || !isName(ns) || !isName(pod) || !isName(container) {
		return ref, false
	}
	return podRef{Namespace: ns, Pod: pod, PodUID: uid, Container: container}, true
}

// split3 splits s at its two "_" into three non-empty parts.
func split3(s string) (a, b, c string, ok bool) {
	a, rest, found := strings.Cut(s, "_")
	if !found {
		return "", "", "", false
	}
	b, c, found = strings.Cut(rest, "_")
	if !found || a == "" || b == "" || c == "" || strings.IndexByte(c, '_') >= 0 {
		return "", "", "", false
	}
	return a, b, c, true
}

// isName reports whether s looks like a Kubernetes object name: lower-case
// letters, digits, "-" and ".", at most 253 bytes.
func isName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
