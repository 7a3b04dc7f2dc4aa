package route

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/outbox"
	"github.com/vigia-dev/vigia/internal/telemetry"
)

// Silencer reports the silences that mute an alert's labels at a time.
type Silencer interface {
	Muted(labels map[string]string, at time.Time) []string
}

// Intervals reports whether any of the named time intervals is active.
type Intervals interface {
	Active(names []string, at time.Time) bool
}

// DispatcherConfig configures the delivery of one receiver.
type DispatcherConfig struct {
	// Receiver is the receiver's name and Deliverer its implementation.
	Receiver  string
	Deliverer notify.Receiver
	// Locale is the receiver's runbook locale, passed in notifications.
	Locale string
	Tree   *Tree
	Queue  outbox.Queue
	States outbox.States
	// Silencer, Intervals and InhibitRules suppress notifications; each
	// may be nil/empty.
	Silencer     Silencer
	Intervals    Intervals
	InhibitRules []InhibitRule
	// SendTimeout bounds one delivery attempt. Default: 30s.
	SendTimeout time.Duration
	// RetryTimeout is how long delivery of one notification keeps failing
	// before it is logged as an error (it is still retried: an alert is
	// never dropped because a receiver is down; only permanent failures
	// are dead-lettered). Default: 5m.
	RetryTimeout time.Duration
	// MinBackoff and MaxBackoff bound the backoff between retries.
	// Default: 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// StateTTL is how long a group's state outlives its last alert.
	// Default: 30 days.
	StateTTL time.Duration
	// MaxPending bounds the entries held in memory across the receiver's
	// open groups; beyond it the dispatcher claims no more until groups
	// are notified, and the rest waits in the outbox (on disk or in
	// Redis). Default: 4096.
	MaxPending int
	Metrics    Metrics
	Logger     *slog.Logger
	Tracer     trace.Tracer
	// Now is the clock (tests). Default: time.Now.
	Now func() time.Time
}

// Dispatcher delivers one receiver's outbox entries.
type Dispatcher struct {
	cfg     DispatcherConfig
	log     *slog.Logger
	now     func() time.Time
	groups  map[string]*group
	seq     uint64 // arrivals, for notifying due groups in order
	inhibit *inhibitor
	// resolve is called when a person resolves a group (lifecycle
	// actions); nil for now.
}

// group is one open group: alerts waiting for its next notification.
type group struct {
	key     string
	node    *Node
	labels  map[string]string
	pending []*outbox.Entry
	ids     map[string]bool // pending entry ids
	// since is when the oldest pending entry arrived, and seq its
	// arrival order in this dispatcher.
	since time.Time
	seq   uint64
	// st is the stored state; nil before the first notification.
	st *outbox.GroupState
}

// seenPerGroup bounds GroupState.Seen. A notification carries at most
// this many alerts (the rest follow at once in further notifications), so
// the alerts of the last notification are all in Seen: if the process dies
// after storing the state and before acknowledging the entries, the
// entries offered again are all recognised.
const seenPerGroup = 256

// NewDispatcher returns a dispatcher; Run starts it.
func NewDispatcher(cfg DispatcherConfig) *Dispatcher {
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 30 * time.Second
	}
	if cfg.RetryTimeout <= 0 {
		cfg.RetryTimeout = 5 * time.Minute
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = 30 * 24 * time.Hour
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 4096
	}
	d := &Dispatcher{cfg: cfg, log: cfg.Logger, now: cfg.Now, groups: map[string]*group{}, inhibit: newInhibitor(cfg.InhibitRules)}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("receiver", cfg.Receiver)
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Run delivers until ctx ends. Entries claimed but not delivered when it
// returns stay in the outbox and are delivered after a restart.
func (d *Dispatcher) Run(ctx context.Context) error {
	if err := d.restore(ctx); err != nil {
		d.log.Warn("could not restore open groups; their resolutions wait for their next alert", "err", err)
	}
	for ctx.Err() == nil {
		room := d.cfg.MaxPending - d.pending()
		if room <= 0 {
			// Enough held: notify due groups first (backpressure onto
			// the outbox).
			sleep(ctx, max(d.wait(), 10*time.Millisecond))
			d.flushDue(ctx)
			continue
		}
		entries, err := d.cfg.Queue.Claim(ctx, d.cfg.Receiver, min(512, room), d.wait())
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			d.log.Error("outbox claim failed", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		for _, e := range entries {
			d.add(e)
		}
		d.flushDue(ctx)
	}
	return nil
}

// pending returns the entries held across groups.
func (d *Dispatcher) pending() int {
	n := 0
	for _, g := range d.groups {
		n += len(g.pending)
	}
	return n
}

// restore rebuilds the open (unresolved) groups from the stored states, so
// their resolutions and repeats fire after a restart.
func (d *Dispatcher) restore(ctx context.Context) error {
	return d.cfg.States.List(ctx, d.cfg.Receiver, func(key string, st *outbox.GroupState) bool {
		node := d.cfg.Tree.Node(st.Route)
		if node == nil || st.Resolved {
			return true
		}
		d.groups[key] = &group{key: key, node: node, labels: st.GroupLabels, ids: map[string]bool{}, st: st}
		return true
	})
}

func (d *Dispatcher) add(e *outbox.Entry) {
	g := d.groups[e.GroupKey]
	if g == nil {
		node := d.cfg.Tree.Node(e.Route)
		if node == nil {
			// The routing tree changed since the entry was written: keep
			// the entry's group, with the root's timing.
			node = d.cfg.Tree.Root
		}
		g = &group{key: e.GroupKey, node: node, labels: e.GroupLabels, ids: map[string]bool{}}
		d.groups[e.GroupKey] = g
	}
	if g.ids[e.ID] {
		return // claimed again (a slow flush outlived the claim timeout)
	}
	if len(g.pending) == 0 {
		g.since = d.now()
		d.seq++
		g.seq = d.seq
	}
	g.ids[e.ID] = true
	g.pending = append(g.pending, e)
	if e.Alert != nil {
		d.inhibit.observe(e.Alert.ID, e.Alert.Labels, e.Alert.Explains, d.now().Add(max(g.node.ResolveTimeout, g.node.GroupInterval)))
	}
}

// wait is how long Claim may block: until the next group is due, at most
// a second, so new entries and timers are both served promptly.
func (d *Dispatcher) wait() time.Duration {
	now := d.now()
	w := time.Second
	for _, g := range d.groups {
		if due, ok := d.nextDue(g); ok {
			w = min(w, max(due.Sub(now), 0))
		}
	}
	return w
}

// nextDue returns when the group next needs attention.
func (d *Dispatcher) nextDue(g *group) (time.Time, bool) {
	n := g.node
	switch {
	case len(g.pending) > 0 && (g.st == nil || g.st.Resolved):
		return g.since.Add(n.GroupWait), true
	case len(g.pending) > 0:
		return latest(g.since, g.st.Notified.Add(n.GroupInterval)), true
	case g.st != nil && !g.st.Resolved && n.ResolveTimeout > 0:
		due := g.st.Last.Add(n.ResolveTimeout)
		if n.RepeatInterval > 0 {
			if r := g.st.Notified.Add(n.RepeatInterval); r.Before(due) {
				return r, true
			}
		}
		return due, true
	case g.st != nil && !g.st.Resolved && n.RepeatInterval > 0:
		return g.st.Notified.Add(n.RepeatInterval), true
	}
	return time.Time{}, false
}

func (d *Dispatcher) flushDue(ctx context.Context) {
	now := d.now()
	// Due groups are notified in the order their pending alerts arrived,
	// so a receiver sees alerts in order even after an outage.
	var due []*group
	for key, g := range d.groups {
		at, ok := d.nextDue(g)
		if !ok {
			if len(g.pending) == 0 {
				delete(d.groups, key)
			}
			continue
		}
		if !at.After(now) {
			due = append(due, g)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].seq < due[j].seq })
	for _, g := range due {
		if ctx.Err() != nil {
			return
		}
		for d.flush(ctx, g, now) && ctx.Err() == nil {
			// More alerts than one notification carries, or an
			// interrupted notification was sent again first: the rest
			// goes out now, not a group_interval later.
		}
		if len(g.pending) == 0 && (g.st == nil || g.st.Resolved) {
			delete(d.groups, g.key)
		}
	}
}

// flush notifies the group: its pending alerts, a reminder, or its
// resolution. It reports whether pending alerts it did not include should
// be notified at once.
func (d *Dispatcher) flush(ctx context.Context, g *group, now time.Time) (more bool) {
	release, ok, err := d.cfg.States.Lock(ctx, d.cfg.Receiver, g.key, d.cfg.SendTimeout+d.cfg.RetryTimeout)
	if err != nil || !ok {
		// Another replica is notifying this group; try again shortly.
		g.since = now.Add(-g.node.GroupWait + time.Second)
		return false
	}
	defer release()
	// Refresh: another replica may have notified the group meanwhile.
	st, found, err := d.cfg.States.Get(ctx, d.cfg.Receiver, g.key)
	if err != nil {
		d.log.Warn("group state unavailable; retrying", "group", g.key, "err", err)
		return false
	}
	if found {
		g.st = st
	}

	var alerts []*alert.Alert
	var done []*outbox.Entry // entries acknowledged with this notification
	var rest []*outbox.Entry // entries left for the next one
	seen := map[string]bool{}
	if g.st != nil {
		for _, id := range g.st.Seen {
			seen[id] = true
		}
	}
	// A notification interrupted by a crash (stored as Sending, never
	// cleared) goes out again first, with its id and its alerts.
	var resend map[string]bool
	if g.st != nil && !g.st.Resolved && g.st.Sending != nil {
		resend = map[string]bool{}
		for _, id := range g.st.Sending.Alerts {
			resend[id] = true
		}
		if !slices.ContainsFunc(g.pending, func(e *outbox.Entry) bool { return e.Alert != nil && resend[e.Alert.ID] }) {
			resend = nil // none of its alerts is waiting any more
		}
	}
	for _, e := range g.pending {
		a := e.Alert
		if a != nil && !seen[a.ID] && (resend != nil && !resend[a.ID] || resend == nil && len(alerts) >= seenPerGroup) {
			rest = append(rest, e)
			continue
		}
		done = append(done, e)
		if a == nil {
			continue
		}
		switch reason := d.suppressed(g, a, seen, now); reason {
		case "":
			seen[a.ID] = true
			alerts = append(alerts, a)
		default:
			if d.cfg.Metrics != nil {
				d.cfg.Metrics.Suppressed(d.cfg.Receiver, reason)
			}
		}
	}

	n := &notify.Notification{
		Receiver:    d.cfg.Receiver,
		GroupKey:    g.key,
		GroupLabels: g.labels,
		Status:      notify.StatusFiring,
		Alerts:      alerts,
		Locale:      d.cfg.Locale,
	}
	next := &outbox.GroupState{Route: g.node.ID, GroupLabels: g.labels}
	if g.st != nil && !g.st.Resolved {
		*next = *g.st
		next.Seen = append([]string(nil), g.st.Seen...)
		next.Sending = nil
	}
	switch {
	case len(alerts) > 0:
		for _, a := range alerts {
			if next.First.IsZero() || a.Time.Before(next.First) {
				next.First = a.Time
			}
			if a.Time.After(next.Last) {
				next.Last = a.Time
			}
			next.Seen = append(next.Seen, a.ID)
		}
		// Quiet time for resolution counts from when alerts arrive, not
		// from event time (a replay of old logs must not resolve at once).
		next.Last = latest(next.Last, now)
		next.Total += len(alerts)
		if len(next.Seen) > seenPerGroup {
			next.Seen = next.Seen[len(next.Seen)-seenPerGroup:]
		}
		if resend != nil {
			n.ID = g.st.Sending.ID
		} else {
			n.ID = notificationID(g.key, done[0].ID, done[len(done)-1].ID)
		}
		// Store the notification before calling the receiver: if the
		// process dies before the outcome is stored, the next start sends
		// it again under the same id (an idempotency key), not its alerts
		// under a new one.
		if resend == nil {
			pre := &outbox.GroupState{Route: g.node.ID, GroupLabels: g.labels}
			if g.st != nil {
				*pre = *g.st
			}
			pre.Sending = &outbox.Sending{ID: n.ID, Alerts: make([]string, len(alerts))}
			for i, a := range alerts {
				pre.Sending.Alerts[i] = a.ID
			}
			if !d.put(ctx, g, pre) {
				return false
			}
		}
	case len(done) > 0:
		// Everything pending was suppressed: acknowledge quietly.
		d.ack(ctx, g, done, rest)
		return len(rest) > 0
	case g.st != nil && !g.st.Resolved && g.node.ResolveTimeout > 0 && !now.Before(g.st.Last.Add(g.node.ResolveTimeout)):
		n.Status = notify.StatusResolved
		next.Resolved = true
		n.ID = notificationID(g.key, "resolved", g.st.Last.Format(time.RFC3339Nano))
	case g.st != nil && !g.st.Resolved && g.node.RepeatInterval > 0 && !now.Before(g.st.Notified.Add(g.node.RepeatInterval)):
		if d.cfg.Intervals != nil && d.muted(g.node, now) {
			next.Notified = now // skip this reminder
			d.put(ctx, g, next)
			return false
		}
		n.ID = notificationID(g.key, "repeat", now.Format(time.RFC3339Nano))
	default:
		return false
	}
	n.Total, n.FirstTime, n.LastTime = next.Total, next.First, next.Last

	var prev notify.State
	if g.st != nil && !g.st.Resolved {
		prev = g.st.State
	}
	tctx := ctx
	if len(done) > 0 && done[0].Trace != nil {
		tctx = telemetry.Propagator.Extract(ctx, propagation.MapCarrier(done[0].Trace))
	}
	state, err := d.deliver(tctx, n, prev)
	switch {
	case err == nil:
		next.State = state
		next.Notified = now
		if d.cfg.Metrics != nil {
			d.cfg.Metrics.Sent(d.cfg.Receiver)
		}
		if !d.put(ctx, g, next) {
			return false
		}
		d.ack(ctx, g, done, rest)
		return len(rest) > 0
	case notify.IsPermanent(err):
		if d.cfg.Metrics != nil {
			d.cfg.Metrics.SendFailed(d.cfg.Receiver)
		}
		d.log.Error("notification refused; sent to the delivery dead letter (vigia deliveries dead)", "group", g.key,
			"status", n.Status, "alerts", len(alerts), "err", err)
		if err := d.cfg.Queue.Bury(ctx, err.Error(), done...); err != nil {
			d.log.Error("could not dead-letter entries; they stay in the outbox", "err", err)
			return false
		}
		d.keepPending(g, rest)
		switch {
		case n.Status == notify.StatusResolved:
			next.Resolved = true
			d.put(ctx, g, next)
		case g.st != nil && g.st.Sending != nil:
			// The refused notification is not sent again.
			cleared := *g.st
			cleared.Sending = nil
			d.put(ctx, g, &cleared)
		}
		return len(rest) > 0
	default:
		// ctx ended mid-delivery: the entries stay in the outbox.
	}
	return false
}

// suppressed returns why a is not notified, or "".
func (d *Dispatcher) suppressed(g *group, a *alert.Alert, seen map[string]bool, now time.Time) string {
	if seen[a.ID] {
		return "duplicate"
	}
	if d.cfg.Silencer != nil {
		if ids := d.cfg.Silencer.Muted(a.Labels, now); len(ids) > 0 {
			return "silenced"
		}
	}
	if ok, _ := d.inhibit.inhibited(a.ID, a.Labels, now); ok {
		return "inhibited"
	}
	if d.cfg.Intervals != nil && d.muted(g.node, now) {
		return "muted"
	}
	return ""
}

// muted reports whether the node's time intervals mute it now.
func (d *Dispatcher) muted(n *Node, now time.Time) bool {
	if len(n.MuteTimeIntervals) > 0 && d.cfg.Intervals.Active(n.MuteTimeIntervals, now) {
		return true
	}
	return len(n.ActiveTimeIntervals) > 0 && !d.cfg.Intervals.Active(n.ActiveTimeIntervals, now)
}

func (d *Dispatcher) put(ctx context.Context, g *group, st *outbox.GroupState) bool {
	if err := d.cfg.States.Put(ctx, d.cfg.Receiver, g.key, st, d.cfg.StateTTL); err != nil {
		d.log.Error("could not store group state; the entries stay in the outbox", "group", g.key, "err", err)
		return false
	}
	g.st = st
	return true
}

// ack acknowledges the done entries; rest stay pending.
func (d *Dispatcher) ack(ctx context.Context, g *group, done, rest []*outbox.Entry) {
	ids := make([]string, len(done))
	for i, e := range done {
		ids[i] = e.ID
	}
	if len(ids) > 0 {
		if err := d.cfg.Queue.Ack(ctx, d.cfg.Receiver, ids...); err != nil {
			d.log.Error("outbox ack failed; these entries will be offered again (their alerts are remembered as seen)", "group", g.key, "err", err)
		}
	}
	d.keepPending(g, rest)
}

// keepPending leaves only rest pending in the group.
func (d *Dispatcher) keepPending(g *group, rest []*outbox.Entry) {
	g.pending = rest
	g.ids = make(map[string]bool, len(rest))
	for _, e := range rest {
		g.ids[e.ID] = true
	}
}

// deliver calls the receiver until it succeeds, fails permanently, or ctx
// ends. Retryable failures back off exponentially with jitter, or wait as
// long as the receiver asked (Retry-After).
func (d *Dispatcher) deliver(ctx context.Context, n *notify.Notification, prev notify.State) (notify.State, error) {
	start := d.now()
	backoff := d.cfg.MinBackoff
	warned := false
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
		actx, span := telemetry.StartDelivery(actx, d.cfg.Tracer, d.cfg.Receiver, n.ID, firstRule(n), attempt)
		st, err := d.cfg.Deliverer.Deliver(actx, n, prev)
		telemetry.EndDelivery(span, !notify.IsPermanent(err), err)
		cancel()
		if err == nil || notify.IsPermanent(err) {
			return st, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		wait := backoff + rand.N(backoff/2+1)
		if ra, ok := notify.RetryAfter(err); ok {
			wait = ra
		}
		if !warned && d.now().Sub(start) > d.cfg.RetryTimeout {
			warned = true
			if d.cfg.Metrics != nil {
				d.cfg.Metrics.SendFailed(d.cfg.Receiver)
			}
			d.log.Error("receiver failing for longer than retry_timeout; still retrying, nothing is dropped",
				"group", n.GroupKey, "attempts", attempt, "err", err)
		} else {
			d.log.Warn("delivery failed, retrying", "group", n.GroupKey, "attempt", attempt, "in", wait, "err", err)
		}
		if !sleep(ctx, wait) {
			return nil, ctx.Err()
		}
		backoff = min(backoff*2, d.cfg.MaxBackoff)
	}
}

func firstRule(n *notify.Notification) string {
	if len(n.Alerts) > 0 {
		return n.Alerts[0].Rule.ID
	}
	return n.GroupLabels["rule"]
}

func notificationID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
