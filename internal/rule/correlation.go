package rule

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/event"
)

// Correlation types. The first four follow the Sigma correlation
// specification (v2); first_seen is Vigia's new-terms rule.
const (
	EventCount      = "event_count"
	ValueCount      = "value_count"
	Temporal        = "temporal"
	TemporalOrdered = "temporal_ordered"
	FirstSeen       = "first_seen"
)

// CorrelationTypes lists the correlation types.
var CorrelationTypes = []string{EventCount, ValueCount, Temporal, TemporalOrdered, FirstSeen}

// Correlation is the correlation part of a rule: it matches on the
// matches of other rules, grouped by field values within a window.
type Correlation struct {
	Type string
	// Rules are the ids of the referenced rules, base or correlation.
	Rules []string
	// GroupBy are the group fields: expressions over the event, or alias
	// names.
	GroupBy []string
	// Timespan is the window length.
	Timespan time.Duration
	// Condition compares the count (event_count) or the number of
	// distinct values of Condition.Field (value_count).
	Condition Condition
	// Aliases map an alias name to the field each referenced rule uses
	// for it: {pod_sa: {k8s-pod-exec-attach: entity.service_account, ...}}.
	Aliases map[string]map[string]string
	// Field is the first_seen field: the value that must be new for the
	// group.
	Field string
	// Lookback: a first_seen value is new when not seen for the group
	// within Lookback.
	Lookback time.Duration
	// Warmup: first_seen learns without alerting until the rule has seen
	// Warmup of event time.
	Warmup time.Duration
	// Suppress is how long a fired group stays quiet. Default: Timespan
	// (first_seen: 0, every new value alerts).
	Suppress time.Duration

	// groups[i][j] extracts group field j for Rules[i]; values[i] the
	// value_count or first_seen field for Rules[i].
	groups [][]*vm.Program
	values []*vm.Program
}

// Condition is a comparison of a count with a threshold.
type Condition struct {
	// Op is gt, gte, lt, lte or eq.
	Op    string
	Value int
	// Field is the value_count field.
	Field string
}

// Holds reports whether n satisfies the condition.
func (c Condition) Holds(n int) bool {
	switch c.Op {
	case "gt":
		return n > c.Value
	case "gte":
		return n >= c.Value
	case "lt":
		return n < c.Value
	case "lte":
		return n <= c.Value
	case "eq":
		return n == c.Value
	}
	return false
}

// Monotone reports whether the condition, once true for a window, stays
// true as the window gains events (gt, gte): it is checked as events
// arrive. The others are checked when the window closes.
func (c Condition) Monotone() bool { return c.Op == "gt" || c.Op == "gte" }

// GroupValues returns the group field values of ev for referenced rule i;
// ok is false when a value is empty (the event cannot be grouped).
func (c *Correlation) GroupValues(m *vm.VM, i int, ev *event.Event) (vals []string, ok bool) {
	vals = make([]string, len(c.groups[i]))
	for j, p := range c.groups[i] {
		v := runString(m, p, ev)
		if v == "" {
			return vals, false
		}
		vals[j] = v
	}
	return vals, true
}

// Value returns the value_count or first_seen field of ev for referenced
// rule i, "" when empty.
func (c *Correlation) Value(m *vm.VM, i int, ev *event.Event) string {
	if i >= len(c.values) || c.values[i] == nil {
		return ""
	}
	return runString(m, c.values[i], ev)
}

func runString(m *vm.VM, p *vm.Program, ev *event.Event) string {
	out, err := m.Run(p, ev)
	if err != nil || out == nil {
		return ""
	}
	switch v := out.(type) {
	case string:
		return v
	case []string:
		return strings.Join(v, ",")
	}
	return fmt.Sprint(out)
}

// fileCorrelation is the YAML shape of a correlation, in Sigma's spelling.
type fileCorrelation struct {
	Type      string                       `yaml:"type"`
	Rules     []string                     `yaml:"rules"`
	GroupBy   []string                     `yaml:"group-by"`
	Timespan  string                       `yaml:"timespan"`
	Condition map[string]yaml.Node         `yaml:"condition"`
	Aliases   map[string]map[string]string `yaml:"aliases"`
	Field     string                       `yaml:"field"`
	Lookback  string                       `yaml:"lookback"`
	Warmup    string                       `yaml:"warmup"`
	Suppress  string                       `yaml:"suppress"`
}

var rawPattern = regexp.MustCompile(`\braw\b`)

var durationPattern = regexp.MustCompile(`^([0-9]+)(ms|s|m|h|d|w)$`)

// ParseDuration parses Sigma's timespans: 30s, 5m, 1h, 14d, 2w.
func ParseDuration(s string) (time.Duration, error) {
	m := durationPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a duration (30s, 5m, 1h, 14d, 2w)", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, err
	}
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit, nil
}

// parseCorrelation converts the YAML shape; references and fields are
// checked later, once every rule is known.
func parseCorrelation(fc *fileCorrelation) (*Correlation, error) {
	c := &Correlation{Type: fc.Type, Rules: fc.Rules, GroupBy: fc.GroupBy, Aliases: fc.Aliases, Field: fc.Field}
	if !slices.Contains(CorrelationTypes, c.Type) {
		return nil, fmt.Errorf("type %q is not one of %s", c.Type, strings.Join(CorrelationTypes, ", "))
	}
	if len(c.Rules) == 0 {
		return nil, errors.New("rules: at least one referenced rule id is required")
	}
	if (c.Type == Temporal || c.Type == TemporalOrdered) && len(c.Rules) < 2 {
		return nil, fmt.Errorf("rules: %s needs at least two referenced rules", c.Type)
	}
	if len(c.GroupBy) == 0 {
		return nil, errors.New("group-by: at least one field is required")
	}
	var err error
	dur := func(name, s string, required bool) time.Duration {
		if s == "" {
			if required && err == nil {
				err = fmt.Errorf("%s is required", name)
			}
			return 0
		}
		d, e := ParseDuration(s)
		if e != nil && err == nil {
			err = fmt.Errorf("%s: %w", name, e)
		}
		return d
	}
	c.Timespan = dur("timespan", fc.Timespan, c.Type != FirstSeen)
	c.Lookback = dur("lookback", fc.Lookback, c.Type == FirstSeen)
	c.Warmup = dur("warmup", fc.Warmup, false)
	c.Suppress = dur("suppress", fc.Suppress, false)
	if err != nil {
		return nil, err
	}
	if fc.Suppress == "" && c.Type != FirstSeen {
		c.Suppress = c.Timespan
	}
	if c.Type == FirstSeen {
		if c.Field == "" {
			return nil, errors.New("field: first_seen needs the field whose new values it reports")
		}
		if len(fc.Condition) > 0 {
			return nil, errors.New("condition: first_seen takes no condition")
		}
		return c, nil
	}
	if c.Field != "" {
		return nil, errors.New("field: only first_seen takes field; value_count names it in condition.field")
	}
	for k, v := range fc.Condition {
		switch k {
		case "field":
			c.Condition.Field = v.Value
		case "gt", "gte", "lt", "lte", "eq":
			if c.Condition.Op != "" {
				return nil, errors.New("condition: exactly one of gt, gte, lt, lte, eq")
			}
			n, e := strconv.Atoi(v.Value)
			if e != nil || n < 0 {
				return nil, fmt.Errorf("condition.%s: %q is not a non-negative integer", k, v.Value)
			}
			c.Condition.Op, c.Condition.Value = k, n
		default:
			return nil, fmt.Errorf("condition: unknown key %q (want gt, gte, lt, lte, eq, field)", k)
		}
	}
	switch c.Type {
	case EventCount, ValueCount:
		if c.Condition.Op == "" {
			return nil, errors.New("condition: one of gt, gte, lt, lte, eq is required")
		}
		if c.Type == ValueCount && c.Condition.Field == "" {
			return nil, errors.New("condition.field: value_count needs the field whose distinct values it counts")
		}
		if c.Type == EventCount && c.Condition.Field != "" {
			return nil, errors.New("condition.field: only value_count takes a field")
		}
	default:
		if len(fc.Condition) > 0 {
			return nil, fmt.Errorf("condition: %s takes no condition (all referenced rules must match)", c.Type)
		}
	}
	return c, nil
}

// linkCorrelations checks references (known ids, no cycles) and compiles
// the group and value fields of every correlation rule of rules.
func linkCorrelations(rules []*Rule) LoadErrors {
	byID := map[string]*Rule{}
	for _, r := range rules {
		byID[r.ID] = r
	}
	var errs LoadErrors
	for _, r := range rules {
		c := r.Correlation
		if c == nil {
			continue
		}
		add := func(field string, format string, args ...any) {
			errs = append(errs, &LoadError{File: r.File, Line: r.Line, Rule: r.ID, Field: field, Err: fmt.Errorf(format, args...)})
		}
		ok := true
		for _, id := range c.Rules {
			if byID[id] == nil {
				add("correlation.rules", "references unknown rule %q", id)
				ok = false
			}
		}
		for alias, m := range c.Aliases {
			if !slices.Contains(c.GroupBy, alias) {
				add("correlation.aliases", "alias %q is not used in group-by", alias)
				ok = false
			}
			for id := range m {
				if !slices.Contains(c.Rules, id) {
					add("correlation.aliases", "alias %q maps rule %q, which the correlation does not reference", alias, id)
					ok = false
				}
			}
		}
		if !ok {
			continue
		}
		if cyc := cycle(r, byID, nil); cyc != nil {
			add("correlation.rules", "reference cycle: %s", strings.Join(cyc, " → "))
			continue
		}
		c.groups = make([][]*vm.Program, len(c.Rules))
		c.values = make([]*vm.Program, len(c.Rules))
		for i, id := range c.Rules {
			for _, g := range c.GroupBy {
				field := g
				if m, isAlias := c.Aliases[g]; isAlias {
					if field = m[id]; field == "" {
						add("correlation.aliases", "alias %q has no field for rule %q", g, id)
						ok = false
						continue
					}
				}
				p, err := compileField(field)
				if err != nil {
					add("correlation.group-by", "%q: %v", field, err)
					ok = false
					continue
				}
				c.groups[i] = append(c.groups[i], p)
			}
			vf := c.Condition.Field
			if c.Type == FirstSeen {
				vf = c.Field
			}
			if vf != "" {
				p, err := compileField(vf)
				if err != nil {
					add("correlation", "field %q: %v", vf, err)
					ok = false
					continue
				}
				c.values[i] = p
			}
		}
	}
	return errs
}

// compileField compiles a group or value field: any expr expression over
// the normalized event, raw excluded (raw is built only for the rules
// that need it).
func compileField(field string) (*vm.Program, error) {
	if rawPattern.MatchString(field) {
		return nil, errors.New("correlation fields use normalized fields, not raw")
	}
	return expr.Compile(field, exprOptions(nil)...)
}

// cycle returns the reference path that leads back to r, or nil.
func cycle(r *Rule, byID map[string]*Rule, path []string) []string {
	path = append(path, r.ID)
	if r.Correlation == nil {
		return nil
	}
	for _, id := range r.Correlation.Rules {
		if slices.Contains(path, id) {
			return append(path, id)
		}
		if next := byID[id]; next != nil {
			if c := cycle(next, byID, path); c != nil {
				return c
			}
		}
	}
	return nil
}
