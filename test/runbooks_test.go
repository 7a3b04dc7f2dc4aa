package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/rule"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// TestRunbooksInStep checks that every runbook a rule names exists in
// English and in Brazilian Portuguese (runbooks/pt-BR/...), with the
// required sections in order and the same section structure in both.
func TestRunbooksInStep(t *testing.T) {
	rules, err := rule.Load([]string{"../detections"}, rule.Options{Root: "..", Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rules.Rules {
		if seen[r.Runbook] {
			continue
		}
		seen[r.Runbook] = true
		en, err := runbook.Load("..", r.Runbook)
		if err != nil {
			t.Fatal(err)
		}
		ptPath := "runbooks/pt-BR/" + strings.TrimPrefix(r.Runbook, "runbooks/")
		pt, err := runbook.Load("..", ptPath)
		if err != nil {
			t.Errorf("%s: no Brazilian Portuguese runbook: %v", r.ID, err)
			continue
		}
		for _, rb := range []*runbook.Runbook{en, pt} {
			if err := rb.Check(); err != nil {
				t.Error(err)
			}
			if len(rb.FirstSteps(3)) < 3 {
				t.Errorf("%s: fewer than 3 triage steps to show in alerts", rb.Path)
			}
		}
		if len(en.Sections) != len(pt.Sections) {
			t.Errorf("%s has %d sections, %s has %d", en.Path, len(en.Sections), pt.Path, len(pt.Sections))
			continue
		}
		for i := range en.Sections {
			if !strings.HasPrefix(pt.Sections[i].Heading, en.Sections[i].Heading) {
				t.Errorf("%s section %d is %q, %s has %q", en.Path, i, en.Sections[i].Heading, pt.Path, pt.Sections[i].Heading)
			}
		}
	}
	// No orphan runbooks.
	filepath.WalkDir("../runbooks", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".md") {
			return err
		}
		rel := strings.TrimPrefix(filepath.ToSlash(p), "../")
		en := strings.Replace(rel, "runbooks/pt-BR/", "runbooks/", 1)
		if !seen[en] {
			t.Errorf("%s is not referenced by any rule", rel)
		}
		return nil
	})
}

// TestK8sRunbooksOfferBothResponsePaths checks that every Kubernetes
// runbook's Containment section offers the two response models with the
// exact bold leads the alert renderers and the style guide expect, in
// English and in Brazilian Portuguese.
func TestK8sRunbooksOfferBothResponsePaths(t *testing.T) {
	leads := map[string][]string{
		"../runbooks/k8s":       {"**Containment-first** ", "**Forensics-first** "},
		"../runbooks/pt-BR/k8s": {"**Containment-first** (contenção primeiro) ", "**Forensics-first** (perícia primeiro) "},
	}
	for dir, want := range leads {
		files, err := filepath.Glob(filepath.Join(dir, "*.md"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no runbooks in %s", dir)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, containment, ok := strings.Cut(string(b), "\n## Containment")
			if !ok {
				t.Errorf("%s: no Containment section", f)
				continue
			}
			containment, _, _ = strings.Cut(containment, "\n## ")
			for _, lead := range want {
				if !strings.Contains(containment, "\n"+lead) {
					t.Errorf("%s: Containment has no line starting with %q", f, lead)
				}
			}
		}
	}
}
