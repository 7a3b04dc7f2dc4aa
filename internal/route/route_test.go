package route

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
)

type script struct {
	mu    sync.Mutex
	steps []func() (bool, error) // consumed per call; after the last, success
	calls []time.Time
	got   []string
}

func (s *script) Notify(_ context.Context, alerts ...*alert.Alert) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, time.Now())
	if len(s.steps) > 0 {
		step := s.steps[0]
		s.steps = s.steps[1:]
		if retry, err := step(); err != nil {
			return retry, err
		}
	}
	for _, a := range alerts {
		s.got = append(s.got, a.ID)
	}
	return false, nil
}

type counts struct {
	mu           sync.Mutex
	sent, failed int
}

func (c *counts) Sent(string)       { c.mu.Lock(); c.sent++; c.mu.Unlock() }
func (c *counts) SendFailed(string) { c.mu.Lock(); c.failed++; c.mu.Unlock() }

func alerts(sevs ...string) []*alert.Alert {
	var out []*alert.Alert
	for i, s := range sevs {
		out = append(out, &alert.Alert{ID: string(rune('a' + i)), Rule: alert.Rule{ID: "r", Severity: s}})
	}
	return out
}

func TestRouteRetriesAndHonoursRetryAfter(t *testing.T) {
	rateLimited := func() (bool, error) {
		return true, &notify.RetryAfterError{After: 150 * time.Millisecond, Err: errors.New("ratelimited")}
	}
	serverError := func() (bool, error) { return true, errors.New("503") }
	s := &script{steps: []func() (bool, error){rateLimited, serverError}}
	c := &counts{}
	r := New(Config{Receivers: []Receiver{{Name: "x", Notifier: s}}, MinBackoff: 10 * time.Millisecond, Metrics: c})
	if err := r.Route(context.Background(), alerts("high")); err != nil {
		t.Fatal(err)
	}
	if len(s.calls) != 3 || len(s.got) != 1 {
		t.Fatalf("calls %d, delivered %v", len(s.calls), s.got)
	}
	if gap := s.calls[1].Sub(s.calls[0]); gap < 150*time.Millisecond {
		t.Errorf("retried after %v, before Retry-After 150ms", gap)
	}
	if c.sent != 1 || c.failed != 0 {
		t.Errorf("counts %+v", c)
	}
}

func TestRoutePermanentFailureIsCountedNotRetried(t *testing.T) {
	s := &script{steps: []func() (bool, error){func() (bool, error) { return false, errors.New("invalid_auth") }}}
	c := &counts{}
	r := New(Config{Receivers: []Receiver{{Name: "x", Notifier: s}}, Metrics: c})
	if err := r.Route(context.Background(), alerts("high", "low")); err != nil {
		t.Fatal(err)
	}
	if len(s.calls) != 2 || c.failed != 1 || c.sent != 1 {
		t.Fatalf("calls %d, counts %+v", len(s.calls), c)
	}
}

func TestRouteMinSeverity(t *testing.T) {
	s := &script{}
	r := New(Config{Receivers: []Receiver{{Name: "x", Notifier: s}}, MinSeverity: "medium"})
	r.Route(context.Background(), alerts("info", "low", "medium", "critical"))
	if len(s.got) != 2 || s.got[0] != "c" || s.got[1] != "d" {
		t.Fatalf("delivered %v, want [c d]", s.got)
	}
}

func TestRouteCancelledIsNotHandled(t *testing.T) {
	always := func() (bool, error) { return true, errors.New("down") }
	s := &script{steps: []func() (bool, error){always, always, always, always, always, always}}
	r := New(Config{Receivers: []Receiver{{Name: "x", Notifier: s}}, MinBackoff: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	if err := r.Route(ctx, alerts("high")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Route = %v, want the context's error so the offset is not committed", err)
	}
}

func TestRouteGivesUpAfterRetryTimeout(t *testing.T) {
	always := func() (bool, error) { return true, errors.New("down") }
	s := &script{steps: []func() (bool, error){always, always, always, always, always, always, always, always}}
	c := &counts{}
	r := New(Config{Receivers: []Receiver{{Name: "x", Notifier: s}}, MinBackoff: 20 * time.Millisecond, RetryTimeout: 100 * time.Millisecond, Metrics: c})
	if err := r.Route(context.Background(), alerts("high")); err != nil {
		t.Fatal(err)
	}
	if c.failed != 1 || len(s.got) != 0 {
		t.Fatalf("counts %+v delivered %v", c, s.got)
	}
}

func TestRouteSameAlertTwiceNotifiesOnce(t *testing.T) {
	s := &script{}
	r := New(Config{Receivers: []Receiver{{Name: "x", Notifier: s}}})
	a := alerts("high")
	r.Route(context.Background(), a)
	r.Route(context.Background(), a) // the same event seen again (another audit stage)
	if len(s.got) != 1 {
		t.Fatalf("delivered %v, want one", s.got)
	}
}

func TestRecentForgetsOldest(t *testing.T) {
	rc := newRecent(2)
	rc.add("a")
	rc.add("b")
	rc.add("c")
	if rc.has("a") || !rc.has("b") || !rc.has("c") {
		t.Fatal("recent set does not evict the oldest id")
	}
}
