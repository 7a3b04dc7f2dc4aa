// Package opsgenie delivers notifications to Opsgenie through its Alert
// API v2 (opsgenie-go-sdk-v2), one Opsgenie alert per group.
//
// Every request of a group names the alert by the same alias,
// notify.DedupKey(GroupKey). The first notification creates the alert; later ones
// create it again — Opsgenie deduplicates by alias, counting the
// occurrence on the open alert instead of paging again (and opens a new
// alert if someone closed the old one) — and add a note "N new alerts,
// total T" listing them. A resolution closes the alert by alias. Because
// the alias derives from the group and not from stored state, all of this
// works after lost state too.
//
// Opsgenie renders HTML in the message, description and notes: there,
// event-derived text is HTML-escaped (&, <, >), so a pod name or user
// agent cannot inject a link or markup, and cut without splitting an
// entity.
//
// The message (at most 130 characters), description (at most 15,000:
// summary, who/what/where/when, the runbook link and first triage steps,
// the alerts), priority (critical P1, high P2, medium P3, low P4, info
// P5), tags, details, entity and source "vigia" are built from the
// alerts, cut on rune boundaries, with credentials redacted from every
// free text.
//
// Opsgenie answers 202 and processes requests asynchronously; Deliver does
// not poll the request status. 400, 401, 403, 404, 422 and other 4xx are
// permanent; 408, 429 and 5xx are retried, honouring Retry-After (or
// X-RateLimit-Period-In-Sec on a 429 without it). The SDK's own retries
// and logging are turned off: the dispatcher retries, and the API key
// never appears in an error or a log.
//
// The SDK sets a package-level user agent when a client is created;
// create receivers before delivering (as the pipeline does).
package opsgenie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ogalert "github.com/opsgenie/opsgenie-go-sdk-v2/alert"
	"github.com/opsgenie/opsgenie-go-sdk-v2/client"
	"github.com/sirupsen/logrus"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Source is the source of every alert, note and close request.
const Source = "vigia"

// State keys returned by Deliver.
const (
	StateAlias     = "alias"
	StateRequestID = "request_id" // of the last accepted request
	StatePriority  = "priority"   // the priority last sent, for reminders
	StateTitle     = "title"      // the rule title, for reminders
)

// Our bounds within Opsgenie's limits.
const (
	maxValue      = 500  // one details value
	maxNote       = 4000 // a repeat note
	maxStep       = 1000 // one runbook step
	maxAlertLines = 20   // alerts listed in a description or note
	maxErrBody    = 4096
)

// newClientMu serializes SDK client creation, which writes a package
// variable of the SDK.
var newClientMu sync.Mutex

// Receiver sends notifications to Opsgenie. It is safe for concurrent use.
type Receiver struct {
	cfg    Config
	key    string
	books  *runbook.Library
	client *ogalert.Client
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a Receiver for cfg, reading the API key from the
// environment variable or file cfg names. books supplies the runbook
// steps; it may be nil.
func New(cfg Config, books *runbook.Library) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, err := cfg.apiKey()
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	base, err := url.Parse(cfg.APIURL)
	if err != nil {
		return nil, &FieldError{Field: "api_url", Problem: "is not a URL"}
	}
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	logger.SetLevel(logrus.PanicLevel)
	hc := &http.Client{
		Timeout:   cfg.Timeout,
		Transport: &transport{base: http.DefaultTransport, url: base},
		// A redirect would replay the request, API key included,
		// elsewhere: answer it as the failure it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	newClientMu.Lock()
	defer newClientMu.Unlock()
	c, err := ogalert.NewClient(&client.Config{
		ApiKey: key,
		// The SDK builds https://HOST/path; transport rewrites it to
		// APIURL (scheme, host and path prefix).
		OpsGenieAPIURL: client.ApiUrl(base.Host),
		HttpClient:     hc,
		RetryPolicy: func(ctx context.Context, _ *http.Response, _ error) (bool, error) {
			return false, ctx.Err() // the dispatcher retries
		},
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("opsgenie: %s", scrub(key, err.Error()))
	}
	return &Receiver{cfg: cfg, key: key, books: books, client: c}, nil
}

// Deliver creates (first notification), re-creates and annotates
// (repeats) or closes (resolution) the group's Opsgenie alert, and returns
// its alias as state.
func (r *Receiver) Deliver(ctx context.Context, n *notify.Notification, prev notify.State) (notify.State, error) {
	if n == nil {
		return nil, notify.Permanent(errors.New("opsgenie: nil notification"))
	}
	// The alias kept in the state, if it is one of ours (it goes into a
	// URL path), else the group's.
	alias := prev[StateAlias]
	if !safeKey(alias, MaxAlias) {
		alias = notify.DedupKey(n.GroupKey)
	}
	state := notify.State{StateAlias: alias}
	for _, k := range []string{StatePriority, StateTitle} {
		if v := prev[k]; v != "" {
			state[k] = v
		}
	}
	switch n.Status {
	case notify.StatusResolved:
		req := &ogalert.CloseAlertRequest{
			IdentifierType: ogalert.ALIAS, IdentifierValue: alias, Source: Source,
			Note: fmt.Sprintf("Resolved in Vigia: %s in total.", plural(n.Total, "alert")),
		}
		id, err := r.do(ctx, "close", alias, func(ctx context.Context) (*ogalert.AsyncAlertResult, error) {
			return r.client.Close(ctx, req)
		})
		if err != nil {
			return nil, err
		}
		state[StateRequestID] = id
		return state, nil
	case notify.StatusFiring:
	default:
		return nil, notify.Permanent(fmt.Errorf("opsgenie: notification %s: unknown status %q", n.ID, n.Status))
	}

	create := r.CreateRequest(n, prev)
	create.Alias = alias
	id, err := r.do(ctx, "create", alias, func(ctx context.Context) (*ogalert.AsyncAlertResult, error) {
		return r.client.Create(ctx, create)
	})
	if err != nil {
		return nil, err
	}
	state[StateRequestID], state[StatePriority] = id, string(create.Priority)
	alerts := notify.NonNil(n.Alerts)
	if t := title(notify.Featured(n, alerts, prev), n, prev); t != "" {
		state[StateTitle] = render.Truncate(t, 200)
	}
	if !notify.Repeat(n, alerts, prev) {
		return state, nil
	}
	note := &ogalert.AddNoteRequest{
		IdentifierType: ogalert.ALIAS, IdentifierValue: alias, Source: Source,
		Note: r.Note(n, prev),
	}
	id, err = r.do(ctx, "add note to", alias, func(ctx context.Context) (*ogalert.AsyncAlertResult, error) {
		return r.client.AddNote(ctx, note)
	})
	if err != nil {
		return nil, err
	}
	state[StateRequestID] = id
	return state, nil
}

// priorities maps Vigia severities to Opsgenie priorities.
var priorities = map[string]ogalert.Priority{
	alert.SeverityCritical: ogalert.P1,
	alert.SeverityHigh:     ogalert.P2,
	alert.SeverityMedium:   ogalert.P3,
	alert.SeverityLow:      ogalert.P4,
	alert.SeverityInfo:     ogalert.P5,
}

// Priority maps a Vigia severity to an Opsgenie priority: critical P1,
// high P2, medium P3, low P4, info P5; anything else P3.
func Priority(severity string) ogalert.Priority {
	if p, ok := priorities[severity]; ok {
		return p
	}
	return ogalert.P3
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

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// CreateRequest returns the create request Deliver sends for a firing n.
func (r *Receiver) CreateRequest(n *notify.Notification, prev notify.State) *ogalert.CreateAlertRequest {
	alerts := notify.NonNil(n.Alerts)
	a := notify.Featured(n, alerts, prev)
	t := title(a, n, prev)
	if t == "" {
		t = "Vigia alert"
	}
	var msg string
	switch {
	case a == nil:
		msg = fmt.Sprintf("%s: still firing, %s in total", t, plural(n.Total, "alert"))
	case notify.Repeat(n, alerts, prev):
		msg = fmt.Sprintf("%s: %s, total %d: %s", t, plural(len(alerts), "new alert"), max(n.Total, len(alerts)), a.Summary)
	default:
		msg = t + ": " + a.Summary
	}
	sev := n.Severity()
	if sev == "" {
		sev = n.GroupLabels["severity"]
	}
	prio := Priority(sev)
	if pp := ogalert.Priority(prev[StatePriority]); sev == "" && slices.Contains([]ogalert.Priority{ogalert.P1, ogalert.P2, ogalert.P3, ogalert.P4, ogalert.P5}, pp) {
		prio = pp // a reminder keeps the priority it had
	}
	rb := render.RunbookFor(a, r.books, n.Locale, r.cfg.RunbookBaseURL, r.cfg.FirstSteps).Brief(maxValue, maxStep)
	req := &ogalert.CreateAlertRequest{
		Message:     fitHTML(render.Clean(msg), MaxMessage),
		Alias:       notify.DedupKey(n.GroupKey),
		Description: r.description(n, alerts, a, rb),
		Tags:        r.tags(a, sev),
		Details:     details(n, alerts, a, rb),
		Entity:      entity(a, n),
		Source:      Source,
		Priority:    prio,
	}
	for _, rs := range r.cfg.Responders {
		req.Responders = append(req.Responders, ogalert.Responder{
			Type: ogalert.ResponderType(rs.Type), Name: rs.Name, Id: rs.ID, Username: rs.Username,
		})
	}
	return req
}

// entity is what the alert is about: the identity, else namespace/pod.
func entity(a *alert.Alert, n *notify.Notification) string {
	var id, ns, pod string
	if a != nil {
		id, ns, pod = a.Entity.Identity, a.Entity.Namespace, a.Entity.Pod
	} else {
		id, ns, pod = n.GroupLabels["identity"], n.GroupLabels["namespace"], n.GroupLabels["pod"]
	}
	switch {
	case id != "":
		return render.Text(id, MaxEntity)
	case ns != "" && pod != "":
		return render.Text(ns+"/"+pod, MaxEntity)
	}
	return render.Text(ns+pod, MaxEntity)
}

// tags are "vigia", the severity, the rule id, the rule's tags and the
// configured tags: at most 20, each at most 50 characters without commas
// or spaces, no duplicates.
func (r *Receiver) tags(a *alert.Alert, sev string) []string {
	candidates := []string{"vigia"}
	if sev != "" {
		candidates = append(candidates, "severity:"+sev)
	}
	if a != nil {
		if a.Rule.ID != "" {
			candidates = append(candidates, "rule:"+a.Rule.ID)
		}
		candidates = append(candidates, a.Rule.Tags...)
	}
	candidates = append(candidates, r.cfg.Tags...)
	var out []string
	for _, c := range candidates {
		c = strings.Map(func(r rune) rune {
			if r == ',' || r == ' ' {
				return '_'
			}
			return r
		}, render.Text(c, MaxTag))
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
		if len(out) == MaxTags {
			break
		}
	}
	return out
}

// details are the alert's key-value details: at most MaxDetails
// characters, keys and values together; later keys are dropped first.
func details(n *notify.Notification, alerts []*alert.Alert, a *alert.Alert, rb render.Brief) map[string]string {
	var kv []string
	add := func(k, v string) {
		if v = render.Text(v, maxValue); v != "" {
			kv = append(kv, k, v)
		}
	}
	if a != nil {
		object := a.Context.Name
		if object != "" && a.Entity.Namespace != "" {
			object = a.Entity.Namespace + "/" + object
		}
		add("rule", a.Rule.ID)
		add("rule_title", a.Rule.Title)
		add("severity", a.Rule.Severity)
		add("identity", a.Entity.Identity)
		add("source_ip", a.Context.SourceIP)
		add("user_agent", a.Context.UserAgent)
		add("action", a.Context.Action)
		add("resource", a.Context.Resource)
		add("object", object)
		add("outcome", a.Context.Outcome)
		add("cluster", a.Context.Cluster)
		add("namespace", a.Entity.Namespace)
		add("pod", a.Entity.Pod)
		add("account", a.Context.Account)
		add("region", a.Context.Region)
		add("log_source", a.Context.Source)
		if !a.Time.IsZero() {
			add("time", a.Time.UTC().Format(time.RFC3339))
		}
	}
	add("runbook", rb.Path)
	add("runbook_url", rb.URL)
	add("new_alerts", strconv.Itoa(len(alerts)))
	add("total", strconv.Itoa(max(n.Total, len(alerts))))
	var ids, refs []string
	for _, x := range alerts[max(0, len(alerts)-maxAlertLines):] {
		ids = append(ids, x.ID)
		for _, e := range x.Events[:min(len(x.Events), 3)] {
			refs = append(refs, e.Source+":"+e.ID)
		}
	}
	add("alert_ids", strings.Join(ids, ","))
	add("events", strings.Join(refs, ","))
	add("group_key", n.GroupKey)
	add("notification_id", n.ID)
	keys := make([]string, 0, len(n.GroupLabels))
	for k := range n.GroupLabels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := n.GroupLabels[k]
		if redact.IsSecretKey(k) {
			v = redact.Mask
		}
		add("group_"+render.Text(k, 50), v)
	}
	out := map[string]string{}
	budget := MaxDetails
	for i := 0; i+1 < len(kv); i += 2 {
		cost := len([]rune(kv[i])) + len([]rune(kv[i+1]))
		if cost > budget {
			continue
		}
		budget -= cost
		out[kv[i]] = kv[i+1]
	}
	return out
}

// description is the alert body: summary, who/what/where/when, the
// runbook, the alerts.
func (r *Receiver) description(n *notify.Notification, alerts []*alert.Alert, a *alert.Alert, rb render.Brief) string {
	var b strings.Builder
	line := func(parts ...string) {
		var kept []string
		for i := 0; i+1 < len(parts); i += 2 {
			if v := render.Text(parts[i+1], maxValue); v != "" {
				kept = append(kept, parts[i]+" "+v)
			}
		}
		if len(kept) > 0 {
			b.WriteString(strings.Join(kept, " · ") + "\n")
		}
	}
	if a != nil {
		b.WriteString(block(a.Summary, 2000) + "\n\n")
		line("Who: identity", a.Entity.Identity, "source IP", a.Context.SourceIP, "user agent", a.Context.UserAgent)
		object := a.Context.Name
		if object != "" && a.Entity.Namespace != "" {
			object = a.Entity.Namespace + "/" + object
		}
		line("What: action", a.Context.Action, "resource", a.Context.Resource, "object", object, "outcome", a.Context.Outcome)
		line("Where: cluster", a.Context.Cluster, "namespace", a.Entity.Namespace, "pod", a.Entity.Pod,
			"account", a.Context.Account, "region", a.Context.Region)
		when := ""
		if !a.Time.IsZero() {
			when = a.Time.UTC().Format(time.RFC3339)
		}
		line("When:", when, "source", a.Context.Source)
		b.WriteString("\n")
	}
	if rb.Title != "" || rb.Path != "" {
		head := "Runbook: " + rb.Title
		if rb.Title == "" {
			head = "Runbook: " + rb.Path
		}
		b.WriteString(head + "\n")
		if rb.URL != "" {
			b.WriteString(rb.URL + "\n")
		} else if rb.Title != "" && rb.Path != "" {
			b.WriteString(rb.Path + "\n")
		}
		for i, s := range rb.Steps {
			fmt.Fprintf(&b, "%d. %s\n", i+1, s)
		}
		b.WriteString("\n")
	}
	b.WriteString(alertLines(n, alerts))
	if a != nil {
		fmt.Fprintf(&b, "\nRule %s · group %s\n", render.Text(a.Rule.ID, maxValue), notify.DedupKey(n.GroupKey))
	}
	return fitHTML(block(b.String(), 4*MaxDescription), MaxDescription)
}

// alertLines lists the notification's alerts, newest last, at most
// maxAlertLines of them.
func alertLines(n *notify.Notification, alerts []*alert.Alert) string {
	var b strings.Builder
	if len(alerts) == 0 {
		fmt.Fprintf(&b, "No new alerts, %s in total.\n", plural(n.Total, "alert"))
		return b.String()
	}
	fmt.Fprintf(&b, "Alerts (%d new, %d in total):\n", len(alerts), max(n.Total, len(alerts)))
	if skipped := len(alerts) - maxAlertLines; skipped > 0 {
		fmt.Fprintf(&b, "- … %d earlier alerts not listed\n", skipped)
	}
	for _, x := range alerts[max(0, len(alerts)-maxAlertLines):] {
		when := ""
		if !x.Time.IsZero() {
			when = x.Time.UTC().Format(time.RFC3339) + " "
		}
		var refs []string
		for _, e := range x.Events[:min(len(x.Events), 3)] {
			refs = append(refs, e.Source+":"+e.ID)
		}
		ev := ""
		if len(refs) > 0 {
			ev = " (events " + render.Text(strings.Join(refs, ", "), 300) + ")"
		}
		fmt.Fprintf(&b, "- %s%s: %s%s\n", when, render.Text(x.ID, 100), render.Text(x.Summary, 300), ev)
	}
	return b.String()
}

// Note returns the note Deliver adds on a repeat: how many alerts are new,
// the total, and the new alerts.
func (r *Receiver) Note(n *notify.Notification, prev notify.State) string {
	alerts := notify.NonNil(n.Alerts)
	if len(alerts) == 0 {
		return fmt.Sprintf("Still firing: no new alerts, %s in total.", plural(n.Total, "alert"))
	}
	head := fmt.Sprintf("%s, total %d.\n", plural(len(alerts), "new alert"), max(n.Total, len(alerts)))
	return fitHTML(block(head+alertLines(n, alerts), 4*maxNote), maxNote)
}

// do runs one SDK call and classifies its outcome. It returns the request
// id Opsgenie answered with.
func (r *Receiver) do(ctx context.Context, action, alias string, call func(context.Context) (*ogalert.AsyncAlertResult, error)) (string, error) {
	cp := &captured{}
	res, err := call(context.WithValue(ctx, captureKey{}, cp))
	switch {
	case cp.status >= 200 && cp.status < 300:
		// Accepted, even if the answer could not be decoded.
		if res != nil {
			return render.Text(res.RequestId, 100), nil
		}
		return render.Text(cp.header.Get("X-Request-Id"), 100), nil
	case cp.status != 0:
		h := cp.header.Clone()
		if cp.status == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
			// Opsgenie states the throttling period instead.
			if p := h.Get("X-RateLimit-Period-In-Sec"); p != "" {
				h.Set("Retry-After", p)
			}
		}
		herr := notify.HTTPError(&http.Response{StatusCode: cp.status, Header: h}, scrub(r.key, cp.body))
		return "", &scrubbed{msg: fmt.Sprintf("opsgenie: %s %s: %v", action, alias, herr), err: herr}
	case err != nil:
		// No answer: network failure, timeout, cancelled context.
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%s)", cerr, err.Error())
		}
		return "", &scrubbed{msg: fmt.Sprintf("opsgenie: %s %s: %s", action, alias, scrub(r.key, err.Error())), err: err}
	}
	return "", fmt.Errorf("opsgenie: %s %s: no answer", action, alias)
}

// scrub removes the API key and anything credential-like from s.
func scrub(key, s string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, redact.Mask)
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
// answer to one request; the SDK keeps neither Retry-After nor the raw
// body.
type captured struct {
	status int
	header http.Header
	body   string
}

type captureKey struct{}

// transport sends the SDK's requests to the configured API URL and
// records each answer in the request context's *captured.
type transport struct {
	base http.RoundTripper
	url  *url.URL
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = t.url.Scheme, t.url.Host, ""
	if p := strings.TrimSuffix(t.url.Path, "/"); p != "" {
		req.URL.Path = p + req.URL.Path
		req.URL.RawPath = ""
	}
	resp, err := t.base.RoundTrip(req)
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
