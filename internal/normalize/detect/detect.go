// Package detect picks the format of each message and unwraps the
// envelopes logs travel in, so one topic can carry any mix of sources.
//
// Envelopes unwrapped here, whatever they hold: gzip, JSON arrays, JSON
// lines, CloudWatch Logs subscription payloads (EKS control-plane logs,
// CloudTrail delivered to CloudWatch), Pub/Sub push and pull wrappers
// (GCP log sinks), Azure Event Hubs exports ({"records":[...]}, each
// record dispatched on its category: kube-audit goes to Kubernetes audit,
// the rest to Azure). A source's own batch forms (a Kubernetes EventList,
// CloudTrail's {"Records":[...]}) are its decoder's business.
//
// The error of one item of a batch (an array element, a JSON line, a
// CloudWatch log event, an Event Hubs record) is a *normalize.ItemError
// with the item's index; an item of a batch within a batch is wrapped
// once per level, the outermost index first. Error messages stay short
// and quote no more than the start of a rejected line, redacted.
package detect

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/redact"
)

// Auto is the format name that detects the source of every message.
const Auto = "auto"

// Format is one source's decoder.
type Format struct {
	// Name is the source name (event.Source*).
	Name string
	// Detect reports whether a JSON object is a record of this source, or
	// one of its own batch forms.
	Detect func(v *fastjson.Value) bool
	// Decode decodes a value Detect accepted.
	Decode func(v *fastjson.Value, o normalize.Options, m normalize.Meta) ([]*event.Event, []error)
}

// maxDepth bounds envelope nesting (gzip in Pub/Sub in CloudWatch ...).
const maxDepth = 4

// maxInflated bounds a gzip'd message's decompressed size.
const maxInflated = 64 << 20

var parsers fastjson.ParserPool

// Normalizer decodes messages of one format, or of any with Auto.
type Normalizer struct {
	format  string
	opts    normalize.Options
	formats []Format
}

var _ normalize.Normalizer = (*Normalizer)(nil)

// Formats returns the accepted format names: Auto and every source.
func Formats() []string {
	names := []string{Auto}
	for _, f := range formats {
		names = append(names, f.Name)
	}
	return names
}

// New returns the normalizer for format: Auto or a source name. A forced
// format still unwraps envelopes, and reports any other source's record
// as ErrUnknownFormat.
func New(format string, o normalize.Options) (*Normalizer, error) {
	if format == "" {
		format = Auto
	}
	if format != Auto && !slices.ContainsFunc(formats, func(f Format) bool { return f.Name == format }) {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrFormat, format, strings.Join(Formats(), ", "))
	}
	return &Normalizer{format: format, opts: o, formats: formats}, nil
}

// Source implements normalize.Normalizer: the format name.
func (n *Normalizer) Source() string { return n.format }

// Normalize implements normalize.Normalizer.
func (n *Normalizer) Normalize(msg []byte, m normalize.Meta) ([]*event.Event, []error) {
	var d decoder
	d.n = n
	d.meta = m
	d.message(msg, n.opts, 0)
	if n.format != Auto {
		d.errs = append(d.errs, d.textLeftover()...)
	}
	return d.evs, d.errs
}

type decoder struct {
	n    *Normalizer
	meta normalize.Meta
	evs  []*event.Event
	errs []error
	// top is the value parsed from a whole message (or line), topText
	// that message: decode hands a normalizer the text of the value it
	// decodes when it is top (normalize.Options.Text).
	top     *fastjson.Value
	topText []byte
}

func (d *decoder) textLeftover() []error { return nil }

func (d *decoder) fail(err error) {
	d.errs = append(d.errs, err)
}

// numberItem wraps the errors reported since mark (len(d.errs) before item
// i of a batch was decoded) as errors of item i. Batches within batches
// wrap again, so the outermost index comes first.
func (d *decoder) numberItem(mark, i int) {
	for j := mark; j < len(d.errs); j++ {
		d.errs[j] = &normalize.ItemError{Index: i, Err: d.errs[j]}
	}
}

// message decodes raw bytes: gzip, JSON or text.
func (d *decoder) message(msg []byte, o normalize.Options, depth int) {
	if depth > maxDepth {
		d.fail(fmt.Errorf("%w: envelopes nested deeper than %d", normalize.ErrUnknownFormat, maxDepth))
		return
	}
	if len(msg) >= 2 && msg[0] == 0x1f && msg[1] == 0x8b {
		r, err := gzip.NewReader(bytes.NewReader(msg))
		if err != nil {
			d.fail(fmt.Errorf("%w: gzip: %v", normalize.ErrNotJSON, err))
			return
		}
		data, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
		if err == nil && len(data) > maxInflated {
			err = fmt.Errorf("inflates to more than %d bytes", maxInflated)
		}
		if err != nil {
			d.fail(fmt.Errorf("%w: gzip: %v", normalize.ErrNotJSON, err))
			return
		}
		d.message(data, o, depth+1)
		return
	}
	msg = bytes.TrimPrefix(msg, []byte("\ufeff")) // a byte-order mark (Windows exports)
	trimmed := bytes.TrimLeft(msg, " \t\r\n")
	if len(trimmed) == 0 {
		d.fail(fmt.Errorf("%w: empty message", normalize.ErrNotJSON))
		return
	}
	if trimmed[0] != '{' && trimmed[0] != '[' {
		d.text(msg, o)
		return
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(msg)
	if err != nil {
		// JSON lines: several values, one per line. A document printed
		// over several lines is not (its first line is not a value of
		// its own): it is one error, not one per line.
		if isJSONLines(trimmed) {
			d.jsonLines(msg, o, depth)
			return
		}
		d.fail(fmt.Errorf("%w: %s", normalize.ErrNotJSON, jsonError(msg, err)))
		return
	}
	// v is the whole message: a normalizer deferring raw keeps its text.
	top, topText := d.top, d.topText
	d.top, d.topText = v, msg
	defer func() { d.top, d.topText = top, topText }()
	d.value(v, o, depth)
}

// jsonError describes why msg is not JSON. fastjson's errors quote the
// input from the failing byte on, once per nesting level (kilobytes, and
// whatever credential the message holds); encoding/json's name the byte
// offset and at most one character.
func jsonError(msg []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(json.Unmarshal(msg, new(json.RawMessage)), &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	return shorten(err.Error()) // accepted by encoding/json: nested too deep for fastjson
}

// isJSONLines reports whether msg, which is not one JSON value, has
// several lines of which the first looks like a whole JSON value.
func isJSONLines(msg []byte) bool {
	first, rest, ok := bytes.Cut(msg, []byte("\n"))
	if !ok || len(bytes.TrimSpace(rest)) == 0 {
		return false
	}
	first = bytes.TrimSpace(first)
	last := first[len(first)-1]
	return first[0] == '{' && last == '}' || first[0] == '[' && last == ']'
}

func (d *decoder) jsonLines(msg []byte, o normalize.Options, depth int) {
	for i := 0; len(msg) > 0; {
		line := msg
		if j := bytes.IndexByte(msg, '\n'); j >= 0 {
			line, msg = msg[:j], msg[j+1:]
		} else {
			msg = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		mark := len(d.errs)
		d.message(line, o, depth+1)
		d.numberItem(mark, i)
		i++
	}
}

// value decodes one parsed JSON value.
func (d *decoder) value(v *fastjson.Value, o normalize.Options, depth int) {
	switch v.Type() {
	case fastjson.TypeArray:
		a, _ := v.Array()
		for i, it := range a {
			mark := len(d.errs)
			if it.Type() != fastjson.TypeObject {
				d.fail(fmt.Errorf("%w: %s is not a log record", normalize.ErrUnknownFormat, normalize.TypeName(it)))
			} else {
				d.object(it, o, depth)
			}
			d.numberItem(mark, i)
		}
	case fastjson.TypeObject:
		d.object(v, o, depth)
	default:
		d.fail(fmt.Errorf("%w: %s is not a log record", normalize.ErrUnknownFormat, normalize.TypeName(v)))
	}
}

// object decodes one JSON object: an envelope or a record.
func (d *decoder) object(v *fastjson.Value, o normalize.Options, depth int) {
	if depth > maxDepth {
		d.fail(fmt.Errorf("%w: envelopes nested deeper than %d", normalize.ErrUnknownFormat, maxDepth))
		return
	}
	// CloudWatch Logs subscription payload.
	if v.Exists("logEvents") && v.Exists("messageType") {
		d.cloudWatch(v, o, depth)
		return
	}
	// Pub/Sub push ({"message":{"data":...},"subscription":...}) or a
	// pulled message ({"data":..., "attributes":...}).
	if data := pubSubData(v); data != nil {
		d.message(data, o, depth+1)
		return
	}
	// Azure Event Hubs export.
	if rs := v.Get("records"); rs != nil && rs.Type() == fastjson.TypeArray && !v.Exists("Records") {
		d.azureRecords(rs, o, depth)
		return
	}
	// One AKS kube-audit record on its own, outside its Event Hubs batch.
	if strings.HasPrefix(strings.ToLower(normalize.Str(v, "category")), "kube-audit") && v.Exists("properties", "log") {
		d.aksRecord(v, o, depth)
		return
	}
	for _, f := range d.n.formats {
		if f.Detect(v) {
			d.decode(f, v, o)
			return
		}
	}
	// A Cribl Stream event no source claims: the original record as a
	// string in _raw (Cribl's container log records are claimed above).
	if raw := v.Get("_raw"); raw != nil && raw.Type() == fastjson.TypeString && (v.Exists("_time") || v.Exists("cribl_breaker")) {
		b, _ := raw.StringBytes()
		d.message(bytes.Clone(b), o, depth+1)
		return
	}
	d.fail(fmt.Errorf("%w: no known log format matches (keys: %s)", normalize.ErrUnknownFormat, keys(v)))
}

func (d *decoder) decode(f Format, v *fastjson.Value, o normalize.Options) {
	if d.n.format != Auto && f.Name != d.n.format {
		d.fail(fmt.Errorf("%w: a %s record on a %s input", normalize.ErrUnknownFormat, f.Name, d.n.format))
		return
	}
	if o.RawSources != nil {
		o.Raw = o.Raw && o.RawSources[f.Name]
	}
	o.Top, o.Text = d.top, d.topText
	evs, errs := f.Decode(v, o, d.meta)
	d.evs = append(d.evs, evs...)
	d.errs = append(d.errs, errs...)
}

// cloudWatch unwraps a CloudWatch Logs subscription payload. EKS writes the
// control plane's logs to /aws/eks/CLUSTER/cluster, which names the cluster.
func (d *decoder) cloudWatch(v *fastjson.Value, o normalize.Options, depth int) {
	if normalize.Str(v, "messageType") == "CONTROL_MESSAGE" {
		return // CloudWatch's own reachability check; carries no log.
	}
	if g := normalize.Str(v, "logGroup"); strings.HasPrefix(g, "/aws/eks/") && strings.HasSuffix(g, "/cluster") {
		o.Cluster = strings.TrimSuffix(strings.TrimPrefix(g, "/aws/eks/"), "/cluster")
		o.Provider, o.Account = event.ProviderAWS, normalize.Str(v, "owner")
	}
	les := v.Get("logEvents")
	if les.Type() != fastjson.TypeArray {
		d.fail(fmt.Errorf("%w: CloudWatch logEvents is %s, not an array", normalize.ErrInvalidEvent, normalize.TypeName(les)))
		return
	}
	a, _ := les.Array()
	for i, le := range a {
		mark := len(d.errs)
		// The message aliases the parser's buffer, which a nested parse
		// would reuse: copy it.
		if msg := le.GetStringBytes("message"); msg == nil {
			d.fail(fmt.Errorf("%w: CloudWatch log event without a message", normalize.ErrInvalidEvent))
		} else {
			d.message(bytes.Clone(msg), o, depth+1)
		}
		d.numberItem(mark, i)
	}
}

// pubSubData returns the decoded data of a Pub/Sub message envelope.
func pubSubData(v *fastjson.Value) []byte {
	msg := v
	if m := v.Get("message"); m != nil && m.Type() == fastjson.TypeObject && v.Exists("subscription") {
		msg = m
	} else if !(v.Exists("data") && (v.Exists("attributes") || v.Exists("messageId") || v.Exists("message_id"))) {
		return nil
	}
	s := msg.GetStringBytes("data")
	if s == nil {
		return nil
	}
	out, err := base64.StdEncoding.DecodeString(string(s))
	if err != nil {
		return nil
	}
	return out
}

// azureRecords dispatches the records of an Event Hubs export: AKS
// kube-audit categories carry a Kubernetes audit event in properties.log
// (a JSON string or object); every other category is an Azure record.
func (d *decoder) azureRecords(rs *fastjson.Value, o normalize.Options, depth int) {
	a, _ := rs.Array()
	for i, r := range a {
		mark := len(d.errs)
		switch {
		case r.Type() != fastjson.TypeObject:
			d.fail(fmt.Errorf("%w: %s is not an Azure record", normalize.ErrUnknownFormat, normalize.TypeName(r)))
		case strings.HasPrefix(strings.ToLower(normalize.Str(r, "category")), "kube-audit"):
			d.aksRecord(r, o, depth)
		default:
			d.object(r, o, depth+1)
		}
		d.numberItem(mark, i)
	}
}

// aksRecord decodes an AKS kube-audit record: the audit event is in
// properties.log, as a JSON string or an object.
func (d *decoder) aksRecord(r *fastjson.Value, o normalize.Options, depth int) {
	if c := aksCluster(normalize.Str(r, "resourceId")); c != "" {
		o.Cluster = c
		o.Provider, o.Account = event.ProviderAzure, azureSubscription(normalize.Str(r, "resourceId"))
	}
	log := r.Get("properties", "log")
	switch {
	case log == nil:
		d.fail(fmt.Errorf("%w: AKS %s record without properties.log", normalize.ErrInvalidEvent, clip(normalize.Str(r, "category"), 40)))
	case log.Type() == fastjson.TypeString:
		s, _ := log.StringBytes()
		d.message(bytes.Clone(s), o, depth+1)
	default:
		d.value(log, o, depth+1)
	}
}

// aksCluster returns the cluster name of an AKS resource id
// (/SUBSCRIPTIONS/…/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/NAME).
func aksCluster(id string) string {
	const marker = "/managedclusters/"
	// Lower-case ASCII only: strings.ToLower can change the byte length
	// (invalid UTF-8, some letters), and i indexes id.
	lower := []byte(id)
	for j, c := range lower {
		if 'A' <= c && c <= 'Z' {
			lower[j] = c + 'a' - 'A'
		}
	}
	i := bytes.Index(lower, []byte(marker))
	if i < 0 {
		return ""
	}
	name := id[i+len(marker):]
	if j := strings.IndexByte(name, '/'); j >= 0 {
		name = name[:j]
	}
	return strings.ToLower(name)
}

// azureSubscription returns the subscription id of an Azure resource id
// (/SUBSCRIPTIONS/<id>/…), lower case.
func azureSubscription(id string) string {
	const marker = "/subscriptions/"
	i := strings.Index(strings.ToLower(id), marker)
	if i < 0 {
		return ""
	}
	sub := id[i+len(marker):]
	if j := strings.IndexByte(sub, '/'); j >= 0 {
		sub = sub[:j]
	}
	return strings.ToLower(sub)
}

// text decodes a message that is not JSON: container log lines.
func (d *decoder) text(msg []byte, o normalize.Options) {
	if textDecoder == nil {
		d.fail(fmt.Errorf("%w: not JSON and no text format is known", normalize.ErrNotJSON))
		return
	}
	if d.n.format != Auto && d.n.format != event.SourceContainerLog {
		d.fail(fmt.Errorf("%w: a text line on a %s input", normalize.ErrNotJSON, d.n.format))
		return
	}
	// CRI lines start with their RFC 3339 timestamp; anything else is
	// neither JSON nor a container log line.
	if t := bytes.TrimLeft(msg, " \t\r\n"); !startsWithTime(t) {
		d.fail(fmt.Errorf("%w: neither JSON nor a container log line (CRI: <RFC 3339 time> <stdout|stderr> <P|F> <message>): %q", normalize.ErrNotJSON, excerpt(t)))
		return
	}
	if o.RawSources != nil {
		o.Raw = o.Raw && o.RawSources[event.SourceContainerLog]
	}
	evs, errs := textDecoder(msg, o, d.meta)
	d.evs = append(d.evs, evs...)
	d.errs = append(d.errs, errs...)
}

// startsWithTime reports whether b's first word is an RFC 3339 timestamp.
func startsWithTime(b []byte) bool {
	if len(b) < 10 || b[0] < '0' || b[0] > '9' || b[4] != '-' {
		return false // CRI times are RFC 3339: 2006-01-02T…
	}
	end := bytes.IndexAny(b, " \t\r\n")
	if end < 0 {
		end = len(b)
	}
	_, ok := normalize.ParseTime(string(b[:end]))
	return ok
}

// excerpt returns the start of b for an error message, credentials
// redacted: a rejected message may be a log line holding one.
func excerpt(b []byte) string {
	// Redact more than is shown, so that a credential is recognized by
	// the key or header name before it.
	if len(b) > 1024 {
		b = b[:1024]
	}
	return clip(redact.String(string(b)), 80)
}

// shorten keeps a parse error short and free of credentials: fastjson
// quotes the input from the failing byte on, once per nesting level.
func shorten(s string) string {
	const max = 240
	if len(s) > 4096 {
		s = s[:2048] + s[len(s)-2048:]
	}
	// fastjson quotes the input with %q: unescape its quotes so that
	// "password":"..." is recognized.
	s = redact.String(strings.ReplaceAll(s, `\"`, `"`))
	if len(s) <= max {
		return s
	}
	// The innermost reason is at the end, before the unparsed tail.
	return strings.ToValidUTF8(s[:50], "") + " … " + strings.ToValidUTF8(s[len(s)-180:], "")
}

// clip cuts s to at most n bytes, at a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func keys(v *fastjson.Value) string {
	o, _ := v.Object()
	var ks []string
	o.Visit(func(k []byte, _ *fastjson.Value) {
		if len(ks) < 8 {
			ks = append(ks, clip(string(k), 40))
		}
	})
	if o.Len() > len(ks) {
		ks = append(ks, "…")
	}
	return strings.Join(ks, ", ")
}

// ErrFormat is returned by New for an unknown format name.
var ErrFormat = errors.New("unknown format")
