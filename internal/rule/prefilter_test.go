package rule

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/expr-lang/expr/vm"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/replay"
	"github.com/vigia-dev/vigia/internal/resolve"
	"github.com/vigia-dev/vigia/internal/runbook"
)

func TestConstraints(t *testing.T) {
	tn := &tuning{
		lists: map[string]*listDef{
			"write_verbs": {name: "write_verbs", items: []any{"create", "update", "patch"}},
			"mixed":       {name: "mixed", items: []any{"get", 1}},
		},
		macros: map[string]*macroDef{
			"is_exec":  {name: "is_exec", expr: `target.type == "pods" && target.subresource in ["exec", "attach"]`},
			"is_write": {name: "is_write", expr: `action in write_verbs`},
		},
	}
	type c = map[string][]string
	for _, tc := range []struct {
		cond string
		want c
	}{
		{`action == "get"`, c{"action": {"get"}}},
		{`"get" == action`, c{"action": {"get"}}},
		{`action in ["list", "get", "list"]`, c{"action": {"get", "list"}}},
		{`target.type == "pods"`, c{"target.type": {"pods"}}},
		{`target["type"] == "pods"`, c{"target.type": {"pods"}}},
		{`target.subresource == "" and outcome == "success"`, c{"target.subresource": {""}, "outcome": {"success"}}},
		{`action in ["get", "list"] && actor.name == "eve" && target.type in ["secrets"]`, c{"action": {"get", "list"}, "target.type": {"secrets"}}},
		// parentheses and nesting inside the conjunction
		{`(target.type == "pods" && (actor.name != "x" && (action == "create"))) && (target.subresource in ["exec"])`,
			c{"action": {"create"}, "target.type": {"pods"}, "target.subresource": {"exec"}}},
		// two constraints on one field intersect; disjoint ones never match
		{`action in ["get", "list"] && action in ["list", "watch"]`, c{"action": {"list"}}},
		{`action == "get" && action == "list"`, c{"action": {}}},
		{`action in []`, c{"action": {}}},
		// || keeps a field only when both sides constrain it, to the union
		{`action == "get" || target.type == "pods"`, c{}},
		{`action == "get" || action in ["list", "get"]`, c{"action": {"get", "list"}}},
		{`outcome == "success" && (action == "get" && actor.name == "x" || action == "list" && target.type == "pods")`,
			c{"outcome": {"success"}, "action": {"get", "list"}}},
		{`action == "get" || actor.name == "x"`, c{}},
		// terms that constrain nothing
		{`not (action == "get")`, c{}},
		{`!(action == "get")`, c{}},
		{`action != "get"`, c{}},
		{`action not in ["get"]`, c{}},
		{`lower(action) == "get"`, c{}},
		{`action startsWith "get"`, c{}},
		{`action matches "^get$"`, c{}},
		{`action == target.type`, c{}},
		{`action == actor.name && actor.name == "get"`, c{}},
		{`target?.type == "pods"`, c{}},
		{`action in mixed`, c{}},                 // a list with a non-string item
		{`action in ["get", nil]`, c{}},          // non-string literal
		{`k8s.response_code in [401, 403]`, c{}}, // not an indexed field
		{`action == "get" ? true : false`, c{}},  // a conditional
		{`any(["get"], # == action)`, c{}},       // a predicate
		{`actor.type == "user"`, c{}},            // type of another object
		{`len(action) > 0 && action == "get"`, c{"action": {"get"}}},
		// tuning lists and macros are patched in before the analysis
		{`action in write_verbs`, c{"action": {"create", "patch", "update"}}},
		{`is_write && is_exec`, c{"action": {"create", "patch", "update"}, "target.type": {"pods"}, "target.subresource": {"attach", "exec"}}},
		{`not is_exec`, c{}},
		// let: the body counts (expr refuses a name that hides a field)
		{`let t = target.type; t == "pods" && action == "get"`, c{"action": {"get"}}},
		{`let t = target.type; t == "pods"`, c{}},
	} {
		t.Run(tc.cond, func(t *testing.T) {
			r := &Rule{ID: "r", Title: "t", Condition: tc.cond}
			if err := r.compile(tn); err != nil {
				t.Fatal(err)
			}
			if got := r.Constraints(); !reflect.DeepEqual(got, map[string][]string(tc.want)) {
				t.Errorf("constraints %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzConstraints: for any condition and any values of the indexed
// fields, an event the constraints rule out never makes the condition
// true.
func FuzzConstraints(f *testing.F) {
	f.Add(`action in ["get", "list"] && target.type == "pods"`, "get", "pods", "", "success")
	f.Add(`action == "get" || action in ["list"] && target.subresource == ""`, "list", "pods", "exec", "")
	f.Add(`(outcome == "success" || outcome == "unknown") && "pods" == target.type`, "x", "pods", "", "unknown")
	f.Add(`let v = action; v == "get" && action in ["get"]`, "GET", "", "", "")
	f.Add(`not (action == "get") and target.type in ["a", "b"] and target.type in ["b"]`, "get", "b", "", "")
	f.Fuzz(func(t *testing.T, cond, action, typ, sub, outcome string) {
		r := &Rule{ID: "r", Title: "t", Condition: cond}
		if r.compile(nil) != nil {
			return
		}
		ev := &event.Event{Action: action, Outcome: outcome, Target: event.Target{Type: typ, Subresource: sub}}
		if (!r.pre.has(fieldAction) || slices.Contains(r.pre.values[fieldAction], action)) && r.pre.admits(ev) {
			return
		}
		m := vm.VM{MemoryBudget: MemoryBudget}
		if out, err := m.Run(r.program, ev); err == nil && out == true {
			t.Fatalf("%q is true for action %q, target %q/%q, outcome %q, which its constraints %q rule out",
				cond, action, typ, sub, outcome, r.Constraints())
		}
	})
}

// TestPrefilterOrder: the index keeps the order of alerts (the event's
// source's rules, then the any-source rules, each in load order) and
// skips exactly the rules whose constraints fail.
func TestPrefilterOrder(t *testing.T) {
	mk := func(id, source, cond string) *Rule {
		r := &Rule{ID: id, Title: id, Severity: "low", Source: source, Condition: cond}
		if err := r.compile(nil); err != nil {
			t.Fatal(err)
		}
		return r
	}
	s := &Set{Books: runbook.NewLibrary(), Rules: []*Rule{
		mk("any-get", "", `action == "get"`),
		mk("k8s-get-pods", "k8s_audit", `action == "get" && target.type == "pods"`),
		mk("k8s-all", "k8s_audit", `true`),
		mk("any-all", "", `actor.name != ""`),
		mk("k8s-list", "k8s_audit", `action in ["list"]`),
		mk("k8s-get-or-list-secrets", "k8s_audit", `action in ["get", "list"] && target.type == "secrets" && outcome == "success"`),
		mk("aws-get", "aws_cloudtrail", `action == "get"`),
		mk("k8s-never", "k8s_audit", `action == "get" && action == "list"`),
		mk("k8s-exec", "k8s_audit", `target.subresource == "exec"`),
	}}
	s.index()
	for _, tc := range []struct {
		source, action, typ, sub, outcome string
		want                              []string
	}{
		{"k8s_audit", "get", "pods", "", "success", []string{"k8s-get-pods", "k8s-all", "any-get", "any-all"}},
		{"k8s_audit", "get", "secrets", "", "success", []string{"k8s-all", "k8s-get-or-list-secrets", "any-get", "any-all"}},
		{"k8s_audit", "get", "secrets", "", "failure", []string{"k8s-all", "any-get", "any-all"}},
		{"k8s_audit", "list", "secrets", "", "success", []string{"k8s-all", "k8s-list", "k8s-get-or-list-secrets", "any-all"}},
		{"k8s_audit", "create", "pods", "exec", "success", []string{"k8s-all", "k8s-exec", "any-all"}},
		{"k8s_audit", "GET", "pods", "", "success", []string{"k8s-all", "any-all"}},
		{"aws_cloudtrail", "get", "", "", "success", []string{"aws-get", "any-get", "any-all"}},
		{"gcp_audit", "get", "", "", "success", []string{"any-get", "any-all"}},
		{"gcp_audit", "set", "", "", "success", []string{"any-all"}},
	} {
		ev := &event.Event{Source: tc.source, Action: tc.action, Outcome: tc.outcome, Actor: event.Actor{Name: "eve"},
			Target: event.Target{Type: tc.typ, Subresource: tc.sub}}
		on, off := s.NewEvaluator(), s.NewEvaluator()
		off.NoPrefilter = true
		got, full := alertRuleIDs(on, ev), alertRuleIDs(off, ev)
		if !slices.Equal(got, tc.want) || !slices.Equal(full, tc.want) {
			t.Errorf("%s %s %s/%s %s: alerts %v with the index, %v without; want %v", tc.source, tc.action, tc.typ, tc.sub, tc.outcome, got, full, tc.want)
		}
	}
	if got := s.Unindexed(); len(got) != 2 || got[0].ID != "k8s-all" || got[1].ID != "any-all" {
		t.Errorf("Unindexed: %v", ruleIDs(got))
	}
	// Skipped rules are not evaluated.
	before := s.Stats(s.Rule("k8s-get-pods").pos).Evaluations
	s.NewEvaluator().Eval(nil, &event.Event{Source: "k8s_audit", Action: "list", Target: event.Target{Type: "pods"}})
	if after := s.Stats(s.Rule("k8s-get-pods").pos).Evaluations; after != before {
		t.Errorf("a rule the index skips counted %d evaluations", after-before)
	}
}

func alertRuleIDs(e *Evaluator, ev *event.Event) []string {
	var ids []string
	for _, a := range e.Eval(nil, ev) {
		ids = append(ids, a.Rule.ID)
	}
	return ids
}

func ruleIDs(rs []*Rule) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

// shipped loads the shipped rule library once per test binary.
var shipped = sync.OnceValues(func() (*Set, error) {
	return Load([]string{"../../detections"}, Options{Root: "../.."})
})

func shippedSet(tb testing.TB) *Set {
	tb.Helper()
	s, err := shipped()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// ruleTestEvents returns the normalized, resolved events of every test of
// every rule of s, correlation rules' included.
func ruleTestEvents(tb testing.TB, s *Set) []*event.Event {
	tb.Helper()
	res := resolve.New(resolve.NewMemory(100_000), resolve.Options{})
	var out []*event.Event
	for _, r := range s.Rules {
		n := DefaultNormalizers(r.Source)
		if n == nil {
			tb.Fatalf("%s: no normalizer for source %q", r.ID, r.Source)
		}
		for _, tc := range r.Tests {
			for _, msg := range append([][]byte{tc.Event}, tc.Events...) {
				if msg == nil {
					continue
				}
				evs, _ := n.Normalize(msg, normalize.Meta{File: tc.File})
				if err := res.Resolve(context.Background(), evs); err != nil {
					tb.Fatal(err)
				}
				out = append(out, evs...)
			}
		}
	}
	if len(out) < 100 {
		tb.Fatalf("only %d events in the rules' tests", len(out))
	}
	return out
}

// corpusEvents returns every event of the public corpus, normalized with
// format detection and resolved in file order; it skips tb without it.
func corpusEvents(tb testing.TB) []*event.Event {
	tb.Helper()
	dir := corpus.Dir(tb)
	norm, err := detect.New(detect.Auto, normalize.Options{Raw: true})
	if err != nil {
		tb.Fatal(err)
	}
	res := resolve.New(resolve.NewMemory(1_000_000), resolve.Options{})
	var out []*event.Event
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return replay.Read(path, func(rec replay.Record) error {
			if rec.Err != nil {
				return nil
			}
			evs, _ := norm.Normalize(rec.Data, normalize.Meta{File: rec.File})
			if err := res.Resolve(context.Background(), evs); err != nil {
				return err
			}
			out = append(out, evs...)
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(out) < 1000 {
		tb.Fatalf("only %d events in the corpus at %s", len(out), dir)
	}
	return out
}

// checkSame fails t when ev raises different alerts, or alerts in another
// order, with the index and without.
func checkSame(t *testing.T, on, off *Evaluator, ev *event.Event, what string) bool {
	t.Helper()
	got, want := alertRuleIDs(on, ev), alertRuleIDs(off, ev)
	if !slices.Equal(got, want) {
		t.Errorf("%s: %s event %s (action %q, target %q/%q, outcome %q): alerts %v with the index, %v without",
			what, ev.Source, ev.ID, ev.Action, ev.Target.Type, ev.Target.Subresource, ev.Outcome, got, want)
		return false
	}
	return true
}

// TestPrefilterEquivalence: with the shipped rules, every event of the
// rules' own tests and of the public corpus raises exactly the alerts, in
// the same order, with the index as without it.
func TestPrefilterEquivalence(t *testing.T) {
	s := shippedSet(t)
	on, off := s.NewEvaluator(), s.NewEvaluator()
	off.NoPrefilter = true
	check := func(t *testing.T, evs []*event.Event, what string) {
		alerts, bad := 0, 0
		for _, ev := range evs {
			alerts += len(alertRuleIDs(off, ev))
			if !checkSame(t, on, off, ev, what) {
				if bad++; bad > 20 {
					t.Fatal("too many differences")
				}
			}
		}
		t.Logf("%d events, %d alerts", len(evs), alerts)
		if alerts == 0 {
			t.Errorf("%s: no alert at all: the comparison proves nothing", what)
		}
	}
	t.Run("rule-tests", func(t *testing.T) { check(t, ruleTestEvents(t, s), "rule test") })
	t.Run("corpus", func(t *testing.T) { check(t, corpusEvents(t), "corpus") })
}

// TestPrefilterRandom mutates the indexed fields of the rules' test events
// to values the rules name (and a few they do not) and checks the index
// changes no alert.
func TestPrefilterRandom(t *testing.T) {
	s := shippedSet(t)
	evs := ruleTestEvents(t, s)
	var pools [numFields][]string
	for _, r := range s.Rules {
		for f := range numFields {
			pools[f] = append(pools[f], r.pre.values[f]...)
		}
	}
	for _, ev := range evs {
		pools[fieldAction] = append(pools[fieldAction], ev.Action)
		pools[fieldType] = append(pools[fieldType], ev.Target.Type)
		pools[fieldSubresource] = append(pools[fieldSubresource], ev.Target.Subresource)
		pools[fieldOutcome] = append(pools[fieldOutcome], ev.Outcome)
	}
	for f := range numFields {
		pools[f] = append(slices.Compact(slices.Sorted(slices.Values(pools[f]))), "", "x-unknown", "GET")
		if len(pools[f]) < 5 {
			t.Fatalf("%s: only %d values to draw from", fieldNames[f], len(pools[f]))
		}
	}
	sources := slices.Sorted(maps.Keys(s.bySource))
	seed := uint64(20240601)
	rng := rand.New(rand.NewPCG(seed, seed))
	on, off := s.NewEvaluator(), s.NewEvaluator()
	off.NoPrefilter = true
	pick := func(f int) string { return pools[f][rng.IntN(len(pools[f]))] }
	const rounds = 20_000
	alerts, bad := 0, 0
	for i := range rounds {
		ev := *evs[rng.IntN(len(evs))]
		// Each field keeps its value or takes a drawn one; drawing all four
		// at once would rarely make a matching combination.
		if rng.IntN(2) == 0 {
			ev.Action = pick(fieldAction)
		}
		if rng.IntN(2) == 0 {
			ev.Target.Type = pick(fieldType)
		}
		if rng.IntN(3) == 0 {
			ev.Target.Subresource = pick(fieldSubresource)
		}
		if rng.IntN(3) == 0 {
			ev.Outcome = pick(fieldOutcome)
		}
		if rng.IntN(20) == 0 {
			ev.Source = sources[rng.IntN(len(sources))]
		}
		alerts += len(alertRuleIDs(off, &ev))
		if !checkSame(t, on, off, &ev, fmt.Sprintf("round %d (seed %d)", i, seed)) {
			if bad++; bad > 20 {
				t.Fatal("too many differences")
			}
		}
	}
	t.Logf("%d mutated events, %d alerts", rounds, alerts)
	if alerts < rounds/20 {
		t.Errorf("only %d alerts in %d rounds: the mutations rarely make a match", alerts, rounds)
	}
}

// TestShippedRulesIndexed keeps the shipped library indexable: most
// Kubernetes rules name their verb or resource, so an ordinary get, list
// or watch runs only a few of them.
func TestShippedRulesIndexed(t *testing.T) {
	s := shippedSet(t)
	k8s := s.prefilterFor(event.SourceK8sAudit)
	all := len(s.bySource[event.SourceK8sAudit]) + len(s.bySource[""])
	for _, verb := range []string{"get", "list", "watch"} {
		n := 0
		ev := &event.Event{Action: verb, Outcome: "success", Target: event.Target{Type: "configmaps"}}
		for _, r := range k8s.candidates(ev) {
			if r.pre.admits(ev) {
				n++
			}
		}
		if n*4 > all {
			t.Errorf("%s configmaps: %d of %d Kubernetes rules are candidates", verb, n, all)
		}
	}
	var names []string
	for _, r := range s.Unindexed() {
		names = append(names, r.ID)
	}
	t.Logf("%d of %d rules unindexed: %s", len(names), len(s.Rules), strings.Join(names, " "))
}

// BenchmarkEval evaluates the shipped library over event mixes, one event
// per op, with the prefilter index on and off; rules/event is how many
// conditions run per event on average, cpu-ns/event the process's CPU time
// (steadier than ns/op on a shared machine). The mixes: every event of the
// rules' tests and of the public corpus (when present), most of them
// attacks; the quiet ones among them (no alert: most of a real stream,
// and the alerts' own cost — redaction, the summary — is the same either
// way); and the quiet Kubernetes get, list and watch requests, the bulk
// of an audit log.
//
//	GOMAXPROCS=1 go test -run='^$' -bench=Eval -count 5 ./internal/rule/
func BenchmarkEval(b *testing.B) {
	s := shippedSet(b)
	all := ruleTestEvents(b, s)
	if dir := corpusDir(); dir != "" {
		all = append(all, corpusEvents(b)...)
	} else {
		b.Log("corpus: public sample logs not found; the mixes hold the rules' test events only")
	}
	full := s.NewEvaluator()
	full.NoPrefilter = true
	var quiet, reads []*event.Event
	for _, ev := range all {
		if len(full.Eval(nil, ev)) > 0 {
			continue
		}
		quiet = append(quiet, ev)
		if ev.Source == event.SourceK8sAudit && slices.Contains([]string{"get", "list", "watch"}, ev.Action) {
			reads = append(reads, ev)
		}
	}
	mixes := []struct {
		name string
		evs  []*event.Event
	}{{"all", all}, {"quiet", quiet}, {"k8s-quiet-reads", reads}}
	for _, mix := range mixes {
		b.Logf("events=%s: %d events", mix.name, len(mix.evs))
		for _, index := range []bool{true, false} {
			b.Run(fmt.Sprintf("events=%s/index=%s", mix.name, map[bool]string{true: "on", false: "off"}[index]), func(b *testing.B) {
				if len(mix.evs) == 0 {
					b.Skip("no events")
				}
				e := s.NewEvaluator()
				e.NoPrefilter = !index
				evals := func() (n uint64) {
					for i := range s.Rules {
						n += s.Stats(i).Evaluations
					}
					return n
				}
				start := evals()
				var dst []*alert.Alert
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuTime()
				for i := 0; i < b.N; i++ {
					dst = e.Eval(dst[:0], mix.evs[i%len(mix.evs)])
				}
				cpu1 := cpuTime()
				b.StopTimer()
				b.ReportMetric(float64(evals()-start)/float64(b.N), "rules/event")
				if cpu1 > 0 {
					b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/event")
				}
			})
		}
	}
}

// corpusDir returns the public corpus's directory, or "" without it.
func corpusDir() string {
	if d := os.Getenv("VIGIA_CORPUS"); d != "" {
		return d
	}
	root, err := corpus.ModuleRoot()
	if err != nil {
		return ""
	}
	d := filepath.Join(root, "..", "shared", "data", "public")
	if _, err := os.Stat(d); err != nil {
		return ""
	}
	return d
}
