package rule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr/file"
	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// LoadError is one problem in one rule file, located by file and line.
type LoadError struct {
	File string
	Line int
	// Rule is the rule's id, when it has one.
	Rule  string
	Field string
	Err   error
}

func (e *LoadError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Rule != "" {
		loc += ": rule " + e.Rule
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %v", loc, e.Field, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// LoadErrors lists every problem found while loading a rule set.
type LoadErrors []*LoadError

func (es LoadErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Options configure loading.
type Options struct {
	// Root is the directory runbook paths are relative to (the project
	// root, where runbooks/ lives). Default: the working directory.
	Root string
	// Strict makes quality problems errors: missing runbook sections,
	// fewer than one positive and one negative test, unknown ATT&CK tags.
	Strict bool
	// Enable and Disable select rules by id or tag, after the tuning
	// files' own enable: and disable: (see tuning.go for precedence).
	Enable, Disable []string
}

// fileRule is the YAML shape of a rule.
type fileRule struct {
	ID             string   `yaml:"id"`
	Title          string   `yaml:"title"`
	Description    string   `yaml:"description"`
	Severity       string   `yaml:"severity"`
	Tags           []string `yaml:"tags"`
	Source         string   `yaml:"source"`
	Condition      string   `yaml:"condition"`
	Summary        string   `yaml:"summary"`
	Runbook        string   `yaml:"runbook"`
	FalsePositives string   `yaml:"false_positives"`
	Disabled       bool     `yaml:"disabled"`
	SignalOnly     bool     `yaml:"signal_only"`
	// Correlation makes the rule a correlation rule (see correlation.go).
	Correlation *fileCorrelation `yaml:"correlation"`
	Tests       []fileTest       `yaml:"tests"`

	Exceptions []fileException `yaml:"exceptions"`
}

type fileTest struct {
	Name  string    `yaml:"name"`
	Match *bool     `yaml:"match"`
	Event yaml.Node `yaml:"event"`
	File  string    `yaml:"file"`
	// Events is a correlation rule's test: messages in order.
	Events []yaml.Node `yaml:"events"`
}

// Load reads every *.yaml and *.yml file under the given paths (files or
// directories, recursively), compiles every rule and checks the set. It
// reports every broken rule, not just the first, as LoadErrors.
func Load(paths []string, opts Options) (*Set, error) {
	if len(paths) == 0 {
		return nil, errors.New("no rule paths given")
	}
	if opts.Root == "" {
		opts.Root = "."
	}
	// Files in path order, each path's in lexical order: a later path's
	// tuning files override an earlier one's.
	var files []srcFile
	for from, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
				files = append(files, srcFile{path: path, from: from})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
	}

	set := &Set{Books: runbook.NewLibrary()}
	var errs LoadErrors
	for i, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			errs = append(errs, &LoadError{File: f.path, Err: err})
		}
		files[i].data = data
	}
	tn, terrs := loadTuning(files)
	errs = append(errs, terrs...)
	seen := map[string]*Rule{}
	for _, f := range files {
		if f.data == nil {
			continue
		}
		rules, ferrs := parseFile(f.path, f.data, tn)
		errs = append(errs, ferrs...)
		for _, r := range rules {
			if prev, ok := seen[r.ID]; ok {
				errs = append(errs, &LoadError{File: r.File, Line: r.Line, Rule: r.ID, Field: "id", Err: fmt.Errorf("duplicate id %q (first defined at %s:%d)", r.ID, prev.File, prev.Line)})
				continue
			}
			seen[r.ID] = r
			if rerrs := check(r, set.Books, opts); len(rerrs) > 0 {
				errs = append(errs, rerrs...)
				continue
			}
			set.Rules = append(set.Rules, r)
		}
	}
	errs = append(errs, tn.apply(set.Rules, seen, opts)...)
	set.tuning = tn
	if len(errs) > 0 {
		return set, errs
	}
	if len(set.Rules) == 0 {
		return set, fmt.Errorf("rules: no rules found in %s", strings.Join(paths, ", "))
	}
	if errs := linkCorrelations(set.Rules); len(errs) > 0 {
		return set, errs
	}
	set.index()
	return set, nil
}

// parseFile decodes every YAML document of a rule file.
// Tuning documents are skipped; tn's lists and macros are in scope.
func parseFile(path string, data []byte, tn *tuning) ([]*Rule, LoadErrors) {
	var rules []*Rule
	var errs LoadErrors
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	nodes := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := nodes.Decode(&doc); err != nil {
			if !errors.Is(err, io.EOF) {
				errs = append(errs, &LoadError{File: path, Line: yamlErrLine(err), Err: err})
			}
			break
		}
		if isTuningDoc(&doc) {
			var skip yaml.Node
			strict.Decode(&skip)
			continue
		}
		var fr fileRule
		if err := strict.Decode(&fr); err != nil {
			errs = append(errs, &LoadError{File: path, Line: yamlErrLine(err), Err: cleanYAMLErr(err)})
			continue
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		r := &Rule{
			ID: fr.ID, Title: fr.Title, Description: strings.TrimSpace(fr.Description), Severity: fr.Severity,
			Tags: fr.Tags, Source: fr.Source, Condition: fr.Condition, Summary: fr.Summary, Runbook: fr.Runbook,
			FalsePositives: strings.TrimSpace(fr.FalsePositives), Disabled: fr.Disabled, SignalOnly: fr.SignalOnly,
			File: path, Line: root.Line,
		}
		r.Exceptions = exceptionsOf(path, valueNode(root, "exceptions"), fr.Exceptions, root.Line)
		lineOf := func(field string) int { return keyLine(root, field, root.Line) }
		if fr.Correlation != nil {
			c, err := parseCorrelation(fr.Correlation)
			if err != nil {
				errs = append(errs, &LoadError{File: path, Line: lineOf("correlation"), Rule: r.ID, Field: "correlation", Err: err})
				continue
			}
			r.Correlation = c
			if fr.Condition != "" || fr.Source != "" {
				errs = append(errs, &LoadError{File: path, Line: lineOf("condition"), Rule: r.ID, Field: "condition", Err: errors.New("a correlation rule takes no condition or source: it matches on the rules it references")})
				continue
			}
		}
		if err := r.compile(tn); err != nil {
			field, line := "condition", lineOf("condition")
			if strings.HasPrefix(err.Error(), "summary") {
				field, line = "summary", lineOf("summary")
			}
			var fe *file.Error
			if errors.As(err, &fe) && field == "condition" {
				if v := valueNode(root, "condition"); v != nil && (v.Style == yaml.LiteralStyle || v.Style == yaml.FoldedStyle) {
					line++ // block scalars start on the next line
				}
				if v := valueNode(root, "condition"); v == nil || v.Style != yaml.FoldedStyle {
					line += max(fe.Line-1, 0)
				}
			}
			r.compileErr = &LoadError{File: path, Line: line, Rule: r.ID, Err: err}
		}
		testsNode := valueNode(root, "tests")
		for i, ft := range fr.Tests {
			line := ft.Event.Line
			if testsNode != nil && i < len(testsNode.Content) {
				line = testsNode.Content[i].Line
			}
			t := Test{Name: ft.Name, Line: line, File: ft.File}
			if t.Name == "" {
				t.Name = fmt.Sprintf("test %d", i+1)
			}
			if ft.Match == nil {
				errs = append(errs, &LoadError{File: path, Line: line, Rule: r.ID, Field: "tests", Err: fmt.Errorf("%q: match (true or false) is required", t.Name)})
				continue
			}
			t.Match = *ft.Match
			if r.Correlation != nil {
				if len(ft.Events) == 0 {
					errs = append(errs, &LoadError{File: path, Line: line, Rule: r.ID, Field: "tests", Err: fmt.Errorf("%q: a correlation test needs events (a list of messages, in order)", t.Name)})
					continue
				}
				for j := range ft.Events {
					msg, err := testMessage(&ft.Events[j])
					if err != nil {
						errs = append(errs, &LoadError{File: path, Line: ft.Events[j].Line, Rule: r.ID, Field: "tests", Err: fmt.Errorf("%q: event %d: %v", t.Name, j+1, err)})
						continue
					}
					t.Events = append(t.Events, msg)
				}
				r.Tests = append(r.Tests, t)
				continue
			}
			var ev any
			if err := ft.Event.Decode(&ev); err != nil || ev == nil {
				errs = append(errs, &LoadError{File: path, Line: line, Rule: r.ID, Field: "tests", Err: fmt.Errorf("%q: event is required", t.Name)})
				continue
			}
			if text, ok := ev.(string); ok {
				// A string is the message as it arrives: a container log
				// line, a CRI line, anything that is not JSON.
				t.Event = []byte(text)
				r.Tests = append(r.Tests, t)
				continue
			}
			js, err := json.Marshal(jsonable(ev))
			if err != nil {
				errs = append(errs, &LoadError{File: path, Line: line, Rule: r.ID, Field: "tests", Err: fmt.Errorf("%q: %v", t.Name, err)})
				continue
			}
			t.Event = js
			r.Tests = append(r.Tests, t)
		}
		rules = append(rules, r)
	}
	return rules, errs
}

// check validates a rule's fields and loads its runbook into books.
func check(r *Rule, books *runbook.Library, opts Options) LoadErrors {
	var errs LoadErrors
	if r.compileErr != nil {
		errs = append(errs, r.compileErr)
	}
	add := func(field string, format string, args ...any) {
		errs = append(errs, &LoadError{File: r.File, Line: r.Line, Rule: r.ID, Field: field, Err: fmt.Errorf(format, args...)})
	}
	if !idPattern.MatchString(r.ID) {
		add("id", "%q must be lower-case letters, digits and dashes", r.ID)
	}
	if strings.TrimSpace(r.Title) == "" {
		add("title", "is required")
	}
	if strings.TrimSpace(r.Description) == "" {
		add("description", "is required")
	}
	if alert.SeverityRank(r.Severity) < 0 {
		add("severity", "%q is not one of %s", r.Severity, strings.Join(alert.Severities, ", "))
	}
	if r.Source != "" && !slices.Contains(event.Sources, r.Source) {
		add("source", "%q is not a known source (%s)", r.Source, strings.Join(event.Sources, ", "))
	}
	hasTechnique := false
	for _, t := range r.Tags {
		if name, ok := strings.CutPrefix(t, "attack."); ok {
			switch {
			case techniquePattern.MatchString(t):
				hasTechnique = true
			case tactics[name]:
			default:
				add("tags", "%q is neither an ATT&CK technique (attack.t1234[.001]) nor a tactic (attack.privilege_escalation)", t)
			}
		}
	}
	if r.Runbook == "" {
		add("runbook", "is required")
	} else if rb := books.Get(r.Runbook); rb == nil {
		rb, err := runbook.Load(opts.Root, r.Runbook)
		switch {
		case err != nil:
			add("runbook", "%v", err)
		default:
			if err := rb.Check(); err != nil && opts.Strict {
				add("runbook", "%v", err)
			}
			books.Add(rb)
			// Translations are optional; a broken one is an error.
			for _, loc := range runbook.Locales {
				p := runbook.LocalizedPath(r.Runbook, loc)
				tr, err := runbook.Load(opts.Root, p)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err == nil {
					err = tr.Check()
				}
				if err != nil {
					add("runbook", "%s translation %s: %v", loc, p, err)
					continue
				}
				books.Add(tr)
			}
		}
	}
	if opts.Strict {
		if !hasTechnique {
			add("tags", "at least one ATT&CK technique (attack.t1234) is required")
		}
		errs = append(errs, lintMetadata(r)...)
		pos, neg := 0, 0
		for _, t := range r.Tests {
			if t.Match {
				pos++
			} else {
				neg++
			}
		}
		if pos == 0 || neg == 0 {
			add("tests", "needs at least one positive and one negative test (has %d and %d)", pos, neg)
		}
	}
	return errs
}

// testMessage converts a test event (a YAML mapping, or a string taken as
// the raw message) to the message bytes.
func testMessage(n *yaml.Node) ([]byte, error) {
	var ev any
	if err := n.Decode(&ev); err != nil || ev == nil {
		return nil, errors.New("event is empty")
	}
	if text, ok := ev.(string); ok {
		return []byte(text), nil
	}
	return json.Marshal(jsonable(ev))
}

// keyLine returns the line of field's value in a mapping node.
func keyLine(m *yaml.Node, field string, def int) int {
	if v := valueNode(m, field); v != nil {
		return v.Line
	}
	return def
}

func valueNode(m *yaml.Node, field string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == field {
			return m.Content[i+1]
		}
	}
	return nil
}

// yamlErrLine extracts "line N" from a yaml error.
func yamlErrLine(err error) int {
	var n int
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		fmt.Sscanf(s[i+5:], "%d", &n)
	}
	return n
}

func cleanYAMLErr(err error) error {
	s := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
	if i := strings.Index(s, ": "); i >= 0 && strings.HasPrefix(s, "line ") {
		s = s[i+2:]
	}
	s = strings.ReplaceAll(s, "in type rule.fileRule", "in a rule")
	s = strings.ReplaceAll(s, "in type rule.fileTest", "in a test")
	return errors.New(s)
}

// jsonable converts YAML-decoded values to what encoding/json accepts.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = jsonable(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = jsonable(x)
		}
		return t
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano)
	}
	return v
}
