package rule

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
)

// execEvent normalizes an exec audit event by user into ns/pod.
func execEvent(t *testing.T, user, ns, pod string) *event.Event {
	t.Helper()
	n, err := detect.New(event.SourceK8sAudit, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	evs, errs := n.Normalize(fmt.Appendf(nil, `{"auditID":"x-%s-%s","verb":"create","timestamp":"2024-01-01T00:00:00Z",
		"user":{"username":%q},"objectRef":{"resource":"pods","subresource":"exec","namespace":%q,"name":%q}}`, user, pod, user, ns, pod), normalize.Meta{})
	if len(errs) > 0 || len(evs) != 1 {
		t.Fatal(errs)
	}
	return evs[0]
}

func alertIDs(set *Set, ev *event.Event) []string {
	var ids []string
	for _, a := range set.NewEvaluator().Eval(nil, ev) {
		ids = append(ids, a.Rule.ID+"/"+a.Rule.Severity)
	}
	return ids
}

func TestListsMacrosAndExceptions(t *testing.T) {
	shipped, err := Load([]string{"testdata/tuning/shipped"}, Options{Root: "."})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range shipped.RunTests(nil) {
		if res.Err != nil {
			t.Errorf("%s/%s: %v", res.Rule.ID, res.Test.Name, res.Err)
		}
	}
	tuned, err := Load([]string{"testdata/tuning/shipped", "testdata/tuning/user"}, Options{Root: "."})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		user, ns, pod  string
		shipped, tuned []string
	}{
		{"untrusted user in kube-system", "eve", "kube-system", "coredns-1", []string{"system-exec/high"}, []string{"system-exec/critical"}},
		{"trusted list replaced: alice no longer trusted", "alice", "kube-system", "coredns-1", nil, []string{"system-exec/critical"}},
		{"trusted list replaced: bob now trusted", "bob", "kube-system", "coredns-1", []string{"system-exec/high"}, nil},
		{"appended namespace becomes a system namespace", "eve", "kube-node-lease", "x", []string{"app-exec/medium"}, []string{"system-exec/critical"}},
		{"shipped exception with startswith", "eve", "kube-system", "node-debugger-7", nil, nil},
		{"slot filled by the user's values", "breakglass-admin", "kube-system", "etcd-0", []string{"system-exec/high"}, nil},
		{"user exception tuple matches", "system:serviceaccount:ci:deployer", "kube-public", "p", nil, nil},
		{"user exception tuple needs every field", "system:serviceaccount:ci:deployer", "kube-system", "p", nil, nil},
		{"app rule disabled by tag in the user's directory", "eve", "shop", "cart", []string{"app-exec/medium"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := execEvent(t, tc.user, tc.ns, tc.pod)
			if got := alertIDs(shipped, ev); !slices.Equal(got, tc.shipped) {
				t.Errorf("shipped only: alerts %v, want %v", got, tc.shipped)
			}
			if got := alertIDs(tuned, ev); !slices.Equal(got, tc.tuned) {
				t.Errorf("with user tuning: alerts %v, want %v", got, tc.tuned)
			}
		})
	}
	// A service account is not a user: the ci tuple case above matched
	// nothing because of the macro, so check the exception on its own.
	r := tuned.Rule("system-exec")
	if ex := r.suppressedBy(new(vm.VM), execEvent(t, "system:serviceaccount:ci:deployer", "kube-public", "p")); ex == nil || ex.Name != "ci_deployer" {
		t.Errorf("ci_deployer exception does not suppress its tuple: %v", ex)
	}
	if ex := r.suppressedBy(new(vm.VM), execEvent(t, "system:serviceaccount:ci:deployer", "kube-system", "p")); ex != nil {
		t.Errorf("%s suppresses a namespace outside its tuple", ex.Name)
	}
	// Suppressed matches are counted apart.
	i := slices.Index(tuned.Rules, r)
	before := tuned.Stats(i)
	tuned.NewEvaluator().Eval(nil, execEvent(t, "breakglass-admin", "kube-system", "etcd-0"))
	if after := tuned.Stats(i); after.Suppressed != before.Suppressed+1 || after.Matches != before.Matches {
		t.Errorf("stats before %+v after %+v: want one more suppressed, no more matches", before, after)
	}
	// The shipped tests run with the user's tuning: the two it changes
	// fail and say why.
	var failed []string
	for _, res := range tuned.RunTests(nil) {
		if res.Err != nil {
			failed = append(failed, res.Test.Name+": "+res.Err.Error())
		}
	}
	if len(failed) != 2 || !strings.Contains(strings.Join(failed, "\n"), "kube-node-lease") {
		t.Errorf("tests failing under the user's tuning:\n%s", strings.Join(failed, "\n"))
	}
	// The summary reads lists too.
	a := shipped.NewEvaluator().Eval(nil, execEvent(t, "eve", "kube-system", "c"))
	if len(a) != 1 || a[0].Summary != "eve exec in kube-system/c (system: true)" {
		t.Errorf("summary: %+v", a)
	}
}

func TestEnableDisablePrecedence(t *testing.T) {
	for _, tc := range []struct {
		name            string
		enable, disable []string
		wantDisabled    []string
	}{
		{"nothing selected", nil, nil, nil},
		{"disable by tag", nil, []string{"attack.t1609"}, []string{"app-exec", "system-exec"}},
		{"disable by id", nil, []string{"app-exec"}, []string{"app-exec"}},
		{"an enabled id beats a disabled tag", []string{"system-exec"}, []string{"attack.t1609"}, []string{"app-exec"}},
		{"a disabled id beats an enabled tag", []string{"attack.t1609"}, []string{"system-exec"}, []string{"system-exec"}},
		{"enable beats disable at the same level", []string{"noisy"}, []string{"noisy"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Load([]string{"testdata/tuning/shipped"}, Options{Root: ".", Enable: tc.enable, Disable: tc.disable})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range set.Rules {
				if r.Disabled {
					got = append(got, r.ID)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.wantDisabled) {
				t.Errorf("disabled %v, want %v", got, tc.wantDisabled)
			}
		})
	}
	// The user's directory disables the tag "noisy"; the configuration
	// enables the id again.
	set, err := Load([]string{"testdata/tuning/shipped", "testdata/tuning/user"}, Options{Root: ".", Enable: []string{"app-exec"}})
	if err != nil {
		t.Fatal(err)
	}
	if set.Rule("app-exec").Disabled {
		t.Error("app-exec enabled by id in the configuration is still disabled by tag")
	}
}

// writeTree writes files into a temporary directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const okRule = `id: r
title: t
description: d
severity: low
tags: [attack.t1609]
source: k8s_audit
runbook: testdata/runbooks/rb.md
`

func TestTuningLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		user  map[string]string // a second, later rules path
		opts  Options
		want  string
	}{
		{"macro cycle names file and line", map[string]string{
			"m.yaml": "macros:\n  a: b && true\n  b: c\n  c: a\n",
			"r.yaml": okRule + "condition: a\n"},
			nil, Options{}, "m.yaml:2: macros.a: macro cycle: a → b → c → a"},
		{"self-referencing macro", map[string]string{
			"m.yaml": "macros:\n  a: a || true\n",
			"r.yaml": okRule + "condition: \"true\"\n"},
			nil, Options{}, "m.yaml:2: macros.a: macro cycle: a → a"},
		{"list named like an event field", map[string]string{
			"l.yaml": "lists:\n  action: [a]\n",
			"r.yaml": okRule + "condition: \"true\"\n"},
			nil, Options{}, `l.yaml:2: lists.action: list name "action" is an event field or an expr built-in`},
		{"macro named like a built-in", map[string]string{
			"l.yaml": "macros:\n  len: \"true\"\n",
			"r.yaml": okRule + "condition: \"true\"\n"},
			nil, Options{}, `macros.len: macro name "len" is an event field or an expr built-in`},
		{"macro that does not compile", map[string]string{
			"l.yaml": "\nmacros:\n  bad: actor.nmae == \"x\"\n",
			"r.yaml": okRule + "condition: bad\n"},
			nil, Options{}, "l.yaml:3: macros.bad: type event.Actor has no field nmae"},
		{"unknown name keeps expr's error and the rule's line", map[string]string{
			"l.yaml": "lists:\n  known: [a]\n",
			"r.yaml": okRule + "condition: action in knwon\n"},
			nil, Options{}, "r.yaml:8: rule r: condition: unknown name knwon"},
		{"append to an undefined list", map[string]string{
			"l.yaml": "lists:\n  nope: {append: [a]}\n",
			"r.yaml": okRule + "condition: \"true\"\n"},
			nil, Options{}, `l.yaml:2: lists.nope: append to list "nope", which no earlier file defines`},
		{"a list defined twice in one path", map[string]string{
			"a.yaml": "lists:\n  x: [a]\n",
			"b.yaml": "lists:\n  x: [b]\n",
			"r.yaml": okRule + "condition: \"true\"\n"},
			nil, Options{}, `b.yaml:2: lists.x: list "x" is already defined at`},
		{"unknown key in a tuning file", map[string]string{
			"l.yaml": "lists:\n  x: [a]\nmacross:\n  y: \"true\"\n",
			"r.yaml": okRule + "condition: \"true\"\n"},
			nil, Options{}, "l.yaml:3: field macross not found"},
		{"list items must be scalars", map[string]string{
			"l.yaml": "lists:\n  x: [{a: b}]\n",
			"r.yaml": okRule + "condition: \"true\"\n"},
			nil, Options{}, "l.yaml:2: lists.x: list items must be strings, numbers or booleans"},
		{"exception on an unknown field", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\nexceptions:\n  - name: e\n    fields: [actor.nmae]\n    values: [[x]]\n"},
			nil, Options{}, `r.yaml:10: rule r: exceptions.e: fields: "actor.nmae" is not an event field`},
		{"exception with a tuple of the wrong length", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\nexceptions:\n  - name: e\n    fields: [actor.name, target.namespace]\n    values: [[x]]\n"},
			nil, Options{}, "exceptions.e: values[0]: 1 values for 2 fields"},
		{"exception with an unknown comparison", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\nexceptions:\n  - name: e\n    fields: [actor.name]\n    comps: [glob]\n    values: [x]\n"},
			nil, Options{}, `comps: "glob" is not one of`},
		{"exception value of the wrong type", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\nexceptions:\n  - name: e\n    fields: [actor.mfa]\n    values: [x]\n"},
			nil, Options{}, "exceptions.e: invalid operation"},
		{"exception cidr value that is no prefix", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\nexceptions:\n  - name: e\n    fields: [actor.source_ip]\n    comps: [cidr]\n    values: [[[10.0.0.0/33]]]\n"},
			nil, Options{}, `"10.0.0.0/33" is not a CIDR prefix`},
		{"exception in names an unknown list", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\nexceptions:\n  - name: e\n    fields: [target.namespace]\n    comps: [in]\n    values: [[ci_namespaces]]\n"},
			nil, Options{}, `"ci_namespaces" names no list`},
		{"tuning for a rule that does not exist", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\n"},
			map[string]string{"t.yaml": "rules:\n  r2:\n    severity: low\n"}, Options{}, `t.yaml:2: rules.r2: no rule has id "r2"`},
		{"a second definition of an exception name", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\nexceptions:\n  - name: e\n    fields: [actor.name]\n"},
			map[string]string{"t.yaml": "rules:\n  r:\n    exceptions:\n      - name: e\n        fields: [target.name]\n"}, Options{}, `t.yaml:4: rule r: exceptions: "e" is already defined at`},
		{"disable selector that matches nothing", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\n"},
			map[string]string{"t.yaml": "disable: [attack.t9999]\n"}, Options{}, `t.yaml:1: disable: "attack.t9999" matches no rule id or tag`},
		{"exceptions on a correlation rule", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\n",
			"c.yaml": "id: c\ntitle: t\ndescription: d\nseverity: low\ntags: [attack.t1609]\nrunbook: testdata/runbooks/rb.md\n" +
				"correlation: {type: event_count, rules: [r], group-by: [actor.name], timespan: 5m, condition: {gte: 2}}\n"},
			map[string]string{"t.yaml": "rules:\n  c:\n    exceptions:\n      - {name: e, fields: [actor.name], values: [x]}\n"}, Options{},
			"t.yaml:4: rule c: exceptions: a correlation rule takes no exceptions"},
		{"config selector that matches nothing", map[string]string{
			"r.yaml": okRule + "condition: \"true\"\n"},
			nil, Options{Enable: []string{"k8s-typo"}}, `configuration: rules.enable: "k8s-typo" matches no rule id or tag`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths := []string{writeTree(t, tc.files)}
			if tc.user != nil {
				paths = append(paths, writeTree(t, tc.user))
			}
			opts := tc.opts
			opts.Root = "."
			_, err := Load(paths, opts)
			var les LoadErrors
			if !errors.As(err, &les) {
				t.Fatalf("want LoadErrors, got %v", err)
			}
			if !strings.Contains(les.Error(), tc.want) {
				t.Errorf("errors lack %q:\n%s", tc.want, les.Error())
			}
		})
	}
}

func TestLaterPathReplacesListsAndMacros(t *testing.T) {
	shipped := writeTree(t, map[string]string{
		"l.yaml": "lists:\n  ns: [a]\nmacros:\n  in_ns: target.namespace in ns\n",
		"r.yaml": okRule + "condition: in_ns\n"})
	user := writeTree(t, map[string]string{"l.yaml": "lists:\n  ns: [b]\nmacros:\n  in_ns: target.namespace in ns || target.namespace == \"c\"\n"})
	set, err := Load([]string{shipped, user}, Options{Root: "."})
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]int{"a": 0, "b": 1, "c": 1} {
		if got := len(set.NewEvaluator().Eval(nil, execEvent(t, "eve", ns, "p"))); got != want {
			t.Errorf("namespace %s: %d alerts, want %d", ns, got, want)
		}
	}
	// The order of paths decides: the other way round, the shipped one wins.
	set, err = Load([]string{user, shipped}, Options{Root: "."})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(set.NewEvaluator().Eval(nil, execEvent(t, "eve", "a", "p"))); got != 1 {
		t.Errorf("reversed paths: namespace a: %d alerts, want 1", got)
	}
}

func TestLetShadowsList(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"l.yaml": "lists:\n  ns: [a]\n",
		"r.yaml": okRule + "condition: let ns = [\"z\"]; target.namespace in ns\n"})
	set, err := Load([]string{dir}, Options{Root: "."})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(set.NewEvaluator().Eval(nil, execEvent(t, "eve", "z", "p"))); got != 1 {
		t.Errorf("let-bound ns: %d alerts, want 1", got)
	}
}
