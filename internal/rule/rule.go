// Package rule loads detection rules, compiles their conditions once
// against the typed normalized event, evaluates them, and runs the tests
// each rule carries.
package rule

import (
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
)

// Rule is one detection rule, as written in a YAML file under detections/.
type Rule struct {
	// ID is unique across the rule set: lower-case letters, digits and dashes.
	ID          string
	Title       string
	Description string
	// Severity is one of info, low, medium, high, critical.
	Severity string
	// Tags are MITRE ATT&CK ids in Sigma's style: attack.t1611,
	// attack.privilege_escalation; other tags are free-form.
	Tags []string
	// Source limits the rule to events of one source ("k8s_audit"); empty
	// means every source.
	Source string
	// Condition is an expr-lang expression over event.Event returning bool.
	Condition string
	// Summary is the alert's one-line summary with {expr} placeholders.
	// Default: the title followed by actor, action and target.
	Summary string
	// Runbook is the runbook's path relative to the project root.
	Runbook        string
	FalsePositives string
	// Disabled rules are loaded and linted but never evaluated. After
	// loading it reflects the enable and disable selectors too.
	Disabled bool
	// SignalOnly rules feed correlations and alert nobody.
	SignalOnly bool
	// Correlation, when set, makes this a correlation rule: it matches on
	// the matches of the rules it references, not on events.
	Correlation *Correlation
	// Exceptions suppress matches: the rule's own, then those of tuning files.
	Exceptions []*Exception
	Tests      []Test

	// File and Line locate the rule's definition.
	File string
	Line int

	program    *vm.Program
	summary    []segment
	meta       alert.Rule
	compileErr *LoadError
	pos        int        // index in its Set's Rules and stats
	pre        constraint // what the condition requires of the prefilter's fields
	usesRaw    bool       // the condition or summary reads raw
	gate       []int      // ids of literals message must contain one of; nil: always evaluated (literals.go)
}

// Test is an example event with its expected outcome.
type Test struct {
	Name string
	// Match is whether the rule must match the event.
	Match bool
	// Event is the raw source message: JSON converted from the YAML, or
	// the text of a YAML string as is.
	Event []byte
	// File is the file name the message is said to come from (a kubelet
	// log file name tells the pod of a container log line).
	File string
	// Events are the messages of a correlation rule's test, in order; Match
	// is whether the correlation fires on them.
	Events [][]byte
	Line   int
}

// segment is one piece of a summary template: literal text or a program.
type segment struct {
	text    string
	program *vm.Program
}

var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// tagPattern accepts ATT&CK technique ids and tactic names, and free tags.
var techniquePattern = regexp.MustCompile(`^attack\.t[0-9]{4}(\.[0-9]{3})?$`)

// tactics are the ATT&CK Enterprise tactics, in Sigma's tag spelling.
var tactics = map[string]bool{
	"reconnaissance": true, "resource_development": true, "initial_access": true, "execution": true,
	"persistence": true, "privilege_escalation": true, "defense_evasion": true, "credential_access": true,
	"discovery": true, "lateral_movement": true, "collection": true, "command_and_control": true,
	"exfiltration": true, "impact": true,
}

// exprOptions are the compile options every condition and summary shares.
// The tuning's lists and macros are patched in by name when tn is not nil.
func exprOptions(tn *tuning, src ...string) []expr.Option {
	opts := []expr.Option{
		// A value, not a pointer: expr then compiles target.type, k8s.workload.present
		// and every other field path to one indexed load of the leaf, instead of
		// looking up each name at run time and copying the structs on the way
		// (Target, K8s) into interfaces. Evaluation still takes *event.Event.
		expr.Env(event.Event{}),
		// inCIDR(ip, "10.0.0.0/8", ...) reports whether ip is in any prefix.
		expr.Function("inCIDR", inCIDR, new(func(string, ...string) bool)),
		// MaxNodes bounds a condition's size, so a pathological rule
		// fails at load instead of slowing every event.
		expr.MaxNodes(MaxNodes),
	}
	if tn != nil && (len(tn.lists) > 0 || len(tn.macros) > 0) {
		opts = append(opts, expr.Patch(tn.patcher(strings.Join(src, "\n"))))
	}
	// After the macros, which may read raw too.
	return append(opts, rawOptions...)
}

// MaxNodes bounds the size of a condition or summary placeholder (expr
// AST nodes).
const MaxNodes = 10000

func inCIDR(params ...any) (any, error) {
	ip, err := netip.ParseAddr(params[0].(string))
	if err != nil {
		return false, nil
	}
	for _, p := range params[1:] {
		prefix, err := netip.ParsePrefix(p.(string))
		if err != nil {
			return false, fmt.Errorf("inCIDR: %q is not a CIDR prefix", p)
		}
		if prefix.Contains(ip.Unmap()) {
			return true, nil
		}
	}
	return false, nil
}

// compile compiles the rule's condition and summary. Errors carry the
// position inside the expression; the loader adds file and line.
func (r *Rule) compile(tn *tuning) error {
	var nodes []ast.Node
	if r.Correlation == nil {
		prog, err := expr.Compile(r.Condition, append(exprOptions(tn, r.Condition), expr.AsBool())...)
		if err != nil {
			return fmt.Errorf("condition: %w", err)
		}
		r.program = prog
		r.pre = constraints(prog.Node())
		nodes = append(nodes, prog.Node())
	}
	summary := r.Summary
	if summary == "" && r.Correlation != nil {
		summary = r.Title
	}
	if summary == "" {
		summary = r.Title + ": {actor.name} {action} {target.type}{target.subresource != \"\" ? \"/\" + target.subresource : \"\"} {target.namespace != \"\" ? target.namespace + \"/\" : \"\"}{target.name}"
	}
	segs, err := parseTemplate(summary, tn)
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	r.summary = segs
	for _, sg := range segs {
		if sg.program != nil {
			nodes = append(nodes, sg.program.Node())
		}
	}
	if err := r.checkRaw(nodes...); err != nil {
		return fmt.Errorf("condition: %w", err)
	}
	r.meta = alert.Rule{ID: r.ID, Title: r.Title, Severity: r.Severity, Tags: r.Tags}
	if r.meta.Tags == nil {
		r.meta.Tags = []string{}
	}
	return nil
}

// parseTemplate splits "text {expr} text" into segments and compiles each
// placeholder. "{{" and "}}" stand for literal braces.
func parseTemplate(s string, tn *tuning) ([]segment, error) {
	var segs []segment
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end, depth := -1, 0
			for j := i + 1; j < len(s); j++ {
				if s[j] == '{' {
					depth++
				} else if s[j] == '}' {
					if depth == 0 {
						end = j
						break
					}
					depth--
				}
			}
			if end < 0 {
				return nil, fmt.Errorf("unclosed { at offset %d", i)
			}
			if lit.Len() > 0 {
				segs = append(segs, segment{text: lit.String()})
				lit.Reset()
			}
			prog, err := expr.Compile(s[i+1:end], exprOptions(tn, s[i+1:end])...)
			if err != nil {
				return nil, fmt.Errorf("placeholder {%s}: %w", s[i+1:end], err)
			}
			segs = append(segs, segment{program: prog})
			i = end
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		segs = append(segs, segment{text: lit.String()})
	}
	return segs, nil
}

// render renders the summary for ev; a placeholder that fails renders as "?".
func (r *Rule) render(m *vm.VM, ev *event.Event) string {
	var b strings.Builder
	for _, s := range r.summary {
		if s.program == nil {
			b.WriteString(s.text)
			continue
		}
		v, err := m.Run(s.program, ev)
		switch {
		case err != nil || v == nil:
			b.WriteString("?")
		case reflect.TypeOf(v).Kind() == reflect.Slice:
			fmt.Fprintf(&b, "%v", v)
		default:
			fmt.Fprint(&b, v)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// Render renders the rule's summary for ev.
func (r *Rule) Render(ev *event.Event) string {
	var m vm.VM
	return r.render(&m, ev)
}

// Meta returns the alert's view of the rule.
func (r *Rule) Meta() alert.Rule { return r.meta }
