package rule

import (
	"unsafe"

	"github.com/cloudflare/ahocorasick"
	"github.com/expr-lang/expr/ast"
)

// Literal gates: most container-log rules are written as
//
//	(message contains "mkfifo" && message matches `...`) || message contains "--donate-level" || ...
//
// so a log line that contains none of a rule's literals cannot match it.
// At load, each rule's condition is analysed for such a set of required
// literals of `message`; at evaluation, one Aho-Corasick pass over the
// line finds which of all the rules' literals it contains, and a rule none
// of whose literals is present is skipped without running. On ordinary
// application logs (no literal present in ~90% of lines) this replaces a
// dozen expr evaluations with one scan of the line.

// gateField is the event field literal gates read: the container log line.
const gateField = "message"

// requiredLiterals returns literals such that n can only be true when
// message contains at least one of them; ok is false when there is no
// such set (the rule always runs). It is conservative: anything it does
// not understand gives no set.
func requiredLiterals(n ast.Node) (lits []string, ok bool) {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			// Either side's set is required; take the one that skips more
			// often: fewer literals.
			l, lok := requiredLiterals(n.Left)
			r, rok := requiredLiterals(n.Right)
			switch {
			case lok && rok:
				if len(r) < len(l) {
					return r, true
				}
				return l, true
			case lok:
				return l, true
			case rok:
				return r, true
			}
			return nil, false
		case "||", "or":
			l, lok := requiredLiterals(n.Left)
			r, rok := requiredLiterals(n.Right)
			if !lok || !rok {
				return nil, false
			}
			return append(append([]string(nil), l...), r...), true
		case "contains", "startsWith", "endsWith":
			if id, isID := n.Left.(*ast.IdentifierNode); isID && id.Value == gateField {
				if s, isStr := n.Right.(*ast.StringNode); isStr && s.Value != "" {
					return []string{s.Value}, true
				}
			}
		}
	case *ast.VariableDeclaratorNode: // let x = ...; expr
		return requiredLiterals(n.Expr)
	}
	return nil, false
}

// literalGate holds every gated rule's literals in one automaton.
type literalGate struct {
	matcher *ahocorasick.Matcher
	n       int // distinct literals
}

// buildGates assigns each rule of rules its literal ids (Rule.gate) and
// returns the automaton over all of them; nil when no rule is gated.
func buildGates(rules []*Rule) *literalGate {
	ids := map[string]int{}
	var dict []string
	for _, r := range rules {
		r.gate = nil
		if r.program == nil || r.Correlation != nil {
			continue
		}
		lits, ok := requiredLiterals(r.program.Node())
		if !ok {
			continue
		}
		gate := make([]int, 0, len(lits))
		for _, l := range lits {
			id, seen := ids[l]
			if !seen {
				id = len(dict)
				ids[l] = id
				dict = append(dict, l)
			}
			gate = append(gate, id)
		}
		r.gate = gate
	}
	if len(dict) == 0 {
		return nil
	}
	return &literalGate{matcher: ahocorasick.NewStringMatcher(dict), n: len(dict)}
}

// gateHits is one evaluator's record of which literals the current
// event's message contains, computed on first need; reset before each
// event.
type gateHits struct {
	valid   bool
	present []bool
	hit     []int
}

// reset forgets the previous event's hits.
func (h *gateHits) reset() {
	for _, id := range h.hit {
		h.present[id] = false
	}
	h.hit, h.valid = h.hit[:0], false
}

// open reports whether rule r may match an event whose message is msg.
func (h *gateHits) open(g *literalGate, r *Rule, msg string) bool {
	if r.gate == nil {
		return true
	}
	if msg == "" {
		return false
	}
	if !h.valid {
		if len(h.present) != g.n {
			h.present = make([]bool, g.n)
		}
		// The matcher only reads the bytes.
		h.hit = g.matcher.Match(unsafe.Slice(unsafe.StringData(msg), len(msg)))
		for _, id := range h.hit {
			h.present[id] = true
		}
		h.valid = true
	}
	for _, id := range r.gate {
		if h.present[id] {
			return true
		}
	}
	return false
}
