package servicenow

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Incident texts are plain text: the description field shows text as it
// is, and work notes are plain journal entries (their [code] markup is
// defused in event-derived text, see clean).

// words are the receiver's fixed texts in one locale.
type words struct {
	details, triage, runbook, alerts, group                       string
	rule, severity, identity, sourceIP, userAgent, action         string
	resource, object, outcome, cluster, namespace, pod, account   string
	region, source, time, tags                                    string
	soFar, newAlerts, stillFiring, resolved, more, noAlerts, from string
}

var english = words{
	details: "Details", triage: "Triage: first steps", runbook: "Runbook", alerts: "Alerts", group: "Group",
	rule: "Rule", severity: "Severity", identity: "Identity", sourceIP: "Source IP", userAgent: "User agent",
	action: "Action", resource: "Resource", object: "Object", outcome: "Outcome", cluster: "Cluster",
	namespace: "Namespace", pod: "Pod", account: "Account", region: "Region", source: "Source", time: "Time",
	tags:        "Tags",
	soFar:       "Alerts so far: %d, first at %s, last at %s.",
	newAlerts:   "New alerts: %d (%d in total, the last at %s).",
	stillFiring: "Still firing: %d alerts so far, the last at %s.",
	resolved:    "Resolved by Vigia: no new alerts within the route's resolve timeout. %d alerts between %s and %s.",
	more:        "… and %d more.",
	noAlerts:    "Alerts of group %s",
	from:        "Sent by Vigia.",
}

var portuguese = words{
	details: "Detalhes", triage: "Triagem: primeiros passos", runbook: "Runbook", alerts: "Alertas", group: "Grupo",
	rule: "Regra", severity: "Severidade", identity: "Identidade", sourceIP: "IP de origem", userAgent: "User agent",
	action: "Ação", resource: "Recurso", object: "Objeto", outcome: "Resultado", cluster: "Cluster",
	namespace: "Namespace", pod: "Pod", account: "Conta", region: "Região", source: "Fonte", time: "Horário",
	tags:        "Tags",
	soFar:       "Alertas até agora: %d, o primeiro em %s, o último em %s.",
	newAlerts:   "Novos alertas: %d (%d no total, o último em %s).",
	stillFiring: "Ainda ativo: %d alertas até agora, o último em %s.",
	resolved:    "Resolvido pelo Vigia: nenhum alerta novo dentro do resolve timeout da rota. %d alertas entre %s e %s.",
	more:        "… e mais %d.",
	noAlerts:    "Alertas do grupo %s",
	from:        "Enviado pelo Vigia.",
}

func wordsFor(locale string) *words {
	if l := strings.ToLower(locale); l == "pt" || strings.HasPrefix(l, "pt-") || strings.HasPrefix(l, "pt_") {
		return &portuguese
	}
	return &english
}

// lead returns the alert the incident is titled after: the first of the
// highest severity.
func lead(n *notify.Notification) *alert.Alert {
	var best *alert.Alert
	for _, a := range n.Alerts {
		if a != nil && (best == nil || alert.SeverityRank(a.Rule.Severity) > alert.SeverityRank(best.Rule.Severity)) {
			best = a
		}
	}
	return best
}

func sevLabel(sev string) string {
	if alert.SeverityRank(sev) >= 0 {
		return strings.ToUpper(sev)
	}
	if s := value(sev, 20); s != "" {
		return strings.ToUpper(s)
	}
	return "UNKNOWN"
}

// ShortDescription returns the incident's short description for n:
// "[SEVERITY] rule title: alert summary", cleaned and truncated to 160
// characters.
func ShortDescription(n *notify.Notification) string {
	a := lead(n)
	if a == nil {
		return truncate("[VIGIA] "+groupText(n.GroupLabels), maxShort)
	}
	title := clean(cut(a.Rule.Title, maxShort+window))
	if title == "" {
		title = clean(cut(a.Rule.ID, maxShort+window))
	}
	s := "[" + sevLabel(a.Rule.Severity) + "] " + title
	if sum := clean(cut(a.Summary, maxShort+window)); sum != "" {
		s += ": " + sum
	}
	return truncate(s, maxShort)
}

func groupText(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, clean(cut(k, maxValue))+"="+clean(cut(labels[k], maxValue+window)))
	}
	return truncate(strings.Join(parts, ", "), maxValue)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(time.RFC3339)
}

// limits bound what a text lists, so that it fits the field.
type limits struct {
	alerts int
	steps  int
}

// content renders incident texts.
type content struct {
	cfg   *Config
	books *runbook.Library
}

// text is a plain-text document being written.
type text struct{ b strings.Builder }

func (t *text) line(s string) { t.b.WriteString(s + "\n") }
func (t *text) gap() {
	if t.b.Len() > 0 && !strings.HasSuffix(t.b.String(), "\n\n") {
		t.b.WriteString("\n")
	}
}
func (t *text) String() string { return strings.TrimRight(t.b.String(), "\n") }

// description is the incident description: summary, group statistics,
// details, the runbook's first steps and link, and the alerts.
func (c content) description(n *notify.Notification, lim limits) string {
	w := wordsFor(n.Locale)
	var t text
	a := lead(n)
	if a != nil {
		t.line("[" + sevLabel(a.Rule.Severity) + "] " + value(a.Summary, maxSummary))
	} else {
		t.line(fmt.Sprintf(w.noAlerts, groupText(n.GroupLabels)))
	}
	t.line(fmt.Sprintf(w.soFar, max(n.Total, len(n.Alerts)), stamp(n.FirstTime), stamp(n.LastTime)))
	if a != nil {
		t.gap()
		t.line(w.details)
		for _, f := range facts(a, w) {
			t.line("- " + f)
		}
		c.runbook(&t, a, n.Locale, w, lim.steps)
	}
	c.alertList(&t, n.Alerts, lim.alerts, w)
	t.gap()
	t.line(w.group + ": " + groupText(n.GroupLabels) + " (" + Dedup(n.GroupKey) + ")")
	t.line(w.from)
	return t.String()
}

// update is the work note on a repeat: the new alerts, or a reminder.
func (c content) update(n *notify.Notification, lim limits) string {
	w := wordsFor(n.Locale)
	alerts := nonNil(n.Alerts)
	if len(alerts) == 0 {
		return fmt.Sprintf(w.stillFiring, n.Total, stamp(n.LastTime))
	}
	var t text
	t.line(fmt.Sprintf(w.newAlerts, len(alerts), max(n.Total, len(alerts)), stamp(n.LastTime)))
	c.alertList(&t, alerts, lim.alerts, w)
	return t.String()
}

// resolution is the resolution note.
func (c content) resolution(n *notify.Notification, _ limits) string {
	w := wordsFor(n.Locale)
	s := fmt.Sprintf(w.resolved, n.Total, stamp(n.FirstTime), stamp(n.LastTime))
	if c.cfg.CloseNotes != "" {
		s = c.cfg.CloseNotes + "\n\n" + s
	}
	return s
}

func nonNil(as []*alert.Alert) []*alert.Alert {
	return slices.DeleteFunc(slices.Clone(as), func(a *alert.Alert) bool { return a == nil })
}

func (c content) alertList(t *text, as []*alert.Alert, maxAlerts int, w *words) {
	as = nonNil(as)
	if len(as) == 0 {
		return
	}
	t.gap()
	if maxAlerts > 0 {
		t.line(w.alerts)
		for _, a := range as[:min(len(as), maxAlerts)] {
			s := "- " + stamp(a.Time) + " " + value(a.Rule.ID, 200) + ": " + value(a.Summary, maxValue)
			if id := value(a.Entity.Identity, maxValue); id != "" {
				s += " (" + id + ")"
			}
			t.line(s)
		}
	}
	if rest := len(as) - max(maxAlerts, 0); rest > 0 {
		t.line(fmt.Sprintf(w.more, rest))
	}
}

// facts lists the alert's who/what/where/when as "Label: value" lines,
// skipping empty values.
func facts(a *alert.Alert, w *words) []string {
	object := a.Context.Name
	if object != "" && a.Entity.Namespace != "" {
		object = a.Entity.Namespace + "/" + object
	}
	rule := value(a.Rule.ID, maxValue)
	if title := value(a.Rule.Title, maxValue); title != "" {
		rule += " (" + title + ")"
	}
	rows := []struct{ label, value string }{
		{w.rule, rule},
		{w.severity, sevLabel(a.Rule.Severity)},
		{w.identity, a.Entity.Identity},
		{w.sourceIP, a.Context.SourceIP},
		{w.userAgent, a.Context.UserAgent},
		{w.action, a.Context.Action},
		{w.resource, a.Context.Resource},
		{w.object, object},
		{w.outcome, a.Context.Outcome},
		{w.cluster, a.Context.Cluster},
		{w.namespace, a.Entity.Namespace},
		{w.pod, a.Entity.Pod},
		{w.account, a.Context.Account},
		{w.region, a.Context.Region},
		{w.source, a.Context.Source},
		{w.tags, tagText(a.Rule.Tags)},
	}
	var out []string
	for _, r := range rows {
		if v := value(r.value, maxValue+maxValue); v != "" {
			out = append(out, r.label+": "+v)
		}
	}
	if !a.Time.IsZero() {
		out = append(out, w.time+": "+stamp(a.Time))
	}
	return out
}

// tagText lists rule tags, ATT&CK techniques with their page.
func tagText(tags []string) string {
	parts := make([]string, 0, len(tags))
	for _, t := range tags {
		if tech, ok := render.ParseTechnique(t); ok {
			parts = append(parts, tech.ID+" ("+tech.URL+")")
		} else {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, ", ")
}

// runbook writes the triage steps and the runbook's link, in the
// notification's locale when the runbook is translated.
func (c content) runbook(t *text, a *alert.Alert, locale string, w *words, steps int) {
	rb := render.RunbookFor(a, c.books, locale, c.cfg.RunbookBaseURL, steps)
	title, path := value(rb.Title, maxValue), value(rb.Path, maxValue)
	if title == "" && path == "" {
		return
	}
	if title == "" {
		title = path
	}
	if len(rb.Steps) > 0 {
		t.gap()
		t.line(w.triage)
		for i, s := range rb.Steps {
			t.line(fmt.Sprintf("%d. %s", i+1, plainStep(s)))
		}
	}
	t.gap()
	line := w.runbook + ": " + title
	if u := safeURL(rb.URL); u != "" {
		line += " " + u
	} else if path != "" {
		line += " (" + path + ")"
	}
	t.line(line)
}

// safeURL returns u re-encoded when it is an absolute http(s) URL of
// reasonable length, "" otherwise.
func safeURL(raw string) string {
	if raw == "" || len(raw) > 2000 {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.String()
}

var (
	mdBold = regexp.MustCompile(`\*\*([^*\n]+)\*\*`)
	mdLink = regexp.MustCompile(`\[([^\]\n]+)\]\((https?://[^\s()]+)\)`)
)

// plainStep renders a runbook list item (our markdown) as plain text:
// **bold** unmarked, [text](url) as "text (url)"; `code` stays as written.
func plainStep(s string) string {
	s = truncate(clean(cut(s, maxStep+window)), maxStep)
	s = mdBold.ReplaceAllString(s, "$1")
	return mdLink.ReplaceAllString(s, "$1 ($2)")
}
