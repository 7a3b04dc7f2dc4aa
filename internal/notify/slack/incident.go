package slack

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
)

// How much of a group the messages show.
const (
	// threadAlerts is how many alerts a thread reply shows before "and N
	// more".
	threadAlerts = 10
	// lineSummary is the runes of summary a thread reply shows per alert.
	lineSummary = 400
	maxTags     = 20
	// maxParentState bounds the parent kept in a group's State, in bytes:
	// newParent cuts the kept text shorter until it fits.
	maxParentState = 6 << 10
)

// parentLevels are the successive cuts newParent tries: runes of the
// representative's summary and values, how many other alerts it lists,
// and runes of their values and summaries.
var parentLevels = []struct{ summary, value, more, moreValue, moreSummary int }{
	{600, 160, 5, 80, 120},
	{300, 80, 3, 60, 80},
	{120, 40, 0, 0, 0},
}

// card is the part of an alert a message shows, already redacted, cleaned
// to one line and cut to the lengths above (escaping happens when it is
// rendered). The parent's card is kept in the group's State so chat.update
// can redraw the parent identically, with a new status, long after the
// alert itself is gone.
type card struct {
	ID           string    `json:"id,omitempty"`
	Rule         string    `json:"rule,omitempty"`
	Title        string    `json:"title,omitempty"`
	Sev          string    `json:"sev,omitempty"`
	Tags         []string  `json:"tags,omitempty"`
	Time         time.Time `json:"time,omitzero"`
	Summary      string    `json:"summary,omitempty"`
	Identity     string    `json:"identity,omitempty"`
	Namespace    string    `json:"ns,omitempty"`
	Pod          string    `json:"pod,omitempty"`
	Source       string    `json:"source,omitempty"`
	Action       string    `json:"action,omitempty"`
	Resource     string    `json:"resource,omitempty"`
	Name         string    `json:"name,omitempty"`
	Cluster      string    `json:"cluster,omitempty"`
	SourceIP     string    `json:"ip,omitempty"`
	UserAgent    string    `json:"ua,omitempty"`
	Outcome      string    `json:"outcome,omitempty"`
	Account      string    `json:"account,omitempty"`
	Region       string    `json:"region,omitempty"`
	RunbookPath  string    `json:"rb,omitempty"`
	RunbookTitle string    `json:"rbt,omitempty"`
}

// newCard copies what a message shows of a: every string redacted and
// cleaned (render.Text), the summary cut to summaryMax runes, the other
// values to valueMax.
func newCard(a *alert.Alert, summaryMax, valueMax int) card {
	v := func(s string) string { return render.Text(s, valueMax) }
	c := card{
		ID: v(a.ID), Rule: v(a.Rule.ID), Title: v(a.Rule.Title), Sev: v(a.Rule.Severity),
		Summary:  render.Text(a.Summary, summaryMax),
		Identity: v(a.Entity.Identity), Namespace: v(a.Entity.Namespace), Pod: v(a.Entity.Pod),
		Source: v(a.Context.Source), Action: v(a.Context.Action), Resource: v(a.Context.Resource),
		Name: v(a.Context.Name), Cluster: v(a.Context.Cluster), SourceIP: v(a.Context.SourceIP),
		UserAgent: v(a.Context.UserAgent), Outcome: v(a.Context.Outcome),
		Account: v(a.Context.Account), Region: v(a.Context.Region),
		RunbookPath: v(a.Runbook.Path), RunbookTitle: v(a.Runbook.Title),
	}
	if !a.Time.IsZero() {
		c.Time = a.Time.UTC()
	}
	for _, t := range a.Rule.Tags[:min(len(a.Rule.Tags), maxTags)] {
		if t = render.Text(t, 64); t != "" {
			c.Tags = append(c.Tags, t)
		}
	}
	return c
}

func (c *card) title() string {
	if strings.TrimSpace(c.Title) != "" {
		return c.Title
	}
	return c.Rule
}

// where is the alert's object: namespace/pod, namespace/name or the name.
func (c *card) where() string {
	obj := c.Pod
	if obj == "" {
		obj = c.Name
	}
	if obj != "" && c.Namespace != "" {
		return c.Namespace + "/" + obj
	}
	if obj == "" {
		return c.Namespace
	}
	return obj
}

// parent is what a group's State keeps (JSON, under "parent") to redraw
// its parent message: the representative alert's card, the first
// notification's other alerts as compact cards, and the highest severity
// the group has reached. At most maxParentState bytes; a few hundred for
// a typical alert.
type parent struct {
	Sev  string `json:"sev,omitempty"`
	Card card   `json:"card"`
	// More are the first notification's other alerts; MoreN counts those
	// beyond More.
	More  []card `json:"more,omitempty"`
	MoreN int    `json:"more_n,omitempty"`
}

// newParent builds the parent of a group's first notification: its most
// severe alert (the first of equals) in full, the others compact.
func newParent(alerts []*alert.Alert) *parent {
	alerts = slices.DeleteFunc(slices.Clone(alerts), func(a *alert.Alert) bool { return a == nil })
	if len(alerts) == 0 {
		return nil
	}
	rep := 0
	for i, a := range alerts {
		if alert.SeverityRank(a.Rule.Severity) > alert.SeverityRank(alerts[rep].Rule.Severity) {
			rep = i
		}
	}
	var p *parent
	for _, lv := range parentLevels {
		p = &parent{Card: newCard(alerts[rep], lv.summary, lv.value)}
		p.Sev = p.Card.Sev
		for i, a := range alerts {
			if i == rep {
				continue
			}
			if len(p.More) == lv.more {
				p.MoreN++
				continue
			}
			c := newCard(a, lv.moreSummary, lv.moreValue)
			// A line shows only these.
			p.More = append(p.More, card{Sev: c.Sev, Time: c.Time, Identity: c.Identity, Namespace: c.Namespace,
				Pod: c.Pod, Name: c.Name, Summary: c.Summary})
		}
		p.raise(alerts)
		if len(p.encode()) <= maxParentState {
			break
		}
	}
	return p
}

// raise records the alerts' severity; it reports whether the group's
// highest severity went up.
func (p *parent) raise(alerts []*alert.Alert) bool {
	up := false
	for _, a := range alerts {
		if a == nil {
			continue
		}
		if alert.SeverityRank(a.Rule.Severity) > alert.SeverityRank(p.Sev) {
			p.Sev, up = a.Rule.Severity, true
		}
	}
	return up
}

func (p *parent) encode() string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<" as itself, not six bytes
	if err := enc.Encode(p); err != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func decodeParent(s string) *parent {
	if s == "" {
		return nil
	}
	var p parent
	if json.Unmarshal([]byte(s), &p) != nil || (p.Card.Rule == "" && p.Card.Title == "" && p.Card.ID == "") {
		return nil
	}
	return &p
}

// status is the group's state as the parent shows it.
type status struct {
	resolved    bool
	resolvedAt  time.Time
	total       int
	first, last time.Time
	// Set by people from the group's state: who acknowledged, silenced
	// or resolved the group by hand (internal/lifecycle).
	ackBy, silencedBy, resolvedBy string
	ackAt, silencedUntil          time.Time
}

// statusOf reads a notification's counts, completing them from its alerts
// when the caller left them zero.
func statusOf(n *notify.Notification, now time.Time) status {
	st := status{resolved: n.Status == notify.StatusResolved, total: n.Total, first: n.FirstTime, last: n.LastTime}
	if st.resolved {
		st.resolvedAt = now
	}
	for _, a := range n.Alerts {
		if a == nil || a.Time.IsZero() {
			continue
		}
		if st.first.IsZero() || a.Time.Before(st.first) {
			st.first = a.Time
		}
		if a.Time.After(st.last) {
			st.last = a.Time
		}
	}
	st.total = max(st.total, len(n.Alerts))
	return st
}

// view is what rendering needs besides the alert data.
type view struct {
	l           *labels
	locale      string
	baseURL     string
	firstSteps  int
	groupKey    string
	groupLabels map[string]string
	// interactive adds the lifecycle buttons (Config.Interactive).
	interactive bool
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return empty
	}
	return t.UTC().Format(time.RFC3339)
}

// parentBlocks draws a group's parent message.
func (r *Receiver) parentBlocks(p *parent, st status, v view) []slack.Block {
	c := &p.Card
	sev := p.Sev
	if sev == "" {
		sev = c.Sev
	}
	b := severityBadge(sev)
	prefix := b.emoji + " " + escape(v.l.severityLabel(sev)) + ": "
	if st.resolved {
		prefix = "✅ " + escape(v.l.resolved) + " · " + escape(v.l.severityLabel(sev)) + ": "
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
			prefix+text(c.title(), maxHeader-units(prefix)), true, false)),
		slack.NewContextBlock("", mrkdwn(statusLine(st, v.l))),
		slack.NewSectionBlock(mrkdwn(summary(c.Summary, maxText)), nil, nil),
		slack.NewSectionBlock(nil, cardFields(c, v.l), nil),
	}
	if len(c.Tags) > 0 {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(attackText(c.Tags, v.l))))
	}
	if s := r.runbookSection(c, v); s != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(s), nil, nil))
	}
	if len(p.More) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(moreText(p, v.l)), nil, nil))
	}
	blocks = append(blocks, slack.NewContextBlock("", footer(c, v)...))
	if v.interactive && !st.resolved && v.groupKey != "" {
		return append(blocks[:min(len(blocks), maxBlocks-1)], actionsBlock(st, v))
	}
	return blocks[:min(len(blocks), maxBlocks)]
}

// statusLine: "*Firing* · 3 alerts · first `…` · last `…`", or
// "✅ *Resolved* `…` · …" once resolved.
func statusLine(st status, l *labels) string {
	var s string
	if st.resolved {
		s = "✅ *" + escape(l.resolved) + "* `" + stamp(st.resolvedAt) + "`"
	} else {
		s = ":rotating_light: *" + escape(l.firing) + "*"
	}
	s += " · " + escape(l.alerts(st.total))
	s += " · " + escape(l.first) + " `" + stamp(st.first) + "`"
	s += " · " + escape(l.last) + " `" + stamp(st.last) + "`"
	if people := lifecycleLine(st, l); people != "" {
		s += "\n" + people
	}
	return s
}

func cardFields(c *card, l *labels) []*slack.TextBlockObject {
	object := c.Name
	if object != "" && c.Namespace != "" {
		object = c.Namespace + "/" + object
	}
	what := []string{
		line(l.action, c.Action),
		line(l.resource, c.Resource),
		line(l.object, object),
	}
	if c.Outcome != "" {
		what = append(what, line(l.outcome, c.Outcome))
	}
	where := []string{
		line(l.cluster, c.Cluster),
		line(l.namespace, c.Namespace),
		line(l.pod, c.Pod),
	}
	if c.Account != "" {
		where = append(where, line(l.account, c.Account))
	}
	if c.Region != "" {
		where = append(where, line(l.region, c.Region))
	}
	fs := []string{
		field(l.who,
			line(l.identity, c.Identity),
			line(l.sourceIP, c.SourceIP),
			line(l.userAgent, c.UserAgent)),
		field(l.what, what...),
		field(l.where, where...),
		field(l.when, stamp(c.Time), line(l.source, c.Source)),
	}
	out := make([]*slack.TextBlockObject, 0, len(fs))
	for _, f := range fs {
		out = append(out, mrkdwn(fitLines(f, maxField)))
	}
	return out
}

// fitLines bounds already-rendered mrkdwn, cutting whole lines: a field's
// lines are each short, so this only matters for pathological input.
func fitLines(s string, max int) string {
	if units(s) <= max {
		return s
	}
	lines := strings.Split(s, "\n")
	for len(lines) > 1 && units(strings.Join(lines, "\n"))+2 > max {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n") + "\n" + ellipsis
}

// attackText renders the rule tags: ATT&CK techniques as links to their
// pages, tactics by name, anything else as code.
func attackText(tags []string, l *labels) string {
	var b strings.Builder
	b.WriteString(escape(l.attack) + ":")
	n := units(b.String())
	for _, t := range tags {
		var piece string
		if tech, ok := render.ParseTechnique(t); ok {
			piece = " <" + tech.URL + "|" + tech.ID + ">"
		} else if tactic := render.Tactic(t); tactic != "" {
			piece = " " + escape(tactic)
		} else {
			piece = " " + code(t, 100)
		}
		if n+units(piece)+2 > maxText {
			b.WriteString(" " + ellipsis)
			break
		}
		b.WriteString(piece)
		n += units(piece)
	}
	return b.String()
}

// runbookSection links the card's runbook in the view's locale and lists
// its first steps.
func (r *Receiver) runbookSection(c *card, v view) string {
	a := &alert.Alert{Runbook: alert.Runbook{Path: c.RunbookPath, Title: c.RunbookTitle}}
	rb := render.RunbookFor(a, r.books, v.locale, v.baseURL, v.firstSteps)
	if rb.Path == "" && rb.Title == "" {
		return ""
	}
	label := "*" + escape(v.l.runbook) + ":* "
	head := label + text(rb.Title, 300)
	if u := runbookURL(v.baseURL, rb.Path); u != "" {
		head = label + "<" + u + "|" + text(rb.Title, 300) + ">"
	} else if rb.Path != "" {
		head += " " + code(rb.Path, 500)
	}
	var b strings.Builder
	b.WriteString(head)
	n := units(head)
	for i, s := range rb.Steps {
		num := fmt.Sprintf("\n%d. ", i+1)
		st := step(s)
		if n+units(num)+units(st) > maxText {
			if rest := maxText - n - units(num); rest > 10 {
				b.WriteString(num + text(s, rest))
			}
			break
		}
		b.WriteString(num + st)
		n += units(num) + units(st)
	}
	return b.String()
}

// moreText lists the first notification's other alerts, one line each.
func moreText(p *parent, l *labels) string {
	var b strings.Builder
	b.WriteString("*" + escape(l.alsoInGroup) + "*")
	n := units(b.String())
	tail := ""
	if p.MoreN > 0 {
		tail = "\n_" + escape(l.more(p.MoreN)) + "_"
	}
	for i := range p.More {
		s := "\n• " + compactLine(&p.More[i], l)
		if n+units(s)+units(tail)+40 > maxText {
			tail = "\n_" + escape(l.more(len(p.More)-i+p.MoreN)) + "_"
			break
		}
		b.WriteString(s)
		n += units(s)
	}
	return b.String() + tail
}

// compactLine is one alert on one line: severity, time, who, where and the
// start of its summary.
func compactLine(c *card, l *labels) string {
	s := severityBadge(c.Sev).emoji + " `" + stamp(c.Time) + "` " + code(c.Identity, 120)
	if w := c.where(); w != "" {
		s += " · " + code(w, 120)
	}
	return s + " — " + summary(c.Summary, 160)
}

func footer(c *card, v view) []slack.MixedElement {
	els := []slack.MixedElement{mrkdwn(escape(v.l.rule) + " " + code(c.Rule, 200))}
	if len(v.groupLabels) > 0 {
		keys := slices.Sorted(maps.Keys(v.groupLabels))
		var b strings.Builder
		b.WriteString(escape(v.l.group) + ":")
		for _, k := range keys {
			piece := " " + code(render.Clean(k)+"="+render.Clean(v.groupLabels[k]), 200)
			if units(b.String())+units(piece)+2 > maxText {
				b.WriteString(" " + ellipsis)
				break
			}
			b.WriteString(piece)
		}
		els = append(els, mrkdwn(b.String()))
	}
	if v.groupKey != "" {
		els = append(els, mrkdwn("id "+code(groupID(v.groupKey), 60)))
	}
	return els
}

// groupID is the short, stable name of a group shown in its messages:
// "vigia-" and the first 16 characters of the group key.
func groupID(key string) string {
	key = render.Clean(key)
	return "vigia-" + string([]rune(key)[:min(len([]rune(key)), 16)])
}

// parentFallback is the parent's top-level text (notifications, clients
// without blocks): "[HIGH] title: summary", "✅ [Resolved] …" when resolved.
func parentFallback(p *parent, st status, l *labels) string {
	sev := p.Sev
	if sev == "" {
		sev = p.Card.Sev
	}
	s := "[" + l.severityLabel(sev) + "] " + p.Card.title() + ": " + p.Card.Summary
	if st.resolved {
		s = "✅ [" + l.resolved + "] " + s
	}
	return summary(s, maxFallback)
}

// replyBlocks draws a thread reply: the new alerts of a repeat, a reminder
// that the group still fires, or its resolution. It returns nil blocks
// when there is nothing to say.
func replyBlocks(n *notify.Notification, st status, v view) ([]slack.Block, string) {
	l := v.l
	switch {
	case st.resolved:
		s := "✅ *" + escape(l.resolved) + "* · " + escape(l.quietSince(stamp(st.last))) + " · " + escape(l.alerts(st.total))
		return []slack.Block{slack.NewSectionBlock(mrkdwn(s), nil, nil)}, summary("✅ "+l.resolved+" · "+l.alerts(st.total), maxFallback)
	case len(n.Alerts) == 0:
		s := ":alarm_clock: *" + escape(l.stillFiring) + "* · " + escape(l.alerts(st.total)) + " · " + escape(l.last) + " `" + stamp(st.last) + "`"
		return []slack.Block{slack.NewSectionBlock(mrkdwn(s), nil, nil)}, summary(l.stillFiring+" · "+l.alerts(st.total), maxFallback)
	}
	alerts := slices.DeleteFunc(slices.Clone(n.Alerts), func(a *alert.Alert) bool { return a == nil })
	head := "*" + escape(l.newAlerts(len(alerts), st.total)) + "* · " + escape(l.last) + " `" + stamp(st.last) + "`"
	blocks := []slack.Block{slack.NewContextBlock("", mrkdwn(head))}
	var first *card
	for i, a := range alerts {
		if i == threadAlerts {
			break
		}
		c := newCard(a, lineSummary, parentLevels[0].value)
		if first == nil {
			first = &c
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(alertSection(&c, l)), nil, nil))
	}
	if extra := len(alerts) - threadAlerts; extra > 0 {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn("_"+escape(l.more(extra))+"_")))
	}
	fallback := l.newAlerts(len(alerts), st.total)
	if first != nil {
		fallback += ": [" + l.severityLabel(first.Sev) + "] " + first.title() + ": " + first.Summary
	}
	return blocks, summary(fallback, maxFallback)
}

// alertSection is one alert in a thread reply: severity and title, time,
// summary, and who/where on one line.
func alertSection(c *card, l *labels) string {
	b := severityBadge(c.Sev)
	s := b.emoji + " *" + text(c.title(), 300) + "* · `" + stamp(c.Time) + "`\n" + summary(c.Summary, 1200) + "\n" +
		escape(l.identity) + ": " + code(c.Identity, 300)
	if w := c.where(); w != "" {
		s += " · " + escape(l.object) + ": " + code(w, 300)
	}
	if c.SourceIP != "" {
		s += " · " + escape(l.sourceIP) + ": " + code(c.SourceIP, 100)
	}
	return s
}

// groupBlocks draws a message for a group whose parent is unknown and
// which has no alert to show (a reminder or a resolution after the state
// was lost): status and group labels only.
func groupBlocks(st status, v view) ([]slack.Block, string) {
	l := v.l
	head := ":alarm_clock: " + l.stillFiring
	if st.resolved {
		head = "✅ " + l.resolved
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, text(head, maxHeader), true, false)),
		slack.NewContextBlock("", mrkdwn(statusLine(st, l))),
		slack.NewContextBlock("", footer(&card{}, v)[1:]...),
	}
	if len(v.groupLabels) == 0 && v.groupKey == "" {
		blocks = blocks[:2]
	}
	return blocks, summary(head+" · "+l.alerts(st.total), maxFallback)
}
