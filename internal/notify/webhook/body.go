package webhook

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Version is the body format's version. Fields may be added within a
// version; none is renamed or removed.
const Version = "1"

// Bounds on the body's strings.
const (
	MaxSummary  = 1024 // Body.Summary, characters
	maxField    = 4096 // any alert string
	maxValue    = 1024 // a label value
	maxStep     = 1000
	maxLabels   = 100
	maxEventRef = 100 // event references per alert
)

// Body is the JSON document a webhook receives (and the file receiver
// writes): the notification, with a version, the group's stable key, a
// rendered title and summary, and the runbook. See the package
// documentation for an example.
type Body struct {
	// Version is "1".
	Version string `json:"version"`
	// ID identifies the notification; the same across retries (also sent
	// as the Idempotency-Key header).
	ID       string `json:"id"`
	Receiver string `json:"receiver"`
	// Status is "firing" or "resolved".
	Status string `json:"status"`
	// GroupKey identifies the group; DedupKey is its short stable form
	// ("vigia-" and 32 hex digits), the key other receivers use.
	GroupKey    string            `json:"group_key"`
	DedupKey    string            `json:"dedup_key"`
	GroupLabels map[string]string `json:"group_labels"`
	// Total is the number of alerts the group has seen; NewAlerts the
	// number new in this notification (0 for reminders and resolutions).
	Total     int       `json:"total"`
	NewAlerts int       `json:"new_alerts"`
	FirstTime time.Time `json:"first_time,omitzero"`
	LastTime  time.Time `json:"last_time,omitzero"`
	Locale    string    `json:"locale,omitempty"`
	// Severity is the highest severity among the new alerts.
	Severity string `json:"severity,omitempty"`
	// Title is the rule title; Summary a one-line account of the
	// notification (at most 1,024 characters), e.g. "Exec into pod: 2 new
	// alerts, total 7: bob opened a shell in payments/api-7d9f".
	Title   string `json:"title,omitempty"`
	Summary string `json:"summary"`
	// Runbook is the runbook of the alert shown, localized.
	Runbook *Runbook `json:"runbook,omitempty"`
	// Alerts are the new alerts in the alert contract (internal/alert),
	// free text redacted and cut at 4,096 characters.
	Alerts []*alert.Alert `json:"alerts"`
	// OmittedAlerts counts new alerts left out to fit max_body_bytes (the
	// oldest go first).
	OmittedAlerts int `json:"omitted_alerts,omitempty"`
	// Truncated is set when, even without alerts, the body had to lose
	// its group labels and runbook steps to fit max_body_bytes.
	Truncated bool `json:"truncated,omitempty"`
}

// Runbook is the runbook reference of a body.
type Runbook struct {
	Title string `json:"title,omitempty"`
	Path  string `json:"path,omitempty"`
	// URL is runbook_base_url joined with Path, when configured.
	URL string `json:"url,omitempty"`
	// FirstSteps are the first triage steps (markdown).
	FirstSteps []string `json:"first_steps,omitempty"`
}

// NewBody returns the body for n: credentials redacted from every free
// text, strings bounded. prev is the group's previous state (only its
// being empty matters: the first notification reads differently from a
// repeat). books may be nil.
func NewBody(n *notify.Notification, prev notify.State, books *runbook.Library, runbookBaseURL string, firstSteps int) *Body {
	var alerts []*alert.Alert
	for _, a := range n.Alerts {
		if a != nil {
			alerts = append(alerts, cleanAlert(a))
		}
	}
	b := &Body{
		Version: Version, ID: render.Text(n.ID, 200), Receiver: render.Text(n.Receiver, 200), Status: n.Status,
		GroupKey: render.Text(n.GroupKey, 200), DedupKey: notify.DedupKey(n.GroupKey), GroupLabels: labels(n.GroupLabels),
		Total: max(n.Total, len(alerts)), NewAlerts: len(alerts), FirstTime: n.FirstTime, LastTime: n.LastTime,
		Locale: render.Text(n.Locale, 20), Severity: n.Severity(), Alerts: alerts,
	}
	if b.Alerts == nil {
		b.Alerts = []*alert.Alert{}
	}
	if b.GroupLabels == nil {
		b.GroupLabels = map[string]string{}
	}
	// The alert shown: the most severe on a first notification, the
	// latest on a repeat.
	repeat := notify.Repeat(n, alerts, prev)
	shown := notify.Featured(n, alerts, prev)
	title := render.RuleTitle(shown, maxValue)
	if title == "" {
		title = render.Text(n.GroupLabels["rule"], maxValue)
	}
	b.Title = title
	if title == "" {
		title = "Vigia alert"
	}
	var s string
	switch {
	case n.Status == notify.StatusResolved:
		s = fmt.Sprintf("%s: resolved, %s in total", title, plural(b.Total, "alert"))
	case shown == nil:
		s = fmt.Sprintf("%s: still firing, %s in total", title, plural(b.Total, "alert"))
	case !repeat && len(alerts) == 1:
		s = title + ": " + shown.Summary
	case !repeat:
		s = fmt.Sprintf("%s: %s: %s", title, plural(len(alerts), "alert"), shown.Summary)
	default:
		s = fmt.Sprintf("%s: %s, total %d: %s", title, plural(len(alerts), "new alert"), b.Total, shown.Summary)
	}
	b.Summary = render.Text(s, MaxSummary)
	if rb := render.RunbookFor(shown, books, n.Locale, runbookBaseURL, firstSteps).Brief(maxValue, maxStep); rb.Path != "" || rb.Title != "" {
		b.Runbook = &Runbook{Title: rb.Title, Path: render.Text(rb.Path, maxValue), URL: rb.URL, FirstSteps: rb.Steps}
	}
	return b
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Encode marshals b, leaving out the oldest alerts until it fits in max
// bytes. It fails only when b does not fit without any alert.
func (b *Body) Encode(max int) ([]byte, error) {
	data, err := json.Marshal(b)
	if err != nil || len(data) <= max {
		return data, err
	}
	all, omitted := b.Alerts, b.OmittedAlerts
	defer func() { b.Alerts, b.OmittedAlerts = all, omitted }()
	// Find how many of the newest alerts fit, by halving.
	lo, hi := 0, len(all)-1 // lo alerts are known to fit (0 is checked last)
	var best []byte
	for lo < hi {
		mid := (lo + hi + 1) / 2
		b.Alerts, b.OmittedAlerts = all[len(all)-mid:], omitted+len(all)-mid
		data, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		if len(data) <= max {
			lo, best = mid, data
		} else {
			hi = mid - 1
		}
	}
	if best != nil {
		return best, nil
	}
	b.Alerts, b.OmittedAlerts = []*alert.Alert{}, omitted+len(all)
	data, err = json.Marshal(b)
	if err != nil || len(data) <= max {
		return data, err
	}
	// Still too big: lose the group labels and runbook steps too.
	gl, rb, truncated := b.GroupLabels, b.Runbook, b.Truncated
	defer func() { b.GroupLabels, b.Runbook, b.Truncated = gl, rb, truncated }()
	b.GroupLabels, b.Truncated = map[string]string{}, true
	if rb != nil {
		short := *rb
		short.FirstSteps = nil
		b.Runbook = &short
	}
	data, err = json.Marshal(b)
	if err != nil {
		return nil, err
	}
	if len(data) > max {
		return nil, fmt.Errorf("body of %d bytes without alerts exceeds max_body_bytes %d", len(data), max)
	}
	return data, nil
}

// cleanAlert returns a copy of a with credentials redacted from its
// strings and each bounded.
func cleanAlert(a *alert.Alert) *alert.Alert {
	s := func(v string) string { return render.Truncate(redact.String(v), maxField) }
	c := *a
	c.ID, c.Summary, c.DedupKey = s(a.ID), s(a.Summary), s(a.DedupKey)
	c.Rule.ID, c.Rule.Title, c.Rule.Severity = s(a.Rule.ID), s(a.Rule.Title), s(a.Rule.Severity)
	c.Rule.Tags = nil
	for _, t := range a.Rule.Tags[:min(len(a.Rule.Tags), maxLabels)] {
		c.Rule.Tags = append(c.Rule.Tags, s(t))
	}
	c.Entity = alert.Entity{Identity: s(a.Entity.Identity), Namespace: s(a.Entity.Namespace), Pod: s(a.Entity.Pod)}
	c.Runbook = alert.Runbook{Path: s(a.Runbook.Path), Title: s(a.Runbook.Title)}
	c.Context = alert.Context{
		Source: s(a.Context.Source), Action: s(a.Context.Action), Resource: s(a.Context.Resource),
		Name: s(a.Context.Name), Cluster: s(a.Context.Cluster), SourceIP: s(a.Context.SourceIP),
		UserAgent: s(a.Context.UserAgent), Outcome: s(a.Context.Outcome),
		Account: s(a.Context.Account), Region: s(a.Context.Region),
	}
	c.Events = make([]event.Ref, 0, min(len(a.Events), maxEventRef))
	for _, e := range a.Events[:min(len(a.Events), maxEventRef)] {
		c.Events = append(c.Events, event.Ref{Source: s(e.Source), ID: s(e.ID), Time: e.Time})
	}
	c.Labels = labels(a.Labels)
	c.Explains = nil
	for _, id := range a.Explains[:min(len(a.Explains), maxLabels)] {
		c.Explains = append(c.Explains, s(id))
	}
	return &c
}

// labels returns a redacted, bounded copy of l; nil for nil.
func labels(l map[string]string) map[string]string {
	if l == nil {
		return nil
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]string, min(len(l), maxLabels))
	for _, k := range keys[:min(len(keys), maxLabels)] {
		v := l[k]
		if redact.IsSecretKey(k) {
			v = redact.Mask
		}
		out[render.Truncate(redact.String(k), 200)] = render.Truncate(redact.String(v), maxValue)
	}
	return out
}
