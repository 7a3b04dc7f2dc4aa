package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigia-dev/vigia/internal/alert"
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
	Resolver   Resolver
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

	live   atomic.Pointer[liveRules] // set by SetRules; nil: the fields above
	evals  sync.Pool
	counts sync.Map // kind -> *atomic.Uint64
}

// liveRules is a rule set with the normalizers built for it, swapped as one.
type liveRules struct {
	set         *rule.Set
	normalizers map[string]normalize.Normalizer
	def         normalize.Normalizer
}

// SetRules makes s the rule set of every message handled from now on;
// messages in flight finish with the set they started with. With
// NewNormalizers set, the normalizers are rebuilt for s first, and an
// error there leaves the current set in place. SetRules is the one place
// a rule set changes: state derived from the rules hooks in here.
func (p *Processor) SetRules(s *rule.Set) error {
	lv := &liveRules{set: s, normalizers: p.Normalizers, def: p.Default}
	if cur := p.live.Load(); cur != nil {
		lv.normalizers, lv.def = cur.normalizers, cur.def
	}
	if p.NewNormalizers != nil {
		byTopic, def, err := p.NewNormalizers(s)
		if err != nil {
			return err
		}
		lv.normalizers, lv.def = byTopic, def
	}
	p.live.Store(lv)
	return nil
}

// RuleSet returns the current rule set.
func (p *Processor) RuleSet() *rule.Set {
	if lv := p.live.Load(); lv != nil {
		return lv.set
	}
	return p.Rules
}

// current returns the rule set and normalizers to handle one message with.
func (p *Processor) current() liveRules {
	if lv := p.live.Load(); lv != nil {
		return *lv
	}
	return liveRules{set: p.Rules, normalizers: p.Normalizers, def: p.Default}
}

// Reasons for dead letters beyond normalize.Reason's.
const ReasonOversized = "oversized"

// Process normalizes data, resolves identities and pods, and evaluates
// the rules. It returns the alerts, the number of events, and an error per
// part that failed to normalize.
func (p *Processor) Process(ctx context.Context, n normalize.Normalizer, data []byte, meta normalize.Meta) ([]*alert.Alert, int, []error) {
	return p.process(ctx, p.RuleSet(), n, data, meta)
}

func (p *Processor) process(ctx context.Context, set *rule.Set, n normalize.Normalizer, data []byte, meta normalize.Meta) ([]*alert.Alert, int, []error) {
	evs, errs := n.Normalize(data, meta)
	alerts, _ := p.evaluate(ctx, set, evs)
	if p.Metrics != nil {
		for _, err := range errs {
			p.Metrics.Failed(n.Source(), normalize.Reason(err))
		}
	}
	return alerts, len(evs), errs
}

// Flush evaluates the events normalizers held back waiting for the rest of
// a split log line, now that input ends, and routes their alerts.
func (p *Processor) Flush(ctx context.Context) error {
	alerts, n := p.evaluate(ctx, p.RuleSet(), detect.Flush())
	if n == 0 || len(alerts) == 0 || p.Router == nil {
		return nil
	}
	return p.Router.Route(ctx, alerts)
}

// FlushAlerts is Flush for callers without a router (vigia replay).
func (p *Processor) FlushAlerts(ctx context.Context) ([]*alert.Alert, int) {
	return p.evaluate(ctx, p.RuleSet(), detect.Flush())
}

// evaluate resolves and evaluates events.
func (p *Processor) evaluate(ctx context.Context, set *rule.Set, evs []*event.Event) ([]*alert.Alert, int) {
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
	if len(evs) == 0 {
		return nil, 0
	}
	if p.Resolver != nil {
		if err := p.Resolver.Resolve(ctx, evs); err != nil {
			// Resolution enriches; it must not stall detection. Events
			// go on with what they carry themselves.
			p.logFirst("resolve_error", "identity and pod resolution failed; events evaluated without resolved entities (logged once per 10,000)", "err", err)
		}
	}
	e := p.evaluator(set)
	defer p.evals.Put(e)
	_, span := telemetry.StartRules(ctx, p.Tracer, len(evs), len(set.Rules))
	var alerts []*alert.Alert
	for _, ev := range evs {
		alerts = e.Eval(alerts, ev)
	}
	telemetry.EndRules(span, len(alerts))
	return alerts, len(evs)
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
	n := lv.normalizers[m.Topic]
	if n == nil {
		n = lv.def
	}
	ctx, span := telemetry.StartMessage(ctx, p.Tracer, m, n.Source())
	defer func() { telemetry.EndSpan(span, err) }()
	if p.Metrics != nil {
		p.Metrics.Consumed(m.Topic, n.Source())
	}
	if p.MaxMessageBytes > 0 && len(m.Value) > p.MaxMessageBytes {
		if p.Metrics != nil {
			p.Metrics.Failed(n.Source(), ReasonOversized)
		}
		return p.deadLetter(ctx, m, ReasonOversized, fmt.Sprintf("message of %d bytes exceeds max_message_bytes %d", len(m.Value), p.MaxMessageBytes))
	}
	alerts, nev, errs := p.process(ctx, lv.set, n, m.Value, normalize.Meta{Topic: m.Topic})
	telemetry.MessageCounts(span, nev, len(alerts))
	if len(errs) > 0 {
		reason := normalize.Reason(errs[0])
		if err := p.deadLetter(ctx, m, reason, errors.Join(errs...).Error()); err != nil {
			return err
		}
	}
	if len(alerts) == 0 {
		return nil
	}
	return p.Router.Route(ctx, alerts)
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
