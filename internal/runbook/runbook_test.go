package runbook

import (
	"strings"
	"testing"
)

const md = "# Privileged container\nIntro.\n\n## Triage\n1. Scope first:\n   read the audit log.\n2. Second `kubectl get pod`.\n   - nested detail\n3. Third.\n4. Fourth.\n```sh\n# not a heading\n- not a step\n```\n## Containment\n**Containment-first** — default:\n- Isolate.\n\n**Forensics-first** — legal hold:\n- Snapshot.\n## Evidence\n* Capture.\n## Recovery\n- Rebuild.\n## Hardening\n- Admission policy.\n"

func TestParse(t *testing.T) {
	rb, err := Parse("runbooks/x.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if rb.Title != "Privileged container" || len(rb.Sections) != 5 {
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
	if !strings.Contains(err.Error(), `missing section "Hardening"`) {
		t.Errorf("Check = %v, want Hardening missing", err)
	}
	if _, err := Parse("x.md", []byte("no title\n## Triage\n")); err == nil {
		t.Fatal("a runbook without a title parsed")
	}
}

func TestCheckContainmentPaths(t *testing.T) {
	const en = "# T\n## Triage\n1. a\n## Containment\n%s\n## Evidence\n## Recovery\n## Hardening\n"
	for _, tc := range []struct {
		name, path, containment, want string
	}{
		{"both paths", "runbooks/k8s/x.md", "**Containment-first** — default:\n1. x\n\n**Forensics-first** — hold:\n1. y", ""},
		{"forensics path missing", "runbooks/k8s/x.md", "**Containment-first** — default:\n1. x", "lacks the Forensics-first path"},
		{"label inside a code block does not count", "runbooks/k8s/x.md", "**Containment-first**\n```\n**Forensics-first**\n```", "lacks the Forensics-first path"},
		{"pt-BR keeps the English label first", "runbooks/pt-BR/k8s/x.md", "**Containment-first** (contenção primeiro) — padrão:\n1. x\n\n**Forensics-first** (perícia primeiro) — retenção:\n1. y", ""},
		{"a translated label alone does not count", "runbooks/pt-BR/k8s/x.md", "**Containment-first** (contenção primeiro)\n\n**Perícia primeiro**", "lacks the Forensics-first path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb, err := Parse(tc.path, []byte(strings.Replace(en, "%s", tc.containment, 1)))
			if err != nil {
				t.Fatal(err)
			}
			err = rb.Check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Check = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Check = %v, want %q", err, tc.want)
			}
		})
	}
}
