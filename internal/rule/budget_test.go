package rule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/event"
)

// writeRules writes one rule file per condition into a temp directory and
// returns it. The runbook path is relative to the package directory (the
// loader's Root in these tests).
func writeRules(t *testing.T, conds map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for id, cond := range conds {
		y := "id: " + id + "\ntitle: " + id + "\ndescription: d\nseverity: low\ntags: [attack.t1609]\nsource: k8s_audit\n" +
			"condition: '" + strings.ReplaceAll(cond, "'", "''") + "'\nrunbook: testdata/runbooks/rb.md\n"
		if err := os.WriteFile(filepath.Join(dir, id+".yaml"), []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPathologicalRulesFailInsteadOfHanging: rules that would allocate or
// loop without bound stop at the memory budget with an error counted for
// that rule, and the well-behaved rule in the same set still fires.
func TestPathologicalRulesFailInsteadOfHanging(t *testing.T) {
	bad := map[string]string{
		"huge-map":     `len(map(1..1000000, # * 2)) > 0`,
		"nested-loops": `any(1..5000, {any(1..5000, {# < 0})})`,
		"big-repeat":   `len(repeat(action, 999999)) > 0`,
		"sort-range":   `len(sort(1..2000000)) > 0`,
	}
	conds := map[string]string{"fine": `action == "create"`}
	for id, c := range bad {
		conds[id] = c
	}
	set, err := Load([]string{writeRules(t, conds)}, Options{Root: "."})
	if err != nil {
		t.Fatal(err)
	}
	e := set.NewEvaluator()
	failed := map[string]string{}
	e.OnError = func(r *Rule, _ *event.Event, err error) { failed[r.ID] = err.Error() }
	ev := &event.Event{Source: event.SourceK8sAudit, Action: "create"}
	alerts := e.Eval(nil, ev)
	if len(alerts) != 1 || alerts[0].Rule.ID != "fine" {
		t.Fatalf("alerts %v, want exactly the rule 'fine'", alerts)
	}
	for id := range bad {
		msg, ok := failed[id]
		if !ok {
			t.Errorf("rule %s did not fail", id)
			continue
		}
		if !strings.Contains(msg, "memory budget exceeded") {
			t.Errorf("rule %s: error %q, want the memory budget", id, msg)
		}
		i := set.index0(id)
		if s := set.Stats(i); s.Errors != 1 || s.Evaluations != 1 || s.Matches != 0 {
			t.Errorf("rule %s stats %+v, want 1 evaluation and 1 error", id, s)
		}
	}
	// The evaluator is reusable after a budget failure: the budget is
	// per evaluation, not per evaluator.
	if again := e.Eval(nil, ev); len(again) != 1 {
		t.Fatalf("second evaluation: %d alerts", len(again))
	}
}

// TestHugeConditionRejectedAtLoad: MaxNodes stops an oversized condition
// at load, with the rule's file and line.
func TestHugeConditionRejectedAtLoad(t *testing.T) {
	cond := strings.Repeat(`action == "x" || `, MaxNodes/3) + `false`
	dir := writeRules(t, map[string]string{"huge": cond})
	_, err := Load([]string{dir}, Options{Root: "."})
	if err == nil {
		t.Fatal("a condition over MaxNodes loaded")
	}
	if msg := err.Error(); !strings.Contains(msg, "huge.yaml:") || !strings.Contains(msg, "exceeds maximum allowed nodes") {
		t.Fatalf("error %q lacks the file, line or reason", msg)
	}
}

func (s *Set) index0(id string) int {
	for i, r := range s.Rules {
		if r.ID == id {
			return i
		}
	}
	return -1
}
