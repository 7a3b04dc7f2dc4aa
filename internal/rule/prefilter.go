package rule

import (
	"slices"

	"github.com/expr-lang/expr/ast"

	"github.com/vigia-dev/vigia/internal/event"
)

// The prefilter index spares an event the rules that cannot match it.
//
// At load every condition's compiled tree (lists and macros patched in,
// after expr's optimizer) is read for required values of a few fields:
// the terms are
//
//	field == "lit"    "lit" == field    field in ["a", "b"]
//
// (a list of string literals, a tuning list of strings included),
// combined by && (also `and`: the constraints of both sides, intersected
// on a common field), || (also `or`: only a field both sides constrain,
// to the union of their values), parentheses and `let` (its body counts).
// Any other term — not, !=, startsWith, lower(field), a function call, a
// conditional, a comparison with a variable — constrains nothing. expr
// compares strings exactly for == and in, so an event whose field is
// outside a rule's required values makes the condition false: the rule
// is skipped without running. A condition without such terms has no
// constraint and runs on every event of its source.
//
// At evaluation the rules of the event's source followed by the
// any-source rules — the order of alerts is unchanged — are looked up by
// action (a map from each action some rule names to its candidates in
// order, and one slice for every other action), then each candidate's
// remaining constraints on target.type, target.subresource and outcome
// are checked against the event with a few string comparisons: about
// 0.1 µs an event with the shipped rules, which spares a Kubernetes read
// about 49 of its 54 conditions (0.1–0.3 µs each; BenchmarkEval). (A per-Evaluator cache from the event's five
// fields to its final candidates measured 0.05 µs faster, but it is
// memory filled by values an attacker chooses; not worth it.)
//
// A skipped rule is not evaluated: its Stats().Evaluations does not grow,
// and an error its condition would have raised on that event (say a term
// before the failing one reading a missing raw key) is not raised either.

// The fields the index reads.
const (
	fieldAction = iota
	fieldType
	fieldSubresource
	fieldOutcome
	numFields
)

var fieldNames = [numFields]string{"action", "target.type", "target.subresource", "outcome"}

// constraint is what a condition requires of the indexed fields.
type constraint struct {
	// set has bit f when field f is constrained to values[f] (an empty
	// values[f] then means the condition is never true).
	set    uint8
	values [numFields][]string
}

// has reports whether field f is constrained.
func (c *constraint) has(f int) bool { return c.set&(1<<f) != 0 }

// restrict intersects field f's allowed values with vals.
func (c *constraint) restrict(f int, vals []string) {
	if !c.has(f) {
		c.set |= 1 << f
		vs := slices.Clone(vals)
		slices.Sort(vs)
		c.values[f] = slices.Compact(vs)
		return
	}
	c.values[f] = slices.DeleteFunc(c.values[f], func(v string) bool { return !slices.Contains(vals, v) })
}

// and returns what a && b requires: every constraint of either.
func (c constraint) and(d constraint) constraint {
	for f := range numFields {
		if d.has(f) {
			c.restrict(f, d.values[f])
		}
	}
	return c
}

// or returns what a || b requires: a field both constrain, to either's
// values; a field one side leaves free is free.
func (c constraint) or(d constraint) constraint {
	var out constraint
	for f := range numFields {
		if c.has(f) && d.has(f) {
			out.restrict(f, slices.Concat(c.values[f], d.values[f]))
		}
	}
	return out
}

// admits reports whether ev satisfies the constraints on target.type,
// target.subresource and outcome; action is checked by the index's map.
func (c *constraint) admits(ev *event.Event) bool {
	if c.set&^(1<<fieldAction) == 0 {
		return true
	}
	return (!c.has(fieldType) || slices.Contains(c.values[fieldType], ev.Target.Type)) &&
		(!c.has(fieldSubresource) || slices.Contains(c.values[fieldSubresource], ev.Target.Subresource)) &&
		(!c.has(fieldOutcome) || slices.Contains(c.values[fieldOutcome], ev.Outcome))
}

// constraints extracts the required values of the indexed fields from a
// compiled condition's tree.
func constraints(n ast.Node) constraint {
	switch x := n.(type) {
	case *ast.BinaryNode:
		switch x.Operator {
		case "&&", "and":
			return constraints(x.Left).and(constraints(x.Right))
		case "||", "or":
			return constraints(x.Left).or(constraints(x.Right))
		case "==":
			f, ok := indexedField(x.Left)
			lit := x.Right
			if !ok {
				f, ok = indexedField(x.Right)
				lit = x.Left
			}
			if s, isLit := stringLit(lit); ok && isLit {
				var c constraint
				c.restrict(f, []string{s})
				return c
			}
		case "in":
			if f, ok := indexedField(x.Left); ok {
				if vals, ok := stringList(x.Right); ok {
					var c constraint
					c.restrict(f, vals)
					return c
				}
			}
		}
	case *ast.VariableDeclaratorNode:
		// let name = value; expr: expr decides. expr refuses a name that
		// hides a field; the check keeps the analysis right if it did not.
		if x.Name != "action" && x.Name != "outcome" && x.Name != "target" {
			return constraints(x.Expr)
		}
	}
	return constraint{}
}

// indexedField recognizes the event fields the index reads: the
// identifiers action and outcome, and target.type and target.subresource
// (target["type"] too), not optional chains or method calls.
func indexedField(n ast.Node) (int, bool) {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		switch x.Value {
		case "action":
			return fieldAction, true
		case "outcome":
			return fieldOutcome, true
		}
	case *ast.MemberNode:
		id, ok := x.Node.(*ast.IdentifierNode)
		if !ok || id.Value != "target" || x.Optional || x.Method {
			return 0, false
		}
		switch p, _ := x.Property.(*ast.StringNode); {
		case p == nil:
		case p.Value == "type":
			return fieldType, true
		case p.Value == "subresource":
			return fieldSubresource, true
		}
	}
	return 0, false
}

// stringLit returns the value of a string literal.
func stringLit(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.ConstantNode:
		s, ok := x.Value.(string)
		return s, ok
	}
	return "", false
}

// stringList returns the values of a list of string literals: an array
// literal, or the set expr's optimizer makes of one.
func stringList(n ast.Node) ([]string, bool) {
	switch x := n.(type) {
	case *ast.ArrayNode:
		vals := make([]string, 0, len(x.Nodes))
		for _, e := range x.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			vals = append(vals, s.Value)
		}
		return vals, true
	case *ast.ConstantNode:
		switch v := x.Value.(type) {
		case map[string]struct{}:
			vals := make([]string, 0, len(v))
			for s := range v {
				vals = append(vals, s)
			}
			return vals, true
		case []string:
			return v, true
		}
	}
	return nil, false
}

// prefilter holds one source's candidates: that source's rules followed
// by the any-source rules, in load order.
type prefilter struct {
	source   string
	byAction map[string][]*Rule // for each action some candidate requires
	other    []*Rule            // for every other action: the rules without an action constraint
}

// candidates returns the rules that may match ev, in evaluation order;
// each still has to admit ev.
func (p *prefilter) candidates(ev *event.Event) []*Rule {
	if rs, ok := p.byAction[ev.Action]; ok {
		return rs
	}
	return p.other
}

func newPrefilter(source string, rules []*Rule) *prefilter {
	p := &prefilter{source: source, byAction: map[string][]*Rule{}}
	for _, r := range rules {
		if !r.pre.has(fieldAction) {
			p.other = append(p.other, r)
			continue
		}
		for _, a := range r.pre.values[fieldAction] {
			p.byAction[a] = nil
		}
	}
	for a := range p.byAction {
		var rs []*Rule
		for _, r := range rules {
			if !r.pre.has(fieldAction) || slices.Contains(r.pre.values[fieldAction], a) {
				rs = append(rs, r)
			}
		}
		p.byAction[a] = rs
	}
	return p
}

// buildPrefilter indexes the enabled rules of every source; s.bySource
// must be built. Events of a source no rule names get the last entry: the
// any-source rules alone. Sources are few: a linear search beats a map.
func (s *Set) buildPrefilter() {
	s.prefilter = nil
	for src, rules := range s.bySource {
		if src != "" {
			s.prefilter = append(s.prefilter, newPrefilter(src, slices.Concat(rules, s.bySource[""])))
		}
	}
	s.prefilter = append(s.prefilter, newPrefilter("", s.bySource[""]))
}

// prefilterFor returns the index of ev's source.
func (s *Set) prefilterFor(source string) *prefilter {
	for _, p := range s.prefilter[:len(s.prefilter)-1] {
		if p.source == source {
			return p
		}
	}
	return s.prefilter[len(s.prefilter)-1]
}

// Unindexed returns the enabled single-event rules the prefilter index
// cannot narrow: no required action, target.type, target.subresource or
// outcome. They run on every event of their source.
func (s *Set) Unindexed() []*Rule {
	var out []*Rule
	for _, r := range s.Rules {
		if !r.Disabled && r.Correlation == nil && r.pre.set == 0 {
			out = append(out, r)
		}
	}
	return out
}

// Constraints describes what the prefilter index requires of r's event:
// field name to the values it may take (an empty list: none). Fields the
// condition does not constrain are absent.
func (r *Rule) Constraints() map[string][]string {
	out := map[string][]string{}
	for f, name := range fieldNames {
		if r.pre.has(f) {
			out[name] = slices.Clone(r.pre.values[f])
		}
	}
	return out
}
