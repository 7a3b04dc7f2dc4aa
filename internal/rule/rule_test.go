package rule

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
)

func load(t *testing.T, path string, strict bool) (*Set, error) {
	t.Helper()
	return Load([]string{path}, Options{Root: ".", Strict: strict})
}

func TestLoadReportsEveryBrokenRuleWithFileAndLine(t *testing.T) {
	_, err := load(t, "testdata/broken", false)
	var les LoadErrors
	if !errors.As(err, &les) {
		t.Fatalf("want LoadErrors, got %v", err)
	}
	msg := les.Error()
	for _, want := range []string{
		"testdata/broken/broken.yaml:8: field condition_typo not found in a rule",
		"testdata/broken/broken.yaml:18: rule typo-in-condition: condition: type event.Actor has no field nmae",
		"testdata/broken/broken.yaml:21: rule Bad_ID: id: \"Bad_ID\"",
		"title: is required",
		"severity: \"urgent\" is not one of",
		"tags: \"attack.t99\"",
		"tags: \"attack.sleeping\"",
		"runbook: open testdata/runbooks/missing.md",
		"summary: placeholder {actor.nope}",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
	// "1 + 1" is not a bool condition.
	if !strings.Contains(msg, "broken.yaml:26: rule Bad_ID: condition: expected bool") {
		t.Errorf("non-bool condition not reported at its line:\n%s", msg)
	}
}

func TestRulesTestsAndEval(t *testing.T) {
	set, err := load(t, "testdata/good", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range set.RunTests(nil) {
		if res.Err != nil {
			t.Errorf("%s/%s: %v", res.Rule.ID, res.Test.Name, res.Err)
		}
	}
	n, err := detect.New(event.SourceK8sAudit, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	evs, errs := n.Normalize([]byte(`{"auditID":"x","verb":"create","timestamp":"2024-01-01T00:00:00Z",
		"requestURI":"/api/v1/namespaces/n/pods/p/exec?command=cat&command=/etc/shadow","sourceIPs":["10.1.2.3"],
		"user":{"username":"eve"},"objectRef":{"resource":"pods","subresource":"exec","namespace":"n","name":"p"}}`), normalize.Meta{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var runtimeErrs []string
	e := set.NewEvaluator()
	e.OnError = func(r *Rule, _ *event.Event, err error) { runtimeErrs = append(runtimeErrs, r.ID) }
	alerts := e.Eval(nil, evs[0])
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts, want 1 (test-exec; test-cidr must not match 10.1.2.3)", len(alerts))
	}
	a := alerts[0]
	if a.Rule.ID != "test-exec" || a.Summary != "eve ran cat /etc/shadow in n/p {literal}" {
		t.Errorf("alert %s summary %q", a.Rule.ID, a.Summary)
	}
	if a.Runbook.Title != "Test runbook" || a.Entity.Identity != "eve" || a.Entity.Pod != "p" || a.Events[0].ID != "x" {
		t.Errorf("alert fields: %+v", a)
	}
	if len(runtimeErrs) != 1 || runtimeErrs[0] != "test-raw-nil" {
		t.Errorf("runtime errors %v, want [test-raw-nil]", runtimeErrs)
	}
	i := -1
	for j, r := range set.Rules {
		if r.ID == "test-raw-nil" {
			i = j
		}
	}
	if s := set.Stats(i); s.Errors != 1 || s.Evaluations != 1 {
		t.Errorf("stats %+v", s)
	}
	// Same event, same alert id and dedup key: replays are idempotent.
	again := set.NewEvaluator().Eval(nil, evs[0])
	if again[0].ID != a.ID || again[0].DedupKey != a.DedupKey {
		t.Error("alert id or dedup key not stable")
	}
}

func TestStrictNeedsTests(t *testing.T) {
	_, err := load(t, "testdata/good", true)
	if err == nil || !strings.Contains(err.Error(), "test-cidr") || !strings.Contains(err.Error(), "needs at least one positive and one negative test") {
		t.Fatalf("strict load: %v", err)
	}
}

func TestFailingRuleTestIsReported(t *testing.T) {
	set, err := load(t, "testdata/good", false)
	if err != nil {
		t.Fatal(err)
	}
	r := set.Rule("test-exec")
	r.Tests[1].Match = true // the log event does not match: the test must fail
	failed := 0
	for _, res := range set.RunTests(nil) {
		if res.Err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("%d failures, want 1", failed)
	}
}

func FuzzLoadRule(f *testing.F) {
	f.Add([]byte("id: a\ntitle: t\ndescription: d\nseverity: low\ncondition: \"true\"\nrunbook: testdata/runbooks/rb.md\n"))
	f.Add([]byte("id: [\ncondition: {{"))
	f.Add([]byte("lists:\n  ns: [a, 1]\n  x: {append: [b]}\nmacros:\n  m: target.namespace in ns\n  n: m || n\n---\nid: a\ntitle: t\ndescription: d\nseverity: low\ncondition: m\nrunbook: r.md\nexceptions:\n  - {name: e, fields: [actor.name, target.namespace], comps: [=, in], values: [[x, ns], [y, [a]]]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tn, _ := loadTuning([]srcFile{{path: "fuzz.yaml", data: data}})
		rules, _ := parseFile("fuzz.yaml", data, tn)
		for _, r := range rules {
			if r.program == nil && r.compileErr == nil {
				t.Fatal("rule returned without a compiled condition or an error")
			}
		}
	})
}

func TestRawSources(t *testing.T) {
	mk := func(source, cond string, disabled bool) *Rule {
		r := &Rule{ID: "r", Title: "t", Severity: "low", Source: source, Condition: cond, Disabled: disabled}
		if err := r.compile(nil); err != nil {
			t.Fatal(err)
		}
		return r
	}
	s := &Set{Rules: []*Rule{
		mk("k8s_audit", `raw?.verb == "get"`, false),
		mk("aws_cloudtrail", `raw?.eventName == "x"`, true), // disabled: does not count
		mk("container_log", `message contains "x"`, false),
	}}
	got := s.RawSources()
	if !got["k8s_audit"] || got["aws_cloudtrail"] || got["container_log"] || !s.UsesRaw() {
		t.Errorf("RawSources %v, UsesRaw %v", got, s.UsesRaw())
	}
	s.Rules = append(s.Rules, mk("", `raw?.anything == 1`, false))
	if s.RawSources() != nil {
		t.Error("a rule without a source reading raw must make every source build it")
	}
}
