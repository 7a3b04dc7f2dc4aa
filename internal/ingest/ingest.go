// Package ingest is `vigia ingest`: the endpoint of the Kubernetes API
// server's audit webhook backend. The API server POSTs audit.k8s.io/v1
// EventList bodies (batch mode, possibly gzip'd); each event becomes one
// Kafka message, and the request is answered 200 only once the brokers
// acknowledged every message of it (RequiredAcks: all). Any failure
// answers 5xx or 429 and the API server sends the batch again, so delivery
// is at least once: a retried batch may write some events twice, with the
// same auditID, which the alert ids derived from it absorb downstream.
//
// Keys. A message's key is the event's objectRef "namespace/name" (a
// cluster-scoped object: "/name"), or its auditID when the event names no
// object. Kafka orders messages per partition and the key picks the
// partition, so every event about one object (a Role created, patched,
// then deleted; a pod created, exec'd into, then deleted) lands on one
// partition in the order the API server sent it, and Vigia's consumer,
// which handles a partition in order, sees them in that order. Events
// naming no object (non-resource URLs, lists, creates with generateName)
// have nothing to be ordered with and spread evenly by their unique
// auditID. The balancer is murmur2, the Java client's default, so other
// producers keyed the same way agree on partitions.
//
// Bounds. A body is limited to MaxBodyBytes after gzip decoding (413
// beyond, so a gzip bomb is cut off while reading), and the bytes held by
// all requests together to MaxInflightBytes (429 with Retry-After beyond).
// The whole EventList is parsed and checked before anything is produced:
// a malformed body answers 400 and writes nothing.
package ingest

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/valyala/fastjson"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigia-dev/vigia/internal/telemetry"
)

// Producer writes messages and returns once the brokers acknowledged all
// of them; *kafka.Writer with RequiredAcks set is one.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Metrics receives the handler's counts; may be nil.
type Metrics interface {
	// Request counts a finished request by status code, with the body
	// bytes read (after gzip decoding).
	Request(code int, bodyBytes int64)
	// Produced counts events acknowledged by the brokers and their bytes.
	Produced(events int, bytes int64)
	// Truncated counts events produced without their request and response
	// objects; Dropped events too large even then, or otherwise unusable.
	Truncated(n int)
	Dropped(reason string, n int)
	// Inflight adds delta to the bytes currently held.
	Inflight(delta int64)
}

// Config configures a Handler.
type Config struct {
	// Producer writes to the audit topic. Required; see NewWriter.
	Producer Producer
	// Topic is the topic name, for spans and logs.
	Topic string
	// MaxBodyBytes bounds a body after gzip decoding. Default: 32 MiB.
	MaxBodyBytes int64
	// MaxInflightBytes bounds the bytes held across requests.
	// Default: 256 MiB.
	MaxInflightBytes int64
	// MaxEventBytes bounds one message value; see config.Ingest.
	// Default: 1000000.
	MaxEventBytes int
	// ProduceTimeout bounds the wait for acknowledgements. Default: 10s.
	ProduceTimeout time.Duration
	// Token, when set, returns the bearer token requests must present;
	// it is called per request (it may reload a rotated file).
	Token func() []byte
	// RetryAfter is the Retry-After sent with 429 and 503. Default: 1s.
	RetryAfter time.Duration
	Metrics    Metrics
	// Tracer, when set, records a server span per request and a producer
	// span whose context travels in every message's traceparent header.
	Tracer trace.Tracer
	Logger *slog.Logger
}

// Handler serves the audit webhook. Create with NewHandler.
type Handler struct {
	cfg      Config
	inflight atomic.Int64
	parsers  fastjson.ParserPool
	gzips    sync.Pool
	bufs     sync.Pool
	warned   sync.Map // kind -> *atomic.Uint64
}

// Reasons for dropped events and rejected requests.
const (
	ReasonTooLarge = "too_large"
)

// NewHandler returns a handler; cfg.Producer is required.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Producer == nil {
		return nil, errors.New("ingest: a producer is required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.MaxInflightBytes <= 0 {
		cfg.MaxInflightBytes = 256 << 20
	}
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = 1000000
	}
	if cfg.ProduceTimeout <= 0 {
		cfg.ProduceTimeout = 10 * time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg}, nil
}

// NewWriter returns the Kafka writer the handler produces with: every
// replica acknowledges (RequiredAcks: all), batches flush after 2ms so a
// request does not wait for a batch to fill, and the murmur2 balancer
// places each key on a fixed partition. Messages up to maxEventBytes fit
// in a batch. transport (TLS, SASL: see kafkaauth) may be nil.
func NewWriter(brokers []string, topic string, maxEventBytes int, transport *kafka.Transport) *kafka.Writer {
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond,
		BatchSize:    1000,
		BatchBytes:   max(1<<20, int64(maxEventBytes)+64<<10),
		Compression:  kafka.Lz4,
	}
	if transport != nil {
		w.Transport = transport
	}
	return w
}

// Inflight returns the bytes currently held by requests.
func (h *Handler) Inflight() int64 { return h.inflight.Load() }

// errBusy: the in-flight budget is spent.
var errBusy = errors.New("ingest: too many bytes in flight")

// errTooLarge: the body exceeds MaxBodyBytes.
var errTooLarge = errors.New("ingest: body too large")

type request struct {
	h        *Handler
	held     int64
	bodySize int64
}

func (r *request) reserve(n int64) error {
	if r.h.inflight.Add(n) > r.h.cfg.MaxInflightBytes {
		r.h.inflight.Add(-n)
		return errBusy
	}
	r.held += n
	if m := r.h.cfg.Metrics; m != nil {
		m.Inflight(n)
	}
	return nil
}

func (r *request) release() {
	if r.held == 0 {
		return
	}
	r.h.inflight.Add(-r.held)
	if m := r.h.cfg.Metrics; m != nil {
		m.Inflight(-r.held)
	}
	r.held = 0
}

// ServeHTTP handles one EventList.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &request{h: h}
	code, msg := h.serve(w, r, req)
	req.release()
	if m := h.cfg.Metrics; m != nil {
		m.Request(code, req.bodySize)
	}
	switch code {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, h.cfg.RetryAfter/time.Second))))
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigia-ingest"`)
	}
	if code == http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, msg)
		return
	}
	if code >= 500 || code == http.StatusTooManyRequests {
		h.warn(strconv.Itoa(code), "audit webhook request not taken; the API server retries it (logged once per 1000)", "status", code, "reason", msg)
	} else {
		h.warn(strconv.Itoa(code), "audit webhook request rejected (logged once per 1000)", "status", code, "reason", msg, "remote", r.RemoteAddr)
	}
	http.Error(w, msg, code)
}

// serve returns the status code and the response text.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, req *request) (int, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "only POST is accepted"
	}
	if h.cfg.Token != nil && !h.authorized(r) {
		return http.StatusUnauthorized, "a valid bearer token is required"
	}
	ctx := r.Context()
	var span trace.Span
	if h.cfg.Tracer != nil {
		ctx = telemetry.Propagator.Extract(ctx, propagationHeader(r.Header))
		ctx, span = h.cfg.Tracer.Start(ctx, "POST "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
	}

	body, err := h.readBody(w, r, req)
	defer h.putBuf(body)
	switch {
	case errors.Is(err, errBusy):
		return http.StatusTooManyRequests, "too many bytes in flight; retry later"
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", h.cfg.MaxBodyBytes)
	case errors.Is(err, errEncoding):
		return http.StatusUnsupportedMediaType, err.Error()
	case err != nil:
		return http.StatusBadRequest, "reading the body: " + err.Error()
	}

	// The parser copies the body and builds a tree of values over it:
	// count it once more. Parsers that took a large body are not pooled.
	if err := req.reserve(int64(len(body))); err != nil {
		return http.StatusTooManyRequests, "too many bytes in flight; retry later"
	}
	var p *fastjson.Parser
	if len(body) <= maxPooledBuf {
		p = h.parsers.Get()
		defer h.parsers.Put(p)
	} else {
		p = new(fastjson.Parser)
	}
	msgs, stats, err := h.messages(p, body, req)
	if errors.Is(err, errBusy) {
		return http.StatusTooManyRequests, "too many bytes in flight; retry later"
	}
	if err != nil {
		return http.StatusBadRequest, err.Error()
	}
	if span != nil {
		span.SetAttributes(attribute.Int(telemetry.AttrEvents, len(msgs)))
	}
	if len(msgs) > 0 {
		if err := h.produce(ctx, msgs); err != nil {
			if span != nil {
				span.SetStatus(codes.Error, "produce failed")
			}
			return http.StatusServiceUnavailable, "the Kafka brokers did not acknowledge every event; retry later"
		}
	}
	if m := h.cfg.Metrics; m != nil {
		if len(msgs) > 0 {
			m.Produced(len(msgs), stats.bytes)
		}
		if stats.truncated > 0 {
			m.Truncated(stats.truncated)
		}
		if stats.dropped > 0 {
			m.Dropped(ReasonTooLarge, stats.dropped)
		}
	}
	return http.StatusOK, `{"produced":` + strconv.Itoa(len(msgs)) + "}\n"
}

func (h *Handler) authorized(r *http.Request) bool {
	want := h.cfg.Token()
	if len(want) == 0 {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	// Hashing first makes the comparison constant-time in the length too.
	a, b := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

var errEncoding = errors.New("unsupported Content-Encoding")

// readBody reads the (decoded) body, reserving in-flight bytes as it goes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, req *request) ([]byte, error) {
	limit := h.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, _ := h.gzips.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(src)
		} else {
			err = zr.Reset(src)
		}
		if err != nil {
			return nil, tooLarge(err)
		}
		defer h.gzips.Put(zr)
		src = zr
	default:
		return nil, fmt.Errorf("%w %q: send identity or gzip", errEncoding, enc)
	}
	buf := h.getBuf()
	if r.ContentLength > 0 {
		if err := req.reserve(r.ContentLength); err != nil {
			return buf, err
		}
		buf = growTo(buf, int(r.ContentLength)+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = growTo(buf, max(2*cap(buf), 64<<10))
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		req.bodySize = int64(len(buf))
		if int64(len(buf)) > limit {
			return buf, errTooLarge
		}
		if extra := int64(len(buf)) - req.held; extra > 0 {
			if rerr := req.reserve(extra); rerr != nil {
				return buf, rerr
			}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, tooLarge(err)
		}
	}
}

func tooLarge(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	return err
}

func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}

// Buffers larger than this are not pooled, so one huge request does not
// pin its memory.
const maxPooledBuf = 4 << 20

func (h *Handler) getBuf() []byte {
	if b, ok := h.bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

func (h *Handler) putBuf(b []byte) {
	if b == nil || cap(b) > maxPooledBuf {
		return
	}
	h.bufs.Put(&b)
}

type listStats struct {
	bytes     int64
	truncated int
	dropped   int
}

// Accepted audit API versions (v1beta1 is what API servers before 1.24
// could still be configured to send).
var apiVersions = []string{"audit.k8s.io/v1", "audit.k8s.io/v1beta1"}

// messages checks the whole EventList and builds one message per event.
// Nothing is produced when it fails.
func (h *Handler) messages(p *fastjson.Parser, body []byte, req *request) ([]kafka.Message, listStats, error) {
	var st listStats
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, st, fmt.Errorf("body is not JSON: %s", jsonError(err))
	}
	if v.Type() != fastjson.TypeObject {
		return nil, st, fmt.Errorf("body is a JSON %s, want an audit.k8s.io EventList object", v.Type())
	}
	if k := v.Get("kind"); k != nil && string(k.GetStringBytes()) != "EventList" {
		return nil, st, fmt.Errorf("kind %s: want EventList", k)
	}
	if av := v.Get("apiVersion"); av != nil {
		s := string(av.GetStringBytes())
		ok := false
		for _, a := range apiVersions {
			ok = ok || s == a
		}
		if !ok {
			return nil, st, fmt.Errorf("apiVersion %s: want %s", av, strings.Join(apiVersions, " or "))
		}
	}
	itemsV := v.Get("items")
	if itemsV == nil {
		return nil, st, errors.New("no items: want an audit.k8s.io EventList")
	}
	items, err := itemsV.Array()
	if err != nil {
		return nil, st, fmt.Errorf("items is a JSON %s, want an array", itemsV.Type())
	}
	if len(items) == 0 {
		return nil, st, nil
	}
	// Values are marshalled into one buffer (a message per sub-slice).
	// fastjson copies a string verbatim until it is read (reading one
	// unescapes it in place, and re-escapes it when marshalled), so each
	// event is marshalled before any of its strings is read: the bytes are
	// the event as the API server sent it, compacted. Every item is checked
	// here, and nothing is produced before the loop is through.
	out := make([]byte, 0, len(body)+len(body)/16)
	keys := make([]byte, 0, 48*len(items))
	msgs := make([]kafka.Message, 0, len(items))
	var arena fastjson.Arena
	for i, it := range items {
		if it.Type() != fastjson.TypeObject {
			return nil, st, fmt.Errorf("items[%d] is a JSON %s, want an audit Event object", i, it.Type())
		}
		start := len(out)
		out = it.MarshalTo(out)
		val := out[start:len(out):len(out)]
		if id := it.Get("auditID"); id == nil || id.Type() != fastjson.TypeString || len(id.GetStringBytes()) == 0 {
			return nil, st, fmt.Errorf("items[%d]: auditID missing or not a string", i)
		}
		if len(val) > h.cfg.MaxEventBytes {
			val = h.truncate(it, &arena)
			if val == nil {
				st.dropped++
				h.warn("dropped_too_large", "audit event too large for Kafka even without its request and response objects; dropped (logged once per 1000)",
					"auditID", string(it.GetStringBytes("auditID")), "verb", string(it.GetStringBytes("verb")),
					"resource", string(it.GetStringBytes("objectRef", "resource")), "max_event_bytes", h.cfg.MaxEventBytes)
				continue
			}
			st.truncated++
		}
		st.bytes += int64(len(val))
		ks := len(keys)
		keys = appendKey(keys, it)
		msgs = append(msgs, kafka.Message{Key: keys[ks:len(keys):len(keys)], Value: val})
	}
	if err := req.reserve(int64(cap(out) + cap(keys))); err != nil {
		return nil, st, err
	}
	return msgs, st, nil
}

// truncate drops requestObject and responseObject and marks the event the
// way the API server's own truncation does. It returns nil when the event
// is still too large.
func (h *Handler) truncate(it *fastjson.Value, a *fastjson.Arena) []byte {
	it.Del("requestObject")
	it.Del("responseObject")
	ann := it.Get("annotations")
	if ann == nil || ann.Type() != fastjson.TypeObject {
		ann = a.NewObject()
		it.Set("annotations", ann)
	}
	ann.Set("audit.k8s.io/truncated", a.NewString("true"))
	val := it.MarshalTo(nil)
	if len(val) > h.cfg.MaxEventBytes || fastjson.ValidateBytes(val) != nil {
		return nil
	}
	return val
}

// appendKey appends the message key: objectRef "namespace/name", or the
// auditID when the event names no object. Call it after marshalling the
// event: reading a string unescapes it in place.
func appendKey(dst []byte, it *fastjson.Value) []byte {
	if name := it.GetStringBytes("objectRef", "name"); len(name) > 0 {
		dst = append(dst, it.GetStringBytes("objectRef", "namespace")...)
		return append(append(dst, '/'), name...)
	}
	return append(dst, it.GetStringBytes("auditID")...)
}

// jsonError trims fastjson's quote of the input: a body can hold request
// objects, which have no place in a response or a log.
func jsonError(err error) string {
	s := err.Error()
	for _, cut := range []string{"; unparsed tail", "unexpected tail"} {
		if i := strings.Index(s, cut); i >= 0 {
			s = s[:i]
		}
	}
	if s == "" {
		s = "trailing data after the JSON value"
	}
	return s
}

// produce writes msgs and waits for the acknowledgements.
func (h *Handler) produce(ctx context.Context, msgs []kafka.Message) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ProduceTimeout)
	defer cancel()
	if h.cfg.Tracer != nil {
		var span trace.Span
		ctx, span = h.cfg.Tracer.Start(ctx, "send "+h.cfg.Topic, trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String(telemetry.AttrMessagingSystem, "kafka"),
				attribute.String(telemetry.AttrMessagingOperation, "send"),
				attribute.String(telemetry.AttrDestination, h.cfg.Topic),
				attribute.Int(telemetry.AttrBatchCount, len(msgs)),
			))
		defer span.End()
		// One header value for all messages of the request.
		hdr := telemetry.InjectHeaders(ctx, nil)
		for i := range msgs {
			msgs[i].Headers = hdr[:len(hdr):len(hdr)]
		}
		err := h.cfg.Producer.WriteMessages(ctx, msgs...)
		if err != nil {
			span.SetStatus(codes.Error, "produce failed")
		}
		return h.produced(err, len(msgs))
	}
	return h.produced(h.cfg.Producer.WriteMessages(ctx, msgs...), len(msgs))
}

func (h *Handler) produced(err error, n int) error {
	if err == nil {
		return nil
	}
	failed := n
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		failed = we.Count()
	}
	h.warn("produce_failed", "audit events not acknowledged by Kafka; answering 503 so the API server retries (logged once per 1000)",
		"topic", h.cfg.Topic, "events", n, "failed", failed, "err", err)
	return err
}

// warn logs the first occurrence of a kind of problem, then every 1000th.
func (h *Handler) warn(kind, msg string, args ...any) {
	c, _ := h.warned.LoadOrStore(kind, new(atomic.Uint64))
	n := c.(*atomic.Uint64).Add(1)
	if n != 1 && n%1000 != 0 {
		return
	}
	h.cfg.Logger.Warn(msg, append(args, "occurrences", n)...)
}

// propagationHeader adapts http.Header to a TextMapCarrier.
type propagationHeader http.Header

func (c propagationHeader) Get(k string) string { return http.Header(c).Get(k) }
func (c propagationHeader) Set(k, v string)     { http.Header(c).Set(k, v) }
func (c propagationHeader) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
