package runbook

import (
	"strings"
	"testing"
)

const md = "# Privileged container\nIntro.\n\n## Triage\n1. Scope first:\n   read the audit log.\n2. Second `kubectl get pod`.\n   - nested detail\n3. Third.\n4. Fourth.\n```sh\n# not a heading\n- not a step\n```\n## Containment\n- Isolate.\n## Evidence\n* Capture.\n## Recovery\n- Rebuild.\n"

func TestParse(t *testing.T) {
	rb, err := Parse("runbooks/x.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if rb.Title != "Privileged container" || len(rb.Sections) != 4 {
		t.Fatalf("title %q, %d sections", rb.Title, len(rb.Sections))
	}
	steps := rb.FirstSteps(3)
	want := []string{"Scope first: read the audit log.", "Second `kubectl get pod`.", "Third."}
	if strings.Join(steps, "|") != strings.Join(want, "|") {
		t.Fatalf("steps %q", steps)
	}
	if n := len(rb.Section("triage").Steps); n != 4 {
		t.Errorf("triage has %d steps, want 4 (fenced lines are not steps)", n)
	}
	if err := rb.Check(); err != nil {
		t.Error(err)
	}
}

func TestCheck(t *testing.T) {
	rb, _ := Parse("x.md", []byte("# T\n## Containment\n## Triage\n## Recovery\n"))
	err := rb.Check()
	if err == nil || !strings.Contains(err.Error(), `missing section "Evidence"`) || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("Check = %v", err)
	}
	if _, err := Parse("x.md", []byte("no title\n## Triage\n")); err == nil {
		t.Fatal("a runbook without a title parsed")
	}
}
