package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/correlate"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/rule"
	"github.com/vigia-dev/vigia/internal/telemetry"
)

// Router delivers alerts; see route.Router.
type Router interface {
	Route(ctx context.Context, alerts []*alert.Alert) error
}

// DeadLetterWriter takes messages that cannot be processed.
type DeadLetterWriter interface {
	Write(ctx context.Context, m kafka.Message, reason, detail string) error
}

// Resolver fills each event's Entity from what earlier events taught it,
// and learns from the events; see resolve.Resolver.
type Resolver interface {
	Resolve(ctx context.Context, evs []*event.Event) error
}

// Metrics receives the processor's counts; may be nil.
type Metrics interface {
	Consumed(topic, source string)
	Normalized(source string, n int)
	Failed(source, reason string)
	DeadLettered(reason string)
	// AlertLatency records n alerts enqueued d after their message was
	// appended to Kafka.
	AlertLatency(d time.Duration, n int)
}

// Processor normalizes a message, evaluates every rule on its events and
// hands the alerts to the router. It is the stage shared by `vigia run`
// (messages from Kafka) and `vigia replay` (records from files).
type Processor struct {
	// Rules is the rule set at start; SetRules replaces it while running
	// (RuleSet returns the current one).
	Rules *rule.Set
	// Normalizers by topic; Default is used for topics not listed.
	Normalizers map[string]normalize.Normalizer
	Default     normalize.Normalizer
	// Resolver, when set, resolves identities and pods before the rules run.
	Resolver Resolver
	// Correlator, when set, feeds rule matches to the correlation rules.
	Correlator *correlate.Engine
	Router     Router
	DeadLetter DeadLetterWriter
	Metrics    Metrics
	Logger     *slog.Logger
	// MaxMessageBytes: larger messages are dead-lettered. 0: no limit.
	MaxMessageBytes int
	// Tracer, when set, traces each message and rule-set evaluation; nil
	// (tracing disabled) costs nothing.
	Tracer trace.Tracer
	// NewNormalizers, when set, builds the normalizers a rule set needs
	// (Raw only for the sources whose rules read it); SetRules calls it so
	// the normalizers change with the rules.
	NewNormalizers func(*rule.Set) (byTopic map[string]normalize.Normalizer, def normalize.Normalizer, err error)
	// NewCorrelator, when set, builds the correlation engine of a rule set;
	// SetRules calls it so correlations change with the rules. Without it
	// the Correlator stays.
	NewCorrelator func(*rule.Set) *correlate.Engine

	live   atomic.Pointer[liveRules] // set by SetRules; nil: the fields above
	evals  sync.Pool
	counts sync.Map // kind -> *atomic.Uint64
}

// liveRules is a rule set with the normalizers and correlation engine
// built for it, swapped as one.
type liveRules struct {
	set         *rule.Set
	normalizers map[string]normalize.Normalizer
	def         normalize.Normalizer
	corr        *correlate.Engine
}

// SetRules makes s the rule set of every message handled from now on;
// messages in flight finish with the set they started with. With
// NewNormalizers (NewCorrelator) set, the normalizers (the correlation
// engine) are rebuilt for s first, and an error there leaves the current
// set in place. SetRules is the one place a rule set changes: state
// derived from the rules hooks in here.
func (p *Processor) SetRules(s *rule.Set) error {
	lv := p.current()
	lv.set = s
	if p.NewNormalizers != nil {
		byTopic, def, err := p.NewNormalizers(s)
		if err != nil {
			return err
		}
		lv.normalizers, lv.def = byTopic, def
	}
	if p.NewCorrelator != nil {
		lv.corr = p.NewCorrelator(s)
	}
	p.live.Store(&lv)
	return nil
}

// RuleSet returns the current rule set.
func (p *Processor) RuleSet() *rule.Set {
	if lv := p.live.Load(); lv != nil {
		return lv.set
	}
	return p.Rules
}

// current returns the rule set, normalizers and correlation engine to
// handle one message with.
func (p *Processor) current() liveRules {
	if lv := p.live.Load(); lv != nil {
		return *lv
	}
	return liveRules{set: p.Rules, normalizers: p.Normalizers, def: p.Default, corr: p.Correlator}
}

// Reasons for dead letters beyond normalize.Reason's.
const ReasonOversized = "oversized"

// Process normalizes data, resolves identities and pods, and evaluates
// the rules and correlations. It returns the alerts, the number of events,
// and an error per part that failed to normalize.
func (p *Processor) Process(ctx context.Context, n normalize.Normalizer, data []byte, meta normalize.Meta) ([]*alert.Alert, int, []error) {
	b := p.process(ctx, p.current(), n, data, meta)
	alerts := b.alerts
	if corr, err := p.correlate(ctx, b); err == nil {
		alerts = append(alerts, corr...)
	}
	return alerts, b.events, b.errs
}

// batch is what one message's events gave: single-event alerts to route
// (signal-only rules left out) and the matches correlations are fed.
type batch struct {
	lv      liveRules // what the message was evaluated with
	alerts  []*alert.Alert
	matches []correlate.Match
	evs     []*event.Event
	events  int
	errs    []error
}

func (p *Processor) process(ctx context.Context, lv liveRules, n normalize.Normalizer, data []byte, meta normalize.Meta) batch {
	evs, errs := p.normalize(n, data, meta)
	b := p.evaluate(ctx, lv, evs)
	b.errs = errs
	return b
}

// normalize decodes data, counting the parts that fail.
func (p *Processor) normalize(n normalize.Normalizer, data []byte, meta normalize.Meta) ([]*event.Event, []error) {
	evs, errs := n.Normalize(data, meta)
	if p.Metrics != nil {
		for _, err := range errs {
			p.Metrics.Failed(n.Source(), normalize.Reason(err))
		}
	}
	return evs, errs
}

// normalizer returns the normalizer of a topic.
func (lv liveRules) normalizer(topic string) normalize.Normalizer {
	if n := lv.normalizers[topic]; n != nil {
		return n
	}
	return lv.def
}

// decode counts a Kafka message and returns its events; it dead-letters
// the message when it is oversized (ok false: nothing to evaluate) or
// when parts of it fail to normalize (the other parts' events are
// returned). An error means the dead letter could not be written.
func (p *Processor) decode(ctx context.Context, n normalize.Normalizer, m kafka.Message) (evs []*event.Event, ok bool, err error) {
	if p.Metrics != nil {
		p.Metrics.Consumed(m.Topic, n.Source())
	}
	if p.MaxMessageBytes > 0 && len(m.Value) > p.MaxMessageBytes {
		if p.Metrics != nil {
			p.Metrics.Failed(n.Source(), ReasonOversized)
		}
		return nil, false, p.deadLetter(ctx, m, ReasonOversized, fmt.Sprintf("message of %d bytes exceeds max_message_bytes %d", len(m.Value), p.MaxMessageBytes))
	}
	evs, errs := p.normalize(n, m.Value, normalize.Meta{Topic: m.Topic})
	if len(errs) > 0 {
		if err := p.deadLetter(ctx, m, normalize.Reason(errs[0]), errors.Join(errs...).Error()); err != nil {
			return nil, false, err
		}
	}
	return evs, true, nil
}

// Flush evaluates the events normalizers held back waiting for the rest of
// a split log line, now that input ends, and routes their alerts.
func (p *Processor) Flush(ctx context.Context) error {
	alerts, n := p.FlushAlerts(ctx)
	if n == 0 || len(alerts) == 0 || p.Router == nil {
		return nil
	}
	return p.Router.Route(ctx, alerts)
}

// FlushAlerts is Flush for callers without a router (vigia replay).
func (p *Processor) FlushAlerts(ctx context.Context) ([]*alert.Alert, int) {
	b := p.evaluate(ctx, p.current(), detect.Flush())
	alerts := b.alerts
	if corr, err := p.correlate(ctx, b); err == nil {
		alerts = append(alerts, corr...)
	}
	return alerts, b.events
}

// evaluate resolves and evaluates events.
func (p *Processor) evaluate(ctx context.Context, lv liveRules, evs []*event.Event) batch {
	p.resolve(ctx, evs)
	return p.evalEvents(ctx, lv, evs)
}

// resolve counts the events and resolves their identities and pods.
func (p *Processor) resolve(ctx context.Context, evs []*event.Event) {
	if p.Metrics != nil {
		for i := 0; i < len(evs); {
			j := i + 1
			for j < len(evs) && evs[j].Source == evs[i].Source {
				j++
			}
			p.Metrics.Normalized(evs[i].Source, j-i)
			i = j
		}
	}
	if len(evs) == 0 || p.Resolver == nil {
		return
	}
	if err := p.Resolver.Resolve(ctx, evs); err != nil {
		// Resolution enriches; it must not stall detection. Events
		// go on with what they carry themselves.
		p.logFirst("resolve_error", "identity and pod resolution failed; events evaluated without resolved entities (logged once per 10,000)", "err", err)
	}
}

// evalEvents evaluates resolved events.
func (p *Processor) evalEvents(ctx context.Context, lv liveRules, evs []*event.Event) batch {
	if len(evs) == 0 {
		return batch{lv: lv}
	}
	set := lv.set
	e := p.evaluator(set)
	defer p.evals.Put(e)
	_, span := telemetry.StartRules(ctx, p.Tracer, len(evs), len(set.Rules))
	b := batch{lv: lv, evs: evs, events: len(evs)}
	var alerts []*alert.Alert
	corr := lv.corr != nil && lv.corr.Active()
	for _, ev := range evs {
		n0 := len(alerts)
		alerts = e.Eval(alerts, ev)
		if !corr {
			continue
		}
		for _, a := range alerts[n0:] {
			if r := set.Rule(a.Rule.ID); r != nil && lv.corr.Referenced(r.ID) {
				b.matches = append(b.matches, correlate.Match{Rule: r, Alert: a, Event: ev})
			}
		}
	}
	b.alerts = routable(set, alerts)
	telemetry.EndRules(span, len(b.alerts))
	return b
}

// routable leaves out the alerts of signal-only rules: they feed
// correlations and alert nobody.
func routable(set *rule.Set, alerts []*alert.Alert) []*alert.Alert {
	out := alerts[:0]
	for _, a := range alerts {
		if r := set.Rule(a.Rule.ID); r != nil && r.SignalOnly {
			continue
		}
		out = append(out, a)
	}
	return out
}

// correlateOnce is correlate without retries.
func (p *Processor) correlateOnce(ctx context.Context, b batch) ([]*alert.Alert, error) {
	c := b.lv.corr
	if c == nil || !c.Active() {
		return nil, nil
	}
	c.Observe(b.evs)
	if len(b.matches) == 0 && !c.HasPending() {
		return nil, nil
	}
	out, err := c.Process(ctx, b.matches)
	if err != nil {
		p.logFirst("correlation_error", "correlation store failed; retrying (counted in vigia_correlation_errors_total; logged once per 10,000)", "err", err)
		return nil, err
	}
	return routable(b.lv.set, out), nil
}

// correlate feeds a batch's matches to the correlations. A store failure
// (Redis down) is retried with backoff until it succeeds or ctx ends:
// window updates are idempotent, so nothing is counted twice, and the
// message is not committed until its correlations are done, so nothing is
// lost. Errors are counted in vigia_correlation_errors_total.
func (p *Processor) correlate(ctx context.Context, b batch) ([]*alert.Alert, error) {
	backoff := 50 * time.Millisecond
	for {
		out, err := p.correlateOnce(ctx, b)
		if err == nil {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("correlations not evaluated: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (p *Processor) evaluator(set *rule.Set) *rule.Evaluator {
	// An evaluator of a replaced set is dropped.
	if e, ok := p.evals.Get().(*rule.Evaluator); ok && e.Set() == set {
		return e
	}
	e := set.NewEvaluator()
	e.OnError = func(r *rule.Rule, ev *event.Event, err error) {
		p.logFirst("rule_error:"+r.ID, "rule runtime error (counted per rule in vigia_rule_errors; logged once per rule)",
			"rule", r.ID, "file", r.File, "event", ev.ID, "err", err)
	}
	return e
}

// Handle is the source.Handler for Kafka messages: it returns nil once
// the message's alerts were routed and its bad parts dead-lettered.
func (p *Processor) Handle(ctx context.Context, m kafka.Message) (err error) {
	lv := p.current()
	n := lv.normalizer(m.Topic)
	ctx, span := telemetry.StartMessage(ctx, p.Tracer, m, n.Source())
	defer func() { telemetry.EndSpan(span, err) }()
	evs, ok, err := p.decode(ctx, n, m)
	if err != nil || !ok {
		return err
	}
	b := p.evaluate(ctx, lv, evs)
	// Usually the correlations are done in one try and every alert of the
	// message is routed together, so a receiver sees a correlation with
	// the members it explains. If the correlation store is down, the
	// single-event alerts go out first: the outage must not hold them back.
	corr, err := p.correlateOnce(ctx, b)
	if err != nil {
		if len(b.alerts) > 0 {
			if err := p.Router.Route(ctx, b.alerts); err != nil {
				return err
			}
			p.observeLatency(m, len(b.alerts))
		}
		b.alerts = nil
		corr, err = p.correlate(ctx, b)
	}
	telemetry.MessageCounts(span, b.events, len(b.alerts)+len(corr))
	if err != nil {
		return err
	}
	all := append(b.alerts, corr...)
	if len(all) == 0 {
		return nil
	}
	if err := p.Router.Route(ctx, all); err != nil {
		return err
	}
	p.observeLatency(m, len(all))
	return nil
}

// observeLatency records the append-to-enqueue latency of n alerts of m.
func (p *Processor) observeLatency(m kafka.Message, n int) {
	if p.Metrics != nil && !m.Time.IsZero() && n > 0 {
		p.Metrics.AlertLatency(time.Since(m.Time), n)
	}
}

// HandleBatch is the source.BatchHandler: it handles messages fetched
// together as one unit, in order — one identity resolution, one
// correlation step and one routing call (so one Redis pipeline and one
// outbox write) for all of them, instead of one per message. It returns
// nil once every message's alerts were routed and its bad parts
// dead-lettered. On an error the consumer handles the messages again one
// by one (Handle): everything a batch does is idempotent (alert ids,
// window members), except that a dead letter written before the failure
// is written again.
//
// With tracing on, messages are handled one by one, so that each keeps
// its own span as a child of its producer's.
func (p *Processor) HandleBatch(ctx context.Context, ms []kafka.Message) error {
	if p.Tracer != nil || len(ms) == 1 {
		for _, m := range ms {
			if err := p.Handle(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	lv := p.current()
	var evs []*event.Event
	ends := make([]int, len(ms)) // evs[ends[i-1]:ends[i]] are ms[i]'s events
	for i, m := range ms {
		out, _, err := p.decode(ctx, lv.normalizer(m.Topic), m)
		if err != nil {
			return err
		}
		evs = append(evs, out...)
		ends[i] = len(evs)
	}
	// One resolution for the batch (one Redis pipeline), then each
	// message's events, so each alert is known to come from its message.
	p.resolve(ctx, evs)
	b := batch{lv: lv, evs: evs, events: len(evs)}
	perMsg := make([]int, len(ms)) // routable alerts of each message
	start := 0
	for i := range ms {
		sub := p.evalEvents(ctx, lv, evs[start:ends[i]])
		b.alerts = append(b.alerts, sub.alerts...)
		b.matches = append(b.matches, sub.matches...)
		perMsg[i] = len(sub.alerts)
		start = ends[i]
	}
	corr, err := p.correlateOnce(ctx, b)
	if err != nil {
		// As in Handle: the store's outage must not hold back the
		// single-event alerts.
		if len(b.alerts) > 0 {
			if err := p.Router.Route(ctx, b.alerts); err != nil {
				return err
			}
			p.observeBatchLatency(ms, perMsg, 0)
		}
		b.alerts, perMsg = nil, nil
		if corr, err = p.correlate(ctx, b); err != nil {
			return err
		}
	}
	all := append(b.alerts, corr...)
	if len(all) == 0 {
		return nil
	}
	if err := p.Router.Route(ctx, all); err != nil {
		return err
	}
	p.observeBatchLatency(ms, perMsg, len(corr))
	return nil
}

// observeBatchLatency records the append-to-enqueue latency of each
// message's alerts (perMsg, by message; nil: none) and of the batch's
// correlation alerts, counted against its last message (a correlation
// fires on its newest event).
func (p *Processor) observeBatchLatency(ms []kafka.Message, perMsg []int, corr int) {
	for i, n := range perMsg {
		p.observeLatency(ms[i], n)
	}
	p.observeLatency(ms[len(ms)-1], corr)
}

func (p *Processor) deadLetter(ctx context.Context, m kafka.Message, reason, detail string) error {
	p.logFirst("dead_letter:"+m.Topic+":"+reason, "message sent to the dead-letter topic (logged once per topic and reason; counted in vigia_dead_letters)",
		"reason", reason, "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", detail)
	if p.DeadLetter == nil {
		return nil
	}
	if err := p.DeadLetter.Write(ctx, m, reason, detail); err != nil {
		return err
	}
	if p.Metrics != nil {
		p.Metrics.DeadLettered(reason)
	}
	return nil
}

// logFirst logs the first occurrence of a kind of problem and then every
// 10,000th, so a flood of bad input cannot flood the log.
func (p *Processor) logFirst(kind, msg string, args ...any) {
	c, _ := p.counts.LoadOrStore(kind, new(atomic.Uint64))
	n := c.(*atomic.Uint64).Add(1)
	if n != 1 && n%10000 != 0 {
		return
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn(msg, append(args, "occurrences", n)...)
}
