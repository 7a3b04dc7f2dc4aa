package github

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
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

// Marker is the hidden line that opens every issue body Vigia writes.
func Marker(groupKey string) string { return "<!-- vigia:group=" + notify.DedupKey(groupKey) + " -->" }

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
	s = ticket.Value(s, max)
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
	s = render.Shorten(render.Scrub(strings.ReplaceAll(render.Cut(s, max+render.Window), "`", "'")), max)
	if s == "" {
		return "—"
	}
	if inTable {
		s = strings.ReplaceAll(s, "|", `\|`)
	}
	return "`" + s + "`"
}

// ticket renders plain event-derived text for GitHub (titles, labels):
// Scrub, measured in runes.
var ticket = render.Ticket{Clean: render.Scrub, Shorten: render.Shorten, MaxValue: maxValue}

// Title returns the issue title for n: "[SEVERITY] rule title: alert
// summary", cleaned and truncated to GitHub's 256 characters. Titles are
// plain text (GitHub resolves no mentions in them).
func Title(n *notify.Notification) string {
	return ticket.Title(n.Alerts, n.GroupLabels, maxTitle)
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
	w := render.WordsFor(n.Locale)
	var d doc
	d.line(Marker(n.GroupKey))
	a := notify.Lead(n.Alerts)
	if a != nil {
		d.line("**" + ticket.Severity(a.Rule.Severity) + "** · " + text(a.Summary, maxSummary))
	} else {
		d.line(text(fmt.Sprintf(w.NoAlerts, ticket.Labels(n.GroupLabels)), maxSummary))
	}
	d.gap()
	d.line(fmt.Sprintf(w.SoFar, max(n.Total, len(n.Alerts)), render.Stamp(n.FirstTime), render.Stamp(n.LastTime)))
	if a != nil {
		d.gap()
		d.line("### " + w.Details)
		d.gap()
		d.line("| " + w.Field + " | " + w.Value + " |")
		d.line("|---|---|")
		for _, row := range facts(a, w) {
			d.line("| " + row[0] + " | " + row[1] + " |")
		}
		c.runbook(&d, a, n.Locale, w, lim.steps)
	}
	c.alertList(&d, n.Alerts, lim.alerts, w)
	d.gap()
	d.line("<sub>" + w.Group + ": " + code(ticket.Labels(n.GroupLabels), maxValue, false) + " · " + code(notify.DedupKey(n.GroupKey), 100, false) + " · " + w.From + "</sub>")
	return d.String()
}

// update is the comment on a repeat: the new alerts, or a reminder.
func (c content) update(n *notify.Notification, lim limits) string {
	w := render.WordsFor(n.Locale)
	alerts := notify.NonNil(n.Alerts)
	var d doc
	if len(alerts) == 0 {
		d.line(fmt.Sprintf(w.StillFiring, n.Total, render.Stamp(n.LastTime)))
		return d.String()
	}
	d.line(fmt.Sprintf(w.NewAlerts, len(alerts), max(n.Total, len(alerts)), render.Stamp(n.LastTime)))
	c.alertList(&d, alerts, lim.alerts, w)
	return d.String()
}

// resolution is the comment on resolution.
func (c content) resolution(n *notify.Notification, _ limits) string {
	w := render.WordsFor(n.Locale)
	return fmt.Sprintf(w.Resolved, n.Total, render.Stamp(n.FirstTime), render.Stamp(n.LastTime)) + "\n"
}

func (c content) alertList(d *doc, as []*alert.Alert, maxAlerts int, w *render.Words) {
	as = notify.NonNil(as)
	if len(as) == 0 {
		return
	}
	d.gap()
	if maxAlerts > 0 {
		d.line("### " + w.Alerts)
		d.gap()
		for _, a := range as[:min(len(as), maxAlerts)] {
			s := "- " + code(render.Stamp(a.Time), 40, false) + " " + code(a.Rule.ID, 200, false) + " " + text(a.Summary, maxValue)
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
		d.line(fmt.Sprintf(w.More, rest))
	}
}

// facts lists the alert's who/what/where/when as table cells, skipping
// empty values.
func facts(a *alert.Alert, w *render.Words) [][2]string {
	rows := append(render.Facts(a, w), render.Fact{Label: w.Time, Value: render.Stamp(a.Time)})
	rule := code(a.Rule.ID, 200, true)
	if t := text(a.Rule.Title, maxValue); t != "" {
		rule += " " + t
	}
	out := [][2]string{{w.Rule, rule}, {w.Severity, ticket.Severity(a.Rule.Severity)}}
	for _, r := range rows {
		if c := code(r.Value, maxValue, true); c != "—" && c != "`—`" {
			out = append(out, [2]string{r.Label, c})
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
		out = append(out, [2]string{w.Tags, strings.Join(tags, " ")})
	}
	return out
}

// runbook writes the triage steps and the runbook's link, in the
// notification's locale when the runbook is translated.
func (c content) runbook(d *doc, a *alert.Alert, locale string, w *render.Words, steps int) {
	rb := render.RunbookFor(a, c.books, locale, c.cfg.RunbookBaseURL, steps)
	if render.Scrub(rb.Title) == "" && render.Scrub(rb.Path) == "" {
		return
	}
	title := rb.Title
	if render.Scrub(title) == "" {
		title = rb.Path
	}
	if len(rb.Steps) > 0 {
		d.gap()
		d.line("### " + w.Triage)
		d.gap()
		for i, s := range rb.Steps {
			d.line(fmt.Sprintf("%d. %s", i+1, step(s)))
		}
	}
	d.gap()
	line := "**" + w.Runbook + ":** "
	if u := safeURL(rb.URL); u != "" {
		line += "[" + text(title, 300) + "](" + u + ")"
	} else {
		line += text(title, 300)
		if render.Scrub(rb.Path) != "" {
			line += " " + code(rb.Path, maxValue, false)
		}
	}
	d.line(line)
}

// safeURL returns u re-encoded for a markdown link destination when it is
// an absolute http(s) URL of reasonable length, "" otherwise.
func safeURL(raw string) string {
	return strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "<", "%3C", ">", "%3E").Replace(render.SafeURL(raw))
}

// step renders a runbook list item, our own markdown, on one line: it is
// kept as written (bold, code, links), with @mentions defused.
func step(s string) string {
	s = ticket.Value(s, maxStep)
	return mention.ReplaceAllString(s, "@"+zwsp+"$1")
}
