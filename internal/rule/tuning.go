package rule

import (
	"bytes"
	"errors"
	"fmt"

	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
)

// A tuning file holds no rule: it defines the named lists and macros that
// conditions use, and tunes rules without editing them. It is recognised
// by having no id: and at least one of these top-level keys:
//
//	lists:                     # name: [items]            define or replace
//	  system_namespaces: [kube-system, kube-public, kube-node-lease]
//	  allowed_registries:      # name: {append: [items]}  extend an earlier definition
//	    append: [registry.example.com]
//	macros:                    # name: expression          define or replace
//	  is_human_user: actor.type == "user"
//	rules:                     # per rule id
//	  k8s-pod-exec-attach:
//	    severity: low
//	    exceptions: [...]      # added to the rule's own; a known name without fields appends values
//	disable: [attack.t1609]    # rule ids or tags
//	enable: [k8s-pod-exec-attach]
//
// Rule paths are read in the order given; files inside one path in
// lexical order. A later path may replace a list or macro that an earlier
// path defined; inside one path a name is defined once.
type fileTuning struct {
	Lists   yaml.Node                 `yaml:"lists"`
	Macros  yaml.Node                 `yaml:"macros"`
	Rules   map[string]fileRuleTuning `yaml:"rules"`
	Enable  []string                  `yaml:"enable"`
	Disable []string                  `yaml:"disable"`
}

type fileRuleTuning struct {
	Severity   string          `yaml:"severity"`
	Exceptions []fileException `yaml:"exceptions"`
}

// fileException is the YAML shape of an exception, as in Falco: events
// whose fields compare true to every value of one tuple are suppressed.
type fileException struct {
	Name   string   `yaml:"name"`
	Fields []string `yaml:"fields"`
	Comps  []string `yaml:"comps"`
	Values []any    `yaml:"values"`
}

var tuningKeys = []string{"lists", "macros", "rules", "enable", "disable"}

// isTuningDoc reports whether a YAML document is a tuning file rather
// than a rule: a mapping without id: and with a tuning key.
func isTuningDoc(doc *yaml.Node) bool {
	if doc == nil || len(doc.Content) == 0 {
		return false
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode || valueNode(m, "id") != nil {
		return false
	}
	for _, k := range tuningKeys {
		if valueNode(m, k) != nil {
			return true
		}
	}
	return false
}

// srcFile is one rule or tuning file, with the index of the rule path it
// was found under (later paths override earlier ones).
type srcFile struct {
	path string
	data []byte
	from int
}

// listDef is a named list: scalars a condition reads as an array literal.
type listDef struct {
	name  string
	items []any
	file  string
	line  int
	from  int
}

// macroDef is a named expression a condition reads by name.
type macroDef struct {
	name string
	expr string
	file string
	line int
	from int
}

// selector enables or disables the rules with that id or tag.
type selector struct {
	value string
	file  string // "" for the configuration
	line  int
}

type ruleTuning struct {
	id         string
	severity   string
	exceptions []*Exception
	file       string
	line       int
}

// tuning is everything the tuning files of a rule set define.
type tuning struct {
	lists           map[string]*listDef
	macros          map[string]*macroDef
	rules           []ruleTuning
	enable, disable []*selector
}

// Exception suppresses a rule's matches whose fields compare true to
// every value of one of Values' tuples.
type Exception struct {
	Name   string
	Fields []string
	// Comps are the comparisons, one per field: =, !=, in, startswith,
	// endswith, contains, cidr. Default: = for every field.
	Comps []string
	// Values are the tuples, each with one value per field; a value
	// compared with in or cidr is a list, or a string naming a list.
	Values [][]any
	// File and Line locate the exception's definition.
	File string
	Line int

	program *vm.Program
}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// reservedNames are the names a list or macro cannot take: the event's
// fields and methods, expr's built-ins and keywords, Vigia's functions.
var reservedNames = func() map[string]bool {
	m := map[string]bool{"inCIDR": true, "let": true, "in": true, "not": true, "and": true, "or": true,
		"true": true, "false": true, "nil": true, "matches": true, "contains": true, "if": true, "else": true,
		"startsWith": true, "endsWith": true, "env": true, "$env": true}
	for _, n := range builtin.Names {
		m[n] = true
	}
	t := reflect.TypeFor[event.Event]()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("expr")
		if name == "" {
			name = f.Name
		}
		m[name] = true
	}
	pt := reflect.TypeFor[*event.Event]()
	for i := range pt.NumMethod() {
		m[pt.Method(i).Name] = true
	}
	return m
}()

func checkName(kind, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%s name %q must be lower-case letters, digits and underscores", kind, name)
	}
	if reservedNames[name] {
		return fmt.Errorf("%s name %q is an event field or an expr built-in", kind, name)
	}
	return nil
}

// loadTuning reads the tuning documents of every file, in order, and
// resolves the lists and macros. Syntax errors are left to parseFile.
func loadTuning(files []srcFile) (*tuning, LoadErrors) {
	tn := &tuning{lists: map[string]*listDef{}, macros: map[string]*macroDef{}}
	var errs LoadErrors
	for _, f := range files {
		nodes := yaml.NewDecoder(bytes.NewReader(f.data))
		strict := yaml.NewDecoder(bytes.NewReader(f.data))
		strict.KnownFields(true)
		for {
			var doc yaml.Node
			if err := nodes.Decode(&doc); err != nil {
				break
			}
			if !isTuningDoc(&doc) {
				var skip yaml.Node
				if strict.Decode(&skip) != nil {
					break
				}
				continue
			}
			var ft fileTuning
			if err := strict.Decode(&ft); err != nil {
				errs = append(errs, &LoadError{File: f.path, Line: yamlErrLine(err), Err: cleanYAMLErr(err)})
				continue
			}
			errs = append(errs, tn.addDoc(f, doc.Content[0], &ft)...)
		}
	}
	errs = append(errs, tn.checkMacros()...)
	return tn, errs
}

func (tn *tuning) addDoc(f srcFile, root *yaml.Node, ft *fileTuning) LoadErrors {
	var errs LoadErrors
	add := func(line int, field string, err error) {
		errs = append(errs, &LoadError{File: f.path, Line: line, Field: field, Err: err})
	}
	// lists
	if ft.Lists.Kind != 0 && ft.Lists.Kind != yaml.MappingNode {
		add(ft.Lists.Line, "lists", errors.New("want a mapping of list names to lists"))
	}
	for i := 0; ft.Lists.Kind == yaml.MappingNode && i+1 < len(ft.Lists.Content); i += 2 {
		k, v := ft.Lists.Content[i], ft.Lists.Content[i+1]
		field := "lists." + k.Value
		if err := checkName("list", k.Value); err != nil {
			add(k.Line, field, err)
			continue
		}
		if _, ok := tn.macros[k.Value]; ok {
			add(k.Line, field, fmt.Errorf("%q is already a macro", k.Value))
			continue
		}
		appendTo := false
		if v.Kind == yaml.MappingNode {
			a := valueNode(v, "append")
			if a == nil || len(v.Content) != 2 {
				add(v.Line, field, errors.New("want a list of values, or {append: [values]}"))
				continue
			}
			v, appendTo = a, true
		}
		var items []any
		if err := v.Decode(&items); err != nil || v.Kind != yaml.SequenceNode {
			add(v.Line, field, errors.New("want a list of values, or {append: [values]}"))
			continue
		}
		if err := checkScalars(items); err != nil {
			add(v.Line, field, err)
			continue
		}
		prev := tn.lists[k.Value]
		switch {
		case appendTo && prev == nil:
			add(k.Line, field, fmt.Errorf("append to list %q, which no earlier file defines", k.Value))
		case appendTo:
			prev.items = append(prev.items, items...)
		case prev != nil && prev.from == f.from:
			add(k.Line, field, fmt.Errorf("list %q is already defined at %s:%d; replace it from a later rules path, or use {append: [...]}", k.Value, prev.file, prev.line))
		default:
			tn.lists[k.Value] = &listDef{name: k.Value, items: items, file: f.path, line: k.Line, from: f.from}
		}
	}
	// macros
	if ft.Macros.Kind != 0 && ft.Macros.Kind != yaml.MappingNode {
		add(ft.Macros.Line, "macros", errors.New("want a mapping of macro names to expressions"))
	}
	for i := 0; ft.Macros.Kind == yaml.MappingNode && i+1 < len(ft.Macros.Content); i += 2 {
		k, v := ft.Macros.Content[i], ft.Macros.Content[i+1]
		field := "macros." + k.Value
		if err := checkName("macro", k.Value); err != nil {
			add(k.Line, field, err)
			continue
		}
		if _, ok := tn.lists[k.Value]; ok {
			add(k.Line, field, fmt.Errorf("%q is already a list", k.Value))
			continue
		}
		if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
			add(v.Line, field, errors.New("want an expression"))
			continue
		}
		if prev := tn.macros[k.Value]; prev != nil && prev.from == f.from {
			add(k.Line, field, fmt.Errorf("macro %q is already defined at %s:%d; replace it from a later rules path", k.Value, prev.file, prev.line))
			continue
		}
		line := v.Line
		if v.Style == yaml.LiteralStyle || v.Style == yaml.FoldedStyle {
			line++
		}
		tn.macros[k.Value] = &macroDef{name: k.Value, expr: v.Value, file: f.path, line: line, from: f.from}
	}
	// rules
	rulesNode := valueNode(root, "rules")
	for i := 0; rulesNode != nil && i+1 < len(rulesNode.Content); i += 2 {
		id, line := rulesNode.Content[i].Value, rulesNode.Content[i].Line
		rt := ft.Rules[id]
		if rt.Severity != "" && alert.SeverityRank(rt.Severity) < 0 {
			add(line, "rules."+id+".severity", fmt.Errorf("%q is not one of %s", rt.Severity, strings.Join(alert.Severities, ", ")))
			continue
		}
		t := ruleTuning{id: id, severity: rt.Severity, file: f.path, line: line}
		exNode := valueNode(rulesNode.Content[i+1], "exceptions")
		t.exceptions = exceptionsOf(f.path, exNode, rt.Exceptions, line)
		tn.rules = append(tn.rules, t)
	}
	for _, s := range ft.Enable {
		tn.enable = append(tn.enable, &selector{value: s, file: f.path, line: keyLine(root, "enable", root.Line)})
	}
	for _, s := range ft.Disable {
		tn.disable = append(tn.disable, &selector{value: s, file: f.path, line: keyLine(root, "disable", root.Line)})
	}
	return errs
}

func checkScalars(items []any) error {
	for _, it := range items {
		switch it.(type) {
		case string, int, int64, uint64, float64, bool:
		default:
			return fmt.Errorf("list items must be strings, numbers or booleans, not %T", it)
		}
	}
	return nil
}

// exceptionsOf converts the exceptions of a rule or of a tuning file's
// rules.<id> entry; node is their YAML sequence, for the lines.
func exceptionsOf(file string, node *yaml.Node, fes []fileException, def int) []*Exception {
	var out []*Exception
	for i, fe := range fes {
		line := def
		if node != nil && i < len(node.Content) {
			line = node.Content[i].Line
		}
		out = append(out, fe.exception(file, line))
	}
	return out
}

func (fe fileException) exception(file string, line int) *Exception {
	ex := &Exception{Name: fe.Name, Fields: fe.Fields, Comps: fe.Comps, File: file, Line: line}
	for _, v := range fe.Values {
		tuple, ok := v.([]any)
		if !ok || len(fe.Fields) == 1 && !isTupleOfOne(tuple) {
			// One field: a bare value is a one-element tuple.
			tuple = []any{v}
		}
		ex.Values = append(ex.Values, tuple)
	}
	return ex
}

// isTupleOfOne reports whether v, a value of a one-field exception, is
// already written as a tuple ([value] or [[a, b]]).
func isTupleOfOne(v []any) bool { return len(v) == 1 }

// checkMacros reports macro cycles and macros that do not compile.
func (tn *tuning) checkMacros() LoadErrors {
	var errs LoadErrors
	names := make([]string, 0, len(tn.macros))
	for n := range tn.macros {
		names = append(names, n)
	}
	slices.Sort(names)
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	cyclic := map[string]bool{}
	var visit func(name string, stack []string)
	visit = func(name string, stack []string) {
		switch state[name] {
		case done:
			return
		case visiting:
			i := slices.Index(stack, name)
			cycle := append(slices.Clone(stack[i:]), name)
			m := tn.macros[name]
			if !cyclic[name] {
				errs = append(errs, &LoadError{File: m.file, Line: m.line, Field: "macros." + name, Err: fmt.Errorf("macro cycle: %s", strings.Join(cycle, " → "))})
			}
			for _, c := range cycle {
				cyclic[c] = true
			}
			return
		}
		state[name] = visiting
		for _, ref := range tn.macroRefs(tn.macros[name].expr) {
			visit(ref, append(stack, name))
		}
		state[name] = done
	}
	for _, n := range names {
		visit(n, nil)
	}
	if len(errs) > 0 {
		return errs
	}
	for _, n := range names {
		m := tn.macros[n]
		if _, err := expr.Compile(m.expr, exprOptions(tn, m.expr)...); err != nil {
			errs = append(errs, &LoadError{File: m.file, Line: m.line, Field: "macros." + n, Err: err})
		}
	}
	return errs
}

// macroRefs returns the macros an expression names directly.
func (tn *tuning) macroRefs(src string) []string {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	bound := letNames(tree.Node)
	var refs []string
	ast.Walk(&tree.Node, visitFunc(func(n *ast.Node) {
		if id, ok := (*n).(*ast.IdentifierNode); ok && !bound[id.Value] && tn.macros[id.Value] != nil {
			refs = append(refs, id.Value)
		}
	}))
	return refs
}

type visitFunc func(*ast.Node)

func (f visitFunc) Visit(n *ast.Node) { f(n) }

// letNames returns the names a let binds in the tree; they shadow lists
// and macros of the same name.
func letNames(root ast.Node) map[string]bool {
	bound := map[string]bool{}
	ast.Walk(&root, visitFunc(func(n *ast.Node) {
		if v, ok := (*n).(*ast.VariableDeclaratorNode); ok {
			bound[v.Name] = true
		}
	}))
	return bound
}

// patcher replaces identifiers naming a list by an array literal and
// identifiers naming a macro by the macro's expression tree. It runs
// before expr's type check, so the result is checked as if written out.
type patcher struct {
	tn    *tuning
	bound map[string]bool
	// expanding are the macros being expanded around this tree: a cycle
	// (already reported at load) is left unexpanded, not followed.
	expanding []string
}

func (tn *tuning) patcher(src string) *patcher {
	p := &patcher{tn: tn, bound: map[string]bool{}}
	if tree, err := parser.Parse(src); err == nil {
		p.bound = letNames(tree.Node)
	}
	return p
}

func (p *patcher) Visit(node *ast.Node) {
	id, ok := (*node).(*ast.IdentifierNode)
	if !ok || p.bound[id.Value] || p.tn == nil {
		return
	}
	if l := p.tn.lists[id.Value]; l != nil {
		ast.Patch(node, l.node())
		return
	}
	if m := p.tn.macros[id.Value]; m != nil && !slices.Contains(p.expanding, m.name) {
		if n := p.tn.expand(m, p.expanding); n != nil {
			loc := id.Location()
			ast.Walk(&n, visitFunc(func(c *ast.Node) { (*c).SetLocation(loc) }))
			ast.Patch(node, n)
		}
	}
}

// expand parses a macro afresh (each use gets its own tree, which the
// type checker annotates) and expands the lists and macros it names.
// Cycles were reported by checkMacros.
func (tn *tuning) expand(m *macroDef, expanding []string) ast.Node {
	tree, err := parser.Parse(m.expr)
	if err != nil {
		return nil
	}
	p := tn.patcher(m.expr)
	p.expanding = append(slices.Clone(expanding), m.name)
	ast.Walk(&tree.Node, p)
	return tree.Node
}

// node returns the list as an array literal.
func (l *listDef) node() ast.Node {
	arr := &ast.ArrayNode{Nodes: make([]ast.Node, len(l.items))}
	for i, it := range l.items {
		arr.Nodes[i] = scalarNode(it)
	}
	return arr
}

func scalarNode(v any) ast.Node {
	switch x := v.(type) {
	case string:
		return &ast.StringNode{Value: x}
	case int:
		return &ast.IntegerNode{Value: x}
	case int64:
		return &ast.IntegerNode{Value: int(x)}
	case uint64:
		return &ast.IntegerNode{Value: int(x)}
	case float64:
		return &ast.FloatNode{Value: x}
	case bool:
		return &ast.BoolNode{Value: x}
	}
	return &ast.NilNode{}
}

// apply applies the tuning to the loaded rules: per-rule severity and
// exceptions, then compiles every rule's exceptions, then resolves enable
// and disable. parsed holds every rule parsed, loaded or not, so that
// tuning a rule that failed to load is not reported twice.
func (tn *tuning) apply(rules []*Rule, parsed map[string]*Rule, opts Options) LoadErrors {
	var errs LoadErrors
	byID := make(map[string]*Rule, len(rules))
	for _, r := range rules {
		byID[r.ID] = r
	}
	for _, t := range tn.rules {
		r := byID[t.id]
		if r == nil {
			if parsed[t.id] == nil {
				errs = append(errs, &LoadError{File: t.file, Line: t.line, Field: "rules." + t.id, Err: fmt.Errorf("no rule has id %q", t.id)})
			}
			continue
		}
		if t.severity != "" {
			r.Severity, r.meta.Severity = t.severity, t.severity
		}
		for _, ex := range t.exceptions {
			i := slices.IndexFunc(r.Exceptions, func(e *Exception) bool { return e.Name == ex.Name })
			switch {
			case i < 0:
				r.Exceptions = append(r.Exceptions, ex)
			case len(ex.Fields) == 0 && len(ex.Comps) == 0:
				// More values for an exception the rule (or an earlier file) defines.
				prev := *r.Exceptions[i]
				prev.Values = append(slices.Clone(prev.Values), ex.Values...)
				r.Exceptions[i] = &prev
			default:
				errs = append(errs, &LoadError{File: ex.File, Line: ex.Line, Rule: r.ID, Field: "exceptions",
					Err: fmt.Errorf("%q is already defined at %s:%d; to add values, give only name and values", ex.Name, r.Exceptions[i].File, r.Exceptions[i].Line)})
			}
		}
	}
	for _, r := range rules {
		if r.Correlation != nil && len(r.Exceptions) > 0 {
			ex := r.Exceptions[0]
			errs = append(errs, &LoadError{File: ex.File, Line: ex.Line, Rule: r.ID, Field: "exceptions",
				Err: errors.New("a correlation rule takes no exceptions: put them on the rules it references")})
			continue
		}
		// Values appended by a tuning file follow the fields of the
		// definition; re-read them against it.
		for _, ex := range r.Exceptions {
			if err := ex.compile(tn); err != nil {
				errs = append(errs, &LoadError{File: ex.File, Line: ex.Line, Rule: r.ID, Field: "exceptions." + ex.Name, Err: err})
			}
		}
	}
	enable, disable := slices.Clone(tn.enable), slices.Clone(tn.disable)
	for _, s := range opts.Enable {
		enable = append(enable, &selector{value: s})
	}
	for _, s := range opts.Disable {
		disable = append(disable, &selector{value: s})
	}
	for _, r := range rules {
		r.Disabled = selectDisabled(r, enable, disable)
	}
	// A selector that matches nothing is a typo or a renamed rule.
	all := make([]*Rule, 0, len(parsed))
	for _, r := range parsed {
		all = append(all, r)
	}
	for _, group := range []struct {
		field string
		sels  []*selector
	}{{"enable", enable}, {"disable", disable}} {
		for _, s := range group.sels {
			if slices.ContainsFunc(all, func(r *Rule) bool { return s.matchesID(r) || s.matchesTag(r) }) {
				continue
			}
			e := &LoadError{File: s.file, Line: s.line, Field: group.field, Err: fmt.Errorf("%q matches no rule id or tag", s.value)}
			if s.file == "" {
				e.File, e.Field = "configuration", "rules."+group.field
			}
			errs = append(errs, e)
		}
	}
	return errs
}

func (s *selector) matchesID(r *Rule) bool  { return s.value == r.ID }
func (s *selector) matchesTag(r *Rule) bool { return slices.Contains(r.Tags, s.value) }

// selectDisabled decides whether a rule is disabled: a selector naming
// its id beats one naming a tag, and at the same level enable beats
// disable. A rule no selector names keeps its own disabled: field.
func selectDisabled(r *Rule, enable, disable []*selector) bool {
	has := func(sels []*selector, match func(*selector, *Rule) bool) bool {
		return slices.ContainsFunc(sels, func(s *selector) bool { return match(s, r) })
	}
	switch {
	case has(enable, (*selector).matchesID):
		return false
	case has(disable, (*selector).matchesID):
		return true
	case has(enable, (*selector).matchesTag):
		return false
	case has(disable, (*selector).matchesTag):
		return true
	}
	return r.Disabled
}
