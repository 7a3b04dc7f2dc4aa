package test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/rule"
)

// stratusExpected lists, for every Stratus Red Team detonation log
// (stratus-red-team-detonation-logs/aws.*.json), the rules that fire on it
// and how many alerts each raises. It is exact both ways: a rule missing
// from a file's entry or firing a different number of times fails the
// test, so a rule change that adds noise or loses a technique is seen.
// Counts above one are single-event signals of volume behaviour (many
// secrets, many instances): grouping and correlation handle the count.
var stratusExpected = map[string]map[string]int{
	"aws.credential-access.ec2-get-password-data.json": {"aws-ec2-password-data-retrieved": 30}, // every attempt denied
}

// stratusUncovered lists detonation files no rule can cover, with the
// reason. A listed file that some rule starts to fire on fails the test:
// move it to stratusExpected.
var stratusUncovered = map[string]string{}

// TestStratusDetonations replays every Stratus Red Team detonation log
// through the shipped rules (every source's, so a rule of another source
// firing on CloudTrail is caught too) and checks the alerts per file
// against stratusExpected. A detonation file that is in neither table
// fails the test, so new upstream techniques are noticed.
func TestStratusDetonations(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "stratus-red-team-detonation-logs")
	files, err := filepath.Glob(filepath.Join(dir, "aws.*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("corpus: no Stratus Red Team detonation logs (aws.*.json) in %s", dir)
	}
	set, err := rule.Load([]string{"../detections"}, rule.Options{Root: "..", Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	norm, err := detect.New(event.SourceCloudTrail, normalize.Options{Raw: set.UsesRaw()})
	if err != nil {
		t.Fatal(err)
	}
	ev := set.NewEvaluator()
	ev.OnError = func(r *rule.Rule, e *event.Event, err error) {
		t.Errorf("%s on %s %s: %v", r.ID, e.Action, e.ID, err)
	}

	seen := map[string]bool{}
	covered := 0
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		evs, errs := norm.Normalize(data, normalize.Meta{File: name})
		if len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
		got := map[string]int{}
		for _, e := range evs {
			for _, a := range ev.Eval(nil, e) {
				if got[a.Rule.ID] == 0 {
					t.Logf("%s: %s: %s", name, a.Rule.ID, a.Summary)
				}
				got[a.Rule.ID]++
			}
		}
		want, expected := stratusExpected[name]
		why, uncovered := stratusUncovered[name]
		switch {
		case expected && uncovered:
			t.Errorf("%s is in both stratusExpected and stratusUncovered", name)
		case uncovered:
			if len(got) > 0 {
				t.Errorf("%s is listed as uncovered (%s) but %s fire on it: move it to stratusExpected", name, why, counts(got))
			}
		case !expected:
			t.Errorf("%s: new detonation file, in neither stratusExpected nor stratusUncovered (fired: %s)", name, counts(got))
		case len(want) == 0:
			t.Errorf("%s: stratusExpected lists no rule; a file no rule covers goes to stratusUncovered with the reason", name)
		case !maps.Equal(got, want):
			t.Errorf("%s: fired %s, want %s", name, counts(got), counts(want))
		default:
			covered++
		}
	}
	for _, table := range []map[string]bool{keys(stratusExpected), keys(stratusUncovered)} {
		for name := range table {
			if !seen[name] {
				t.Errorf("%s is listed but not in %s", name, dir)
			}
		}
	}
	t.Logf("%d detonation files, %d covered as expected, %d documented as uncovered", len(files), covered, len(stratusUncovered))
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "nothing"
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", id, m[id]))
	}
	return strings.Join(parts, " ")
}

func keys[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}
