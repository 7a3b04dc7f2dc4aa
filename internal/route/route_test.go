package route

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/outbox"
)

func dur(d time.Duration) *time.Duration { return &d }

func mkAlert(id, rule, sev, identity, ns string) *alert.Alert {
	return &alert.Alert{ID: id, Rule: alert.Rule{ID: rule, Severity: sev, Tags: []string{"attack.t1609"}},
		Time: time.Now(), Entity: alert.Entity{Identity: identity, Namespace: ns}, Context: alert.Context{Source: "k8s_audit", Cluster: "prod"}}
}

func TestTreeMatch(t *testing.T) {
	tree, err := Compile(Spec{
		Receivers: []string{"default"},
		GroupWait: dur(time.Second),
		Routes: []Spec{
			{Matchers: []string{`severity=~"high|critical"`}, Receivers: []string{"pager"}, Continue: true},
			{Matchers: []string{`ns_team="payments"`}, Receivers: []string{"payments-slack"}, GroupBy: []string{"rule"},
				Routes: []Spec{{Matchers: []string{`rule="k8s-pod-exec-attach"`}, Receivers: []string{"payments-jira"}}}},
			{Matchers: []string{`source="aws_cloudtrail"`}, Receivers: []string{"cloud"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	names := func(l map[string]string) []string {
		var out []string
		for _, n := range tree.Match(l) {
			out = append(out, n.ID+":"+fmt.Sprint(n.Receivers))
		}
		return out
	}
	for _, tc := range []struct {
		labels map[string]string
		want   []string
	}{
		{map[string]string{"severity": "low", "source": "k8s_audit"}, []string{"0:[default]"}},
		{map[string]string{"severity": "high", "source": "aws_cloudtrail"}, []string{"0.0:[pager]", "0.2:[cloud]"}},
		{map[string]string{"severity": "critical", "ns_team": "payments", "rule": "x"}, []string{"0.0:[pager]", "0.1:[payments-slack]"}},
		{map[string]string{"severity": "medium", "ns_team": "payments", "rule": "k8s-pod-exec-attach"}, []string{"0.1.0:[payments-jira]"}},
	} {
		if got := names(tc.labels); !slices.Equal(got, tc.want) {
			t.Errorf("%v: got %v, want %v", tc.labels, got, tc.want)
		}
	}
	// Inheritance: the grandchild inherits group_by from its parent and
	// group_wait from the root.
	n := tree.Node("0.1.0")
	if !slices.Equal(n.GroupBy, []string{"rule"}) || n.GroupWait != time.Second || n.GroupInterval != DefaultGroupInterval {
		t.Errorf("inheritance: %+v", n)
	}
	if got := n.GroupLabels(map[string]string{"rule": "r", "identity": "i"}); len(got) != 1 || got["rule"] != "r" {
		t.Errorf("group labels %v", got)
	}
}

func TestCompileErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Receivers: []string{"a"}, Routes: []Spec{{Matchers: []string{`severity=~"(`}}}}, "route.routes[0].matchers[0]"},
		{Spec{Receivers: []string{"a"}, Routes: []Spec{{GroupWait: dur(-time.Second)}}}, "route.routes[0].group_wait"},
		{Spec{Matchers: []string{`a="b"`}, Receivers: []string{"a"}}, "route.matchers"},
		{Spec{Routes: []Spec{{Matchers: []string{`a="b"`}}}}, "route.routes[0].receivers"},
		{Spec{Receivers: []string{"a"}, GroupBy: []string{"...", "rule"}}, "route.group_by"},
	} {
		_, err := Compile(tc.spec)
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to name %s", tc.spec, err, tc.want)
		}
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}
func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

type owners map[string]map[string]string

func (o owners) NamespaceLabels(_ context.Context, _, ns string) map[string]string { return o[ns] }

func TestRouterEnqueues(t *testing.T) {
	tree, _ := Compile(Spec{Receivers: []string{"all"}, Routes: []Spec{
		{Matchers: []string{`ns_team="payments"`}, Receivers: []string{"pay", "pay-jira"}, Continue: true},
		{Matchers: []string{`severity="critical"`}, Receivers: []string{"pager"}},
	}})
	q := newMemQueue()
	r := New(Config{Tree: tree, Queue: q, MinSeverity: "low", Owners: owners{"ledger": {"team": "payments", "app.kubernetes.io/env": "prod"}}})
	as := []*alert.Alert{
		mkAlert("a1", "r1", "critical", "eve", "ledger"),
		mkAlert("a2", "r1", "info", "eve", "ledger"), // below min severity
		mkAlert("a3", "r2", "medium", "bob", "web"),
	}
	if err := r.Route(context.Background(), as); err != nil {
		t.Fatal(err)
	}
	if err := r.Route(context.Background(), as[:1]); err != nil { // same alert again
		t.Fatal(err)
	}
	got := map[string][]string{}
	for rc, es := range q.queued {
		for _, e := range es {
			got[rc] = append(got[rc], e.Alert.ID)
		}
	}
	want := map[string][]string{"pay": {"a1"}, "pay-jira": {"a1"}, "pager": {"a1"}, "all": {"a3"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queued %v, want %v", got, want)
	}
	e := q.queued["pay"][0]
	if e.Alert.Labels["ns_team"] != "payments" || e.Alert.Labels["ns_app_kubernetes_io_env"] != "prod" || e.Alert.Labels["tags"] != "attack.t1609" {
		t.Errorf("labels %v", e.Alert.Labels)
	}
	if e.GroupKey == q.queued["pay-jira"][0].GroupKey {
		t.Error("two receivers share a group key")
	}
}

// recorder is a notify.Receiver that records notifications and can be
// scripted to fail.
type recorder struct {
	mu    sync.Mutex
	fail  []error // consumed per call
	block chan struct{}
	got   []*notify.Notification
	prevs []notify.State
	calls int
}

func (r *recorder) Deliver(ctx context.Context, n *notify.Notification, prev notify.State) (notify.State, error) {
	r.mu.Lock()
	r.calls++
	var err error
	if len(r.fail) > 0 {
		err, r.fail = r.fail[0], r.fail[1:]
	}
	block := r.block
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	r.prevs = append(r.prevs, prev)
	ts := prev["ts"]
	if ts == "" {
		ts = fmt.Sprintf("ts-%d", len(r.got))
	}
	return notify.State{"ts": ts}, nil
}

func (r *recorder) notifications() []*notify.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*notify.Notification(nil), r.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counter) inc(k string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k]++
	c.mu.Unlock()
}
func (c *counter) get(k string) int       { c.mu.Lock(); defer c.mu.Unlock(); return c.m[k] }
func (c *counter) Sent(string)            { c.inc("sent") }
func (c *counter) SendFailed(string)      { c.inc("failed") }
func (c *counter) Suppressed(_, r string) { c.inc(r) }

type setup struct {
	q      *memQueue
	router *Router
	rec    *recorder
	m      *counter
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, spec Spec, q *memQueue, rec *recorder, mod func(*DispatcherConfig)) *setup {
	t.Helper()
	tree, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := &setup{q: q, rec: rec, m: &counter{}, done: make(chan struct{})}
	s.router = New(Config{Tree: tree, Queue: q})
	cfg := DispatcherConfig{Receiver: "r", Deliverer: rec, Tree: tree, Queue: q, States: q, Metrics: s.m,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	d := NewDispatcher(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { d.Run(ctx); close(s.done) }()
	t.Cleanup(s.stop)
	return s
}

func (s *setup) stop() {
	s.cancel()
	<-s.done
}

func TestGroupLifecycle(t *testing.T) {
	spec := Spec{Receivers: []string{"r"}, GroupWait: dur(30 * time.Millisecond), GroupInterval: dur(30 * time.Millisecond),
		ResolveTimeout: dur(time.Second), RepeatInterval: dur(0)}
	rec := &recorder{}
	s := start(t, spec, newMemQueue(), rec, nil)
	ctx := context.Background()
	// Three alerts of one group arrive together: one notification.
	if err := s.router.Route(ctx, []*alert.Alert{mkAlert("a1", "r1", "high", "eve", "ns"), mkAlert("a2", "r1", "high", "eve", "ns"), mkAlert("a3", "r1", "high", "eve", "ns")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first notification", func() bool { return len(rec.notifications()) == 1 })
	// A repeat updates the same incident with the state kept.
	s.router.Route(ctx, []*alert.Alert{mkAlert("a4", "r1", "high", "eve", "ns")})
	waitFor(t, "repeat", func() bool { return len(rec.notifications()) == 2 })
	// Then the group goes quiet and resolves.
	waitFor(t, "resolution", func() bool { return len(rec.notifications()) == 3 })

	ns := rec.notifications()
	if len(ns[0].Alerts) != 3 || ns[0].Status != notify.StatusFiring || ns[0].Total != 3 {
		t.Errorf("first: %d alerts, status %s, total %d", len(ns[0].Alerts), ns[0].Status, ns[0].Total)
	}
	if len(ns[1].Alerts) != 1 || ns[1].Alerts[0].ID != "a4" || ns[1].Total != 4 || rec.prevs[1]["ts"] != "ts-1" {
		t.Errorf("repeat: %+v prev %v", ns[1], rec.prevs[1])
	}
	if ns[2].Status != notify.StatusResolved || len(ns[2].Alerts) != 0 || rec.prevs[2]["ts"] != "ts-1" {
		t.Errorf("resolution: %+v prev %v", ns[2], rec.prevs[2])
	}
	if ns[0].GroupKey != ns[1].GroupKey || ns[1].GroupKey != ns[2].GroupKey {
		t.Error("group key changed within one group")
	}
	if ns[0].ID == ns[1].ID {
		t.Error("notification ids repeat")
	}
	if n, _ := s.q.Len(ctx, "r"); n != 0 {
		t.Errorf("%d entries left in the outbox", n)
	}
	// A new alert after the resolution opens a new incident.
	s.router.Route(ctx, []*alert.Alert{mkAlert("a5", "r1", "high", "eve", "ns")})
	waitFor(t, "new incident", func() bool { return len(rec.notifications()) == 4 })
	if len(rec.prevs[3]) != 0 {
		t.Errorf("new incident got the old state %v", rec.prevs[3])
	}
}

func TestReceiverDownThenRecovers(t *testing.T) {
	spec := Spec{Receivers: []string{"r"}, GroupWait: dur(0), GroupInterval: dur(time.Millisecond), ResolveTimeout: dur(0), RepeatInterval: dur(0), GroupBy: []string{"..."}}
	down := errors.New("503 service unavailable")
	rec := &recorder{fail: []error{down, down, &notify.RetryAfterError{After: 20 * time.Millisecond, Err: errors.New("429")}, down, down}}
	s := start(t, spec, newMemQueue(), rec, nil)
	var as []*alert.Alert
	for i := range 20 {
		as = append(as, mkAlert(fmt.Sprintf("a%02d", i), fmt.Sprintf("r%02d", i), "high", "eve", "ns"))
	}
	for _, a := range as {
		if err := s.router.Route(context.Background(), []*alert.Alert{a}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every alert", func() bool {
		n := 0
		for _, x := range rec.notifications() {
			n += len(x.Alerts)
		}
		return n == len(as)
	})
	seen := map[string]int{}
	var order []string
	for _, x := range rec.notifications() {
		for _, a := range x.Alerts {
			seen[a.ID]++
			order = append(order, a.ID)
		}
	}
	for i, a := range as {
		if seen[a.ID] != 1 {
			t.Errorf("alert %s delivered %d times", a.ID, seen[a.ID])
		}
		if i < len(order) && order[i] != a.ID {
			t.Errorf("delivery order %v, want the order the alerts were routed in", order)
			break
		}
	}
	if rec.calls < len(rec.notifications())+5 {
		t.Errorf("%d calls: the failures were not retried", rec.calls)
	}
	if len(s.q.dead) != 0 {
		t.Errorf("retryable failures dead-lettered: %v", s.q.dead)
	}
}

func TestPermanentFailureIsDeadLettered(t *testing.T) {
	spec := Spec{Receivers: []string{"r"}, GroupWait: dur(0), ResolveTimeout: dur(0), RepeatInterval: dur(0)}
	rec := &recorder{fail: []error{notify.Permanent(errors.New("HTTP 400: invalid_blocks"))}}
	s := start(t, spec, newMemQueue(), rec, nil)
	s.router.Route(context.Background(), []*alert.Alert{mkAlert("a1", "r1", "high", "eve", "ns")})
	waitFor(t, "dead letter", func() bool { s.q.mu.Lock(); defer s.q.mu.Unlock(); return len(s.q.dead) == 1 })
	if d := s.q.dead[0]; d.Alert.ID != "a1" || !contains(d.Reason, "invalid_blocks") {
		t.Errorf("dead letter %+v", d)
	}
	if s.m.get("failed") != 1 || len(rec.notifications()) != 0 {
		t.Errorf("failed=%d delivered=%d", s.m.get("failed"), len(rec.notifications()))
	}
}

type silencer func(map[string]string) bool

func (f silencer) Muted(l map[string]string, _ time.Time) []string {
	if f(l) {
		return []string{"s1"}
	}
	return nil
}

type always bool

func (a always) Active([]string, time.Time) bool { return bool(a) }

func TestSuppression(t *testing.T) {
	rules, err := CompileInhibitRules([]InhibitSpec{{SourceMatchers: []string{`rule="breakout"`}, TargetMatchers: []string{`severity="medium"`}, Equal: []string{"identity"}}})
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Receivers: []string{"r"}, GroupWait: dur(40 * time.Millisecond), ResolveTimeout: dur(0), RepeatInterval: dur(0), GroupBy: []string{"..."},
		Routes: []Spec{{Matchers: []string{`namespace="night"`}, MuteTimeIntervals: []string{"nights"}}}}
	rec := &recorder{}
	s := start(t, spec, newMemQueue(), rec, func(c *DispatcherConfig) {
		c.Silencer = silencer(func(l map[string]string) bool { return l["rule"] == "noisy" })
		c.InhibitRules = rules
		c.Intervals = always(true)
	})
	corr := mkAlert("c1", "breakout", "critical", "eve", "ns")
	member := mkAlert("m1", "exec", "high", "mallory", "ns")
	corr.Explains = []string{"m1"}
	as := []*alert.Alert{
		mkAlert("s1", "noisy", "high", "eve", "ns"),   // silenced
		mkAlert("i1", "read", "medium", "eve", "ns"),  // inhibited by c1 (same identity)
		mkAlert("i2", "read", "medium", "bob", "ns"),  // not inhibited: other identity
		mkAlert("n1", "read", "high", "eve", "night"), // muted by the time interval
		member, corr, // member explained by the correlation
	}
	if err := s.router.Route(context.Background(), as); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "suppression", func() bool {
		return s.m.get("silenced")+s.m.get("inhibited")+s.m.get("muted") == 4 && len(rec.notifications()) == 2
	})
	var got []string
	for _, n := range rec.notifications() {
		for _, a := range n.Alerts {
			got = append(got, a.ID)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"c1", "i2"}) {
		t.Errorf("notified %v, want c1 and i2", got)
	}
	if s.m.get("silenced") != 1 || s.m.get("inhibited") != 2 || s.m.get("muted") != 1 {
		t.Errorf("counts %v", s.m.m)
	}
	if n, _ := s.q.Len(context.Background(), "r"); n != 0 {
		t.Errorf("suppressed entries left in the outbox: %d", n)
	}
}

// The process dies while a notification is in flight (the receiver never
// answered): after a restart the rest is delivered, each alert once.
func TestRestartMidDeliveryDeliversRestOnce(t *testing.T) {
	spec := Spec{Receivers: []string{"r"}, GroupWait: dur(0), GroupInterval: dur(time.Millisecond), ResolveTimeout: dur(0), RepeatInterval: dur(0), GroupBy: []string{"rule"}}
	q := newMemQueue()
	rec := &recorder{}
	s := start(t, spec, q, rec, nil)
	ctx := context.Background()
	for i := range 3 {
		s.router.Route(ctx, []*alert.Alert{mkAlert(fmt.Sprintf("a%d", i), fmt.Sprintf("r%d", i), "high", "eve", "ns")})
	}
	waitFor(t, "first deliveries", func() bool { return len(rec.notifications()) == 3 })
	// The receiver hangs; more alerts arrive; the process is killed.
	rec.mu.Lock()
	rec.block = make(chan struct{})
	rec.mu.Unlock()
	for i := 3; i < 6; i++ {
		s.router.Route(ctx, []*alert.Alert{mkAlert(fmt.Sprintf("a%d", i), fmt.Sprintf("r%d", i), "high", "eve", "ns")})
	}
	waitFor(t, "a hung delivery", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return rec.calls >= 4 })
	s.stop()
	q.release()

	rec.mu.Lock()
	rec.block = nil
	rec.mu.Unlock()
	start(t, spec, q, rec, nil)
	waitFor(t, "the rest", func() bool { return len(rec.notifications()) == 6 })
	time.Sleep(50 * time.Millisecond) // a duplicate would show up now
	seen := map[string]int{}
	for _, n := range rec.notifications() {
		for _, a := range n.Alerts {
			seen[a.ID]++
		}
	}
	for i := range 6 {
		if id := fmt.Sprintf("a%d", i); seen[id] != 1 {
			t.Errorf("%s delivered %d times", id, seen[id])
		}
	}
}

func TestReplayedAlertIsNotNotifiedTwice(t *testing.T) {
	// After a restart the router's memory is empty and Kafka redelivers
	// uncommitted messages: the group state's Seen ids catch the repeat.
	spec := Spec{Receivers: []string{"r"}, GroupWait: dur(0), GroupInterval: dur(time.Millisecond), ResolveTimeout: dur(time.Hour), RepeatInterval: dur(0)}
	q := newMemQueue()
	rec := &recorder{}
	s := start(t, spec, q, rec, nil)
	s.router.Route(context.Background(), []*alert.Alert{mkAlert("a1", "r1", "high", "eve", "ns")})
	waitFor(t, "delivery", func() bool { return len(rec.notifications()) == 1 })
	fresh := New(Config{Tree: s.router.tree, Queue: q})
	fresh.Route(context.Background(), []*alert.Alert{mkAlert("a1", "r1", "high", "eve", "ns")})
	waitFor(t, "duplicate suppressed", func() bool { return s.m.get("duplicate") == 1 })
	if len(rec.notifications()) != 1 {
		t.Errorf("%d notifications", len(rec.notifications()))
	}
}

func TestReminders(t *testing.T) {
	spec := Spec{Receivers: []string{"r"}, GroupWait: dur(0), GroupInterval: dur(time.Millisecond), ResolveTimeout: dur(0), RepeatInterval: dur(60 * time.Millisecond)}
	rec := &recorder{}
	s := start(t, spec, newMemQueue(), rec, nil)
	s.router.Route(context.Background(), []*alert.Alert{mkAlert("a1", "r1", "high", "eve", "ns")})
	waitFor(t, "two reminders", func() bool { return len(rec.notifications()) >= 3 })
	ns := rec.notifications()
	for i, n := range ns[1:3] {
		if len(n.Alerts) != 0 || n.Status != notify.StatusFiring || n.Total != 1 || rec.prevs[i+1]["ts"] != "ts-1" {
			t.Errorf("reminder %d: %+v prev %v", i+1, n, rec.prevs[i+1])
		}
	}
}

// Two replicas share the queue and the group states: a replica whose copy
// of a group is stale neither resolves it early nor sends an early reminder.
func TestReplicasShareGroupState(t *testing.T) {
	spec := Spec{Receivers: []string{"r"}, GroupWait: dur(0), GroupInterval: dur(time.Millisecond),
		ResolveTimeout: dur(2 * time.Second), RepeatInterval: dur(time.Hour)}
	q := newMemQueue()
	rec := &recorder{}
	a := start(t, spec, q, rec, nil)
	ctx := context.Background()
	a.router.Route(ctx, []*alert.Alert{mkAlert("a1", "r1", "high", "eve", "ns")})
	waitFor(t, "first notification", func() bool { return len(rec.notifications()) == 1 })
	// Replica b starts now and restores the group as it is.
	start(t, spec, q, rec, nil)
	// The group keeps firing through replica a until past b's stale
	// resolution time.
	for i := 2; i <= 5; i++ {
		time.Sleep(600 * time.Millisecond)
		a.router.Route(ctx, []*alert.Alert{mkAlert(fmt.Sprintf("a%d", i), "r1", "high", "eve", "ns")})
	}
	waitFor(t, "the resolution", func() bool {
		ns := rec.notifications()
		return len(ns) > 0 && ns[len(ns)-1].Status == notify.StatusResolved
	})
	time.Sleep(100 * time.Millisecond)
	var resolved, reminders int
	for _, n := range rec.notifications() {
		switch {
		case n.Status == notify.StatusResolved:
			resolved++
		case len(n.Alerts) == 0:
			reminders++
		}
	}
	if resolved != 1 || reminders != 0 {
		t.Errorf("%d resolutions and %d reminders, want 1 and 0", resolved, reminders)
	}
}

// TestDispatcherHoldsAtMostMaxPending: while groups wait (group_wait), the
// dispatcher claims no more than MaxPending entries; the rest stay in the
// outbox, and all are notified, each once, when the groups come due.
func TestDispatcherHoldsAtMostMaxPending(t *testing.T) {
	spec := Spec{Receivers: []string{"r"}, GroupWait: dur(400 * time.Millisecond), GroupInterval: dur(time.Millisecond),
		ResolveTimeout: dur(0), RepeatInterval: dur(0), GroupBy: []string{"rule"}}
	q := newMemQueue()
	rec := &recorder{}
	for i := range 100 {
		q.Enqueue(context.Background(), &outbox.Entry{Receiver: "r", Route: "0", GroupKey: fmt.Sprintf("g%d", i%10),
			Alert: mkAlert(fmt.Sprintf("a%d", i), fmt.Sprintf("r%d", i%10), "high", "eve", "ns")})
	}
	start(t, spec, q, rec, func(c *DispatcherConfig) { c.MaxPending = 10 })
	time.Sleep(200 * time.Millisecond) // within group_wait: nothing due
	q.mu.Lock()
	held := len(q.held)
	q.mu.Unlock()
	if held > 10 {
		t.Fatalf("the dispatcher claimed %d entries, more than MaxPending 10", held)
	}
	waitFor(t, "every alert", func() bool {
		n := 0
		for _, x := range rec.notifications() {
			n += len(x.Alerts)
		}
		return n == 100
	})
}
