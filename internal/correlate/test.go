package correlate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/resolve"
	"github.com/vigia-dev/vigia/internal/rule"
)

// RunTests runs the tests of every correlation rule of set: each test's
// events go, in order, through format detection, identity resolution,
// every rule of the set and a fresh in-memory engine, as `vigia replay`
// would; the test passes when the rule fired (or not) as expected.
func RunTests(set *rule.Set) []rule.TestResult {
	var out []rule.TestResult
	for _, r := range set.Rules {
		if r.Correlation == nil {
			continue
		}
		for _, t := range r.Tests {
			fired, err := Replay(set, t.Events)
			if err == nil {
				got := false
				for _, a := range fired {
					if a.Rule.ID == r.ID {
						got = true
					}
				}
				if got != t.Match {
					err = fmt.Errorf("expected match=%v, got %v (%d correlation alerts: %s)", t.Match, got, len(fired), ids(fired))
				}
			}
			out = append(out, rule.TestResult{Rule: r, Test: t, Err: err})
		}
	}
	return out
}

func ids(as []*alert.Alert) string {
	s := ""
	for i, a := range as {
		if i > 0 {
			s += ", "
		}
		s += a.Rule.ID
	}
	if s == "" {
		return "none"
	}
	return s
}

// Replay runs messages through detection, resolution, the rules of set and
// a fresh in-memory correlation engine, and returns the correlation
// alerts raised.
func Replay(set *rule.Set, msgs [][]byte) ([]*alert.Alert, error) {
	ctx := context.Background()
	norm, err := detect.New(detect.Auto, normalize.Options{Raw: true})
	if err != nil {
		return nil, err
	}
	res := resolve.New(resolve.NewMemory(10000), resolve.Options{})
	eng := New(set, NewMemory(0), Options{Lateness: 24 * time.Hour})
	ev := set.NewEvaluator()
	var fired []*alert.Alert
	for i, msg := range msgs {
		evs, errs := norm.Normalize(msg, normalize.Meta{})
		if len(errs) > 0 {
			return nil, fmt.Errorf("event %d does not normalize: %w", i+1, errors.Join(errs...))
		}
		if len(evs) == 0 {
			return nil, fmt.Errorf("event %d normalizes to nothing", i+1)
		}
		if err := res.Resolve(ctx, evs); err != nil {
			return nil, err
		}
		eng.Observe(evs)
		var matches []Match
		for _, e := range evs {
			for _, a := range ev.Eval(nil, e) {
				matches = append(matches, Match{Rule: set.Rule(a.Rule.ID), Alert: a, Event: e})
			}
		}
		as, err := eng.Process(ctx, matches)
		if err != nil {
			return nil, err
		}
		fired = append(fired, as...)
	}
	return fired, nil
}
