// Package containerlog normalizes container stdout/stderr lines (source
// "container_log") as the node and the log shippers write them:
//
//   - CRI lines, the kubelet's format under containerd and CRI-O
//     (text, not JSON): "<RFC 3339 time> <stdout|stderr> <P|F> <message>";
//     a message may hold many lines. Log.Format "cri".
//   - docker json-file lines {"log":"...\n","stream":"stdout","time":"..."}.
//     Log.Format "docker".
//   - Fluent Bit records enriched by its kubernetes filter (kubernetes.
//     pod_name, namespace_name, container_name, container_image, host,
//     labels, pod_id, docker_id; message in log or message; time in time,
//     @timestamp, date or timestamp), also with the CRI parser's logtag,
//     or with a CRI line still to parse in log. Log.Format "fluentbit".
//   - Vector kubernetes_logs records (message, timestamp, stream, file,
//     kubernetes.pod_name, pod_namespace, container_name, container_id,
//     container_image, pod_node_name, pod_labels, pod_uid).
//     Log.Format "vector".
//   - Cribl Edge kube_logs records (_raw, _time, kube_pod, kube_namespace,
//     kube_container, kube_image, kube_node, kube_pod_labels).
//     Log.Format "cribl".
//   - GKE container logs exported from Cloud Logging (a LogEntry with
//     resource.type k8s_container; textPayload or jsonPayload).
//     Log.Format "gke".
//
// Records the shippers wrap (JSON arrays and lines, CloudWatch Logs
// subscriptions from Fluent Bit on EKS, Pub/Sub from a GKE log sink) are
// unwrapped by the dispatcher in package detect.
//
// # Normalized fields
//
//	normalized field   ← source field
//	source             ← "container_log"
//	time               ← CRI time; docker/Fluent Bit time (else @timestamp, date, timestamp);
//	                     Vector timestamp; Cribl _time; GKE timestamp.
//	                     A line split in parts takes the time of its first part.
//	id                 ← hex of the first 16 bytes of SHA-256 over (namespace/pod, or the log
//	                     file's base name, or the container id; container; stream; time in
//	                     Unix nanoseconds; redacted message) — see "Event id" below
//	action             ← "log"
//	outcome            ← "unknown"
//	message            ← CRI message; docker/Fluent Bit log (else message); Vector message;
//	                     Cribl _raw; GKE textPayload, jsonPayload.message or jsonPayload as JSON.
//	                     Split lines reassembled, one trailing newline trimmed, secrets redacted
//	log.stream         ← CRI stream; stream; GKE logName ending /stdout or /stderr
//	log.file           ← the record's file, path or filename field, else the message's file
//	                     (normalize.Meta.File: the replayed file, a rule test's file:)
//	log.format         ← "cri", "docker", "fluentbit", "vector", "cribl" or "gke"
//	k8s.cluster        ← GKE resource.labels.cluster_name, else normalize.Options.Cluster
//	k8s.namespace      ← kubernetes.namespace_name (Fluent Bit), kubernetes.pod_namespace
//	                     (Vector), kube_namespace (Cribl), resource.labels.namespace_name
//	                     (GKE), else the kubelet log path
//	k8s.pod            ← kubernetes.pod_name, kube_pod, resource.labels.pod_name, else the path
//	k8s.container      ← kubernetes.container_name, kube_container,
//	                     resource.labels.container_name, else the path
//	k8s.container_id   ← kubernetes.docker_id (Fluent Bit), kubernetes.container_id (Vector,
//	                     without its "containerd://" style prefix), else the
//	                     /var/log/containers file name
//	k8s.node           ← kubernetes.host (Fluent Bit), kubernetes.pod_node_name (Vector),
//	                     kube_node (Cribl), labels."compute.googleapis.com/resource_name" (GKE)
//	k8s.image          ← kubernetes.container_image, kube_image
//	k8s.labels         ← kubernetes.labels, kubernetes.pod_labels, kube_pod_labels, GKE
//	                     labels "k8s-pod/NAME" (prefix dropped)
//	actor.name         ← "NAMESPACE/POD", else the pod, else the container, else "unknown"
//	actor.type         ← "workload"
//	target.type        ← "pods" (when the pod is known)
//	target.namespace   ← k8s.namespace
//	target.name        ← k8s.pod
//	target.id          ← kubernetes.pod_id (Fluent Bit), kubernetes.pod_uid (Vector), the
//	                     UID of a /var/log/pods path
//	cloud.provider, cloud.account, cloud.region
//	                   ← "gcp", resource.labels.project_id, resource.labels.location (GKE only)
//	raw                ← the record (Options.Raw only), secrets redacted: for a CRI line
//	                     {time, stream, logtag, message}; "vigia_partial": true when the
//	                     event holds an incomplete line (see below)
//
// Kubelet paths: /var/log/containers/POD_NAMESPACE_CONTAINER-ID.log (the
// 64-hex-digit container id is optional), its Fluent Bit tail tag
// kube.var.log.containers.POD_NAMESPACE_CONTAINER-ID.log (in a tag
// field), and /var/log/pods/NAMESPACE_POD_UID/CONTAINER/N.log. Shipper
// metadata wins over a path; a path only fills what the metadata lacks.
//
// # Identity
//
// A log line does not say which Kubernetes identity wrote it, so
// actor.name is the pod ("NAMESPACE/POD") with actor.type "workload";
// identity resolution later fills entity.identity with the pod's service
// account. A line that names no pod and no container (a bare CRI line
// read from a file whose name is not a kubelet name) has actor.name
// "unknown": it is kept, because its content is what rules look at.
//
// # Event id
//
// Log lines carry no id of their own, so the id is a hash of what makes
// the line unique: where it came from, when, and what it said. The same
// line replayed twice gets the same id, so the alert id derived from it
// is the same and deliveries stay idempotent. The hash covers the
// redacted message, so it reveals nothing about a redacted secret. Two
// identical lines written by one container in the same nanosecond share
// an id (and an alert).
//
// # Required fields
//
// A record without a parseable time is ErrInvalidEvent (the time
// orders windows and cannot be guessed). So is a text line that is not a
// CRI line: plain text has no time or stream of its own, and a shipper
// that forwards raw lines should parse them (Fluent Bit's cri or docker
// parser, Vector's kubernetes_logs) and send JSON. Fluent Bit records
// whose log field was merged away (Merge_Log On with Keep_Log Off) have no
// message and are not detected as container logs; keep Keep_Log on.
//
// # Split lines
//
// Runtimes split long lines: CRI writes parts tagged P up to a final F
// part, docker writes 16 KiB chunks without the trailing newline (and the
// fluentd logging driver marks them partial_message). A part yields no
// event; the parts of one stream are joined, within a message or across
// messages, and the line becomes one event when its last part arrives.
// The pending parts are kept per stream — the container id, else
// namespace/pod/container, else the log file; lines that name none of
// these share one slot per stdout/stderr — in the Decoder: the
// package-level Decode and DecodeText share one process-wide Decoder
// (Default), safe for concurrent use by several partition workers.
// Bounds: a pending line is delivered as it is (raw.vigia_partial true)
// once it reaches MaxLineBytes (default 256 KiB), the rest of the line
// starting a new one; at most MaxPending streams (default 4096) are
// pending, the least recently extended one delivered first when a new
// stream needs room; Flush delivers every pending line (end of a replay,
// shutdown). A docker chunk without a newline is a part only when it is
// 16 KiB long: shorter ones are complete lines whose writer did not end
// them with a newline.
//
// # Secrets
//
// Applications print credentials. Before an event leaves this package,
// its message and every string of its raw record go through Redact
// (private key blocks, JWTs, Authorization headers, bearer tokens,
// URL passwords, key=value secrets); raw values under keys named like
// secrets are replaced whole, and the last-applied-configuration
// annotation is dropped. Parts are joined before redaction, so a secret
// split by the runtime is still found; only a line longer than
// MaxLineBytes, delivered in pieces, can have a secret cut in two at a
// piece boundary. Error messages quote a rejected line redacted too.
package containerlog

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// Log formats (event.Log.Format).
const (
	FormatCRI       = "cri"
	FormatDocker    = "docker"
	FormatFluentBit = "fluentbit"
	FormatVector    = "vector"
	FormatCribl     = "cribl"
	FormatGKE       = "gke"
)

// Action is the action of every container log event.
const Action = "log"

// ActorType is the actor type of every container log event.
const ActorType = "workload"

// RawPartial is the raw key set to true on an event that holds an
// incomplete line (its end never came, or it outgrew MaxLineBytes).
const RawPartial = "vigia_partial"

// dockerChunk is the size at which docker's json-file driver splits a line.
const dockerChunk = 16 << 10

// Limits bound the reassembly of split lines.
type Limits struct {
	// MaxLineBytes is the largest reassembled line; a longer one is
	// delivered in pieces of about this size. Default: 256 KiB.
	MaxLineBytes int
	// MaxPending is the number of streams that may have a line pending;
	// when a new one needs room, the least recently extended is
	// delivered as it is. Default: 4096.
	MaxPending int
}

// Decoder decodes container log lines, keeping the parts of split lines
// until they are complete. Safe for concurrent use.
type Decoder struct {
	maxLine    int
	maxPending int

	npending atomic.Int64 // len(pending), read without the lock
	mu       sync.Mutex
	pending  map[string]*list.Element // of *partLine
	order    *list.List               // least recently extended first
}

// New returns a Decoder with its own reassembly state.
func New(l Limits) *Decoder {
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = 256 << 10
	}
	if l.MaxPending <= 0 {
		l.MaxPending = 4096
	}
	return &Decoder{maxLine: l.MaxLineBytes, maxPending: l.MaxPending, pending: make(map[string]*list.Element), order: list.New()}
}

// Default is the process-wide Decoder behind Decode, DecodeText and
// Flush: the dispatcher's formats are plain functions, so the pending
// parts of split lines live here, shared by every normalizer of the
// process.
var Default = New(Limits{})

// Detect reports whether v is a container log record: docker json-file,
// Fluent Bit, Vector, Cribl Edge or GKE.
func Detect(v *fastjson.Value) bool { return formatOf(v) != "" }

// Decode decodes a record Detect accepted, with the Default decoder.
func Decode(v *fastjson.Value, o normalize.Options, m normalize.Meta) ([]*event.Event, []error) {
	return Default.Decode(v, o, m)
}

// DecodeText decodes CRI log lines, with the Default decoder.
func DecodeText(msg []byte, o normalize.Options, m normalize.Meta) ([]*event.Event, []error) {
	return Default.DecodeText(msg, o, m)
}

// Flush delivers every line pending in the Default decoder: call it at
// the end of a replay and on shutdown, after the last Decode.
func Flush() []*event.Event { return Default.Flush() }

// line is one log line, or one part of a split line, before it becomes
// an event.
type line struct {
	format  string
	msg     string
	time    time.Time
	stream  string
	partial bool // more parts follow
	file    string
	ref     podRef
	node    string
	image   string
	cluster string
	labels  map[string]string
	cloud   event.Cloud
	// raw is the record (Options.Raw only), not yet redacted; msgKey is
	// its key holding the message.
	raw    map[string]any
	msgKey string
	// incomplete: the event holds a piece of a line.
	incomplete bool
}

// formatOf names the record's format, or "" when it is none of ours.
func formatOf(v *fastjson.Value) string {
	if v == nil || v.Type() != fastjson.TypeObject {
		return ""
	}
	hasLog, hasMessage := v.Exists("log"), v.Exists("message")
	if k := v.Get("kubernetes"); k != nil && k.Type() == fastjson.TypeObject && (hasLog || hasMessage) {
		switch {
		case k.Exists("pod_namespace") || isString(v, "source_type", "kubernetes_logs"):
			return FormatVector
		case k.Exists("pod_name") || k.Exists("namespace_name") || k.Exists("container_name"):
			return FormatFluentBit
		}
	}
	if isType(v, "log", fastjson.TypeString) && isType(v, "stream", fastjson.TypeString) && v.Exists("time") {
		return FormatDocker
	}
	if isType(v, "logtag", fastjson.TypeString) && isType(v, "stream", fastjson.TypeString) && (hasLog || hasMessage) {
		return FormatFluentBit
	}
	if isType(v, "_raw", fastjson.TypeString) && (v.Exists("kube_pod") || v.Exists("kube_container")) {
		return FormatCribl
	}
	if isString(v, "k8s_container", "resource", "type") && (v.Exists("textPayload") || v.Exists("jsonPayload")) {
		return FormatGKE
	}
	// Fluent Bit's tail input without a parser: the CRI line in log.
	if f := v.Get("log"); f != nil && f.Type() == fastjson.TypeString {
		b, _ := f.StringBytes()
		if looksCRI(b) {
			return FormatFluentBit
		}
	}
	return ""
}

// looksCRI is a cheap check for "<RFC 3339 time> <stdout|stderr> ".
func looksCRI(b []byte) bool {
	if len(b) < 28 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' {
		return false
	}
	sp := bytes.IndexByte(b[19:], ' ')
	if sp < 0 {
		return false
	}
	rest := b[19+sp+1:]
	return bytes.HasPrefix(rest, []byte("stdout ")) || bytes.HasPrefix(rest, []byte("stderr "))
}

// timeAt reads a timestamp like normalize.Time, but a number of Unix
// seconds exactly from its decimal text (1751579715.299 is 299 ms, not
// the float64 nearest to it).
func timeAt(v *fastjson.Value, key string) (time.Time, bool) {
	f := v.Get(key)
	if f == nil || f.Type() != fastjson.TypeNumber {
		return normalize.Time(v, key)
	}
	txt := f.String()
	secs, frac, _ := strings.Cut(txt, ".")
	if strings.ContainsAny(txt, "eE-") || len(secs) > 11 || len(frac) > 9 {
		return normalize.Time(v, key) // exponent, negative, milliseconds, or beyond nanoseconds
	}
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	var nsec int64
	if frac != "" {
		if nsec, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64); err != nil {
			return time.Time{}, false
		}
	}
	return time.Unix(sec, nsec).UTC(), true
}

func isType(v *fastjson.Value, key string, t fastjson.Type) bool {
	f := v.Get(key)
	return f != nil && f.Type() == t
}

// isString reports whether the string at keys equals want.
func isString(v *fastjson.Value, want string, keys ...string) bool {
	f := v.Get(keys...)
	if f == nil || f.Type() != fastjson.TypeString {
		return false
	}
	b, _ := f.StringBytes()
	return string(b) == want
}

// Decode decodes a record Detect accepted. A part of a split line yields
// no event until the line is complete.
func (d *Decoder) Decode(v *fastjson.Value, o normalize.Options, m normalize.Meta) ([]*event.Event, []error) {
	l, err := decodeRecord(v, o, m)
	if err != nil {
		return nil, []error{err}
	}
	return d.add(nil, l, o), nil
}

func decodeRecord(v *fastjson.Value, o normalize.Options, m normalize.Meta) (*line, error) {
	l := &line{format: formatOf(v)}
	var ok bool
	switch l.format {
	case FormatDocker:
		l.msgKey = "log"
		l.msg = message(v, "log")
		l.stream = normalize.Str(v, "stream")
		l.time, ok = normalize.Time(v, "time")
		dockerPartial(v, l)
	case FormatFluentBit:
		ok = fluentBit(v, l)
	case FormatVector:
		l.msgKey = "message"
		l.msg = message(v, "message")
		l.stream = normalize.Str(v, "stream")
		l.time, ok = normalize.Time(v, "timestamp")
		k := v.Get("kubernetes")
		l.ref = podRef{
			Namespace:   normalize.Str(k, "pod_namespace"),
			Pod:         normalize.Str(k, "pod_name"),
			PodUID:      normalize.Str(k, "pod_uid"),
			Container:   normalize.Str(k, "container_name"),
			ContainerID: runtimeID(normalize.Str(k, "container_id")),
		}
		l.node = normalize.Str(k, "pod_node_name")
		l.image = normalize.Str(k, "container_image")
		l.labels = normalize.StrMap(k, "pod_labels")
	case FormatCribl:
		l.msgKey = "_raw"
		l.msg = normalize.Str(v, "_raw")
		l.stream = normalize.Str(v, "stream")
		l.time, ok = timeAt(v, "_time")
		l.ref = podRef{
			Namespace: normalize.Str(v, "kube_namespace"),
			Pod:       normalize.Str(v, "kube_pod"),
			Container: normalize.Str(v, "kube_container"),
		}
		l.node = normalize.Str(v, "kube_node")
		l.image = normalize.Str(v, "kube_image")
		l.labels = normalize.StrMap(v, "kube_pod_labels")
	case FormatGKE:
		ok = gke(v, l)
	default:
		return nil, fmt.Errorf("%w: not a container log record (keys: %s)", normalize.ErrUnknownFormat, keyList(v))
	}
	if !ok || l.time.IsZero() {
		return nil, fmt.Errorf("%w: %s record without a valid time", normalize.ErrInvalidEvent, l.format)
	}
	l.msg = trimNewline(l.msg)
	l.file = firstStr(v, "file", "path", "filename")
	if l.file == "" {
		l.file = m.File
	}
	// A path fills what the metadata lacks.
	tag := normalize.Str(v, "tag")
	for _, p := range []string{l.file, tag} {
		if ref, ok := parsePath(p); ok {
			l.ref.fill(ref)
			break
		}
	}
	if o.Raw {
		l.raw = normalize.Map(v)
	}
	return l, nil
}

// fluentBit reads a Fluent Bit record: the kubernetes filter's metadata,
// the message in log or message, CRI parser fields (logtag) or a CRI
// line still in log.
func fluentBit(v *fastjson.Value, l *line) bool {
	l.msgKey = "log"
	if !v.Exists("log") {
		l.msgKey = "message"
	}
	l.msg = message(v, l.msgKey)
	l.stream = normalize.Str(v, "stream")
	var ok bool
	for _, k := range []string{"time", "@timestamp", "date", "timestamp"} {
		if l.time, ok = timeAt(v, k); ok {
			break
		}
	}
	if tag := normalize.Str(v, "logtag"); tag != "" {
		l.partial = tag[0] == 'P'
	} else if c, isCRI := parseCRI(l.msg); isCRI {
		l.time, l.stream, l.msg, l.partial, ok = c.time, c.stream, c.msg, c.partial, true
	} else if l.msgKey == "log" {
		dockerPartial(v, l)
	}
	k := v.Get("kubernetes")
	l.ref = podRef{
		Namespace:   normalize.Str(k, "namespace_name"),
		Pod:         normalize.Str(k, "pod_name"),
		PodUID:      normalize.Str(k, "pod_id"),
		Container:   normalize.Str(k, "container_name"),
		ContainerID: runtimeID(normalize.Str(k, "docker_id")),
	}
	l.node = normalize.Str(k, "host")
	l.image = normalize.Str(k, "container_image")
	l.labels = normalize.StrMap(k, "labels")
	return ok
}

// dockerPartial marks a docker json-file chunk: 16 KiB without the
// trailing newline, or a fluentd logging driver part.
func dockerPartial(v *fastjson.Value, l *line) {
	if normalize.Bool(v, "partial_message") {
		l.partial = !normalize.Bool(v, "partial_last")
		return
	}
	l.partial = len(l.msg) >= dockerChunk && !strings.HasSuffix(l.msg, "\n")
}

// gke reads a Cloud Logging LogEntry of a GKE container.
func gke(v *fastjson.Value, l *line) bool {
	var ok bool
	l.time, ok = normalize.Time(v, "timestamp")
	if p := v.Get("textPayload"); p != nil {
		l.msgKey = "textPayload"
		l.msg = message(v, "textPayload")
	} else {
		l.msgKey = "jsonPayload"
		if normalize.Str(v, "jsonPayload", "message") != "" {
			l.msg = normalize.Str(v, "jsonPayload", "message")
		} else {
			l.msg = message(v, "jsonPayload")
		}
	}
	logName := normalize.Str(v, "logName")
	if i := strings.LastIndex(logName, "/logs/"); i >= 0 {
		if s := logName[i+len("/logs/"):]; s == "stdout" || s == "stderr" {
			l.stream = s
		}
	}
	rl := v.Get("resource", "labels")
	l.ref = podRef{
		Namespace: normalize.Str(rl, "namespace_name"),
		Pod:       normalize.Str(rl, "pod_name"),
		Container: normalize.Str(rl, "container_name"),
	}
	l.cluster = normalize.Str(rl, "cluster_name")
	l.cloud = event.Cloud{Provider: event.ProviderGCP, Account: normalize.Str(rl, "project_id"), Region: normalize.Str(rl, "location")}
	for k, val := range normalize.StrMap(v, "labels") {
		if name, ok := strings.CutPrefix(k, "k8s-pod/"); ok {
			if l.labels == nil {
				l.labels = make(map[string]string)
			}
			l.labels[name] = val
		}
	}
	l.node = normalize.Str(v, "labels", "compute.googleapis.com/resource_name")
	return ok
}

// message returns the string at key; an object or array as JSON text.
func message(v *fastjson.Value, key string) string {
	f := v.Get(key)
	if f == nil {
		return ""
	}
	switch f.Type() {
	case fastjson.TypeString:
		b, _ := f.StringBytes()
		return string(b)
	case fastjson.TypeNull:
		return ""
	}
	return f.String() // a fresh copy
}

func firstStr(v *fastjson.Value, keys ...string) string {
	for _, k := range keys {
		if s := normalize.Str(v, k); s != "" {
			return s
		}
	}
	return ""
}

// runtimeID drops a runtime prefix ("containerd://", "docker://", "cri-o://").
func runtimeID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

// trimNewline removes one trailing "\n" (and a "\r" before it).
func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

func (r *podRef) fill(p podRef) {
	if r.Namespace == "" && r.Pod == "" {
		r.Namespace, r.Pod = p.Namespace, p.Pod
	}
	if r.PodUID == "" {
		r.PodUID = p.PodUID
	}
	if r.Container == "" {
		r.Container = p.Container
	}
	if r.ContainerID == "" {
		r.ContainerID = p.ContainerID
	}
}

func keyList(v *fastjson.Value) string {
	o, err := v.Object()
	if err != nil {
		return normalize.TypeName(v)
	}
	var ks []string
	o.Visit(func(k []byte, _ *fastjson.Value) {
		if len(ks) < 8 {
			ks = append(ks, string(k))
		}
	})
	return strings.Join(ks, ", ")
}

// cri is a parsed CRI line.
type cri struct {
	time    time.Time
	stream  string
	tag     string
	msg     string
	partial bool
}

// parseCRI parses "<RFC 3339 time> <stdout|stderr> <tags> <message>";
// tags are ":"-separated, the first P (partial) or F (full). The message
// may be empty, with or without the space before it.
func parseCRI(s string) (c cri, ok bool) {
	sp := strings.IndexByte(s, ' ')
	if sp < 20 || s[4] != '-' || s[10] != 'T' {
		return c, false
	}
	t, err := time.Parse(time.RFC3339Nano, s[:sp])
	if err != nil {
		return c, false
	}
	rest := s[sp+1:]
	switch {
	case strings.HasPrefix(rest, "stdout "):
		c.stream = "stdout"
	case strings.HasPrefix(rest, "stderr "):
		c.stream = "stderr"
	default:
		return c, false
	}
	rest = rest[len("stdout "):]
	c.tag, c.msg, _ = strings.Cut(rest, " ")
	if c.tag == "" || (c.tag[0] != 'P' && c.tag[0] != 'F') || (len(c.tag) > 1 && c.tag[1] != ':') {
		return c, false
	}
	c.time, c.partial = t.UTC(), c.tag[0] == 'P'
	return c, true
}

// DecodeText decodes a message that is not JSON: one or more CRI lines.
// Empty lines are skipped; a line that is not a CRI line is an
// ErrInvalidEvent (an *normalize.ItemError numbered by line when the
// message has several).
func (d *Decoder) DecodeText(msg []byte, o normalize.Options, m normalize.Meta) ([]*event.Event, []error) {
	var evs []*event.Event
	var errs []error
	ref, hasRef := parsePath(m.File)
	multi := bytes.Count(bytes.TrimRight(msg, "\r\n"), []byte{'\n'}) > 0
	item := 0
	for len(msg) > 0 {
		raw := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			raw, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		if len(raw) > 0 && raw[len(raw)-1] == '\r' {
			raw = raw[:len(raw)-1]
		}
		if isBlank(raw) {
			continue
		}
		idx := item
		item++
		s := string(raw)
		c, ok := parseCRI(s)
		if !ok {
			err := fmt.Errorf("%w: not a CRI log line (want \"<RFC 3339 time> <stdout|stderr> <P|F> <message>\"): %q", normalize.ErrInvalidEvent, clip(Redact(s), 80))
			if multi {
				err = &normalize.ItemError{Index: idx, Err: err}
			}
			errs = append(errs, err)
			continue
		}
		l := &line{format: FormatCRI, msg: c.msg, time: c.time, stream: c.stream, partial: c.partial, file: m.File}
		if hasRef {
			l.ref = ref
		}
		if o.Raw {
			l.raw = map[string]any{"time": s[:strings.IndexByte(s, ' ')], "stream": c.stream, "logtag": c.tag, "message": c.msg}
			l.msgKey = "message"
		}
		evs = d.add(evs, l, o)
	}
	return evs, errs
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// clip shortens s to about n bytes for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// partLine is a line whose parts are still arriving.
type partLine struct {
	key   string
	first *line // metadata of the first part; its msg is in buf
	buf   []byte
	opts  normalize.Options
}

// streamKey names the stream a line belongs to, for reassembly.
func (l *line) streamKey() string {
	var id string
	switch {
	case l.ref.ContainerID != "":
		id = "c:" + l.ref.ContainerID
	case l.ref.Pod != "" || l.ref.Container != "":
		id = "p:" + l.ref.Namespace + "/" + l.ref.Pod + "/" + l.ref.Container
	case l.file != "":
		id = "f:" + l.file
	}
	return id + "\x00" + l.stream
}

// add takes one line or part: a complete line becomes an event, a part
// waits for the rest of its line. Lines delivered to make room are
// appended too.
func (d *Decoder) add(evs []*event.Event, l *line, o normalize.Options) []*event.Event {
	if !l.partial && d.npending.Load() == 0 {
		return append(evs, build(l, o))
	}
	key := l.streamKey()
	var out []*line
	var outOpts []normalize.Options
	emit := func(l *line, o normalize.Options) {
		out = append(out, l)
		outOpts = append(outOpts, o)
	}
	d.mu.Lock()
	el := d.pending[key]
	switch {
	case el == nil && !l.partial:
		emit(l, o)
	case el == nil:
		d.start(key, l, o, emit)
	default:
		p := el.Value.(*partLine)
		if len(p.buf)+len(l.msg) > d.maxLine {
			// Deliver what is there; this part starts over.
			d.remove(el)
			emit(p.complete(true), p.opts)
			if l.partial {
				d.start(key, l, o, emit)
			} else {
				l.incomplete = true // the end of the line delivered
				emit(l, o)
			}
			break
		}
		p.buf = append(p.buf, l.msg...)
		if !l.partial {
			d.remove(el)
			emit(p.complete(false), p.opts)
		} else {
			d.order.MoveToBack(el)
		}
	}
	d.mu.Unlock()
	for i, l := range out {
		evs = append(evs, build(l, outOpts[i]))
	}
	return evs
}

// start makes l the first part of a pending line. Called with d.mu held.
func (d *Decoder) start(key string, l *line, o normalize.Options, emit func(*line, normalize.Options)) {
	if len(l.msg) >= d.maxLine {
		l.incomplete = true
		emit(l, o)
		return
	}
	for len(d.pending) >= d.maxPending {
		front := d.order.Front()
		d.remove(front)
		p := front.Value.(*partLine)
		emit(p.complete(true), p.opts)
	}
	p := &partLine{key: key, first: l, opts: o, buf: append(make([]byte, 0, 2*len(l.msg)), l.msg...)}
	l.msg = ""
	d.pending[key] = d.order.PushBack(p)
	d.npending.Add(1)
}

// remove drops a pending line. Called with d.mu held.
func (d *Decoder) remove(el *list.Element) {
	d.order.Remove(el)
	delete(d.pending, el.Value.(*partLine).key)
	d.npending.Add(-1)
}

// complete returns the pending line as one line.
func (p *partLine) complete(incomplete bool) *line {
	l := p.first
	l.msg = string(p.buf)
	l.partial = false
	l.incomplete = incomplete
	return l
}

// Flush delivers every pending line as it is, marked incomplete (with
// the options its first part came with): at the end of a replay or on
// shutdown.
func (d *Decoder) Flush() []*event.Event {
	d.mu.Lock()
	var ls []*partLine
	for el := d.order.Front(); el != nil; el = el.Next() {
		ls = append(ls, el.Value.(*partLine))
	}
	d.order.Init()
	clear(d.pending)
	d.npending.Store(0)
	d.mu.Unlock()
	evs := make([]*event.Event, 0, len(ls))
	for _, p := range ls {
		evs = append(evs, build(p.complete(true), p.opts))
	}
	return evs
}

// Pending returns the number of streams with a line pending.
func (d *Decoder) Pending() int { return int(d.npending.Load()) }

// build turns a complete line into an event, redacting secrets.
func build(l *line, o normalize.Options) *event.Event {
	msg := Redact(l.msg)
	ev := &event.Event{
		Source:  event.SourceContainerLog,
		Time:    l.time,
		Action:  Action,
		Outcome: event.OutcomeUnknown,
		Message: msg,
		Log:     event.Log{Stream: l.stream, File: l.file, Format: l.format},
		Cloud:   l.cloud,
	}
	r := l.ref
	k := &ev.K8s
	k.Cluster = l.cluster
	if k.Cluster == "" {
		k.Cluster = o.Cluster
	}
	k.Namespace, k.Pod, k.Container, k.ContainerID = r.Namespace, r.Pod, r.Container, r.ContainerID
	k.Node, k.Image, k.Labels = l.node, l.image, l.labels
	ev.Actor.Type = ActorType
	switch {
	case r.Pod != "" && r.Namespace != "":
		ev.Actor.Name = r.Namespace + "/" + r.Pod
	case r.Pod != "":
		ev.Actor.Name = r.Pod
	case r.Container != "":
		ev.Actor.Name = r.Container
	default:
		ev.Actor.Name = "unknown"
	}
	if r.Pod != "" {
		ev.Target = event.Target{Type: "pods", Namespace: r.Namespace, Name: r.Pod, ID: r.PodUID}
	}
	ev.ID = eventID(l, msg)
	ev.Log.Partial = l.incomplete
	if o.Raw && l.raw != nil {
		ev.Raw = redactRaw(l.raw, l.msgKey, msg)
		if l.incomplete {
			ev.Raw[RawPartial] = true
		}
	}
	return ev
}

var idPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// eventID hashes where the line came from, when, and what it said.
func eventID(l *line, msg string) string {
	bp := idPool.Get().(*[]byte)
	b := (*bp)[:0]
	switch {
	case l.ref.Pod != "":
		b = append(b, l.ref.Namespace...)
		b = append(b, '/')
		b = append(b, l.ref.Pod...)
	case l.file != "":
		b = append(b, path.Base(strings.ReplaceAll(l.file, `\`, "/"))...)
	default:
		b = append(b, l.ref.ContainerID...)
	}
	b = append(b, 0)
	b = append(b, l.ref.Container...)
	b = append(b, 0)
	b = append(b, l.stream...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(l.time.UnixNano()))
	b = append(b, msg...)
	sum := sha256.Sum256(b)
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		idPool.Put(bp)
	}
	return hex.EncodeToString(sum[:16])
}
