package rule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/event"
)

// FuzzLoad writes the bytes as a rule file and loads it as Vigia does:
// either a usable set (every rule compiled) or errors that each name the
// file; never a panic.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"testdata/good/exec.yaml", "testdata/broken/broken.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	if ms, _ := filepath.Glob("../../detections/*/*.yaml"); len(ms) > 0 {
		for _, m := range ms[:min(len(ms), 8)] {
			if b, err := os.ReadFile(m); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("id: a\ntitle: t\ndescription: d\nseverity: low\ntags: [attack.t1609]\ncondition: 'len(map(1..10, #)) > 0'\nrunbook: testdata/runbooks/rb.md\n"))
	f.Add([]byte("id: a\n---\nid: a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "r.yaml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		set, err := Load([]string{dir}, Options{Root: "."})
		if err != nil {
			var les LoadErrors
			if asLoadErrors(err, &les) {
				for _, le := range les {
					if le.File != file {
						t.Fatalf("error without the file: %v", le)
					}
				}
			}
			return
		}
		for _, r := range set.Rules {
			if r.program == nil {
				t.Fatalf("rule %s loaded without a program", r.ID)
			}
		}
		// Evaluating a loaded set on an empty event never panics.
		set.NewEvaluator().Eval(nil, &event.Event{Source: event.SourceK8sAudit})
	})
}

func asLoadErrors(err error, les *LoadErrors) bool {
	l, ok := err.(LoadErrors)
	*les = l
	return ok
}

// FuzzTemplate: the summary template parser accepts or rejects any text
// without panicking, and an accepted template renders valid UTF-8 text
// (on valid input) on one line.
func FuzzTemplate(f *testing.F) {
	f.Add("{actor.name} ran {join(k8s.command, \" \")} in {target.namespace}/{target.name} {{literal}}")
	f.Add("{")
	f.Add("}}{{{}}")
	f.Add("{'{'}")
	f.Add("{map(1..1000000, #)}")
	f.Fuzz(func(t *testing.T, s string) {
		segs, err := parseTemplate(s, nil)
		if err != nil {
			return
		}
		r := &Rule{summary: segs}
		e := (&Set{}).NewEvaluator()
		out := r.render(&e.vm, &event.Event{Source: event.SourceK8sAudit, Actor: event.Actor{Name: "eve\nnewline"}})
		if strings.ContainsAny(out, "\n\r") {
			t.Fatalf("summary %q rendered on several lines: %q", s, out)
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("summary %q rendered invalid UTF-8: %q", s, out)
		}
	})
}
