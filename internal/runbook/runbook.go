// Package runbook parses the markdown runbooks attached to rules.
//
// A runbook is a markdown file whose first "# " heading is its title and
// whose "## " headings are sections, in this order: Triage, Containment,
// Evidence, Recovery, Hardening (more may follow). Translations keep the
// English heading first ("## Triage (Triagem)"). The Containment section
// offers two paths, each a paragraph opening with its bold label (see
// ContainmentPaths). The first steps shown in an alert
// are the first list items of the first section.
package runbook

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Runbook is a parsed runbook.
type Runbook struct {
	// Path is the runbook's path relative to the project root, as the rule
	// names it ("runbooks/k8s/privileged-container.md").
	Path     string
	Title    string
	Sections []Section
}

// Section is one "## " section of a runbook.
type Section struct {
	Heading string
	// Body is the section's markdown, headings of deeper levels included.
	Body string
	// Steps are the section's top-level list items ("- " or "1. "), in order.
	Steps []string
}

// ErrNoTitle is returned for a runbook without a "# " title.
var ErrNoTitle = errors.New("runbook has no '# ' title")

// RequiredSections are the sections every runbook has, in this order.
var RequiredSections = []string{"Triage", "Containment", "Evidence", "Recovery", "Hardening"}

// ContainmentPaths are the bold labels opening the two paths of every
// Containment section: contain first, or preserve evidence first.
// Translations keep the English label first, as with headings:
// "**Containment-first** (contenção primeiro) — ...".
var ContainmentPaths = [2]string{"**Containment-first**", "**Forensics-first**"}

// Parse parses runbook markdown.
func Parse(path string, md []byte) (*Runbook, error) {
	rb := &Runbook{Path: path}
	var cur *Section
	var body strings.Builder
	flush := func() {
		if cur != nil {
			cur.Body = strings.TrimSpace(body.String())
			rb.Sections = append(rb.Sections, *cur)
		}
		body.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	inFence := false
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			inFence = !inFence
		}
		switch {
		case !inFence && strings.HasPrefix(line, "# ") && rb.Title == "":
			rb.Title = strings.TrimSpace(line[2:])
			continue
		case !inFence && strings.HasPrefix(line, "## "):
			flush()
			cur = &Section{Heading: strings.TrimSpace(line[3:])}
			continue
		}
		if cur == nil {
			continue
		}
		body.WriteString(line)
		body.WriteByte('\n')
		if !inFence {
			if step, ok := listItem(line); ok {
				cur.Steps = append(cur.Steps, step)
			} else if len(cur.Steps) > 0 && strings.HasPrefix(line, "   ") && trimmed != "" && !isNestedItem(trimmed) {
				// continuation line of the previous item
				cur.Steps[len(cur.Steps)-1] += " " + trimmed
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	flush()
	if rb.Title == "" {
		return nil, fmt.Errorf("%s: %w", path, ErrNoTitle)
	}
	return rb, nil
}

// listItem reports whether line is a top-level list item and returns its text.
func listItem(line string) (string, bool) {
	if strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* ") {
		return strings.TrimSpace(line[2:]), true
	}
	i := 0
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	if i > 0 && i+1 < len(line) && (line[i] == '.' || line[i] == ')') && line[i+1] == ' ' {
		return strings.TrimSpace(line[i+2:]), true
	}
	return "", false
}

func isNestedItem(trimmed string) bool {
	_, ok := listItem(trimmed)
	return ok
}

// Load reads and parses the runbook at path, relative to root.
func Load(root, path string) (*Runbook, error) {
	md, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
	if err != nil {
		return nil, err
	}
	return Parse(path, md)
}

// Section returns the section with the given heading (case-insensitive
// prefix match, so "Triage" finds "Triage (scope first)"), or nil.
func (rb *Runbook) Section(heading string) *Section {
	for i := range rb.Sections {
		if strings.HasPrefix(strings.ToLower(rb.Sections[i].Heading), strings.ToLower(heading)) {
			return &rb.Sections[i]
		}
	}
	return nil
}

// FirstSteps returns up to n steps from the first section (Triage).
func (rb *Runbook) FirstSteps(n int) []string {
	if len(rb.Sections) == 0 {
		return nil
	}
	steps := rb.Sections[0].Steps
	if len(steps) > n {
		steps = steps[:n]
	}
	return steps
}

// Check reports the required sections that are missing or out of order.
func (rb *Runbook) Check() error {
	var errs []error
	last := -1
	for _, want := range RequiredSections {
		idx := -1
		for i, s := range rb.Sections {
			if strings.HasPrefix(strings.ToLower(s.Heading), strings.ToLower(want)) {
				idx = i
				break
			}
		}
		switch {
		case idx < 0:
			errs = append(errs, fmt.Errorf("%s: missing section %q", rb.Path, want))
		case idx < last:
			errs = append(errs, fmt.Errorf("%s: section %q out of order (want %s)", rb.Path, want, strings.Join(RequiredSections, ", ")))
		default:
			last = idx
		}
	}
	if c := rb.Section("Containment"); c != nil {
		for _, label := range ContainmentPaths {
			if !hasParagraph(c.Body, label) {
				errs = append(errs, fmt.Errorf("%s: section Containment lacks the %s path (a paragraph opening with %s)", rb.Path, strings.Trim(label, "*"), label))
			}
		}
	}
	return errors.Join(errs...)
}

// hasParagraph reports whether a line of body, outside code fences,
// opens with label (list markers allowed).
func hasParagraph(body, label string) bool {
	inFence := false
	for line := range strings.Lines(body) {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			inFence = !inFence
			continue
		}
		if step, ok := listItem(t); ok {
			t = step
		}
		if !inFence && strings.HasPrefix(t, label) {
			return true
		}
	}
	return false
}
