package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/rule"
)

const testRunbook = "# Runbook\nWhat it means.\n## Triage\n1. Look.\n## Containment\n- Contain.\n## Evidence\n- Capture.\n## Recovery\n- Recover.\n"

// ruleDir is a rules directory with its runbook, the root runbook paths
// are relative to.
type ruleDir struct {
	t    *testing.T
	root string
}

func newRuleDir(t *testing.T) *ruleDir {
	d := &ruleDir{t: t, root: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(d.root, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.root, "rb.md"), []byte(testRunbook), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *ruleDir) paths() []string { return []string{filepath.Join(d.root, "rules")} }

// write replaces the rule file with one rule: id and condition.
func (d *ruleDir) write(id, cond string) {
	d.writeRaw(fmt.Sprintf("id: %s\ntitle: %s\ndescription: d\nseverity: high\ntags: [attack.t1609]\nsource: k8s_audit\ncondition: '%s'\nrunbook: rb.md\n", id, id, cond))
}

func (d *ruleDir) writeRaw(content string) {
	d.t.Helper()
	if err := os.WriteFile(filepath.Join(d.root, "rules", "r.yaml"), []byte(content), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

type reloadCounts struct {
	mu      sync.Mutex
	ok, bad int
}

func (c *reloadCounts) RuleReload(ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		c.ok++
	} else {
		c.bad++
	}
}

// reloadSetup returns a processor running the directory's rules, with
// normalizers rebuilt per set as Run builds them, and its reloader.
func reloadSetup(t *testing.T, d *ruleDir, router *fakeRouter, logs *bytes.Buffer) (*Processor, *RuleReloader, *reloadCounts) {
	t.Helper()
	opts := rule.Options{Root: d.root}
	loaded := rule.Fingerprint(d.paths())
	set, err := rule.Load(d.paths(), opts)
	if err != nil {
		t.Fatal(err)
	}
	p := &Processor{Rules: set, Router: router}
	p.NewNormalizers = func(s *rule.Set) (map[string]normalize.Normalizer, normalize.Normalizer, error) {
		n, err := detect.New(detect.Auto, normalize.Options{Raw: s.UsesRaw(), RawSources: s.RawSources()})
		return nil, n, err
	}
	if err := p.SetRules(set); err != nil {
		t.Fatal(err)
	}
	counts := &reloadCounts{}
	r := &RuleReloader{Paths: d.paths(), Options: opts, Proc: p, Books: set.Books, Metrics: counts,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Loaded: loaded}
	return p, r, counts
}

func firedRules(t *testing.T, p *Processor, router *fakeRouter, id string) []string {
	t.Helper()
	router.got = nil
	if err := p.Handle(context.Background(), msg(fmt.Sprintf(execEvent, id))); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range router.got {
		ids = append(ids, a.Rule.ID)
	}
	return ids
}

func TestReloadSwapsRulesAndKeepsOldOnError(t *testing.T) {
	d := newRuleDir(t)
	d.write("rule-a", `target.subresource == "exec"`)
	router := &fakeRouter{}
	var logs bytes.Buffer
	p, r, counts := reloadSetup(t, d, router, &logs)
	if got := firedRules(t, p, router, "1"); len(got) != 1 || got[0] != "rule-a" {
		t.Fatalf("before reload: %v", got)
	}

	// A new set that reads raw: the normalizers are rebuilt to keep it.
	d.write("rule-b", `raw?.verb == "create" && target.subresource == "exec"`)
	if err := r.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if got := firedRules(t, p, router, "2"); len(got) != 1 || got[0] != "rule-b" {
		t.Fatalf("after reload: %v (raw must be built for the new set's raw rule)", got)
	}
	if p.RuleSet().Rule("rule-b") == nil || p.Rules.Rule("rule-a") == nil {
		t.Fatal("RuleSet must be the new set; Rules stays the set at start")
	}

	// A broken set: error with file and line, the previous set keeps running.
	d.writeRaw("id: rule-c\ntitle: c\ndescription: d\nseverity: high\ntags: [attack.t1609]\nsource: k8s_audit\ncondition: 'actor.nmae == \"x\"'\nrunbook: rb.md\n")
	err := r.Reload("test")
	if err == nil {
		t.Fatal("a broken set reloaded")
	}
	if !strings.Contains(err.Error(), "r.yaml:7") || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("error %q lacks file:line and the problem", err)
	}
	if got := firedRules(t, p, router, "3"); len(got) != 1 || got[0] != "rule-b" {
		t.Fatalf("after a failed reload: %v, want the previous set (rule-b)", got)
	}
	if counts.ok != 1 || counts.bad != 1 {
		t.Errorf("reload counts ok=%d error=%d, want 1 and 1", counts.ok, counts.bad)
	}
	if !strings.Contains(logs.String(), "rule reload failed; the previous rule set keeps running") || !strings.Contains(logs.String(), "r.yaml:7") {
		t.Errorf("log lacks the failure with file and line:\n%s", logs.String())
	}
}

// TestReloadInFlightUsesItsSet: an evaluation that started with a set
// finishes with it (the set is read once per message), and pooled
// evaluators of a replaced set are not reused.
func TestReloadInFlightUsesItsSet(t *testing.T) {
	d := newRuleDir(t)
	d.write("rule-a", `target.subresource == "exec"`)
	router := &fakeRouter{}
	p, r, _ := reloadSetup(t, d, router, &bytes.Buffer{})
	old := p.current()
	firedRules(t, p, router, "1") // leaves an evaluator of old in the pool
	d.write("rule-b", `target.subresource == "exec"`)
	if err := r.Reload("test"); err != nil {
		t.Fatal(err)
	}
	b := p.evaluate(context.Background(), old, []*event.Event{{Source: event.SourceK8sAudit, Target: event.Target{Subresource: "exec"}}})
	if len(b.alerts) != 1 || b.alerts[0].Rule.ID != "rule-a" {
		t.Fatalf("in-flight evaluation with the old set: %v", b.alerts)
	}
	if got := firedRules(t, p, router, "2"); len(got) != 1 || got[0] != "rule-b" {
		t.Fatalf("new message: %v, want rule-b", got)
	}
}

// waitFor polls cond; the deadline only bounds a broken test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	d := newRuleDir(t)
	d.write("rule-a", `target.subresource == "exec"`)
	p, r, _ := reloadSetup(t, d, &fakeRouter{}, &bytes.Buffer{})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx, hup, 0) }()
	defer func() { cancel(); <-done }()

	d.write("rule-b", `target.subresource == "exec"`)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the SIGHUP reload", func() bool { return p.RuleSet().Rule("rule-b") != nil })
}

func TestReloadOnFileChange(t *testing.T) {
	d := newRuleDir(t)
	d.write("rule-a", `target.subresource == "exec"`)
	var logs syncBuffer
	p, r, counts := reloadSetup(t, d, &fakeRouter{}, &bytes.Buffer{})
	r.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx, nil, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()

	d.writeRaw("id: [broken\n")
	waitFor(t, "the failed reload", func() bool { counts.mu.Lock(); defer counts.mu.Unlock(); return counts.bad > 0 })
	if p.RuleSet().Rule("rule-a") == nil {
		t.Fatal("a broken file replaced the running set")
	}
	d.write("rule-b", `target.subresource == "exec"`)
	waitFor(t, "the file-change reload", func() bool { return p.RuleSet().Rule("rule-b") != nil })
	if !strings.Contains(logs.String(), "trigger=\"file change\"") {
		t.Errorf("log lacks the trigger:\n%s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
