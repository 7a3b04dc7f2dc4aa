// Package correlate raises correlation alerts: counts, distinct counts,
// ordered and unordered sequences and first-seen values over the matches
// of other rules, grouped by field values (typically the resolved
// identity or pod, so events of different sources meet in one group) in
// event-time windows kept in a Store (memory, or Redis shared by
// replicas).
//
// Semantics follow the Sigma correlation specification (v2); the
// deviations are documented in detections/README.md.
package correlate

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/rule"
)

// Match is one rule match: the base or correlation rule, its alert and
// the event that triggered it.
type Match struct {
	Rule  *rule.Rule
	Alert *alert.Alert
	Event *event.Event
}

// Options configure an Engine.
type Options struct {
	// Lateness is how far behind the newest event of its source an event
	// may be and still count. Later events are counted as late (metric)
	// and left out of windows. Default 15m: CloudTrail delivers up to
	// about 15 minutes after the call.
	Lateness time.Duration
	// MaxEvents is the most events a window keeps per group (default
	// 1,000); MaxValues the most values a first-seen set keeps per group
	// (default 10,000). Together they bound memory per group.
	MaxEvents int
	MaxValues int
	// Prefix starts every store key (the Redis key prefix).
	Prefix string
	// Metrics, when set, counts what the engine does.
	Metrics Metrics
	Logger  *slog.Logger
}

// Metrics receives the engine's counts.
type Metrics interface {
	CorrelationUpdates(n int)
	CorrelationFired(rule string)
	CorrelationLate(rule string)
	CorrelationUngrouped(rule string)
	CorrelationError(op string)
}

// Stats are an engine's counters since start.
type Stats struct {
	Updates, Fired, Late, Ungrouped, Errors uint64
}

// Engine evaluates the correlation rules of a rule set. It is safe for
// concurrent use.
type Engine struct {
	set   *rule.Set
	store Store
	opts  Options
	refs  map[string][]ref // referenced rule id → correlations using it

	mu      sync.Mutex
	maxT    map[string]int64 // newest event time (ms) per source
	pending map[string]*pending
	warm    map[string]int64 // first_seen rule → learning start (ms)

	vms                                     sync.Pool
	updates, fired, late, ungrouped, errors atomic.Uint64
	logged                                  sync.Map
}

type ref struct {
	rule *rule.Rule
	idx  int // index in rule.Correlation.Rules
}

// pending is a window whose non-monotone condition (lt, lte, eq) is
// checked when it closes.
type pending struct {
	rule   *rule.Rule
	key    string
	group  []string
	start  int64
	source string
	match  Match
}

// New returns an engine for the correlation rules of set.
func New(set *rule.Set, store Store, opts Options) *Engine {
	if opts.Lateness == 0 {
		opts.Lateness = 15 * time.Minute
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 1000
	}
	if opts.MaxValues <= 0 {
		opts.MaxValues = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{set: set, store: store, opts: opts, refs: map[string][]ref{},
		maxT: map[string]int64{}, pending: map[string]*pending{}, warm: map[string]int64{}}
	for _, r := range set.Rules {
		if r.Correlation == nil || r.Disabled {
			continue
		}
		for i, id := range r.Correlation.Rules {
			e.refs[id] = append(e.refs[id], ref{r, i})
		}
	}
	return e
}

// Active reports whether the set has enabled correlation rules.
func (e *Engine) Active() bool { return len(e.refs) > 0 }

// Referenced reports whether a correlation uses rule id's matches.
func (e *Engine) Referenced(id string) bool { return len(e.refs[id]) > 0 }

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{Updates: e.updates.Load(), Fired: e.fired.Load(), Late: e.late.Load(), Ungrouped: e.ungrouped.Load(), Errors: e.errors.Load()}
}

// Process feeds the matches of a batch of events to the correlations and
// returns the correlation alerts they raise. Correlations of correlations
// are evaluated in the same call. On a store error nothing of the batch
// is lost for good: the updates are idempotent, so the caller retries the
// batch (see Processor) and a crash before that replays it.
func (e *Engine) Process(ctx context.Context, matches []Match) ([]*alert.Alert, error) {
	var out []*alert.Alert
	fired, err := e.step(ctx, matches)
	if err != nil {
		return nil, err
	}
	closed, err := e.closeDue(ctx)
	if err != nil {
		return nil, err
	}
	level := append(fired, closed...)
	for depth := 0; len(level) > 0; depth++ {
		for _, m := range level {
			out = append(out, m.Alert)
		}
		if depth == 8 {
			break // chains deeper than this are cut
		}
		if level, err = e.step(ctx, level); err != nil {
			return out, err
		}
	}
	return out, nil
}

// HasPending reports whether windows wait to close (lt, lte, eq): the
// caller then calls Process even for batches without matches, so they
// close as event time passes.
func (e *Engine) HasPending() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pending) > 0
}

// op is one pending store update and what produced it.
type op struct {
	ref    ref
	match  Match
	key    string
	group  []string
	t      int64
	member string
	value  string
}

func (e *Engine) vm() *vm.VM {
	if m, ok := e.vms.Get().(*vm.VM); ok {
		return m
	}
	return &vm.VM{}
}

func (e *Engine) step(ctx context.Context, matches []Match) ([]Match, error) {
	m := e.vm()
	defer e.vms.Put(m)
	var wins, seens []op
	for _, mt := range matches {
		refs := e.refs[mt.Rule.ID]
		if len(refs) == 0 {
			continue
		}
		t := mt.Event.Time.UnixMilli()
		if e.isLate(mt.Event.Source, t) {
			for _, rf := range refs {
				e.count(&e.late, func(mx Metrics) { mx.CorrelationLate(rf.rule.ID) })
			}
			e.logOnce("late:"+mt.Event.Source, "events later than correlation.lateness behind their source's newest event are left out of correlation windows (counted in vigia_correlation_late_events_total; logged once per source)",
				"source", mt.Event.Source, "event_time", mt.Event.Time, "lateness", e.opts.Lateness)
			continue
		}
		for _, rf := range refs {
			c := rf.rule.Correlation
			group, ok := c.GroupValues(m, rf.idx, mt.Event)
			var value string
			if ok && (c.Type == rule.ValueCount || c.Type == rule.FirstSeen) {
				value = c.Value(m, rf.idx, mt.Event)
				ok = value != ""
			}
			if !ok {
				e.count(&e.ungrouped, func(mx Metrics) { mx.CorrelationUngrouped(rf.rule.ID) })
				continue
			}
			o := op{ref: rf, match: mt, key: e.groupKey(rf.rule.ID, group), group: group, t: t, value: value}
			if c.Type == rule.FirstSeen {
				seens = append(seens, o)
				continue
			}
			o.member = encodeMember(rf.idx, value, mt.Alert)
			wins = append(wins, o)
		}
	}
	e.advance(matches)
	var cands []candidate
	if len(wins) > 0 {
		adds := make([]Add, len(wins))
		for i, o := range wins {
			c := o.ref.rule.Correlation
			span := c.Timespan.Milliseconds()
			adds[i] = Add{Key: o.key + ":w", Entry: Entry{T: o.t, Member: o.member},
				Cutoff: o.t - span - e.opts.Lateness.Milliseconds(), Cap: e.opts.MaxEvents,
				TTL: 2*(c.Timespan+e.opts.Lateness) + time.Minute}
		}
		res, err := e.store.Add(ctx, adds)
		if err != nil {
			e.count(&e.errors, func(mx Metrics) { mx.CorrelationError("add") })
			return nil, fmt.Errorf("correlation windows: %w", err)
		}
		e.updates.Add(uint64(len(adds)))
		if e.opts.Metrics != nil {
			e.opts.Metrics.CorrelationUpdates(len(adds))
		}
		for i, o := range wins {
			c := o.ref.rule.Correlation
			if (c.Type == rule.EventCount || c.Type == rule.ValueCount) && !c.Condition.Monotone() {
				e.track(o)
				continue
			}
			if sel, ok := evaluate(c, decodeHeads(res[i]), o.t); ok {
				cands = append(cands, candidate{op: o, entries: sel, from: sel[0].t, to: sel[len(sel)-1].t, heads: true})
			}
		}
	}
	if len(seens) > 0 {
		ss := make([]Seen, len(seens))
		for i, o := range seens {
			c := o.ref.rule.Correlation
			ss[i] = Seen{Key: o.key + ":f", Value: o.value, T: o.t, Lookback: c.Lookback.Milliseconds(),
				Cap: e.opts.MaxValues, TTL: c.Lookback + e.opts.Lateness + time.Hour}
		}
		news, err := e.store.Seen(ctx, ss)
		if err != nil {
			e.count(&e.errors, func(mx Metrics) { mx.CorrelationError("seen") })
			return nil, fmt.Errorf("correlation first-seen: %w", err)
		}
		e.updates.Add(uint64(len(ss)))
		for i, o := range seens {
			if !news[i] {
				continue
			}
			learning, err := e.learning(ctx, o)
			if err != nil {
				return nil, err
			}
			if !learning {
				en := decode(Entry{T: o.t, Member: encodeMember(o.ref.idx, o.value, o.match.Alert)})
				cands = append(cands, candidate{op: o, entries: []entry{en}})
			}
		}
	}
	return e.fire(ctx, cands)
}

// candidate is a correlation whose condition holds, before suppression.
type candidate struct {
	op      op
	entries []entry
	// heads: entries hold only what conditions need; the window's
	// entries from..to are read whole before the alert is built.
	heads    bool
	from, to int64
}

// fire takes the suppressions of the candidates and builds the alerts of
// those that got them.
func (e *Engine) fire(ctx context.Context, cands []candidate) ([]Match, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	var claims []Claim
	var claimed []int
	for i, cd := range cands {
		c := cd.op.ref.rule.Correlation
		if c.Suppress <= 0 {
			continue
		}
		claims = append(claims, Claim{Key: cd.op.key + ":s", T: cd.op.t, Until: cd.op.t + c.Suppress.Milliseconds(),
			Trigger: alert.Hash(cd.op.member, cd.op.value, strconv.FormatInt(cd.op.t, 10)), TTL: c.Suppress + e.opts.Lateness + time.Hour})
		claimed = append(claimed, i)
	}
	ok := make([]bool, len(cands))
	for i, cd := range cands {
		ok[i] = cd.op.ref.rule.Correlation.Suppress <= 0
	}
	if len(claims) > 0 {
		got, err := e.store.Claim(ctx, claims)
		if err != nil {
			e.count(&e.errors, func(mx Metrics) { mx.CorrelationError("claim") })
			return nil, fmt.Errorf("correlation suppression: %w", err)
		}
		for j, i := range claimed {
			ok[i] = got[j]
		}
	}
	var out []Match
	for i, cd := range cands {
		if !ok[i] {
			continue
		}
		if cd.heads {
			es, err := e.store.Window(ctx, cd.op.key+":w")
			if err != nil {
				e.count(&e.errors, func(mx Metrics) { mx.CorrelationError("window") })
				return nil, fmt.Errorf("correlation windows: %w", err)
			}
			cd.entries = cd.entries[:0]
			for _, en := range es {
				if en.T >= cd.from && en.T <= cd.to {
					cd.entries = append(cd.entries, decode(en))
				}
			}
			if len(cd.entries) == 0 {
				continue // the window expired in between
			}
		}
		a := e.build(cd)
		e.count(&e.fired, func(mx Metrics) { mx.CorrelationFired(cd.op.ref.rule.ID) })
		out = append(out, Match{Rule: cd.op.ref.rule, Alert: a, Event: cd.op.match.Event})
	}
	return out, nil
}

// build makes the correlation alert: the trigger event's entity and
// context, every contributing event, the members it explains.
func (e *Engine) build(cd candidate) *alert.Alert {
	r := cd.op.ref.rule
	c := r.Correlation
	ev := cd.op.match.Event
	rb := alert.Runbook{Path: r.Runbook}
	if book := e.set.Books.Get(r.Runbook); book != nil {
		rb.Title = book.Title
	}
	a := alert.FromEvent(r.Meta(), "", rb, ev)
	var refs []event.Ref
	seenRef := map[event.Ref]bool{}
	var explains []string
	distinct := map[string]bool{}
	first, last := time.UnixMilli(cd.entries[0].t).UTC(), time.UnixMilli(cd.entries[0].t).UTC()
	for _, en := range cd.entries {
		for _, rf := range en.refs {
			if !seenRef[rf] {
				seenRef[rf] = true
				refs = append(refs, rf)
			}
		}
		if en.alertID != "" && !slices.Contains(explains, en.alertID) {
			explains = append(explains, en.alertID)
		}
		if en.value != "" {
			distinct[en.value] = true
		}
		t := time.UnixMilli(en.t).UTC()
		first, last = minTime(first, t), maxTime(last, t)
	}
	group := map[string]string{}
	for i, g := range c.GroupBy {
		group[g] = cd.op.group[i]
	}
	gk := strings.Join(cd.op.group, "\x1f")
	a.ID = alert.Hash(r.ID, gk, cd.op.member, cd.op.value, strconv.FormatInt(cd.op.t, 10))
	a.DedupKey = alert.Hash(r.ID, gk)
	a.Time = last
	a.Events = refs
	a.Explains = explains
	a.Correlation = &alert.Correlation{Type: c.Type, Group: group, Count: len(cd.entries), First: first, Last: last}
	if c.Type == rule.ValueCount {
		a.Correlation.Distinct = len(distinct)
	}
	if c.Type == rule.FirstSeen {
		a.Correlation.Value = cd.op.value
	}
	a.Summary = summary(r, ev, a.Correlation)
	return a
}

// summary is the rule's summary rendered on the trigger event, followed
// by the group and the window.
func summary(r *rule.Rule, ev *event.Event, c *alert.Correlation) string {
	var b strings.Builder
	b.WriteString(r.Render(ev))
	b.WriteString(" [")
	for i, k := range slices.Sorted(maps.Keys(c.Group)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s", k, c.Group[k])
	}
	switch c.Type {
	case rule.FirstSeen:
		fmt.Fprintf(&b, "; first seen: %s", c.Value)
	case rule.ValueCount:
		fmt.Fprintf(&b, "; %d distinct values in %d events", c.Distinct, c.Count)
	default:
		fmt.Fprintf(&b, "; %d events", c.Count)
	}
	if c.Last.After(c.First) {
		fmt.Fprintf(&b, " over %s", c.Last.Sub(c.First).Round(time.Second))
	}
	b.WriteString("]")
	return b.String()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// groupKey is the store key of a rule's group: the rule and a hash of the
// group values in one hash tag, so every key of a group is in one Redis
// Cluster slot.
func (e *Engine) groupKey(ruleID string, group []string) string {
	return e.opts.Prefix + "corr:{" + ruleID + ":" + alert.Hash(group...)[:16] + "}"
}

// isLate reports whether t is more than Lateness behind the newest event
// of its source.
func (e *Engine) isLate(source string, t int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return t < e.maxT[source]-e.opts.Lateness.Milliseconds()
}

// advance moves each source's newest event time forward.
func (e *Engine) advance(matches []Match) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range matches {
		if t := m.Event.Time.UnixMilli(); t > e.maxT[m.Event.Source] {
			e.maxT[m.Event.Source] = t
		}
	}
}

// Observe moves each source's newest event time with every event of a
// batch, matched or not, so lateness is measured against the stream and
// windows waiting to close (lt, lte, eq) close as event time passes.
func (e *Engine) Observe(evs []*event.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range evs {
		if t := ev.Time.UnixMilli(); t > e.maxT[ev.Source] {
			e.maxT[ev.Source] = t
		}
	}
}

// track remembers a window with a non-monotone condition until it closes.
func (e *Engine) track(o op) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.pending[o.key]; ok {
		return
	}
	e.pending[o.key] = &pending{rule: o.ref.rule, key: o.key, group: o.group, start: o.t, source: o.match.Event.Source, match: o.match}
}

// closeDue evaluates the windows whose end is more than Lateness behind
// their source's newest event.
func (e *Engine) closeDue(ctx context.Context) ([]Match, error) {
	e.mu.Lock()
	var due []*pending
	for k, p := range e.pending {
		end := p.start + p.rule.Correlation.Timespan.Milliseconds()
		if end+e.opts.Lateness.Milliseconds() <= e.maxT[p.source] {
			due = append(due, p)
			delete(e.pending, k)
		}
	}
	e.mu.Unlock()
	slices.SortFunc(due, func(a, b *pending) int { return strings.Compare(a.key, b.key) })
	var cands []candidate
	for _, p := range due {
		es, err := e.store.Window(ctx, p.key+":w")
		if err != nil {
			e.count(&e.errors, func(mx Metrics) { mx.CorrelationError("window") })
			e.mu.Lock()
			e.pending[p.key] = p // try again with the next batch
			e.mu.Unlock()
			return nil, fmt.Errorf("correlation windows: %w", err)
		}
		c := p.rule.Correlation
		end := p.start + c.Timespan.Milliseconds()
		var in []entry
		for _, en := range decodeAll(es) {
			if en.t >= p.start && en.t <= end {
				in = append(in, en)
			}
		}
		n := len(in)
		if c.Type == rule.ValueCount {
			n = distinctValues(in)
		}
		if len(in) == 0 || !c.Condition.Holds(n) {
			continue
		}
		last := in[len(in)-1]
		o := op{ref: ref{rule: p.rule}, match: p.match, key: p.key, group: p.group, t: end, member: last.member}
		cands = append(cands, candidate{op: o, entries: in})
	}
	return e.fire(ctx, cands)
}

// learning reports whether a first_seen rule is still in its warm-up:
// it alerts only once Warmup of event time has passed since it first saw
// an event (shared through the store, so replicas agree).
func (e *Engine) learning(ctx context.Context, o op) (bool, error) {
	c := o.ref.rule.Correlation
	if c.Warmup <= 0 {
		return false, nil
	}
	e.mu.Lock()
	start, ok := e.warm[o.ref.rule.ID]
	e.mu.Unlock()
	if !ok {
		var err error
		start, err = e.store.Since(ctx, e.opts.Prefix+"corr:{"+o.ref.rule.ID+"}:since", o.t, 365*24*time.Hour)
		if err != nil {
			e.count(&e.errors, func(mx Metrics) { mx.CorrelationError("since") })
			return false, fmt.Errorf("correlation warm-up: %w", err)
		}
		e.mu.Lock()
		e.warm[o.ref.rule.ID] = start
		e.mu.Unlock()
	}
	return o.t < start+c.Warmup.Milliseconds(), nil
}

func (e *Engine) count(c *atomic.Uint64, metric func(Metrics)) {
	c.Add(1)
	if e.opts.Metrics != nil {
		metric(e.opts.Metrics)
	}
}

func (e *Engine) logOnce(kind, msg string, args ...any) {
	if _, loaded := e.logged.LoadOrStore(kind, true); !loaded {
		e.opts.Logger.Warn(msg, args...)
	}
}
