package servicenow

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Incident texts are plain text: the description field shows text as it
// is, and work notes are plain journal entries (their [code] markup is
// defused in event-derived text, see clean).

// ticket renders event-derived text for ServiceNow: clean ([code]
// defused), measured in UTF-16 units.
var ticket = render.Ticket{Clean: clean, Shorten: render.ShortenUTF16, MaxValue: maxValue}

// ShortDescription returns the incident's short description for n:
// "[SEVERITY] rule title: alert summary", cleaned and truncated to 160
// characters.
func ShortDescription(n *notify.Notification) string {
	return ticket.Title(n.Alerts, n.GroupLabels, maxShort)
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
	w := render.WordsFor(n.Locale)
	var t text
	a := notify.Lead(n.Alerts)
	if a != nil {
		t.line("[" + ticket.Severity(a.Rule.Severity) + "] " + ticket.Value(a.Summary, maxSummary))
	} else {
		t.line(fmt.Sprintf(w.NoAlerts, ticket.Labels(n.GroupLabels)))
	}
	t.line(fmt.Sprintf(w.SoFar, max(n.Total, len(n.Alerts)), render.Stamp(n.FirstTime), render.Stamp(n.LastTime)))
	if a != nil {
		t.gap()
		t.line(w.Details)
		for _, f := range facts(a, w) {
			t.line("- " + f)
		}
		c.runbook(&t, a, n.Locale, w, lim.steps)
	}
	c.alertList(&t, n.Alerts, lim.alerts, w)
	t.gap()
	t.line(w.Group + ": " + ticket.Labels(n.GroupLabels) + " (" + notify.DedupKey(n.GroupKey) + ")")
	t.line(w.From)
	return t.String()
}

// update is the work note on a repeat: the new alerts, or a reminder.
func (c content) update(n *notify.Notification, lim limits) string {
	w := render.WordsFor(n.Locale)
	alerts := nonNil(n.Alerts)
	if len(alerts) == 0 {
		return fmt.Sprintf(w.StillFiring, n.Total, render.Stamp(n.LastTime))
	}
	var t text
	t.line(fmt.Sprintf(w.NewAlerts, len(alerts), max(n.Total, len(alerts)), render.Stamp(n.LastTime)))
	c.alertList(&t, alerts, lim.alerts, w)
	return t.String()
}

// resolution is the resolution note.
func (c content) resolution(n *notify.Notification, _ limits) string {
	w := render.WordsFor(n.Locale)
	s := fmt.Sprintf(w.Resolved, n.Total, render.Stamp(n.FirstTime), render.Stamp(n.LastTime))
	if c.cfg.CloseNotes != "" {
		s = c.cfg.CloseNotes + "\n\n" + s
	}
	return s
}

func nonNil(as []*alert.Alert) []*alert.Alert {
	return slices.DeleteFunc(slices.Clone(as), func(a *alert.Alert) bool { return a == nil })
}

func (c content) alertList(t *text, as []*alert.Alert, maxAlerts int, w *render.Words) {
	as = nonNil(as)
	if len(as) == 0 {
		return
	}
	t.gap()
	if maxAlerts > 0 {
		t.line(w.Alerts)
		for _, a := range as[:min(len(as), maxAlerts)] {
			s := "- " + render.Stamp(a.Time) + " " + ticket.Value(a.Rule.ID, 200) + ": " + ticket.Value(a.Summary, maxValue)
			if id := ticket.Value(a.Entity.Identity, maxValue); id != "" {
				s += " (" + id + ")"
			}
			t.line(s)
		}
	}
	if rest := len(as) - max(maxAlerts, 0); rest > 0 {
		t.line(fmt.Sprintf(w.More, rest))
	}
}

// facts lists the alert's who/what/where/when as "Label: value" lines,
// skipping empty values.
func facts(a *alert.Alert, w *render.Words) []string {
	rule := ticket.Value(a.Rule.ID, maxValue)
	if title := ticket.Value(a.Rule.Title, maxValue); title != "" {
		rule += " (" + title + ")"
	}
	rows := append([]render.Fact{
		{Label: w.Rule, Value: rule},
		{Label: w.Severity, Value: ticket.Severity(a.Rule.Severity)},
	}, render.Facts(a, w)...)
	rows = append(rows, render.Fact{Label: w.Tags, Value: tagText(a.Rule.Tags)})
	var out []string
	for _, r := range rows {
		if v := ticket.Value(r.Value, maxValue+maxValue); v != "" {
			out = append(out, r.Label+": "+v)
		}
	}
	if !a.Time.IsZero() {
		out = append(out, w.Time+": "+render.Stamp(a.Time))
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
func (c content) runbook(t *text, a *alert.Alert, locale string, w *render.Words, steps int) {
	rb := render.RunbookFor(a, c.books, locale, c.cfg.RunbookBaseURL, steps)
	title, path := ticket.Value(rb.Title, maxValue), ticket.Value(rb.Path, maxValue)
	if title == "" && path == "" {
		return
	}
	if title == "" {
		title = path
	}
	if len(rb.Steps) > 0 {
		t.gap()
		t.line(w.Triage)
		for i, s := range rb.Steps {
			t.line(fmt.Sprintf("%d. %s", i+1, plainStep(s)))
		}
	}
	t.gap()
	line := w.Runbook + ": " + title
	if u := render.SafeURL(rb.URL); u != "" {
		line += " " + u
	} else if path != "" {
		line += " (" + path + ")"
	}
	t.line(line)
}

var (
	mdBold = regexp.MustCompile(`\*\*([^*\n]+)\*\*`)
	mdLink = regexp.MustCompile(`\[([^\]\n]+)\]\((https?://[^\s()]+)\)`)
)

// plainStep renders a runbook list item (our markdown) as plain text:
// **bold** unmarked, [text](url) as "text (url)"; `code` stays as written.
func plainStep(s string) string {
	s = ticket.Value(s, maxStep)
	s = mdBold.ReplaceAllString(s, "$1")
	return mdLink.ReplaceAllString(s, "$1 ($2)")
}
