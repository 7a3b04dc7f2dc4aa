package route

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
)

// InhibitSpec is one inhibit rule as configured: an alert matching Target
// is muted while an alert matching Source, with the same values of the
// Equal labels, has been seen within the source route's resolve_timeout.
type InhibitSpec struct {
	SourceMatchers []string
	TargetMatchers []string
	Equal          []string
}

// InhibitRule is a compiled inhibit rule.
type InhibitRule struct {
	Source, Target labels.Matchers
	Equal          []string
}

// CompileInhibitRules parses the rules' matchers.
func CompileInhibitRules(specs []InhibitSpec) ([]InhibitRule, error) {
	var out []InhibitRule
	for i, s := range specs {
		var r InhibitRule
		for j, m := range s.SourceMatchers {
			ms, err := labels.ParseMatchers(m)
			if err != nil {
				return nil, fmt.Errorf("inhibit_rules[%d].source_matchers[%d]: %q: %v", i, j, m, err)
			}
			r.Source = append(r.Source, ms...)
		}
		for j, m := range s.TargetMatchers {
			ms, err := labels.ParseMatchers(m)
			if err != nil {
				return nil, fmt.Errorf("inhibit_rules[%d].target_matchers[%d]: %q: %v", i, j, m, err)
			}
			r.Target = append(r.Target, ms...)
		}
		if len(r.Source) == 0 || len(r.Target) == 0 {
			return nil, fmt.Errorf("inhibit_rules[%d]: source_matchers and target_matchers are required", i)
		}
		r.Equal = s.Equal
		out = append(out, r)
	}
	return out, nil
}

// inhibitor remembers the alerts one receiver has seen recently and answers
// whether a new one is inhibited: by an inhibit rule, or because a
// correlation alert seen by the receiver explains it.
type inhibitor struct {
	rules []InhibitRule

	mu        sync.Mutex
	sources   []seenAlert
	explained map[string]time.Time // alert id -> until
}

type seenAlert struct {
	id     string
	labels map[string]string
	until  time.Time
}

func newInhibitor(rules []InhibitRule) *inhibitor {
	return &inhibitor{rules: rules, explained: map[string]time.Time{}}
}

// observe records an alert the receiver got, valid until until.
func (in *inhibitor) observe(id string, lset map[string]string, explains []string, until time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range explains {
		in.explained[e] = until
	}
	for _, r := range in.rules {
		if r.Source.Matches(labelSet(lset)) {
			in.sources = append(in.sources, seenAlert{id: id, labels: lset, until: until})
			return
		}
	}
}

// inhibited reports whether the alert is muted at now, and why.
func (in *inhibitor) inhibited(id string, lset map[string]string, now time.Time) (bool, string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.expire(now)
	if _, ok := in.explained[id]; ok {
		return true, "explained by a correlation alert"
	}
	for _, r := range in.rules {
		if !r.Target.Matches(labelSet(lset)) {
			continue
		}
		for _, s := range in.sources {
			if s.id == id || !r.Source.Matches(labelSet(s.labels)) {
				continue
			}
			equal := true
			for _, k := range r.Equal {
				if s.labels[k] != lset[k] {
					equal = false
					break
				}
			}
			if equal {
				return true, "inhibited by alert " + s.id
			}
		}
	}
	return false, ""
}

func (in *inhibitor) expire(now time.Time) {
	keep := in.sources[:0]
	for _, s := range in.sources {
		if now.Before(s.until) {
			keep = append(keep, s)
		}
	}
	in.sources = keep
	for id, until := range in.explained {
		if !now.Before(until) {
			delete(in.explained, id)
		}
	}
}
