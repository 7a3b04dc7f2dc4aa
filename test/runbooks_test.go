package test

import (
	"os"
	"path/filepath"
	"slices"
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

// TestRunbookStructure checks every runbook file, referenced or not: the
// English one has exactly the sections Triage, Containment, Evidence,
// Recovery, Hardening in this order, and its Containment offers a
// containment-first and a forensics-first path; its pt-BR twin has the
// same sections in the same order (English heading first) and the same
// two paths under their Portuguese labels. There are at least 25 runbook
// families (one English file each).
func TestRunbookStructure(t *testing.T) {
	var families []string
	err := filepath.WalkDir("../runbooks", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(filepath.ToSlash(p), "../")
		if d.IsDir() && rel == "runbooks/pt-BR" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			families = append(families, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(families) < 25 {
		t.Errorf("%d runbook families, want at least 25", len(families))
	}
	for _, path := range families {
		en, err := runbook.Load("..", path)
		if err != nil {
			t.Error(err)
			continue
		}
		var headings []string
		for _, s := range en.Sections {
			headings = append(headings, s.Heading)
		}
		if want := runbook.RequiredSections; !slices.Equal(headings, want) {
			t.Errorf("%s: sections %q, want exactly %q", path, headings, want)
		}
		if err := en.Check(); err != nil {
			t.Error(err)
		}
		ptPath := runbook.LocalizedPath(path, "pt-BR")
		pt, err := runbook.Load("..", ptPath)
		if err != nil {
			t.Errorf("%s has no Brazilian Portuguese twin: %v", path, err)
			continue
		}
		if err := pt.Check(); err != nil {
			t.Error(err)
		}
		if len(pt.Sections) != len(en.Sections) {
			t.Errorf("%s has %d sections, %s has %d", path, len(en.Sections), ptPath, len(pt.Sections))
			continue
		}
		for i, s := range pt.Sections {
			if h := en.Sections[i].Heading; s.Heading != h && !strings.HasPrefix(s.Heading, h+" (") {
				t.Errorf("%s section %d is %q, want %q or %q", ptPath, i+1, s.Heading, h, h+" (...)")
			}
		}
		// Commands are the same in both languages: the same number of
		// fenced code blocks per section.
		for i := range en.Sections {
			if e, p := strings.Count(en.Sections[i].Body, "```"), strings.Count(pt.Sections[i].Body, "```"); e != p {
				t.Errorf("%s section %s has %d code fence lines, %s has %d", path, en.Sections[i].Heading, e, ptPath, p)
			}
		}
	}
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
