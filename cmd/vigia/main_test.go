package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func vigia(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRulesTestReportsFailures(t *testing.T) {
	code, out, _ := vigia(t, "rules", "test", "--rules", "testdata/rules", "--runbook-root", "testdata")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(out, "1 passed, 1 failed") || !strings.Contains(out, "FAIL testdata/rules/exec.yaml:") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestRulesLintNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("id: bad\ntitle: t\ndescription: d\nseverity: high\ntags: [attack.t1609]\ncondition: actor.nmae == \"x\"\nrunbook: runbooks/rb.md\n"), 0o644)
	code, _, errOut := vigia(t, "rules", "lint", "--rules", dir, "--runbook-root", "testdata")
	if code != 1 || !strings.Contains(errOut, "bad.yaml:6: rule bad: condition:") || !strings.Contains(errOut, "nmae") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
}

func TestReplay(t *testing.T) {
	code, out, errOut := vigia(t, "replay", "--rules", "testdata/rules", "--runbook-root", "testdata", "--input", "testdata/input.jsonl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want 1 alert line, got %q", out)
	}
	var a struct {
		Rule   struct{ ID string }
		Events []struct{ ID, Source string }
	}
	if err := json.Unmarshal([]byte(lines[0]), &a); err != nil || a.Rule.ID != "cli-exec" || a.Events[0].ID != "e1" {
		t.Fatalf("alert %s (%v)", lines[0], err)
	}
	if !strings.Contains(errOut, "testdata/input.jsonl:2: not_json:") {
		t.Errorf("bad record not reported with file:line:\n%s", errOut)
	}
	if !strings.Contains(errOut, "replay: 1 files, 3 records, 2 events, 1 alerts, 1 bad records") {
		t.Errorf("summary:\n%s", errOut)
	}
}

func TestUsage(t *testing.T) {
	if code, _, _ := vigia(t); code != 2 {
		t.Errorf("no args: exit %d", code)
	}
	if code, _, errOut := vigia(t, "run"); code != 2 || !strings.Contains(errOut, "--config is required") {
		t.Errorf("run without config: exit %d %s", code, errOut)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("kafka:\n  topics: [{name: a, format: cloudtrail}]\n  brokerz: [x]\nreceivers: [{name: c, console: {}}]\n"), 0o644)
	if code, _, errOut := vigia(t, "run", "--config", cfg); code != 1 || !strings.Contains(errOut, "line 3: field brokerz not found") {
		t.Errorf("unknown field: exit %d %s", code, errOut)
	}
	os.WriteFile(cfg, []byte("kafka:\n  topics: [{name: a, format: cloudtrail}]\nreceivers: [{name: c, console: {}}]\n"), 0o644)
	if code, _, errOut := vigia(t, "run", "--config", cfg); code != 1 || !strings.Contains(errOut, "kafka.brokers:") || !strings.Contains(errOut, "kafka.topics[0].format:") {
		t.Errorf("bad values: exit %d %s", code, errOut)
	}
}
