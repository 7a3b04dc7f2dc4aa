package rule

import (
	"context"
	"errors"
	"fmt"

	"github.com/expr-lang/expr/vm"

	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/resolve"
)

// TestResult is the outcome of one rule test.
type TestResult struct {
	Rule *Rule
	Test Test
	// Err is nil when the test passed.
	Err error
}

// Normalizers returns the normalizer for a source; the rule tests decode
// their example events with it, exactly as the pipeline would.
type Normalizers func(source string) normalize.Normalizer

// DefaultNormalizers maps every known source to its normalizer: the
// pipeline's format detection, forced to the rule's source when it has one.
func DefaultNormalizers(source string) normalize.Normalizer {
	n, err := detect.New(source, normalize.Options{Raw: true})
	if err != nil {
		return nil
	}
	return n
}

// RunTests runs the tests of every single-event rule of s; correlation
// rules' tests need the correlation engine (correlate.RunTests).
func (s *Set) RunTests(norms Normalizers) []TestResult {
	if norms == nil {
		norms = DefaultNormalizers
	}
	var out []TestResult
	var m vm.VM
	for _, r := range s.Rules {
		if r.Correlation != nil {
			continue // see correlate.RunTests
		}
		for _, t := range r.Tests {
			out = append(out, TestResult{Rule: r, Test: t, Err: runTest(&m, r, t, norms)})
		}
	}
	return out
}

func runTest(m *vm.VM, r *Rule, t Test, norms Normalizers) error {
	n := norms(r.Source)
	if n == nil {
		return fmt.Errorf("no normalizer for source %q", r.Source)
	}
	evs, errs := n.Normalize(t.Event, normalize.Meta{File: t.File})
	if len(errs) > 0 {
		return fmt.Errorf("event does not normalize: %w", errors.Join(errs...))
	}
	if len(evs) == 0 {
		return errors.New("event normalizes to nothing")
	}
	// Resolution fills entity.* as the pipeline does (from the event
	// itself: one event teaches nothing about others).
	if err := resolve.New(resolve.NewMemory(100), resolve.Options{}).Resolve(context.Background(), evs); err != nil {
		return fmt.Errorf("resolving identities: %w", err)
	}
	matched := false
	var suppressed *Exception
	for _, ev := range evs {
		out, err := m.Run(r.program, ev)
		if err != nil {
			return fmt.Errorf("runtime error: %w", err)
		}
		if b, _ := out.(bool); b {
			// Tests run with the exceptions applied, the rule's own and
			// those of the tuning files loaded with it.
			if ex := r.suppressedBy(m, ev); ex != nil {
				suppressed = ex
			} else {
				matched = true
			}
		}
		if s := r.render(m, ev); s == "" {
			return errors.New("summary renders empty")
		}
	}
	if matched != t.Match {
		if suppressed != nil {
			return fmt.Errorf("expected match=%v, got %v: the condition matches but exception %q (%s:%d) suppresses it", t.Match, matched, suppressed.Name, suppressed.File, suppressed.Line)
		}
		return fmt.Errorf("expected match=%v, got %v", t.Match, matched)
	}
	return nil
}
