package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/telemetry"
)

const topic = "k8s-audit"

// Audit events, compact as the API server sends them.
var (
	podCreate = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods","verb":"create","user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"shop","name":"web","apiVersion":"v1"},"responseStatus":{"code":201},"requestObject":{"kind":"Pod","spec":{"containers":[{"name":"c","image":"nginx@sha256:0"}]}},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.100000Z"}`
	podExec   = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a-2","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/shop/pods/web/exec?command=sh","verb":"create","user":{"username":"eve"},"objectRef":{"resource":"pods","namespace":"shop","name":"web","subresource":"exec","apiVersion":"v1"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2024-05-01T10:01:00.000000Z","stageTimestamp":"2024-05-01T10:01:00.000000Z"}`
	crbCreate = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a-3","stage":"ResponseComplete","requestURI":"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings","verb":"create","user":{"username":"eve"},"objectRef":{"resource":"clusterrolebindings","name":"eve-admin","apiGroup":"rbac.authorization.k8s.io","apiVersion":"v1"},"responseStatus":{"code":201},"requestReceivedTimestamp":"2024-05-01T10:02:00.000000Z","stageTimestamp":"2024-05-01T10:02:00.000000Z"}`
	healthz   = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-4","stage":"ResponseComplete","requestURI":"/healthz","verb":"get","user":{"username":"system:anonymous"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2024-05-01T10:03:00.000000Z","stageTimestamp":"2024-05-01T10:03:00.000000Z"}`
)

func eventList(items ...string) string {
	return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + strings.Join(items, ",") + `]}`
}

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// setup starts a broker with the topic over TCP and an ingest handler
// producing to it behind an httptest server.
func setup(t *testing.T, mod func(*Config, *kafka.Writer)) (url string, brokers []string, h *Handler) {
	t.Helper()
	b, err := broker.Start("127.0.0.1:0", 3, topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return serve(t, b.Addrs(), mod)
}

func serve(t *testing.T, brokers []string, mod func(*Config, *kafka.Writer)) (string, []string, *Handler) {
	t.Helper()
	w := NewWriter(brokers, topic, 0, nil)
	cfg := Config{Producer: w, Topic: topic, Logger: quietLog(), ProduceTimeout: 20 * time.Second}
	if mod != nil {
		mod(&cfg, w)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); w.Close() })
	return srv.URL, brokers, h
}

type response struct {
	code int
	body string
	hdr  http.Header
}

func post(t *testing.T, url string, body []byte, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b), resp.Header}
}

// consume reads n messages of the topic from the start with a consumer
// group, as Vigia's consumer does.
func consume(t *testing.T, brokers []string, group string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: group, Topic: topic, MaxWait: 50 * time.Millisecond, StartOffset: kafka.FirstOffset})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// TestIngestProducesEachEvent: a gzip'd EventList answers 200 and every
// event is on the topic, unchanged, keyed by its object (or auditID), the
// events of one object on one partition in order, with the request's
// trace context in a traceparent header.
func TestIngestProducesEachEvent(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tracing := telemetry.NewTracingWith(sdktrace.WithSpanProcessor(sr))
	url, brokers, h := setup(t, func(c *Config, _ *kafka.Writer) { c.Tracer = tracing.Tracer("test") })

	items := []string{podCreate, podExec, crbCreate, healthz}
	resp := post(t, url, gz(t, eventList(items...)), "Content-Encoding", "gzip")
	if resp.code != http.StatusOK || !strings.Contains(resp.body, `"produced":4`) {
		t.Fatalf("got %d %q", resp.code, resp.body)
	}
	if h.Inflight() != 0 {
		t.Fatalf("%d bytes still counted in flight after the request", h.Inflight())
	}

	msgs := consume(t, brokers, "check", len(items))
	wantKey := map[string]string{"a-1": "shop/web", "a-2": "shop/web", "a-3": "/eve-admin", "a-4": "a-4"}
	byID := map[string]kafka.Message{}
	for _, m := range msgs {
		var ev struct {
			AuditID string `json:"auditID"`
		}
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatalf("message value is not JSON: %v", err)
		}
		if _, dup := byID[ev.AuditID]; dup {
			t.Fatalf("event %s produced twice", ev.AuditID)
		}
		byID[ev.AuditID] = m
		if string(m.Key) != wantKey[ev.AuditID] {
			t.Errorf("event %s has key %q, want %q", ev.AuditID, m.Key, wantKey[ev.AuditID])
		}
	}
	for i, item := range items {
		id := fmt.Sprintf("a-%d", i+1)
		if got := string(byID[id].Value); got != item {
			t.Errorf("event %s value changed:\n got %s\nwant %s", id, got, item)
		}
	}
	create, exec := byID["a-1"], byID["a-2"]
	if create.Partition != exec.Partition || create.Offset >= exec.Offset {
		t.Errorf("events of one pod not ordered on one partition: create p%d@%d, exec p%d@%d", create.Partition, create.Offset, exec.Partition, exec.Offset)
	}

	var send trace.SpanContext
	for _, s := range sr.Ended() {
		if s.Name() == "send "+topic {
			send = s.SpanContext()
		}
	}
	if !send.IsValid() {
		t.Fatal("no producer span recorded")
	}
	for _, m := range msgs {
		hdr := m.Headers
		got := trace.SpanContextFromContext(telemetry.Propagator.Extract(context.Background(), telemetry.HeaderCarrier{Headers: &hdr}))
		if got.TraceID() != send.TraceID() || got.SpanID() != send.SpanID() {
			t.Errorf("message %s carries trace context %v, want the producer span %v", m.Key, got, send)
		}
	}
}

// TestIngestRejects: requests that are not a valid EventList are refused
// with the right status and write nothing; the first message on the topic
// is the one of the valid request sent last.
func TestIngestRejects(t *testing.T) {
	url, brokers, _ := setup(t, func(c *Config, _ *kafka.Writer) { c.MaxBodyBytes = 64 << 10 })
	big := eventList(strings.Replace(podCreate, `"c"`, `"`+strings.Repeat("x", 70<<10)+`"`, 1))
	cases := []struct {
		name   string
		method string
		body   []byte
		hdr    []string
		code   int
		reason string
	}{
		{"GET", http.MethodGet, nil, nil, http.StatusMethodNotAllowed, "only POST"},
		{"not JSON", "", []byte(`{"kind":"EventList","items":[` + podCreate), nil, http.StatusBadRequest, "not JSON"},
		{"trailing garbage", "", []byte(eventList(podCreate) + "}"), nil, http.StatusBadRequest, "not JSON"},
		{"an array", "", []byte(`[` + podCreate + `]`), nil, http.StatusBadRequest, "want an audit.k8s.io EventList"},
		{"a single Event", "", []byte(podCreate), nil, http.StatusBadRequest, "want EventList"},
		{"another API", "", []byte(`{"kind":"EventList","apiVersion":"v1","items":[]}`), nil, http.StatusBadRequest, "apiVersion"},
		{"no items", "", []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1"}`), nil, http.StatusBadRequest, "no items"},
		{"items not an array", "", []byte(`{"kind":"EventList","items":{}}`), nil, http.StatusBadRequest, "want an array"},
		{"second item without auditID: nothing partial", "", []byte(eventList(podCreate, `{"verb":"get"}`)), nil, http.StatusBadRequest, "items[1]: auditID"},
		{"an item not an object", "", []byte(eventList(podCreate, `"x"`)), nil, http.StatusBadRequest, "items[1] is a JSON string"},
		{"gzip that is not", "", []byte("plain"), []string{"Content-Encoding", "gzip"}, http.StatusBadRequest, "reading the body"},
		{"brotli", "", []byte(eventList(podCreate)), []string{"Content-Encoding", "br"}, http.StatusUnsupportedMediaType, "Content-Encoding"},
		{"oversized", "", []byte(big), nil, http.StatusRequestEntityTooLarge, "exceeds"},
		{"oversized once decompressed (gzip bomb)", "", gz(t, `{"kind":"EventList","items":[],"pad":"`+strings.Repeat("0", 1<<20)+`"}`), []string{"Content-Encoding", "gzip"}, http.StatusRequestEntityTooLarge, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, url, bytes.NewReader(c.body))
			for i := 0; i+1 < len(c.hdr); i += 2 {
				req.Header.Set(c.hdr[i], c.hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || !strings.Contains(string(b), c.reason) {
				t.Fatalf("got %d %q, want %d with %q", resp.StatusCode, b, c.code, c.reason)
			}
			if strings.Contains(string(b), "nginx") || strings.Contains(string(b), "xxxx") {
				t.Fatalf("the response quotes the request body: %q", b)
			}
		})
	}
	if r := post(t, url, []byte(eventList())); r.code != http.StatusOK || !strings.Contains(r.body, `"produced":0`) {
		t.Fatalf("empty EventList: %d %q", r.code, r.body)
	}
	if r := post(t, url, []byte(eventList(healthz))); r.code != http.StatusOK {
		t.Fatalf("valid request after the rejections: %d %q", r.code, r.body)
	}
	if m := consume(t, brokers, "check", 1)[0]; string(m.Value) != healthz {
		t.Fatalf("a rejected request wrote %s", m.Value)
	}
}

// TestIngestBrokerUnavailable: with no broker the request answers 503 with
// Retry-After, within the produce timeout, and nothing is acknowledged.
func TestIngestBrokerUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	url, _, h := serve(t, []string{dead}, func(c *Config, w *kafka.Writer) {
		c.ProduceTimeout = 2 * time.Second
		w.MaxAttempts = 2
	})
	r := post(t, url, gz(t, eventList(podCreate)), "Content-Encoding", "gzip")
	if r.code != http.StatusServiceUnavailable || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("got %d (Retry-After %q) %q, want 503 with Retry-After", r.code, r.hdr.Get("Retry-After"), r.body)
	}
	if h.Inflight() != 0 {
		t.Fatalf("%d bytes still in flight", h.Inflight())
	}
}

// TestIngestPartialFailure: when one partition refuses its events the
// request answers 503 although the other events were written; the API
// server's retry then writes them all, so delivery is at least once.
func TestIngestPartialFailure(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	url, brokers, _ := serve(t, c.ListenAddrs(), func(_ *Config, w *kafka.Writer) {
		w.MaxAttempts = 2
		w.WriteBackoffMax = 50 * time.Millisecond
	})
	// The partition of the pod's events refuses writes.
	bad := int32((&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte("shop/web")}, 0, 1, 2))
	other := -1
	for _, k := range []string{"/eve-admin", "a-4"} {
		if p := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(k)}, 0, 1, 2); int32(p) != bad {
			other = p
		}
	}
	if other < 0 {
		t.Fatal("test events all hash to one partition; change their keys")
	}
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{bad}, Err: kerr.NotEnoughReplicas, Count: -1})

	body := gz(t, eventList(podCreate, podExec, crbCreate, healthz))
	if r := post(t, url, body, "Content-Encoding", "gzip"); r.code != http.StatusServiceUnavailable {
		t.Fatalf("with a partition refusing writes: %d %q, want 503", r.code, r.body)
	}
	fault.Remove()
	if r := post(t, url, body, "Content-Encoding", "gzip"); r.code != http.StatusOK {
		t.Fatalf("retry: %d %q", r.code, r.body)
	}
	// Every event is there at least once; the refused ones exactly once.
	counts := map[string]int{}
	total := 0
	for p := 0; p < 3; p++ {
		for _, m := range readPartition(t, brokers[0], p) {
			var ev struct {
				AuditID string `json:"auditID"`
			}
			json.Unmarshal(m.Value, &ev)
			counts[ev.AuditID]++
			total++
		}
	}
	if counts["a-1"] != 1 || counts["a-2"] != 1 || counts["a-3"] < 1 || counts["a-4"] < 1 || total != 6 {
		t.Fatalf("events on the topic %v (total %d): want the pod's two once and the others twice", counts, total)
	}
}

// TestInflightBound: when the in-flight budget is spent a request answers
// 429 with Retry-After and holds nothing.
func TestInflightBound(t *testing.T) {
	block := make(chan struct{})
	h, err := NewHandler(Config{
		Producer: producerFunc(func(ctx context.Context, _ ...kafka.Message) error {
			select {
			case <-block:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}),
		// A request holds about three times its body (read, parsed,
		// marshalled): one 4 KiB request fits in 16 KiB, two do not.
		MaxBodyBytes:     8 << 10,
		MaxInflightBytes: 16 << 10,
		ProduceTimeout:   20 * time.Second,
		Logger:           quietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	first := make(chan response, 1)
	body := []byte(eventList(podCreate, podExec, strings.Replace(healthz, `"/healthz"`, `"/`+strings.Repeat("z", 4096-len(eventList(podCreate, podExec, healthz)))+`"`, 1)))
	if len(body) < 4000 || len(body) > 4200 {
		t.Fatalf("body of %d bytes", len(body))
	}
	go func() { first <- post(t, srv.URL, body) }()
	for h.Inflight() == 0 {
		time.Sleep(time.Millisecond) // the first request is parsed and waiting for Kafka
	}
	r := post(t, srv.URL, body)
	if r.code != http.StatusTooManyRequests || r.hdr.Get("Retry-After") != "1" {
		t.Fatalf("second request while the budget is held: %d %q (Retry-After %q)", r.code, r.body, r.hdr.Get("Retry-After"))
	}
	close(block)
	if r := <-first; r.code != http.StatusOK {
		t.Fatalf("first request: %d %q", r.code, r.body)
	}
	if h.Inflight() != 0 {
		t.Fatalf("%d bytes in flight after both requests", h.Inflight())
	}
	if r := post(t, srv.URL, body); r.code != http.StatusOK {
		t.Fatalf("once the budget is free: %d %q", r.code, r.body)
	}
}

// readPartition returns every message of one partition of the topic.
func readPartition(t *testing.T, addr string, partition int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	last, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for off := int64(0); off < last; off++ {
		if _, err := conn.Seek(off, kafka.SeekAbsolute); err != nil {
			t.Fatal(err)
		}
		m, err := conn.ReadMessage(10 << 20)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

type producerFunc func(context.Context, ...kafka.Message) error

func (f producerFunc) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	return f(ctx, msgs...)
}

// TestOversizedEventTruncated: an event over max_event_bytes is produced
// without its request and response objects, marked truncated the way the
// API server marks it; one still too large is dropped, the rest produced.
func TestOversizedEventTruncated(t *testing.T) {
	var got []kafka.Message
	h, _ := NewHandler(Config{
		Producer:      producerFunc(func(_ context.Context, m ...kafka.Message) error { got = append(got, m...); return nil }),
		MaxEventBytes: 2000,
		Logger:        quietLog(),
	})
	fat := strings.Replace(podCreate, `"c"`, `"`+strings.Repeat("x", 3000)+`"`, 1)
	hopeless := strings.Replace(healthz, `"/healthz"`, `"/`+strings.Repeat("y", 3000)+`"`, 1)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/audit", strings.NewReader(eventList(fat, hopeless, podExec))))
	if rec.Code != http.StatusOK || len(got) != 2 {
		t.Fatalf("got %d %q with %d messages, want 200 with 2", rec.Code, rec.Body, len(got))
	}
	var ev map[string]any
	if err := json.Unmarshal(got[0].Value, &ev); err != nil {
		t.Fatal(err)
	}
	ann, _ := ev["annotations"].(map[string]any)
	if _, has := ev["requestObject"]; has || ann["audit.k8s.io/truncated"] != "true" || ev["auditID"] != "a-1" || string(got[0].Key) != "shop/web" {
		t.Fatalf("truncated event: %s", got[0].Value)
	}
	if string(got[1].Value) != podExec {
		t.Fatalf("the event after the dropped one: %s", got[1].Value)
	}
}

// TestValuesVerbatim: escaped strings, including those read for the key,
// reach Kafka byte for byte as sent.
func TestValuesVerbatim(t *testing.T) {
	var got []kafka.Message
	h, _ := NewHandler(Config{
		Producer: producerFunc(func(_ context.Context, m ...kafka.Message) error { got = append(got, m...); return nil }),
		Logger:   quietLog(),
	})
	ev := `{"auditID":"x\u0001y\"z","verb":"get","requestURI":"/a\\b\"c\u2028","objectRef":{"namespace":"caf\u00e9","name":"w\teb"},"n":1.50e+3}`
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/audit", strings.NewReader(eventList(ev))))
	if rec.Code != http.StatusOK || len(got) != 1 {
		t.Fatalf("%d %q", rec.Code, rec.Body)
	}
	if string(got[0].Value) != ev {
		t.Fatalf("value changed:\n got %s\nwant %s", got[0].Value, ev)
	}
	if string(got[0].Key) != "café/w\teb" {
		t.Fatalf("key %q", got[0].Key)
	}
}
