package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedRulesPass is `vigia rules lint` and `vigia rules test` over
// the shipped detections, as CI runs them.
func TestShippedRulesPass(t *testing.T) {
	if code, out, errOut := vigia(t, "rules", "lint", "--rules", "../../detections", "--runbook-root", "../.."); code != 0 {
		t.Errorf("rules lint: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := vigia(t, "rules", "test", "--rules", "../../detections", "--runbook-root", "../..")
	if code != 0 || !strings.Contains(out, " passed, 0 failed") {
		t.Errorf("rules test: exit %d\n%s%s", code, out, errOut)
	}
}

// TestGeneratedDocsUpToDate fails when docs/coverage.md or docs/rules.md
// no longer match what the shipped rules generate.
func TestGeneratedDocsUpToDate(t *testing.T) {
	for _, tc := range []struct{ sub, file string }{
		{"coverage", "../../docs/coverage.md"},
		{"index", "../../docs/rules.md"},
	} {
		code, out, errOut := vigia(t, "rules", tc.sub, "--rules", "../../detections", "--runbook-root", "../..")
		if code != 0 {
			t.Fatalf("rules %s: exit %d: %s", tc.sub, code, errOut)
		}
		committed, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if string(committed) != out {
			t.Errorf("%s is stale: run `go generate ./cmd/vigia` and commit the result", strings.TrimPrefix(tc.file, "../../"))
		}
	}
}

func TestRulesCoverage(t *testing.T) {
	dir := t.TempDir()
	rule := func(id, source, tags string) string {
		return "id: " + id + "\ntitle: t\ndescription: d\nseverity: low\nsource: " + source + "\ntags: " + tags + "\ncondition: \"true\"\nrunbook: runbooks/rb.md\n"
	}
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(rule("a", "k8s_audit", "[attack.execution, attack.t1609, attack.t1611]")), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(rule("b", "k8s_audit", "[attack.t1609]")), 0o644)
	os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(rule("c", "aws_cloudtrail", "[attack.t1609]")), 0o644)
	code, out, errOut := vigia(t, "rules", "coverage", "--rules", dir, "--runbook-root", "testdata")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"| `k8s_audit` | `aws_cloudtrail` | `gcp_audit` | `azure_activity` | `container_log` | `correlation` | total |",
		"| [T1609](https://attack.mitre.org/techniques/T1609/) | Container Administration Command | 2 | 1 | | | | | 3 |",
		"| [T1611](https://attack.mitre.org/techniques/T1611/) | Escape to Host | 1 | | | | | | 1 |",
		"| | **rules** | 2 | 1 | 0 | 0 | 0 | 0 | 3 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("coverage lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = vigia(t, "rules", "coverage", "--format", "json", "--rules", dir, "--runbook-root", "testdata")
	var c struct {
		Techniques []struct {
			ID    string
			Rules map[string][]string
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil || len(c.Techniques) != 2 || strings.Join(c.Techniques[0].Rules["k8s_audit"], ",") != "a,b" {
		t.Errorf("json coverage: exit %d\n%s", code, out)
	}
	// An id the technique table lacks fails the command and names the rule.
	os.WriteFile(filepath.Join(dir, "d.yaml"), []byte(rule("d", "gcp_audit", "[attack.t1599]")), 0o644)
	if code, _, errOut := vigia(t, "rules", "coverage", "--rules", dir, "--runbook-root", "testdata"); code != 1 || !strings.Contains(errOut, "T1599 (rule d)") {
		t.Errorf("unknown technique: exit %d: %s", code, errOut)
	}
}
