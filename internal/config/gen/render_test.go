package main

import (
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigia-dev/vigia/internal/config"
)

// TestReferenceUpToDate fails when the generated reference (embedded in
// the binary, and docs/config.md) no longer matches the config structs: a
// field added, renamed, re-documented or re-defaulted.
func TestReferenceUpToDate(t *testing.T) {
	want, err := reference("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"../reference.md", "../../../docs/config.md"} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%v\nGenerate it: go generate ./internal/config", err)
			continue
		}
		if string(got) == want {
			continue
		}
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		line := 0
		for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
			line++
		}
		at := func(l []string) string {
			if line < len(l) {
				return l[line]
			}
			return "(end of file)"
		}
		t.Errorf("%s is out of date with the config structs (first difference at line %d:\n  file:    %s\n  structs: %s)\nRegenerate it: go generate ./internal/config",
			strings.TrimLeft(file, "./"), line+1, at(gl), at(wl))
	}
}

// TestReferenceListsEveryKey: every YAML key of the configuration, at any
// depth, has a row.
func TestReferenceListsEveryKey(t *testing.T) {
	ref, err := reference("..")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(reflect.Type, string, map[reflect.Type]bool)
	walk = func(tp reflect.Type, path string, seen map[reflect.Type]bool) {
		tp = deref(tp)
		switch tp.Kind() {
		case reflect.Slice, reflect.Map:
			walk(tp.Elem(), path, seen)
			return
		case reflect.Struct:
		default:
			return
		}
		if seen[tp] || isOpaque(tp) {
			return
		}
		seen[tp] = true
		for i := range tp.NumField() {
			f := tp.Field(i)
			key, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if (!f.IsExported() && !f.Anonymous) || key == "-" {
				continue
			}
			if strings.Contains(opts, "inline") {
				walk(f.Type, path, seen)
				continue
			}
			if key == "" {
				key = strings.ToLower(f.Name)
			}
			if !strings.Contains(ref, "| `"+key+"` |") {
				t.Errorf("%s%s has no row in the reference", path, key)
			}
			walk(f.Type, path+key+".", seen)
		}
	}
	walk(reflect.TypeFor[config.Config](), "", map[reflect.Type]bool{})
	for _, want := range []string{"| `topic` | string | `k8s-audit` |", "| `produce_timeout` | duration | `10s` |", "| `sample_ratio` | number | `1` |"} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	if config.Reference() == "" {
		t.Error("the embedded reference is empty")
	}
}

// The shapes below stand for whatever fields are added to the config:
// nested, optional, listed and mapped blocks, inlined structs, recursive
// types, self-decoding types and other packages' structs.

// shapeRoot is the root.
type shapeRoot struct {
	// Name is a plain field. Default: anon.
	Name string `yaml:"name"`
	// Wait is a duration. Default: 90s.
	Wait time.Duration `yaml:"wait"`
	// Block is nested.
	Block shapeBlock `yaml:"block"`
	// Optional is a pointer block.
	Optional *shapeBlock `yaml:"optional"`
	// Items are listed blocks.
	Items []shapeItem `yaml:"items"`
	// ByName are mapped blocks.
	ByName map[string]shapeItem `yaml:"by_name"`
	// Labels are a plain map with a | pipe and <angle> brackets.
	Labels      map[string]string `yaml:"labels"`
	shapeInline `yaml:",inline"`
	// Tree is recursive.
	Tree shapeNode `yaml:"tree"`
	// Custom decodes itself.
	Custom shapeCustom `yaml:"custom"`
	// Foreign is another package's struct without YAML tags.
	Foreign url.URL `yaml:"foreign"`
	// Ratio is optional. Default: 0.5.
	Ratio   *float64 `yaml:"ratio"`
	Skipped string   `yaml:"-"`
	NoTag   int
}

// shapeBlock is a nested block.
type shapeBlock struct {
	// Level. Default: low.
	Level string `yaml:"level"`
}

// shapeItem is one listed item.
type shapeItem struct {
	// Kind of the item. Default: plain.
	Kind string `yaml:"kind"`
	// Tags. Default: [a, b].
	Tags []string `yaml:"tags"`
}

// shapeInline is inlined into the root.
type shapeInline struct {
	// Extra is an inlined field.
	Extra bool `yaml:"extra"`
}

// shapeNode is a tree node.
type shapeNode struct {
	// Children are nodes too.
	Children []shapeNode `yaml:"children"`
}

type shapeCustom struct{ v string }

func (c *shapeCustom) UnmarshalYAML(func(any) error) error { return nil }

func (r *shapeRoot) Defaults() {
	if r.Name == "" {
		r.Name = "anon"
	}
	if r.Wait == 0 {
		r.Wait = 90 * time.Second
	}
	if r.Block.Level == "" {
		r.Block.Level = "low"
	}
	if r.Optional != nil && r.Optional.Level == "" {
		r.Optional.Level = "low"
	}
	for i := range r.Items {
		if r.Items[i].Kind == "" {
			r.Items[i].Kind = "plain"
		}
	}
	for k, v := range r.ByName {
		v.Kind = "plain"
		r.ByName[k] = v
	}
	if r.Ratio == nil {
		half := 0.5
		r.Ratio = &half
	}
}

func TestReferenceShapes(t *testing.T) {
	src, err := os.ReadFile("render_test.go")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := parseDocs(fstest.MapFS{"shapes.go": {Data: src}})
	if err != nil {
		t.Fatal(err)
	}
	ref := renderReference(reflect.TypeFor[shapeRoot](), docs, func() any { return new(shapeRoot) })
	for _, want := range []string{
		"| `name` | string | `anon` | Name is a plain field. |",
		"| `wait` | duration | `1m30s` | Wait is a duration. |",
		"| `block` | object, see [`block`](#block) |  | Block is nested. |",
		"## `block`\n\nshapeBlock is a nested block.",
		"| `level` | string | `low` | Level. |",
		// The pointer block is the same type: described once.
		"| `optional` | object, see [`block`](#block) |  | Optional is a pointer block. |",
		"| `items` | list of objects, see [`items[]`](#items) |",
		"| `kind` | string | `plain` | Kind of the item. |",
		"| `tags` | list of strings | [a, b] | Tags. |",
		"| `by_name` | map of string to objects, see [`items[]`](#items) |",
		"| `labels` | map of string to strings |  | Labels are a plain map with a \\| pipe and &lt;angle&gt; brackets. |",
		"| `extra` | boolean |  | Extra is an inlined field. |",
		"| `tree` | object, see [`tree`](#tree) |",
		"| `children` | list of objects, see [`tree`](#tree) |  | Children are nodes too. |",
		"| `custom` | `main.shapeCustom` |  | Custom decodes itself. |",
		"| `foreign` | `url.URL` |",
		"| `ratio` | number | `0.5` | Ratio is optional. |",
		"| `notag` | integer |",
	} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	for _, bad := range []string{"skipped", "`v`", "## `tree.children"} {
		if strings.Contains(ref, bad) {
			t.Errorf("reference has %q", bad)
		}
	}
	if t.Failed() {
		t.Log(ref)
	}
}

func TestCutDefault(t *testing.T) {
	cases := []struct{ in, rest, phrase string }{
		{"Listen is the address. Default: :8443.", "Listen is the address.", ":8443"},
		{"Workers. Default: GOMAXPROCS. Messages of one partition stay in order.", "Workers. Messages of one partition stay in order.", "GOMAXPROCS"},
		{"API base. Default: https://slack.com/api/.", "API base.", "https://slack.com/api/"},
		{"No default here.", "No default here.", ""},
	}
	for _, c := range cases {
		rest, phrase := cutDefault(c.in)
		if rest != c.rest || phrase != c.phrase {
			t.Errorf("cutDefault(%q) = %q, %q; want %q, %q", c.in, rest, phrase, c.rest, c.phrase)
		}
	}
}
