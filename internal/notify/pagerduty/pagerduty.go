// Package pagerduty delivers notifications to PagerDuty through the Events
// API v2 (go-pagerduty's ManageEventWithContext), one alert per group.
//
// Every event of a group carries the same dedup_key, notify.DedupKey(GroupKey):
// the first notification triggers a PagerDuty alert, later ones trigger
// again with the same key (PagerDuty appends them to the open alert, with
// a "N new alerts, total T" summary, instead of paging twice), and a
// resolution resolves it. Because the key derives from the group and not
// from stored state, a repeat or a resolution after lost state still
// finds the alert.
//
// The summary (at most 1,024 characters, cut on a rune boundary), source
// (cluster or cloud account), component (namespace/pod), group (rule id),
// class (log source) and custom details (who/what/where, alert ids, event
// references, group labels, runbook title, link and first triage steps)
// are built from the alerts, with credentials redacted from every free
// text. The runbook link also goes into links.
//
// HTTP 202 is success; 400 and other 4xx are permanent; 408, 429 and 5xx
// are retried, honouring Retry-After. The routing key never appears in an
// error.
package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Limits of the Events API v2, and our own bounds on custom details.
const (
	MaxSummary    = 1024       // payload.summary, characters
	MaxDedupKey   = 255        // dedup_key, characters
	MaxEventBytes = 512 * 1024 // whole event

	maxValue       = 1024 // one custom-details string
	maxAlertValue  = 256  // a string of one alert in the alerts list
	maxStep        = 1000 // one runbook step
	maxAlerts      = 20   // alerts listed in custom details
	maxEventRefs   = 10   // event references per listed alert
	maxGroupLabels = 50
	maxErrBody     = 4096
)

// Client is the client name PagerDuty shows on alerts.
const Client = "Vigia"

// State keys returned by Deliver.
const (
	StateDedupKey = "dedup_key"
	StateSeverity = "severity" // the PagerDuty severity last sent, for reminders
	StateTitle    = "title"    // the rule title, for reminders
)

// Receiver sends notifications to one PagerDuty service. It is safe for
// concurrent use.
type Receiver struct {
	cfg    Config
	key    string
	books  *runbook.Library
	client *pagerduty.Client
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a Receiver for cfg, reading the routing key from the
// environment variable or file cfg names. books supplies the runbook
// steps; it may be nil.
func New(cfg Config, books *runbook.Library) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, err := cfg.routingKey()
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	hc := &http.Client{
		Timeout: cfg.Timeout,
		// A redirect would replay the event, routing key included,
		// elsewhere: answer it as the failure it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(cfg.URL))
	client.HTTPClient = capturing{hc}
	return &Receiver{cfg: cfg, key: key, books: books, client: client}, nil
}

// Deliver triggers (firing) or resolves (resolved) the group's PagerDuty
// alert and returns its dedup key as state.
func (r *Receiver) Deliver(ctx context.Context, n *notify.Notification, prev notify.State) (notify.State, error) {
	if n == nil {
		return nil, notify.Permanent(errors.New("pagerduty: nil notification"))
	}
	// The key kept in the state, if it is one of ours, else the group's.
	key := prev[StateDedupKey]
	if !safeKey(key, MaxDedupKey) {
		key = notify.DedupKey(n.GroupKey)
	}
	state := notify.State{StateDedupKey: key}
	for _, k := range []string{StateSeverity, StateTitle} {
		if v := prev[k]; v != "" {
			state[k] = v
		}
	}
	ev := &pagerduty.V2Event{RoutingKey: r.key, DedupKey: key}
	switch n.Status {
	case notify.StatusResolved:
		ev.Action = "resolve"
	case notify.StatusFiring:
		ev.Action = "trigger"
		r.trigger(ev, n, prev)
		state[StateSeverity] = ev.Payload.Severity
		if t := title(notify.Featured(n, notify.NonNil(n.Alerts), prev), n, prev); t != "" {
			state[StateTitle] = render.Truncate(t, 200)
		}
	default:
		return nil, notify.Permanent(fmt.Errorf("pagerduty: notification %s: unknown status %q", n.ID, n.Status))
	}
	if err := r.send(ctx, ev); err != nil {
		return nil, err
	}
	return state, nil
}

// Event returns the Events API v2 event Deliver sends for n, routing key
// left empty: for previews and tests.
func (r *Receiver) Event(n *notify.Notification, prev notify.State) *pagerduty.V2Event {
	ev := &pagerduty.V2Event{DedupKey: notify.DedupKey(n.GroupKey), Action: "resolve"}
	if n.Status == notify.StatusFiring {
		ev.Action = "trigger"
		r.trigger(ev, n, prev)
	}
	return ev
}

// severities maps Vigia severities to PagerDuty's.
var severities = map[string]string{
	alert.SeverityCritical: "critical",
	alert.SeverityHigh:     "error",
	alert.SeverityMedium:   "warning",
	alert.SeverityLow:      "info",
	alert.SeverityInfo:     "info",
}

// Severity maps a Vigia severity to a PagerDuty one: critical → critical,
// high → error, medium → warning, low and info → info; anything else →
// warning.
func Severity(s string) string {
	if v, ok := severities[s]; ok {
		return v
	}
	return "warning"
}

// title is the rule title of the group, redacted and on one line.
func title(a *alert.Alert, n *notify.Notification, prev notify.State) string {
	if t := render.RuleTitle(a, maxValue); t != "" {
		return t
	}
	if t := prev[StateTitle]; t != "" {
		return render.Text(t, maxValue)
	}
	return render.Text(n.GroupLabels["rule"], maxValue)
}

// summary is the payload summary: the featured alert's summary on the
// first notification, "N new alerts, total T" and the latest summary on
// later ones, "still firing" on reminders.
func summary(n *notify.Notification, alerts []*alert.Alert, a *alert.Alert, prev notify.State) string {
	t := title(a, n, prev)
	if t == "" {
		t = "Vigia alert"
	}
	var s string
	switch {
	case a == nil:
		s = fmt.Sprintf("%s: still firing, %s in total", t, plural(n.Total, "alert"))
	case !notify.Repeat(n, alerts, prev) && len(alerts) == 1:
		s = t + ": " + a.Summary
	case !notify.Repeat(n, alerts, prev):
		s = fmt.Sprintf("%s: %s: %s", t, plural(len(alerts), "alert"), a.Summary)
	default:
		s = fmt.Sprintf("%s: %s, total %d: %s", t, plural(len(alerts), "new alert"), max(n.Total, len(alerts)), a.Summary)
	}
	return render.Text(s, MaxSummary)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// trigger fills ev's payload, links and client for a firing notification.
func (r *Receiver) trigger(ev *pagerduty.V2Event, n *notify.Notification, prev notify.State) {
	alerts := notify.NonNil(n.Alerts)
	sev := n.Severity()
	if sev == "" {
		sev = n.GroupLabels["severity"]
	}
	pdSev := Severity(sev)
	if ps := prev[StateSeverity]; sev == "" && slices.Contains([]string{"critical", "error", "warning", "info"}, ps) {
		pdSev = ps // a reminder keeps the severity it had
	}
	a := notify.Featured(n, alerts, prev)
	p := &pagerduty.V2Payload{
		Summary:  summary(n, alerts, a, prev),
		Source:   "vigia",
		Severity: pdSev,
	}
	labels := n.GroupLabels
	if a != nil {
		labels = a.Labels
	}
	pick := func(vals ...string) string {
		for _, v := range vals {
			if v = render.Text(v, 255); v != "" {
				return v
			}
		}
		return ""
	}
	var cluster, account, region, ns, pod, ruleID, source string
	if a != nil {
		cluster, account, region = a.Context.Cluster, a.Context.Account, a.Context.Region
		ns, pod, ruleID, source = a.Entity.Namespace, a.Entity.Pod, a.Rule.ID, a.Context.Source
	}
	gl := n.GroupLabels
	if src := pick(cluster, gl["cluster"], labels["cluster"]); src != "" {
		p.Source = src
	} else if acct := pick(account, gl["account"], labels["account"]); acct != "" {
		p.Source = acct
		if reg := pick(region); reg != "" {
			p.Source = render.Truncate(acct+"/"+reg, 255)
		}
	}
	ns, pod = pick(ns, gl["namespace"]), pick(pod, gl["pod"])
	switch {
	case ns != "" && pod != "" && !strings.HasPrefix(pod, ns+"/"):
		p.Component = render.Truncate(ns+"/"+pod, 255)
	case pod != "":
		p.Component = pod
	default:
		p.Component = ns
	}
	p.Group = pick(ruleID, gl["rule"])
	p.Class = pick(source, gl["source"])
	switch {
	case a != nil && !a.Time.IsZero():
		p.Timestamp = a.Time.UTC().Format(time.RFC3339Nano)
	case !n.LastTime.IsZero():
		p.Timestamp = n.LastTime.UTC().Format(time.RFC3339Nano)
	}
	rb := render.RunbookFor(a, r.books, n.Locale, r.cfg.RunbookBaseURL, r.cfg.FirstSteps).Brief(maxValue, maxStep)
	details := r.details(n, alerts, a, rb)
	p.Details = details
	ev.Payload = p
	ev.Client = Client
	ev.ClientURL = r.cfg.ClientURL
	if rb.URL != "" {
		linkText := "Runbook"
		if rb.Title != "" {
			linkText = render.Truncate("Runbook: "+rb.Title, 255)
		}
		ev.Links = []any{map[string]string{"href": rb.URL, "text": linkText}}
	}
	// Bound the whole event: drop the alert list, then the labels.
	for _, k := range []string{"alerts", "labels", "group_labels"} {
		if b, err := json.Marshal(ev); err == nil && len(b) <= MaxEventBytes-1024 {
			break
		}
		delete(details, k)
	}
}

// details builds custom_details: every string redacted and bounded.
func (r *Receiver) details(n *notify.Notification, alerts []*alert.Alert, a *alert.Alert, rb render.Brief) map[string]any {
	d := map[string]any{
		"new_alerts": len(alerts),
		"total":      max(n.Total, len(alerts)),
		"status":     n.Status,
	}
	put := func(m map[string]any, k, v string) {
		if v = render.Text(v, maxValue); v != "" {
			m[k] = v
		}
	}
	putTime := func(m map[string]any, k string, t time.Time) {
		if !t.IsZero() {
			m[k] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	putTime(d, "first_time", n.FirstTime)
	putTime(d, "last_time", n.LastTime)
	put(d, "notification_id", n.ID)
	put(d, "group_key", n.GroupKey)
	if gl := boundedLabels(n.GroupLabels); len(gl) > 0 {
		d["group_labels"] = gl
	}
	if rb.Path != "" || rb.Title != "" {
		d["runbook"] = rb
	}
	if a == nil {
		return d
	}
	put(d, "summary", a.Summary)
	rule := map[string]any{}
	put(rule, "id", a.Rule.ID)
	put(rule, "title", a.Rule.Title)
	put(rule, "severity", a.Rule.Severity)
	if len(a.Rule.Tags) > 0 {
		tags := make([]string, 0, min(len(a.Rule.Tags), 20))
		for _, t := range a.Rule.Tags[:min(len(a.Rule.Tags), 20)] {
			tags = append(tags, render.Text(t, 100))
		}
		rule["tags"] = tags
	}
	d["rule"] = rule
	object := a.Context.Name
	if object != "" && a.Entity.Namespace != "" {
		object = a.Entity.Namespace + "/" + object
	}
	group := func(kv ...string) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			put(m, kv[i], kv[i+1])
		}
		return m
	}
	if m := group("identity", a.Entity.Identity, "source_ip", a.Context.SourceIP, "user_agent", a.Context.UserAgent); len(m) > 0 {
		d["who"] = m
	}
	if m := group("action", a.Context.Action, "resource", a.Context.Resource, "object", object, "outcome", a.Context.Outcome); len(m) > 0 {
		d["what"] = m
	}
	if m := group("cluster", a.Context.Cluster, "namespace", a.Entity.Namespace, "pod", a.Entity.Pod,
		"account", a.Context.Account, "region", a.Context.Region, "source", a.Context.Source); len(m) > 0 {
		d["where"] = m
	}
	if !a.Time.IsZero() {
		d["when"] = a.Time.UTC().Format(time.RFC3339Nano)
	}
	if l := boundedLabels(a.Labels); len(l) > 0 {
		d["labels"] = l
	}
	list := make([]map[string]any, 0, min(len(alerts), maxAlerts))
	for _, a := range alerts[max(0, len(alerts)-maxAlerts):] {
		m := map[string]any{}
		short := func(k, v string) {
			if v = render.Text(v, maxAlertValue); v != "" {
				m[k] = v
			}
		}
		short("id", a.ID)
		short("summary", a.Summary)
		short("identity", a.Entity.Identity)
		short("namespace", a.Entity.Namespace)
		short("pod", a.Entity.Pod)
		if !a.Time.IsZero() {
			m["time"] = a.Time.UTC().Format(time.RFC3339Nano)
		}
		var refs []string
		for _, e := range a.Events[:min(len(a.Events), maxEventRefs)] {
			ref := e.Source + ":" + e.ID
			if !e.Time.IsZero() {
				ref += "@" + e.Time.UTC().Format(time.RFC3339Nano)
			}
			refs = append(refs, render.Text(ref, maxAlertValue))
		}
		if len(refs) > 0 {
			m["events"] = refs
		}
		list = append(list, m)
	}
	d["alerts"] = list
	if omitted := len(alerts) - len(list); omitted > 0 {
		d["alerts_omitted"] = omitted
	}
	return d
}

func boundedLabels(l map[string]string) map[string]string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]string, min(len(l), maxGroupLabels))
	for _, k := range keys[:min(len(keys), maxGroupLabels)] {
		v := l[k]
		if redact.IsSecretKey(k) {
			v = redact.Mask
		}
		out[render.Text(k, 100)] = render.Text(v, maxAlertValue)
	}
	return out
}

// send posts ev and classifies the outcome.
func (r *Receiver) send(ctx context.Context, ev *pagerduty.V2Event) error {
	cp := &captured{}
	_, err := r.client.ManageEventWithContext(context.WithValue(ctx, captureKey{}, cp), ev)
	switch {
	case cp.status >= 200 && cp.status < 300:
		// Accepted, even if the answer could not be decoded: PagerDuty
		// has the event, and the dedup key is ours.
		return nil
	case cp.status != 0:
		herr := notify.HTTPError(&http.Response{StatusCode: cp.status, Header: cp.header}, r.scrub(cp.body))
		return &scrubbed{msg: fmt.Sprintf("pagerduty: %s %s: %v", ev.Action, ev.DedupKey, herr), err: herr}
	case err != nil:
		// No answer: network failure, timeout, cancelled context.
		// go-pagerduty flattens the cause into text; keep ctx's error
		// in the chain.
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%s)", cerr, err.Error())
		}
		return &scrubbed{msg: fmt.Sprintf("pagerduty: %s %s: %s", ev.Action, ev.DedupKey, r.scrub(err.Error())), err: err}
	}
	return nil
}

// scrub removes the routing key and anything credential-like from s.
func (r *Receiver) scrub(s string) string {
	if r.key != "" {
		s = strings.ReplaceAll(s, r.key, redact.Mask)
	}
	return redact.String(strings.ToValidUTF8(s, "\uFFFD"))
}

// scrubbed is an error whose message was cleaned of credentials; it still
// unwraps to the original (for errors.Is(err, context.Canceled), the
// notify error classes).
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// captured is the status, headers and (for failures) body excerpt of the
// answer to one request; go-pagerduty keeps neither the headers
// (Retry-After) nor the raw body.
type captured struct {
	status int
	header http.Header
	body   string
}

type captureKey struct{}

// capturing is go-pagerduty's HTTPClient: it records each answer in the
// request context's *captured.
type capturing struct{ c *http.Client }

func (h capturing) Do(req *http.Request) (*http.Response, error) {
	resp, err := h.c.Do(req)
	cp, ok := req.Context().Value(captureKey{}).(*captured)
	if !ok || resp == nil {
		return resp, err
	}
	cp.status, cp.header = resp.StatusCode, resp.Header.Clone()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		cp.body = string(b)
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, err
}

// safeKey reports whether k is a non-empty key of at most max characters
// drawn from letters, digits, '.', '_' and '-'.
func safeKey(k string, max int) bool {
	return k != "" && len(k) <= max && !strings.ContainsFunc(k, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '.' && r != '_' && r != '-'
	})
}
