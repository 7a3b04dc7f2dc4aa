package rule

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/vigia-dev/vigia/internal/event"
)

// Comps are the comparisons an exception may use, as in Falco.
var Comps = []string{"=", "!=", "in", "startswith", "endswith", "contains", "cidr"}

var fieldPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// compile checks the exception against the event's fields and compiles
// it into one program that is true when any tuple matches. An exception
// without values (a slot for tuning files to fill) compiles to nothing.
func (ex *Exception) compile(tn *tuning) error {
	if strings.TrimSpace(ex.Name) == "" {
		return errors.New("name is required")
	}
	if len(ex.Fields) == 0 {
		return errors.New("fields: at least one field is required")
	}
	comps := ex.Comps
	if len(comps) == 0 {
		comps = slices.Repeat([]string{"="}, len(ex.Fields))
	}
	if len(comps) != len(ex.Fields) {
		return fmt.Errorf("comps: %d comparisons for %d fields", len(comps), len(ex.Fields))
	}
	refs := make([]string, len(ex.Fields))
	for i, f := range ex.Fields {
		if !slices.Contains(Comps, comps[i]) {
			return fmt.Errorf("comps: %q is not one of %s", comps[i], strings.Join(Comps, " "))
		}
		if !fieldPattern.MatchString(f) {
			return fmt.Errorf("fields: %q is not a field path (actor.name, target.namespace, raw.key)", f)
		}
		refs[i] = f
		if rest, ok := strings.CutPrefix(f, "raw."); ok {
			refs[i] = "raw?." + strings.ReplaceAll(rest, ".", "?.")
		}
		if _, err := expr.Compile(refs[i], expr.Env(&event.Event{})); err != nil {
			return fmt.Errorf("fields: %q is not an event field: %v", f, firstLine(err))
		}
	}
	var tuples []string
	for n, tuple := range ex.Values {
		if len(tuple) != len(ex.Fields) {
			return fmt.Errorf("values[%d]: %d values for %d fields", n, len(tuple), len(ex.Fields))
		}
		terms := make([]string, len(tuple))
		for i, v := range tuple {
			t, err := exceptionTerm(refs[i], comps[i], v, tn)
			if err != nil {
				return fmt.Errorf("values[%d]: %s %s: %w", n, ex.Fields[i], comps[i], err)
			}
			terms[i] = t
		}
		tuples = append(tuples, "("+strings.Join(terms, " && ")+")")
	}
	if len(tuples) == 0 {
		ex.program = nil
		return nil
	}
	prog, err := expr.Compile(strings.Join(tuples, " || "), append(exprOptions(nil), expr.AsBool())...)
	if err != nil {
		return fmt.Errorf("%s (check the value types against the fields)", firstLine(err))
	}
	ex.program = prog
	return nil
}

// exceptionTerm writes one comparison as an expr expression.
func exceptionTerm(ref, comp string, v any, tn *tuning) (string, error) {
	switch comp {
	case "in", "cidr":
		items, err := listValue(v, tn)
		if err != nil {
			return "", err
		}
		if comp == "cidr" {
			for _, it := range items {
				s, ok := it.(string)
				if !ok {
					return "", fmt.Errorf("%v is not a CIDR prefix", it)
				}
				if _, err := netip.ParsePrefix(s); err != nil {
					return "", fmt.Errorf("%q is not a CIDR prefix", s)
				}
			}
			lits := make([]string, len(items))
			for i, it := range items {
				lits[i] = literal(it)
			}
			return fmt.Sprintf("inCIDR(string(%s ?? \"\"), %s)", ref, strings.Join(lits, ", ")), nil
		}
		lits := make([]string, len(items))
		for i, it := range items {
			lits[i] = literal(it)
		}
		return fmt.Sprintf("%s in [%s]", ref, strings.Join(lits, ", ")), nil
	case "startswith", "endswith", "contains":
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("want a string, not %v", v)
		}
		op := map[string]string{"startswith": "startsWith", "endswith": "endsWith", "contains": "contains"}[comp]
		return fmt.Sprintf("string(%s ?? \"\") %s %s", ref, op, literal(s)), nil
	default: // = and !=
		if err := checkScalars([]any{v}); err != nil {
			return "", fmt.Errorf("want one value: %w", err)
		}
		op := "=="
		if comp == "!=" {
			op = "!="
		}
		return fmt.Sprintf("%s %s %s", ref, op, literal(v)), nil
	}
}

// listValue returns the items of an in or cidr value: a list, or a
// string naming a list of the tuning files.
func listValue(v any, tn *tuning) ([]any, error) {
	switch x := v.(type) {
	case []any:
		if err := checkScalars(x); err != nil {
			return nil, err
		}
		return x, nil
	case string:
		if tn != nil && tn.lists[x] != nil {
			return tn.lists[x].items, nil
		}
		if x == "" {
			return nil, errors.New("want a list")
		}
		// A single CIDR or value reads as a list of one.
		if _, err := netip.ParsePrefix(x); err == nil {
			return []any{x}, nil
		}
		return nil, fmt.Errorf("%q names no list; write [%s] for a list of one", x, x)
	}
	return nil, fmt.Errorf("want a list or a list name, not %v", v)
}

// literal writes a scalar as an expr literal.
func literal(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// suppressedBy returns the exception that suppresses a match on ev, or
// nil. An exception that fails at run time suppresses nothing: an alert
// too many beats one lost.
func (r *Rule) suppressedBy(m *vm.VM, ev *event.Event) *Exception {
	for _, ex := range r.Exceptions {
		if ex.program == nil {
			continue
		}
		if out, err := m.Run(ex.program, ev); err == nil && out == true {
			return ex
		}
	}
	return nil
}
