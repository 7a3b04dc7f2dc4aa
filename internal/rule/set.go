package rule

import (
	"sync/atomic"

	"github.com/expr-lang/expr/vm"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Set is a loaded, compiled rule set. It is safe for concurrent use; each
// goroutine evaluates through its own Evaluator.
type Set struct {
	Rules []*Rule
	// Books holds the runbooks the rules reference.
	Books *runbook.Library

	tuning   *tuning            // the lists and macros the rules were compiled with
	bySource map[string][]*Rule // enabled rules per source, "" for any-source rules
	// prefilter indexes bySource per source by the fields conditions
	// require (prefilter.go); the last holds the any-source rules alone.
	prefilter []*prefilter
	byID      map[string]*Rule
	stats     []ruleStats  // parallel to Rules; Rule.pos indexes it
	gates     *literalGate // literal gates of the rules that have one (literals.go)
}

type ruleStats struct {
	evals, matches, errors, suppressed atomic.Uint64
}

// Stats are a rule's counters since load.
type Stats struct {
	// Evaluations counts the times the condition ran. An event the
	// prefilter index rules out (its action, target.type,
	// target.subresource or outcome is not one the condition requires),
	// or whose message has none of the rule's gate literals, does not run
	// it and is not counted.
	Evaluations, Matches, Errors uint64
	// Suppressed counts conditions that matched but an exception
	// suppressed; they are not in Matches.
	Suppressed uint64
}

func (s *Set) index() {
	s.bySource = map[string][]*Rule{}
	s.byID = make(map[string]*Rule, len(s.Rules))
	s.stats = make([]ruleStats, len(s.Rules))
	for i, r := range s.Rules {
		r.pos = i
		s.byID[r.ID] = r
		if !r.Disabled && r.Correlation == nil {
			s.bySource[r.Source] = append(s.bySource[r.Source], r)
		}
	}
	s.buildPrefilter()
	s.gates = buildGates(s.Rules)
}

// Stats returns the counters of rule i of s.Rules.
func (s *Set) Stats(i int) Stats {
	st := &s.stats[i]
	return Stats{Evaluations: st.evals.Load(), Matches: st.matches.Load(), Errors: st.errors.Load(), Suppressed: st.suppressed.Load()}
}

// List returns the items of a named list after every tuning file, and
// whether it is defined.
func (s *Set) List(name string) ([]any, bool) {
	if s.tuning == nil || s.tuning.lists[name] == nil {
		return nil, false
	}
	return s.tuning.lists[name].items, true
}

// Rule returns the rule with the given id, or nil.
func (s *Set) Rule(id string) *Rule {
	if s.byID != nil {
		return s.byID[id]
	}
	for _, r := range s.Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// Evaluator evaluates a Set's rules; one per goroutine.
type Evaluator struct {
	set  *Set
	vm   vm.VM
	hits gateHits
	// OnError is called for each rule that fails at runtime (a nil
	// access, a type mismatch). The rule is counted and skipped; the
	// others still run. May be nil.
	OnError func(r *Rule, ev *event.Event, err error)
	// NoPrefilter runs every enabled rule of the event's source, without
	// the prefilter index (literal gates still apply): the alerts are the
	// same, only slower. For tests and benchmarks.
	NoPrefilter bool
}

// MemoryBudget bounds what one rule evaluation may allocate, in expr's
// units (roughly one per element of a range, array, map, sorted list or
// repeated string). A condition that needs more — map(1..1000000, …),
// nested loops over ranges — fails with "memory budget exceeded", is
// counted as an error of that rule, and the other rules still run.
// Together with the node limit at compile time (MaxNodes) it keeps one
// pathological rule from stalling the pipeline.
const MemoryBudget = 1_000_000

// NewEvaluator returns an evaluator over s.
func (s *Set) NewEvaluator() *Evaluator {
	e := &Evaluator{set: s}
	e.vm.MemoryBudget = MemoryBudget
	return e
}

// Set returns the rule set e evaluates.
func (e *Evaluator) Set() *Set { return e.set }

// Eval evaluates every enabled rule for ev's source and returns an alert
// per match, appended to dst. Rules that could not match are skipped:
// those the prefilter index rules out for ev's action, target.type,
// target.subresource or outcome (prefilter.go), and those whose literal
// gate finds none of its literals in ev's message (literals.go).
func (e *Evaluator) Eval(dst []*alert.Alert, ev *event.Event) []*alert.Alert {
	e.hits.reset()
	if e.NoPrefilter || e.set.prefilter == nil {
		for _, group := range [2][]*Rule{e.set.bySource[ev.Source], e.set.bySource[""]} {
			for _, r := range group {
				dst = e.eval(dst, r, ev)
			}
		}
		return dst
	}
	for _, r := range e.set.prefilterFor(ev.Source).candidates(ev) {
		if r.pre.admits(ev) {
			dst = e.eval(dst, r, ev)
		}
	}
	return dst
}

// eval evaluates r on ev and appends an alert if it matches.
func (e *Evaluator) eval(dst []*alert.Alert, r *Rule, ev *event.Event) []*alert.Alert {
	if r.gate != nil && !e.hits.open(e.set.gates, r, ev.Message) {
		return dst // cannot match: none of its literals is in the message
	}
	matched, err := e.match(r, ev)
	if err != nil {
		if e.OnError != nil {
			e.OnError(r, ev, err)
		}
		return dst
	}
	if matched {
		dst = append(dst, e.alert(r, ev))
	}
	return dst
}

func (e *Evaluator) match(r *Rule, ev *event.Event) (bool, error) {
	st := &e.set.stats[r.pos]
	st.evals.Add(1)
	out, err := e.vm.Run(r.program, ev)
	if err != nil {
		st.errors.Add(1)
		return false, err
	}
	if b, _ := out.(bool); b {
		if r.suppressedBy(&e.vm, ev) != nil {
			st.suppressed.Add(1)
			return false, nil
		}
		st.matches.Add(1)
		return true, nil
	}
	return false, nil
}

func (e *Evaluator) alert(r *Rule, ev *event.Event) *alert.Alert {
	if r.SignalOnly {
		return alert.Signal(r.meta, ev) // never routed: no summary to render
	}
	rb := alert.Runbook{Path: r.Runbook}
	if book := e.set.Books.Get(r.Runbook); book != nil {
		rb.Title = book.Title
	}
	return alert.FromEvent(r.meta, r.render(&e.vm, ev), rb, ev)
}
