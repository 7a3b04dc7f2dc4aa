// Package alert defines the alert Vigia emits when a rule matches, and its
// JSON contract (replay stdout, the console receiver, later every receiver).
// Fields may be added; existing names never change.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/redact"
)

// Severity levels, lowest first.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Severities lists the valid severities, lowest first.
var Severities = []string{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// SeverityRank returns the position of s in Severities, or -1.
func SeverityRank(s string) int {
	for i, v := range Severities {
		if v == s {
			return i
		}
	}
	return -1
}

// Alert is one detection.
type Alert struct {
	// ID identifies this alert: a hash of rule id and contributing events,
	// so replaying the same events yields the same id.
	ID      string      `json:"id"`
	Rule    Rule        `json:"rule"`
	Time    time.Time   `json:"time"`
	Summary string      `json:"summary"`
	Entity  Entity      `json:"entity"`
	Events  []event.Ref `json:"events"`
	Runbook Runbook     `json:"runbook"`
	// DedupKey groups alerts of the same incident: a hash of rule id and
	// entity. Receivers use it to update instead of duplicating.
	DedupKey string `json:"dedup_key"`
	// Context carries who/what/where details for receivers: verb,
	// resource, name, cluster, source IP, user agent. Never secret values.
	Context Context `json:"context"`
	// Labels are what routes, silences and inhibit rules match on: rule,
	// severity, source, cluster, namespace, identity, pod, tags (comma
	// separated), and ns_<key> for the owning namespace's labels (team,
	// environment, …). Set by the router; see Alert.BaseLabels.
	Labels map[string]string `json:"labels,omitempty"`
	// Explains lists the ids of the alerts a correlation alert explains
	// (its members): a receiver that gets both notifies the correlation
	// and mutes the members it has not notified yet.
	Explains []string `json:"explains,omitempty"`
	// Correlation describes a correlation alert's window: its type, group
	// and the span of its events. Nil for single-event alerts.
	Correlation *Correlation `json:"correlation,omitempty"`
}

// Correlation is the window a correlation alert fired on.
type Correlation struct {
	Type string `json:"type"`
	// Group is the group-by field values (field → value).
	Group map[string]string `json:"group"`
	// Count is the number of contributing events; Distinct the number of
	// distinct values (value_count) or the new value (first_seen).
	Count    int       `json:"count"`
	Distinct int       `json:"distinct,omitempty"`
	Value    string    `json:"value,omitempty"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// BaseLabels returns the labels every alert has, derived from its fields.
func (a *Alert) BaseLabels() map[string]string {
	l := map[string]string{
		"rule":     a.Rule.ID,
		"severity": a.Rule.Severity,
		"source":   a.Context.Source,
	}
	set := func(k, v string) {
		if v != "" {
			l[k] = v
		}
	}
	set("cluster", a.Context.Cluster)
	set("namespace", a.Entity.Namespace)
	set("identity", a.Entity.Identity)
	set("pod", a.Entity.Pod)
	set("account", a.Context.Account)
	if len(a.Rule.Tags) > 0 {
		l["tags"] = strings.Join(a.Rule.Tags, ",")
	}
	return l
}

// Rule is the rule part of an alert.
type Rule struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity string   `json:"severity"`
	Tags     []string `json:"tags"`
}

// Entity is whom and where the alert is about.
type Entity struct {
	Identity  string `json:"identity"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
}

// Runbook references the rule's runbook.
type Runbook struct {
	Path  string `json:"path"`
	Title string `json:"title"`
}

// Context is the who/what/where/when detail of the triggering event.
type Context struct {
	Source    string `json:"source"`
	Action    string `json:"action,omitempty"`
	Resource  string `json:"resource,omitempty"`
	Name      string `json:"name,omitempty"`
	Cluster   string `json:"cluster,omitempty"`
	SourceIP  string `json:"source_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Outcome   string `json:"outcome,omitempty"`
	// Account and Region are the cloud account (AWS account, GCP project,
	// Azure subscription) and region of cloud events.
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
}

// FromEvent builds the single-event alert of rule r for e.
func FromEvent(r Rule, summary string, rb Runbook, e *event.Event) *Alert {
	ent := entityOf(e)
	resource := e.Target.Type
	if e.Target.Subresource != "" {
		resource += "/" + e.Target.Subresource
	}
	// Credentials never ride along: the summary and context are built from
	// event fields, and some (a container log line, a request URI, a user
	// agent) are free text an attacker or a careless app can fill.
	summary = redact.String(summary)
	return &Alert{
		ID:       hash(r.ID, e.Source, e.ID),
		Rule:     r,
		Time:     e.Time,
		Summary:  summary,
		Entity:   ent,
		Events:   []event.Ref{e.Ref()},
		Runbook:  rb,
		DedupKey: hash(r.ID, ent.Identity, ent.Namespace, ent.Pod),
		Context: Context{
			Source:    e.Source,
			Action:    e.Action,
			Resource:  resource,
			Name:      redact.String(e.Target.Name),
			Cluster:   e.K8s.Cluster,
			SourceIP:  e.Actor.SourceIP,
			UserAgent: redact.String(e.Actor.UserAgent),
			Outcome:   e.Outcome,
			Account:   e.Cloud.Account,
			Region:    e.Cloud.Region,
		},
	}
}

// Signal is the alert of a signal-only rule. It is never routed: it
// feeds correlations, which keep only its id, rule, time, entity and
// event. So it carries no summary or context, and costs none of their
// rendering and redaction (signal rules such as "a long-term access key
// was used" match a large share of a cloud log).
func Signal(r Rule, e *event.Event) *Alert {
	ent := entityOf(e)
	return &Alert{
		ID:       hash(r.ID, e.Source, e.ID),
		Rule:     r,
		Time:     e.Time,
		Entity:   ent,
		Events:   []event.Ref{e.Ref()},
		DedupKey: hash(r.ID, ent.Identity, ent.Namespace, ent.Pod),
		Context:  Context{Source: e.Source, Action: e.Action},
	}
}

// entityOf is who and where an alert on e is about.
func entityOf(e *event.Event) Entity {
	// The resolved identity, when resolution found one, so a service
	// account's cloud calls and its Kubernetes requests share dedup keys.
	ent := Entity{Identity: e.Entity.Identity, Namespace: e.K8s.Namespace, Pod: e.K8s.Pod}
	if ent.Identity == "" {
		ent.Identity = e.Actor.Name
	}
	if ent.Namespace == "" {
		ent.Namespace = e.Target.Namespace
	}
	// A cloud call made by a workload's federated identity belongs to the
	// workload's namespace: its owners get the alert.
	if ent.Namespace == "" && e.Entity.ServiceAccount != "" {
		ent.Namespace, _, _ = strings.Cut(e.Entity.ServiceAccount, "/")
	}
	return ent
}

// Hash is the hash alert ids and dedup keys are made of.
func Hash(parts ...string) string { return hash(parts...) }

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
