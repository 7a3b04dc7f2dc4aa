package jira

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

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

// ticket renders event-derived text for Jira: Scrub, measured in UTF-16
// units.
var ticket = render.Ticket{Clean: render.Scrub, Shorten: render.ShortenUTF16, MaxValue: maxValue}

// Summary returns the issue summary for n: "[SEVERITY] rule title:
// alert summary", cleaned and truncated to Jira's 255 characters.
func Summary(n *notify.Notification) string {
	return ticket.Title(n.Alerts, n.GroupLabels, maxSummary)
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
	w := render.WordsFor(n.Locale)
	a := notify.Lead(n.Alerts)
	var out []block
	if a != nil {
		out = append(out, para(strong(ticket.Severity(a.Rule.Severity)), txt(" "+ticket.Value(a.Summary, maxText))))
	} else {
		out = append(out, para(txt(fmt.Sprintf(w.NoAlerts, ticket.Labels(n.GroupLabels)))))
	}
	out = append(out, para(txt(fmt.Sprintf(w.SoFar, max(n.Total, len(n.Alerts)), render.Stamp(n.FirstTime), render.Stamp(n.LastTime)))))
	if a != nil {
		out = append(out, head(w.Details), list(bullets, facts(a, w)))
		out = append(out, c.runbook(a, n.Locale, w, lim.steps)...)
	}
	out = append(out, c.alertList(n.Alerts, lim.alerts, w)...)
	out = append(out, para(strong(w.Group+":"), txt(" "), code(ticket.Labels(n.GroupLabels)), txt(" "), code(notify.DedupKey(n.GroupKey))), para(txt(w.From)))
	return out
}

// update is the comment on a repeat: the new alerts, or a reminder.
func (c content) update(n *notify.Notification, lim limits) []block {
	w := render.WordsFor(n.Locale)
	alerts := notify.NonNil(n.Alerts)
	if len(alerts) == 0 {
		return []block{para(txt(fmt.Sprintf(w.StillFiring, n.Total, render.Stamp(n.LastTime))))}
	}
	out := []block{para(txt(fmt.Sprintf(w.NewAlerts, len(alerts), max(n.Total, len(alerts)), render.Stamp(n.LastTime))))}
	return append(out, c.alertList(alerts, lim.alerts, w)...)
}

// resolution is the comment on resolution.
func (c content) resolution(n *notify.Notification, _ limits) []block {
	w := render.WordsFor(n.Locale)
	return []block{para(txt(fmt.Sprintf(w.Resolved, n.Total, render.Stamp(n.FirstTime), render.Stamp(n.LastTime))))}
}

func (c content) alertList(as []*alert.Alert, maxAlerts int, w *render.Words) []block {
	as = notify.NonNil(as)
	if len(as) == 0 {
		return nil
	}
	if maxAlerts <= 0 {
		return []block{para(txt(fmt.Sprintf(w.More, len(as))))}
	}
	items := make([][]span, 0, min(len(as), maxAlerts))
	for _, a := range as[:min(len(as), maxAlerts)] {
		item := []span{code(render.Stamp(a.Time)), txt(" "), code(ticket.Value(a.Rule.ID, 200)), txt(" " + ticket.Value(a.Summary, maxValue))}
		if id := ticket.Value(a.Entity.Identity, maxValue); id != "" {
			item = append(item, txt(" "), code(id))
		}
		items = append(items, item)
	}
	out := []block{head(w.Alerts), list(bullets, items)}
	if rest := len(as) - maxAlerts; rest > 0 {
		out = append(out, para(txt(fmt.Sprintf(w.More, rest))))
	}
	return out
}

// facts lists the alert's who/what/where/when, skipping empty values.
func facts(a *alert.Alert, w *render.Words) [][]span {
	title := ticket.Value(a.Rule.Title, maxValue)
	rows := append([]render.Fact{
		{Label: w.Rule, Value: a.Rule.ID},
		{Label: w.Severity, Value: ticket.Severity(a.Rule.Severity)},
	}, render.Facts(a, w)...)
	var out [][]span
	for _, r := range rows {
		v := ticket.Value(r.Value, maxValue)
		if v == "" {
			continue
		}
		item := []span{strong(r.Label + ":"), txt(" ")}
		if r.Label == w.Severity {
			item = append(item, txt(v))
		} else {
			item = append(item, code(v))
		}
		if r.Label == w.Rule && title != "" {
			item = append(item, txt(" "+title))
		}
		out = append(out, item)
	}
	if !a.Time.IsZero() {
		out = append(out, []span{strong(w.Time + ":"), txt(" "), code(render.Stamp(a.Time))})
	}
	if tags := tagSpans(a.Rule.Tags); len(tags) > 0 {
		out = append(out, append([]span{strong(w.Tags + ":")}, tags...))
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
		} else if v := ticket.Value(t, 100); v != "" {
			out = append(out, txt(" "), code(v))
		}
	}
	return out
}

// runbook returns the triage steps and the link to the runbook, in the
// notification's locale when the runbook is translated.
func (c content) runbook(a *alert.Alert, locale string, w *render.Words, steps int) []block {
	rb := render.RunbookFor(a, c.books, locale, c.cfg.RunbookBaseURL, steps)
	title, path := ticket.Value(rb.Title, 300), ticket.Value(rb.Path, 500)
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
		out = append(out, head(w.Triage), list(numbered, items))
	}
	link := []span{strong(w.Runbook + ":"), txt(" ")}
	if u := render.SafeURL(rb.URL); u != "" {
		link = append(link, span{text: title, href: u})
	} else {
		link = append(link, txt(title))
		if path != "" {
			link = append(link, txt(" "), code(path))
		}
	}
	return append(out, para(link...))
}

// stepPattern finds the inline markdown a runbook step may use: `code`,
// **bold** and [text](https://link).
var stepPattern = regexp.MustCompile("`([^`\n]+)`|\\*\\*([^*\n]+)\\*\\*|\\[([^\\]\n]+)\\]\\((https?://[^\\s()]+)\\)")

// stepSpans turns a runbook list item (our own markdown) into spans.
func stepSpans(s string) []span {
	s = ticket.Value(s, maxStep)
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
