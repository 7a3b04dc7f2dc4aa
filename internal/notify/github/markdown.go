package github

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// GitHub's limits, in characters (runes).
const (
	maxTitle = 256
	maxBody  = 65536 // issue and comment bodies
	maxLabel = 50

	maxValue   = 500
	maxSummary = 2000
	maxStep    = 1000
)

const ellipsis = "…"

// Dedup returns a group's stable identity for GitHub: "vigia-" and the
// first 32 hex digits of the group key (of its SHA-256 when the key is not
// hex). It is the issue's group label and appears in the hidden marker
// <!-- vigia:group=... --> of the issue body.
func Dedup(groupKey string) string {
	if len(groupKey) >= 32 && isHex(groupKey[:32]) {
		return "vigia-" + strings.ToLower(groupKey[:32])
	}
	sum := sha256.Sum256([]byte(groupKey))
	return "vigia-" + hex.EncodeToString(sum[:16])
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// Marker is the hidden line that opens every issue body Vigia writes.
func Marker(groupKey string) string { return "<!-- vigia:group=" + Dedup(groupKey) + " -->" }

// clean makes event-derived text safe to show: credentials redacted,
// invalid UTF-8 replaced, control characters and line breaks turned into
// spaces, bidirectional controls dropped, surrounding space trimmed.
func clean(s string) string {
	// A second redaction: joining lines can complete a pattern
	// ("Authorization:\nBearer x").
	return strings.TrimSpace(redact.String(render.Clean(s)))
}

// truncate shortens s to at most max runes, marking the cut with "…".
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	r := []rune(s)[:max-1]
	return strings.TrimRight(string(r), " \n") + ellipsis
}

// window is how much of a value beyond what is shown gets cleaned: enough
// for any credential that starts in the shown part to be recognised whole
// (and redacted), while a huge field costs no more than this.
const window = 2048

// cut returns at most n runes of s, without a mark: a bound on the work,
// not the shown length.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// zwsp (zero width space) breaks the patterns GitHub turns into links and
// notifications: @mentions, #123 and GH-123 references, bare URLs.
const zwsp = "\u200b"

var (
	mdEscaper = strings.NewReplacer(
		`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`,
		"|", `\|`, "~", `\~`, "!", `\!`, "&", "&amp;", "#", `\#`, "$", `\$`,
	)
	mention  = regexp.MustCompile(`@([A-Za-z0-9])`)
	issueRef = regexp.MustCompile(`#([0-9])`)
	ghRef    = regexp.MustCompile(`(?i)\b(gh)-([0-9])`)
	autolink = regexp.MustCompile(`(?i)(https?|ftp|mailto|www)(:|\.)`)
)

// text renders event-derived text as inert markdown: every character with
// a meaning escaped (no emphasis, links, images, HTML or code spans),
// and @mentions, #references and bare URLs broken with an invisible space
// so they neither link nor notify anyone.
func text(s string, max int) string {
	s = truncate(clean(cut(s, max+window)), max)
	s = mention.ReplaceAllString(s, "@"+zwsp+"$1")
	s = autolink.ReplaceAllString(s, "$1"+zwsp+"$2")
	s = ghRef.ReplaceAllString(s, "$1-"+zwsp+"$2")
	s = mdEscaper.Replace(s)
	return issueRef.ReplaceAllString(s, "#"+zwsp+"$1")
}

// code renders an identifier (user, pod, IP, ...) as a code span, where
// GitHub resolves no mention, reference or link: backticks replaced,
// pipes escaped inside tables. Empty values render as "—".
func code(s string, max int, inTable bool) string {
	s = truncate(clean(strings.ReplaceAll(cut(s, max+window), "`", "'")), max)
	if s == "" {
		return "—"
	}
	if inTable {
		s = strings.ReplaceAll(s, "|", `\|`)
	}
	return "`" + s + "`"
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(time.RFC3339)
}

// words are the receiver's fixed texts in one locale.
type words struct {
	details, triage, runbook, alerts, group                       string
	rule, severity, identity, sourceIP, userAgent, action         string
	resource, object, outcome, cluster, namespace, pod, account   string
	region, source, time, tags, field, value                      string
	soFar, newAlerts, stillFiring, resolved, more, noAlerts, from string
}

var english = words{
	details: "Details", triage: "Triage: first steps", runbook: "Runbook", alerts: "Alerts", group: "Group",
	rule: "Rule", severity: "Severity", identity: "Identity", sourceIP: "Source IP", userAgent: "User agent",
	action: "Action", resource: "Resource", object: "Object", outcome: "Outcome", cluster: "Cluster",
	namespace: "Namespace", pod: "Pod", account: "Account", region: "Region", source: "Source", time: "Time",
	tags: "Tags", field: "Field", value: "Value",
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
	tags: "Tags", field: "Campo", value: "Valor",
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
	if s := truncate(clean(sev), 20); s != "" {
		return strings.ToUpper(s)
	}
	return "UNKNOWN"
}

// Title returns the issue title for n: "[SEVERITY] rule title: alert
// summary", cleaned and truncated to GitHub's 256 characters. Titles are
// plain text (GitHub resolves no mentions in them).
func Title(n *notify.Notification) string {
	a := lead(n)
	if a == nil {
		return truncate("[VIGIA] "+groupText(n.GroupLabels), maxTitle)
	}
	title := clean(cut(a.Rule.Title, maxTitle+window))
	if title == "" {
		title = clean(cut(a.Rule.ID, maxTitle+window))
	}
	s := "[" + sevLabel(a.Rule.Severity) + "] " + title
	if sum := clean(cut(a.Summary, maxTitle+window)); sum != "" {
		s += ": " + sum
	}
	return truncate(s, maxTitle)
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

// limits bound what a body lists, so that it fits GitHub's limit.
type limits struct {
	alerts int
	steps  int
}

// content renders issue and comment bodies.
type content struct {
	cfg   *Config
	books *runbook.Library
}

type doc struct{ b strings.Builder }

func (d *doc) line(s string) { d.b.WriteString(s + "\n") }
func (d *doc) gap()          { d.b.WriteString("\n") }
func (d *doc) String() string {
	return strings.TrimRight(d.b.String(), "\n") + "\n"
}

// body is the issue body: the hidden group marker, summary, group
// statistics, a details table, the runbook's first steps and link, and the
// alerts.
func (c content) body(n *notify.Notification, lim limits) string {
	w := wordsFor(n.Locale)
	var d doc
	d.line(Marker(n.GroupKey))
	a := lead(n)
	if a != nil {
		d.line("**" + sevLabel(a.Rule.Severity) + "** · " + text(a.Summary, maxSummary))
	} else {
		d.line(text(fmt.Sprintf(w.noAlerts, groupText(n.GroupLabels)), maxSummary))
	}
	d.gap()
	d.line(fmt.Sprintf(w.soFar, max(n.Total, len(n.Alerts)), stamp(n.FirstTime), stamp(n.LastTime)))
	if a != nil {
		d.gap()
		d.line("### " + w.details)
		d.gap()
		d.line("| " + w.field + " | " + w.value + " |")
		d.line("|---|---|")
		for _, row := range facts(a, w) {
			d.line("| " + row[0] + " | " + row[1] + " |")
		}
		c.runbook(&d, a, n.Locale, w, lim.steps)
	}
	c.alertList(&d, n.Alerts, lim.alerts, w)
	d.gap()
	d.line("<sub>" + w.group + ": " + code(groupText(n.GroupLabels), maxValue, false) + " · " + code(Dedup(n.GroupKey), 100, false) + " · " + w.from + "</sub>")
	return d.String()
}

// update is the comment on a repeat: the new alerts, or a reminder.
func (c content) update(n *notify.Notification, lim limits) string {
	w := wordsFor(n.Locale)
	alerts := nonNil(n.Alerts)
	var d doc
	if len(alerts) == 0 {
		d.line(fmt.Sprintf(w.stillFiring, n.Total, stamp(n.LastTime)))
		return d.String()
	}
	d.line(fmt.Sprintf(w.newAlerts, len(alerts), max(n.Total, len(alerts)), stamp(n.LastTime)))
	c.alertList(&d, alerts, lim.alerts, w)
	return d.String()
}

// resolution is the comment on resolution.
func (c content) resolution(n *notify.Notification, _ limits) string {
	w := wordsFor(n.Locale)
	return fmt.Sprintf(w.resolved, n.Total, stamp(n.FirstTime), stamp(n.LastTime)) + "\n"
}

func nonNil(as []*alert.Alert) []*alert.Alert {
	return slices.DeleteFunc(slices.Clone(as), func(a *alert.Alert) bool { return a == nil })
}

func (c content) alertList(d *doc, as []*alert.Alert, maxAlerts int, w *words) {
	as = nonNil(as)
	if len(as) == 0 {
		return
	}
	d.gap()
	if maxAlerts > 0 {
		d.line("### " + w.alerts)
		d.gap()
		for _, a := range as[:min(len(as), maxAlerts)] {
			s := "- " + code(stamp(a.Time), 40, false) + " " + code(a.Rule.ID, 200, false) + " " + text(a.Summary, maxValue)
			if id := code(a.Entity.Identity, maxValue, false); id != "—" {
				s += " (" + id + ")"
			}
			d.line(s)
		}
	}
	if rest := len(as) - max(maxAlerts, 0); rest > 0 {
		if maxAlerts > 0 {
			d.gap()
		}
		d.line(fmt.Sprintf(w.more, rest))
	}
}

// facts lists the alert's who/what/where/when as table cells, skipping
// empty values.
func facts(a *alert.Alert, w *words) [][2]string {
	object := a.Context.Name
	if object != "" && a.Entity.Namespace != "" {
		object = a.Entity.Namespace + "/" + object
	}
	rows := []struct{ label, value string }{
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
		{w.time, stamp(a.Time)},
	}
	rule := code(a.Rule.ID, 200, true)
	if t := text(a.Rule.Title, maxValue); t != "" {
		rule += " " + t
	}
	out := [][2]string{{w.rule, rule}, {w.severity, sevLabel(a.Rule.Severity)}}
	for _, r := range rows {
		if c := code(r.value, maxValue, true); c != "—" && c != "`—`" {
			out = append(out, [2]string{r.label, c})
		}
	}
	if len(a.Rule.Tags) > 0 {
		tags := make([]string, 0, len(a.Rule.Tags))
		for _, t := range a.Rule.Tags {
			if tech, ok := render.ParseTechnique(t); ok {
				tags = append(tags, "["+tech.ID+"]("+safeURL(tech.URL)+")")
			} else {
				tags = append(tags, code(t, 100, true))
			}
		}
		out = append(out, [2]string{w.tags, strings.Join(tags, " ")})
	}
	return out
}

// runbook writes the triage steps and the runbook's link, in the
// notification's locale when the runbook is translated.
func (c content) runbook(d *doc, a *alert.Alert, locale string, w *words, steps int) {
	rb := render.RunbookFor(a, c.books, locale, c.cfg.RunbookBaseURL, steps)
	if clean(rb.Title) == "" && clean(rb.Path) == "" {
		return
	}
	title := rb.Title
	if clean(title) == "" {
		title = rb.Path
	}
	if len(rb.Steps) > 0 {
		d.gap()
		d.line("### " + w.triage)
		d.gap()
		for i, s := range rb.Steps {
			d.line(fmt.Sprintf("%d. %s", i+1, step(s)))
		}
	}
	d.gap()
	line := "**" + w.runbook + ":** "
	if u := safeURL(rb.URL); u != "" {
		line += "[" + text(title, 300) + "](" + u + ")"
	} else {
		line += text(title, 300)
		if clean(rb.Path) != "" {
			line += " " + code(rb.Path, maxValue, false)
		}
	}
	d.line(line)
}

// safeURL returns u re-encoded for a markdown link destination when it is
// an absolute http(s) URL of reasonable length, "" otherwise.
func safeURL(raw string) string {
	if raw == "" || len(raw) > 2000 {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "<", "%3C", ">", "%3E").Replace(u.String())
}

// step renders a runbook list item, our own markdown, on one line: it is
// kept as written (bold, code, links), with @mentions defused.
func step(s string) string {
	s = truncate(clean(cut(s, maxStep+window)), maxStep)
	return mention.ReplaceAllString(s, "@"+zwsp+"$1")
}
