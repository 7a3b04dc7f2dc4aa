package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/rule"
)

type fakeDLQ struct {
	mu      sync.Mutex
	reasons []string
	err     error
}

func (f *fakeDLQ) Write(_ context.Context, m kafka.Message, reason, detail string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.reasons = append(f.reasons, reason+": "+detail)
	return nil
}

type fakeRouter struct {
	got []*alert.Alert
	err error
}

func (f *fakeRouter) Route(_ context.Context, as []*alert.Alert) error {
	if f.err != nil {
		return f.err
	}
	f.got = append(f.got, as...)
	return nil
}

func processor(t *testing.T, r Router, d DeadLetterWriter) *Processor {
	t.Helper()
	rules, err := rule.Load([]string{"../../detections"}, rule.Options{Root: "../.."})
	if err != nil {
		t.Fatal(err)
	}
	return &Processor{Rules: rules, Default: k8sAudit(t, ""), Router: r, DeadLetter: d, MaxMessageBytes: 4096}
}

// k8sAudit returns the normalizer of a k8s_audit topic, as Run builds it.
func k8sAudit(tb testing.TB, cluster string) normalize.Normalizer {
	tb.Helper()
	n, err := detect.New(event.SourceK8sAudit, normalize.Options{Cluster: cluster, Raw: true})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

const execEvent = `{"auditID":"%s","verb":"create","stage":"ResponseStarted","timestamp":"2024-01-01T00:00:00Z","user":{"username":"eve"},"responseStatus":{"code":101},"annotations":{"authorization.k8s.io/decision":"allow"},"requestURI":"/api/v1/namespaces/n/pods/p/exec?command=sh","objectRef":{"resource":"pods","subresource":"exec","namespace":"n","name":"p"}}`

func msg(v string) kafka.Message {
	return kafka.Message{Topic: "audit", Partition: 1, Offset: 7, Value: []byte(v)}
}

func TestHandle(t *testing.T) {
	ev := strings.Replace(execEvent, "%s", "e1", 1)
	cases := []struct {
		name       string
		value      string
		alerts     int
		deadLetter string // reason prefix, "" for none
	}{
		{"one exec event", ev, 1, ""},
		{"an EventList with a bad item: the good one alerts, the message is dead-lettered", `{"kind":"EventList","items":[` + ev + `,{"auditID":"x"}]}`, 1, "invalid_event"},
		{"not JSON", `{{{`, 0, "not_json"},
		{"oversized", `{"pad":"` + strings.Repeat("x", 5000) + `"}`, 0, "oversized"},
		{"deep nesting", strings.Repeat("[", 2000) + strings.Repeat("]", 2000), 0, "not_json"},
		{"invalid UTF-8 in a name still alerts", strings.Replace(ev, `"name":"p"`, "\"name\":\"p\xff\xfe\"", 1), 1, ""},
		// Out of float64 range: JSON allows it, the event still alerts.
		{"huge number", strings.Replace(ev, `"code":101`, `"code":1e400`, 1), 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, d := &fakeRouter{}, &fakeDLQ{}
			if err := processor(t, r, d).Handle(context.Background(), msg(c.value)); err != nil {
				t.Fatal(err)
			}
			if len(r.got) != c.alerts {
				t.Errorf("%d alerts, want %d", len(r.got), c.alerts)
			}
			switch {
			case c.deadLetter == "" && len(d.reasons) > 0:
				t.Errorf("dead-lettered: %v", d.reasons)
			case c.deadLetter != "" && (len(d.reasons) != 1 || !strings.HasPrefix(d.reasons[0], c.deadLetter)):
				t.Errorf("dead letters %v, want one %s", d.reasons, c.deadLetter)
			}
		})
	}
}

// A message is handled only when its alerts are routed and its bad parts
// dead-lettered: a failure of either must surface, so the offset is not
// committed.
func TestHandleFailuresAreNotSwallowed(t *testing.T) {
	ev := strings.Replace(execEvent, "%s", "e1", 1)
	down := errors.New("context canceled while retrying")
	if err := processor(t, &fakeRouter{err: down}, &fakeDLQ{}).Handle(context.Background(), msg(ev)); !errors.Is(err, down) {
		t.Errorf("router failure: Handle = %v", err)
	}
	if err := processor(t, &fakeRouter{}, &fakeDLQ{err: down}).Handle(context.Background(), msg("nope")); !errors.Is(err, down) {
		t.Errorf("dead-letter failure: Handle = %v", err)
	}
}

func BenchmarkProcess(b *testing.B) {
	rules, err := rule.Load([]string{"../../detections"}, rule.Options{Root: "../.."})
	if err != nil {
		b.Fatal(err)
	}
	p := &Processor{Rules: rules}
	n := k8sAudit(b, "")
	data := []byte(strings.Replace(execEvent, "%s", "e1", 1))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if as, _, _ := p.Process(context.Background(), n, data, normalize.Meta{}); len(as) != 1 {
			b.Fatal("no alert")
		}
	}
}

// HandleBatch routes exactly what Handle routes message by message, in
// one Route call, and dead-letters the same messages.
func TestHandleBatchEqualsOneByOne(t *testing.T) {
	var ms []kafka.Message
	for i, v := range []string{
		strings.Replace(execEvent, "%s", "b1", 1),
		`{{{`,
		`{"kind":"EventList","items":[` + strings.Replace(execEvent, "%s", "b2", 1) + `,{"auditID":"x"}]}`,
		`{"pad":"` + strings.Repeat("x", 5000) + `"}`,
		strings.Replace(execEvent, "%s", "b3", 1),
		`{"auditID":"benign","verb":"get","stage":"ResponseComplete","timestamp":"2024-01-01T00:00:00Z","user":{"username":"eve"},"responseStatus":{"code":200},"objectRef":{"resource":"configmaps","namespace":"n","name":"c"}}`,
	} {
		m := msg(v)
		m.Offset = int64(i)
		ms = append(ms, m)
	}
	one, oneDLQ := &fakeRouter{}, &fakeDLQ{}
	p := processor(t, one, oneDLQ)
	for _, m := range ms {
		if err := p.Handle(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	batch, batchDLQ := &countingRouter{calls: &calls}, &fakeDLQ{}
	if err := processor(t, batch, batchDLQ).HandleBatch(context.Background(), ms); err != nil {
		t.Fatal(err)
	}
	ids := func(as []*alert.Alert) (out []string) {
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	if got, want := ids(batch.got), ids(one.got); strings.Join(got, ",") != strings.Join(want, ",") || len(want) != 3 {
		t.Errorf("batch routed %v, one by one %v (want 3 alerts)", got, want)
	}
	if calls != 1 {
		t.Errorf("batch routed in %d calls, want 1", calls)
	}
	if strings.Join(batchDLQ.reasons, "|") != strings.Join(oneDLQ.reasons, "|") || len(oneDLQ.reasons) != 3 {
		t.Errorf("batch dead letters %v, one by one %v (want 3)", batchDLQ.reasons, oneDLQ.reasons)
	}
	// A failing router fails the batch, for the consumer to retry.
	down := errors.New("outbox down")
	if err := processor(t, &fakeRouter{err: down}, &fakeDLQ{}).HandleBatch(context.Background(), ms); !errors.Is(err, down) {
		t.Errorf("router failure: HandleBatch = %v", err)
	}
}

type countingRouter struct {
	fakeRouter
	calls *int
}

func (c *countingRouter) Route(ctx context.Context, as []*alert.Alert) error {
	*c.calls++
	return c.fakeRouter.Route(ctx, as)
}
