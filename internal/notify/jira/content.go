package jira

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

// The text is built once as a small document model (blocks of
// spans) and rendered either as Atlassian Document Format (API v3) or as
// wiki markup (API v2). Event-derived text only ever becomes the text of a
// span, never markup.

type blockKind int

const (
	paragraph blockKind = iota
	heading
	bullets
	numbered
)

// block is a paragraph or heading (one item) or a list (one item per entry).
type block struct {
	kind  blockKind
	items [][]span
}

// span is a run of text with at most one style, or a link.
type span struct {
	text   string
	code   bool   // monospace: identities, names, ids
	strong bool   // labels
	href   string // a link to href with text as its text
}

func txt(s string) span                      { return span{text: s} }
func code(s string) span                     { return span{text: s, code: true} }
func strong(s string) span                   { return span{text: s, strong: true} }
func para(s ...span) block                   { return block{kind: paragraph, items: [][]span{s}} }
func head(s string) block                    { return block{kind: heading, items: [][]span{{txt(s)}}} }
func list(k blockKind, items [][]span) block { return block{kind: k, items: items} }

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

// lead returns the alert the issue is titled after: the first of the
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

// Summary returns the issue summary for n: "[SEVERITY] rule title:
// alert summary", cleaned and truncated to Jira's 255 characters.
func Summary(n *notify.Notification) string {
	a := lead(n)
	if a == nil {
		return truncate("[VIGIA] "+groupText(n.GroupLabels), maxSummary)
	}
	title := clean(cut(a.Rule.Title, maxSummary+window))
	if title == "" {
		title = clean(cut(a.Rule.ID, maxSummary+window))
	}
	s := "[" + sevLabel(a.Rule.Severity) + "] " + title
	if sum := clean(cut(a.Summary, maxSummary+window)); sum != "" {
		s += ": " + sum
	}
	return truncate(s, maxSummary)
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

// content renders the parts of an issue or comment.
type content struct {
	cfg   *Config
	books *runbook.Library
}

// limits bound what a text lists, so that it fits Jira's size limit.
type limits struct {
	alerts int // alerts listed
	steps  int // runbook steps shown
}

// description is the issue body: summary, group statistics, the lead
// alert's details, the runbook's first steps and link, and the alerts.
func (c content) description(n *notify.Notification, lim limits) []block {
	w := wordsFor(n.Locale)
	a := lead(n)
	var out []block
	if a != nil {
		out = append(out, para(strong(sevLabel(a.Rule.Severity)), txt(" "+value(a.Summary, maxText))))
	} else {
		out = append(out, para(txt(fmt.Sprintf(w.noAlerts, groupText(n.GroupLabels)))))
	}
	out = append(out, para(txt(fmt.Sprintf(w.soFar, max(n.Total, len(n.Alerts)), stamp(n.FirstTime), stamp(n.LastTime)))))
	if a != nil {
		out = append(out, head(w.details), list(bullets, facts(a, w)))
		out = append(out, c.runbook(a, n.Locale, w, lim.steps)...)
	}
	out = append(out, c.alertList(n.Alerts, lim.alerts, w)...)
	out = append(out, para(strong(w.group+":"), txt(" "), code(groupText(n.GroupLabels)), txt(" "), code(Dedup(n.GroupKey))), para(txt(w.from)))
	return out
}

// update is the comment on a repeat: the new alerts, or a reminder.
func (c content) update(n *notify.Notification, lim limits) []block {
	w := wordsFor(n.Locale)
	alerts := nonNil(n.Alerts)
	if len(alerts) == 0 {
		return []block{para(txt(fmt.Sprintf(w.stillFiring, n.Total, stamp(n.LastTime))))}
	}
	out := []block{para(txt(fmt.Sprintf(w.newAlerts, len(alerts), max(n.Total, len(alerts)), stamp(n.LastTime))))}
	return append(out, c.alertList(alerts, lim.alerts, w)...)
}

// resolution is the comment on resolution.
func (c content) resolution(n *notify.Notification, _ limits) []block {
	w := wordsFor(n.Locale)
	return []block{para(txt(fmt.Sprintf(w.resolved, n.Total, stamp(n.FirstTime), stamp(n.LastTime))))}
}

func nonNil(as []*alert.Alert) []*alert.Alert {
	return slices.DeleteFunc(slices.Clone(as), func(a *alert.Alert) bool { return a == nil })
}

func (c content) alertList(as []*alert.Alert, maxAlerts int, w *words) []block {
	as = nonNil(as)
	if len(as) == 0 {
		return nil
	}
	if maxAlerts <= 0 {
		return []block{para(txt(fmt.Sprintf(w.more, len(as))))}
	}
	items := make([][]span, 0, min(len(as), maxAlerts))
	for _, a := range as[:min(len(as), maxAlerts)] {
		item := []span{code(stamp(a.Time)), txt(" "), code(value(a.Rule.ID, 200)), txt(" " + value(a.Summary, maxValue))}
		if id := value(a.Entity.Identity, maxValue); id != "" {
			item = append(item, txt(" "), code(id))
		}
		items = append(items, item)
	}
	out := []block{head(w.alerts), list(bullets, items)}
	if rest := len(as) - maxAlerts; rest > 0 {
		out = append(out, para(txt(fmt.Sprintf(w.more, rest))))
	}
	return out
}

// facts lists the alert's who/what/where/when, skipping empty values.
func facts(a *alert.Alert, w *words) [][]span {
	object := a.Context.Name
	if object != "" && a.Entity.Namespace != "" {
		object = a.Entity.Namespace + "/" + object
	}
	title := value(a.Rule.Title, maxValue)
	rows := []struct {
		label, value string
		plain        bool
	}{
		{w.rule, a.Rule.ID, false},
		{w.severity, sevLabel(a.Rule.Severity), true},
		{w.identity, a.Entity.Identity, false},
		{w.sourceIP, a.Context.SourceIP, false},
		{w.userAgent, a.Context.UserAgent, false},
		{w.action, a.Context.Action, false},
		{w.resource, a.Context.Resource, false},
		{w.object, object, false},
		{w.outcome, a.Context.Outcome, false},
		{w.cluster, a.Context.Cluster, false},
		{w.namespace, a.Entity.Namespace, false},
		{w.pod, a.Entity.Pod, false},
		{w.account, a.Context.Account, false},
		{w.region, a.Context.Region, false},
		{w.source, a.Context.Source, false},
	}
	var out [][]span
	for _, r := range rows {
		v := value(r.value, maxValue)
		if v == "" {
			continue
		}
		item := []span{strong(r.label + ":"), txt(" ")}
		if r.plain {
			item = append(item, txt(v))
		} else {
			item = append(item, code(v))
		}
		if r.label == w.rule && title != "" {
			item = append(item, txt(" "+title))
		}
		out = append(out, item)
	}
	if !a.Time.IsZero() {
		out = append(out, []span{strong(w.time + ":"), txt(" "), code(stamp(a.Time))})
	}
	if tags := tagSpans(a.Rule.Tags); len(tags) > 0 {
		out = append(out, append([]span{strong(w.tags + ":")}, tags...))
	}
	return out
}

// tagSpans shows rule tags as code, ATT&CK techniques as links to their
// page.
func tagSpans(tags []string) []span {
	var out []span
	for _, t := range tags {
		if tech, ok := render.ParseTechnique(t); ok {
			out = append(out, txt(" "), span{text: tech.ID, href: tech.URL})
		} else if v := value(t, 100); v != "" {
			out = append(out, txt(" "), code(v))
		}
	}
	return out
}

// runbook returns the triage steps and the link to the runbook, in the
// notification's locale when the runbook is translated.
func (c content) runbook(a *alert.Alert, locale string, w *words, steps int) []block {
	rb := render.RunbookFor(a, c.books, locale, c.cfg.RunbookBaseURL, steps)
	title, path := value(rb.Title, 300), value(rb.Path, 500)
	if title == "" && path == "" {
		return nil
	}
	if title == "" {
		title = path
	}
	var out []block
	var items [][]span
	for _, s := range rb.Steps {
		if sp := stepSpans(s); len(sp) > 0 {
			items = append(items, sp)
		}
	}
	if len(items) > 0 {
		out = append(out, head(w.triage), list(numbered, items))
	}
	link := []span{strong(w.runbook + ":"), txt(" ")}
	if u := safeURL(rb.URL); u != "" {
		link = append(link, span{text: title, href: u})
	} else {
		link = append(link, txt(title))
		if path != "" {
			link = append(link, txt(" "), code(path))
		}
	}
	return append(out, para(link...))
}

// safeURL returns u re-encoded when it is an absolute http(s) URL of
// reasonable length, "" otherwise.
func safeURL(raw string) string {
	if raw == "" || len(raw) > maxURL {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.String()
}

// stepPattern finds the inline markdown a runbook step may use: `code`,
// **bold** and [text](https://link).
var stepPattern = regexp.MustCompile("`([^`\n]+)`|\\*\\*([^*\n]+)\\*\\*|\\[([^\\]\n]+)\\]\\((https?://[^\\s()]+)\\)")

// stepSpans turns a runbook list item (our own markdown) into spans.
func stepSpans(s string) []span {
	s = truncate(clean(cut(s, maxStep+window)), maxStep)
	var out []span
	add := func(sp span) {
		if strings.TrimSpace(sp.text) != "" || (sp.text != "" && !sp.code && !sp.strong && sp.href == "") {
			out = append(out, sp)
		}
	}
	last := 0
	for _, m := range stepPattern.FindAllStringSubmatchIndex(s, -1) {
		add(txt(s[last:m[0]]))
		switch {
		case m[2] >= 0:
			add(code(s[m[2]:m[3]]))
		case m[4] >= 0:
			add(strong(s[m[4]:m[5]]))
		case m[6] >= 0:
			if u, err := url.Parse(s[m[8]:m[9]]); err == nil && u.Host != "" {
				add(span{text: s[m[6]:m[7]], href: u.String()})
			} else {
				add(txt(s[m[0]:m[1]]))
			}
		}
		last = m[1]
	}
	add(txt(s[last:]))
	return out
}
