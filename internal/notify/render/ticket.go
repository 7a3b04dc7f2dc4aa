package render

import (
	"sort"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
)

// Words are the fixed texts of a ticket (a Jira or GitHub issue, a
// ServiceNow incident) in one locale.
type Words struct {
	Details, Triage, Runbook, Alerts, Group                       string
	Rule, Severity, Identity, SourceIP, UserAgent, Action         string
	Resource, Object, Outcome, Cluster, Namespace, Pod, Account   string
	Region, Source, Time, Tags, Field, Value                      string
	SoFar, NewAlerts, StillFiring, Resolved, More, NoAlerts, From string
}

var english = Words{
	Details: "Details", Triage: "Triage: first steps", Runbook: "Runbook", Alerts: "Alerts", Group: "Group",
	Rule: "Rule", Severity: "Severity", Identity: "Identity", SourceIP: "Source IP", UserAgent: "User agent",
	Action: "Action", Resource: "Resource", Object: "Object", Outcome: "Outcome", Cluster: "Cluster",
	Namespace: "Namespace", Pod: "Pod", Account: "Account", Region: "Region", Source: "Source", Time: "Time",
	Tags: "Tags", Field: "Field", Value: "Value",
	SoFar:       "Alerts so far: %d, first at %s, last at %s.",
	NewAlerts:   "New alerts: %d (%d in total, the last at %s).",
	StillFiring: "Still firing: %d alerts so far, the last at %s.",
	Resolved:    "Resolved by Vigia: no new alerts within the route's resolve timeout. %d alerts between %s and %s.",
	More:        "… and %d more.",
	NoAlerts:    "Alerts of group %s",
	From:        "Sent by Vigia.",
}

var portuguese = Words{
	Details: "Detalhes", Triage: "Triagem: primeiros passos", Runbook: "Runbook", Alerts: "Alertas", Group: "Grupo",
	Rule: "Regra", Severity: "Severidade", Identity: "Identidade", SourceIP: "IP de origem", UserAgent: "User agent",
	Action: "Ação", Resource: "Recurso", Object: "Objeto", Outcome: "Resultado", Cluster: "Cluster",
	Namespace: "Namespace", Pod: "Pod", Account: "Conta", Region: "Região", Source: "Fonte", Time: "Horário",
	Tags: "Tags", Field: "Campo", Value: "Valor",
	SoFar:       "Alertas até agora: %d, o primeiro em %s, o último em %s.",
	NewAlerts:   "Novos alertas: %d (%d no total, o último em %s).",
	StillFiring: "Ainda ativo: %d alertas até agora, o último em %s.",
	Resolved:    "Resolvido pelo Vigia: nenhum alerta novo dentro do resolve timeout da rota. %d alertas entre %s e %s.",
	More:        "… e mais %d.",
	NoAlerts:    "Alertas do grupo %s",
	From:        "Enviado pelo Vigia.",
}

// WordsFor returns the ticket texts for locale: Portuguese for "pt" and
// its regional variants, English otherwise.
func WordsFor(locale string) *Words {
	if l := strings.ToLower(locale); l == "pt" || strings.HasPrefix(l, "pt-") || strings.HasPrefix(l, "pt_") {
		return &portuguese
	}
	return &english
}

// Stamp formats t in UTC as RFC 3339, "—" when t is zero.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(time.RFC3339)
}

// Fact is one labelled value about an alert.
type Fact struct{ Label, Value string }

// Facts lists an alert's who, what and where, in the order tickets show
// them: identity, source IP, user agent, action, resource, object
// (namespace/name), outcome, cluster, namespace, pod, account, region and
// source. Values are raw and may be empty: a receiver cleans and formats
// them its own way and skips the empty ones. The rule, severity, time and
// tags are left to the receiver, which places them differently.
func Facts(a *alert.Alert, w *Words) []Fact {
	object := a.Context.Name
	if object != "" && a.Entity.Namespace != "" {
		object = a.Entity.Namespace + "/" + object
	}
	return []Fact{
		{w.Identity, a.Entity.Identity},
		{w.SourceIP, a.Context.SourceIP},
		{w.UserAgent, a.Context.UserAgent},
		{w.Action, a.Context.Action},
		{w.Resource, a.Context.Resource},
		{w.Object, object},
		{w.Outcome, a.Context.Outcome},
		{w.Cluster, a.Context.Cluster},
		{w.Namespace, a.Entity.Namespace},
		{w.Pod, a.Entity.Pod},
		{w.Account, a.Context.Account},
		{w.Region, a.Context.Region},
		{w.Source, a.Context.Source},
	}
}

// Ticket renders the plain-text parts every ticket receiver shares: the
// title, the group's labels and the severity label.
type Ticket struct {
	// Clean makes event-derived text safe for the receiver: Scrub, and
	// whatever markup of its own the receiver must defuse.
	Clean func(string) string
	// Shorten bounds a text in the receiver's measure (Shorten or
	// ShortenUTF16).
	Shorten func(s string, max int) string
	// MaxValue bounds one event-derived value.
	MaxValue int
}

// Value cleans and bounds an event-derived value, cleaning no more of a
// huge one than Window beyond what is shown.
func (t Ticket) Value(s string, max int) string {
	return t.Shorten(t.Clean(Cut(s, max+Window)), max)
}

// Severity is the label of a severity: upper case, "UNKNOWN" when empty.
func (t Ticket) Severity(sev string) string {
	if alert.SeverityRank(sev) >= 0 {
		return strings.ToUpper(sev)
	}
	if s := t.Value(sev, 20); s != "" {
		return strings.ToUpper(s)
	}
	return "UNKNOWN"
}

// Title is "[SEVERITY] rule title: alert summary" for the lead of alerts,
// or "[VIGIA] " and the group's labels when there is no alert, cleaned
// and bounded to max.
func (t Ticket) Title(alerts []*alert.Alert, groupLabels map[string]string, max int) string {
	a := notify.Lead(alerts)
	if a == nil {
		return t.Shorten("[VIGIA] "+t.Labels(groupLabels), max)
	}
	title := t.Clean(Cut(a.Rule.Title, max+Window))
	if title == "" {
		title = t.Clean(Cut(a.Rule.ID, max+Window))
	}
	s := "[" + t.Severity(a.Rule.Severity) + "] " + title
	if sum := t.Clean(Cut(a.Summary, max+Window)); sum != "" {
		s += ": " + sum
	}
	return t.Shorten(s, max)
}

// Labels lists a group's labels, "k=v, ..." sorted by name, cleaned and
// bounded to MaxValue.
func (t Ticket) Labels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, t.Clean(Cut(k, t.MaxValue))+"="+t.Clean(Cut(labels[k], t.MaxValue+Window)))
	}
	return t.Shorten(strings.Join(parts, ", "), t.MaxValue)
}
