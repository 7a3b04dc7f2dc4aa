package rule

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr/parser"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

func TestRequiredLiterals(t *testing.T) {
	for _, c := range []struct {
		cond string
		want []string // nil: no gate
	}{
		{`message contains "a"`, []string{"a"}},
		{`message startsWith "a" || message endsWith "b"`, []string{"a", "b"}},
		{`(message contains "a" && message matches "x") || message contains "b"`, []string{"a", "b"}},
		{`message contains "a" && (message contains "b" || message contains "c")`, []string{"a"}},
		{`(message contains "b" || message contains "c") && message contains "a"`, []string{"a"}},
		{`let f = "x"; message contains "a" and message matches f`, []string{"a"}},
		{`message contains "a" || message matches "b"`, nil}, // the regex alone can match
		{`not (message contains "a")`, nil},                  // negation
		{`message contains ""`, nil},                         // always true
		{`k8s.image contains "a"`, nil},                      // another field
		{`lower(message) contains "a"`, nil},                 // not the field itself
		{`message contains "a" || action == "create"`, nil},  // one side has no literal
		{`message contains "a" && action == "create"`, []string{"a"}},
		{`"a" in message`, nil}, // not a contains operator
	} {
		tree, err := parser.Parse(c.cond)
		if err != nil {
			t.Fatalf("%s: %v", c.cond, err)
		}
		got, ok := requiredLiterals(tree.Node)
		if c.want == nil {
			if ok {
				t.Errorf("%s: gate %q, want none", c.cond, got)
			}
			continue
		}
		if !ok || !slices.Equal(got, c.want) {
			t.Errorf("%s: gate %q (%v), want %q", c.cond, got, ok, c.want)
		}
	}
}

// TestLiteralGatesChangeNothing: for every container-log rule test event,
// every line of the public container-log corpus and random lines built
// from the rules' own literals, Eval (with gates) raises exactly the
// alerts of evaluating every rule.
func TestLiteralGatesChangeNothing(t *testing.T) {
	set, err := Load([]string{"../../detections"}, Options{Root: "../.."})
	if err != nil {
		t.Fatal(err)
	}
	gated := 0
	for _, r := range set.Rules {
		if r.gate != nil {
			gated++
		}
	}
	if gated < 10 {
		t.Fatalf("only %d rules have a literal gate; the shipped container rules should", gated)
	}
	n := DefaultNormalizers(event.SourceContainerLog)
	var evs []*event.Event
	add := func(data []byte, file string) {
		out, _ := n.Normalize(data, normalize.Meta{File: file})
		evs = append(evs, out...)
	}
	for _, r := range set.Rules {
		if r.Source != event.SourceContainerLog {
			continue
		}
		for _, tc := range r.Tests {
			add(tc.Event, tc.File)
		}
	}
	shared := "../../../shared/data/public"
	if _, err := os.Stat(shared); err != nil {
		t.Logf("public corpus absent (%s): checking rule tests and random lines only", shared)
	} else {
		for _, p := range []string{"cribl-k8s-container-logs/cribl_k8s_logs.jsonl"} {
			f, err := os.Open(filepath.Join(shared, p))
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				add(append([]byte(nil), sc.Bytes()...), "")
			}
			f.Close()
		}
	}
	// Random lines mixing the literals, fragments of them and filler.
	var all []string
	for _, r := range set.Rules {
		if r.gate != nil {
			l, _ := requiredLiterals(r.program.Node())
			all = append(all, l...)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			l := all[rng.IntN(len(all))]
			switch rng.IntN(3) {
			case 0:
				l = l[:rng.IntN(len(l)+1)]
			case 1:
				l = strings.ToUpper(l)
			}
			b.WriteString(l)
			b.WriteString([]string{" ", "/", " -c ", "|", ""}[rng.IntN(5)])
		}
		evs = append(evs, &event.Event{Source: event.SourceContainerLog, Message: b.String()})
	}
	e := set.NewEvaluator()
	matched := 0
	for _, ev := range evs {
		var want []string
		for _, r := range set.bySource[ev.Source] {
			if ok, err := e.match(r, ev); err == nil && ok {
				want = append(want, r.ID)
			}
		}
		var got []string
		for _, a := range e.Eval(nil, ev) {
			got = append(got, a.Rule.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("message %q: gated evaluation raised %v, evaluating every rule %v", ev.Message, got, want)
		}
		if len(want) > 0 {
			matched++
		}
	}
	if matched < 20 {
		t.Errorf("only %d of %d events raise an alert: the comparison covers too few matches", matched, len(evs))
	}
	t.Logf("%d events (%d raising alerts), %d gated rules, %d distinct literals", len(evs), matched, gated, set.gates.n)
}
