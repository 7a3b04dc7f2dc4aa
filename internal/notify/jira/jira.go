// Package jira opens one Jira issue per alert group, through a small typed
// client over Jira's REST API: version 3 (Jira Cloud; rich text in
// Atlassian Document Format) or version 2 (Server and Data Center, and
// Cloud; wiki markup).
//
// The first notification of a group creates an issue labelled "vigia" and
// "vigia-<dedup>" (Dedup of the group key); later ones comment on it ("3
// new alerts, 7 in total"); the resolution comments and, when
// resolve_transition is set, moves the issue through that transition. The
// issue's id and key are kept in the group's State. When the State is
// empty (the group's first notification, or state lost in a crash between
// creating the issue and saving the state) the receiver first searches for
// an open issue with the group's label, so a restart never duplicates an
// issue.
//
// Jira Cloud's search is eventually consistent: an issue created seconds
// ago may not be found yet. The window that matters, a crash between
// creating an issue and saving the state, is that short only when the
// process restarts at once; Vigia's outbox redelivers after the claim
// timeout, by which time the index has caught up.
//
// Every event-derived text is cleaned (credentials redacted, control
// characters removed) and rendered as text, never as markup: ADF text nodes
// in v3, escaped wiki markup in v2. Comments are delivered at least once:
// a retry after a lost answer may add a second copy.
package jira

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/runbook"
	"github.com/vigia-dev/vigia/internal/secret"
)

// State keys: the issue's key (SEC-42), shown to people, and its id, which
// survives the issue moving to another project.
const (
	StateKey = "key"
	StateID  = "id"
)

// maxResponse bounds the response bodies read.
const maxResponse = 1 << 20

// Receiver delivers notifications to one Jira project. It is safe for
// concurrent use.
type Receiver struct {
	cfg     Config
	content content
	token   secret.Source
	client  *http.Client
	api     string // https://site/rest/api/3
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a Receiver for cfg. books supplies the runbook steps shown in
// issues; it may be nil. The credential must be readable now: a missing
// variable or file fails at start, not at the first alert.
func New(cfg Config, books *runbook.Library) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Receiver{
		cfg:    cfg,
		token:  secret.Source{Field: "jira: api_token", Env: cfg.APITokenEnv, File: cfg.APITokenFile},
		client: &http.Client{Timeout: cfg.Timeout},
		api:    fmt.Sprintf("%s/rest/api/%d", cfg.URL, cfg.APIVersion),
	}
	r.content = content{cfg: &r.cfg, books: books}
	if _, err := r.token.Get(); err != nil {
		return nil, err
	}
	return r, nil
}

// Deliver creates, comments on or resolves the group's issue.
func (r *Receiver) Deliver(ctx context.Context, n *notify.Notification, prev notify.State) (notify.State, error) {
	if n == nil {
		return prev, nil
	}
	id := prev[StateID]
	if id == "" {
		id = prev[StateKey]
	}
	if n.Status == notify.StatusResolved {
		return r.resolve(ctx, n, prev, id)
	}
	if id != "" {
		status, err := r.comment(ctx, id, r.body(n, func(l limits) []block { return r.content.update(n, l) }))
		switch {
		case err == nil:
			return prev, nil
		case status != http.StatusNotFound:
			return prev, err
		}
		// The issue was deleted, or moved out of our reach: open another.
	}
	found, err := r.find(ctx, n.GroupKey)
	if err != nil {
		return prev, err
	}
	if found != nil {
		if _, err := r.comment(ctx, found.ID, r.body(n, func(l limits) []block { return r.content.update(n, l) })); err != nil {
			return prev, err
		}
		return found.state(), nil
	}
	created, err := r.create(ctx, n)
	if err != nil {
		return prev, err
	}
	return created.state(), nil
}

// issueRef is an issue as the API names it.
type issueRef struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Status *status `json:"status"`
	} `json:"fields"`
}

type status struct {
	Name           string `json:"name"`
	StatusCategory struct {
		Key string `json:"key"` // "new", "indeterminate", "done"
	} `json:"statusCategory"`
}

func (i *issueRef) state() notify.State {
	return notify.State{StateID: i.ID, StateKey: i.Key}
}

// create opens the group's issue.
func (r *Receiver) create(ctx context.Context, n *notify.Notification) (*issueRef, error) {
	fields := map[string]any{
		"project":     map[string]string{"key": r.cfg.Project},
		"issuetype":   map[string]string{"name": r.cfg.IssueType},
		"summary":     Summary(n),
		"description": r.body(n, func(l limits) []block { return r.content.description(n, l) }),
		"labels":      r.labels(n.GroupKey),
	}
	if !r.cfg.DisablePriority {
		if p := r.cfg.Priorities[n.Severity()]; p != "" {
			fields["priority"] = map[string]string{"name": p}
		}
	}
	var out issueRef
	if _, err := r.call(ctx, "create issue in "+r.cfg.Project, http.MethodPost, "/issue", nil, map[string]any{"fields": fields}, &out); err != nil {
		return nil, err
	}
	if out.ID == "" && out.Key == "" {
		return nil, errors.New("jira: create issue: the answer names no issue")
	}
	if out.ID == "" {
		out.ID = out.Key
	}
	return &out, nil
}

func (r *Receiver) labels(groupKey string) []string {
	ls := []string{"vigia", notify.DedupKey(groupKey)}
	for _, l := range r.cfg.Labels {
		if !slices.Contains(ls, l) {
			ls = append(ls, l)
		}
	}
	return ls
}

// find returns the group's open issue, or nil.
func (r *Receiver) find(ctx context.Context, groupKey string) (*issueRef, error) {
	jql := fmt.Sprintf("project = %s AND labels = %s AND statusCategory != Done ORDER BY created ASC",
		jqlString(r.cfg.Project), jqlString(notify.DedupKey(groupKey)))
	path := "/search/jql"
	if r.cfg.APIVersion == 2 {
		path = "/search"
	}
	req := map[string]any{"jql": jql, "maxResults": 1, "fields": []string{"status"}}
	var out struct {
		Issues []*issueRef `json:"issues"`
	}
	if _, err := r.call(ctx, "search the group's issue", http.MethodPost, path, nil, req, &out); err != nil {
		return nil, err
	}
	for _, i := range out.Issues {
		if i != nil && (i.ID != "" || i.Key != "") {
			if i.ID == "" {
				i.ID = i.Key
			}
			return i, nil
		}
	}
	return nil, nil
}

// jqlString quotes s as a JQL string.
func jqlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// comment adds a comment to issue id; it returns the HTTP status of a
// refusal.
func (r *Receiver) comment(ctx context.Context, id string, body any) (int, error) {
	return r.call(ctx, "comment on issue "+id, http.MethodPost, "/issue/"+url.PathEscape(id)+"/comment", nil, map[string]any{"body": body}, nil)
}

// errNoTransition: the configured transition is not available.
var errNoTransition = errors.New("jira: transition not available")

// resolve comments on the group's issue and applies the resolve
// transition. A group whose issue is unknown, or gone, is resolved.
func (r *Receiver) resolve(ctx context.Context, n *notify.Notification, prev notify.State, id string) (notify.State, error) {
	state := prev
	if id == "" {
		found, err := r.find(ctx, n.GroupKey)
		if err != nil || found == nil {
			return prev, err
		}
		id, state = found.ID, found.state()
	}
	var transErr error
	if r.cfg.ResolveTransition != "" {
		status, err := r.transition(ctx, id, r.cfg.ResolveTransition, r.cfg.Resolution)
		switch {
		case status == http.StatusNotFound:
			return state, nil
		case errors.Is(err, errNoTransition):
			transErr = err // comment all the same, then report
		case err != nil:
			return state, err
		}
	}
	status, err := r.comment(ctx, id, r.body(n, func(l limits) []block { return r.content.resolution(n, l) }))
	if err != nil && status != http.StatusNotFound {
		return state, err
	}
	return state, notify.Permanent(transErr)
}

// transition moves issue id through the transition named want (or leading
// to the status named want), setting resolution when not "", unless its
// status is already in the done category or already named want.
func (r *Receiver) transition(ctx context.Context, id, want, resolution string) (int, error) {
	var ts struct {
		Transitions []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			To   status `json:"to"`
		} `json:"transitions"`
	}
	path := "/issue/" + url.PathEscape(id) + "/transitions"
	if st, err := r.call(ctx, "list transitions of issue "+id, http.MethodGet, path, nil, nil, &ts); err != nil {
		return st, err
	}
	var names []string
	for _, t := range ts.Transitions {
		if strings.EqualFold(t.Name, want) || strings.EqualFold(t.To.Name, want) {
			req := map[string]any{"transition": map[string]string{"id": t.ID}}
			if resolution != "" {
				req["fields"] = map[string]any{"resolution": map[string]string{"name": resolution}}
			}
			return r.call(ctx, fmt.Sprintf("transition issue %s to %q", id, t.Name), http.MethodPost, path, nil, req, nil)
		}
		names = append(names, t.Name)
	}
	// Not offered: fine when the issue is already done (a person resolved
	// it, or a retry after the transition went through).
	var issue issueRef
	q := url.Values{"fields": {"status"}}
	if st, err := r.call(ctx, "get issue "+id, http.MethodGet, "/issue/"+url.PathEscape(id), q, nil, &issue); err != nil {
		return st, err
	}
	if s := issue.Fields.Status; s != nil && (s.StatusCategory.Key == "done" || strings.EqualFold(s.Name, want)) {
		return http.StatusOK, nil
	}
	cur := "?"
	if s := issue.Fields.Status; s != nil {
		cur = s.Name
	}
	return http.StatusOK, fmt.Errorf("%w: issue %s in status %q offers %q, not %q",
		errNoTransition, id, cur, names, want)
}

// body renders blocks for the API version, dropping listed alerts, then
// runbook steps, then trailing blocks until the text fits Jira's limit.
func (r *Receiver) body(n *notify.Notification, build func(limits) []block) any {
	lim := limits{alerts: min(r.cfg.MaxAlerts, len(n.Alerts)), steps: r.cfg.FirstSteps}
	for {
		blocks := build(lim)
		last := lim.alerts == 0 && lim.steps == 0
		var size int
		if r.cfg.APIVersion == 2 {
			s := wiki(blocks)
			if size = render.UTF16Len(s); size <= maxDoc || last {
				return render.ShortenUTF16(s, maxDoc)
			}
		} else {
			doc := adf(blocks)
			if size = adfSize(doc); size <= maxDoc {
				return doc
			}
			if last {
				for len(doc.Content) > 1 && adfSize(doc) > maxDoc {
					doc.Content = doc.Content[:len(doc.Content)-1]
				}
				return doc
			}
		}
		if lim.alerts > 0 {
			lim.alerts = shrink(lim.alerts, size, maxDoc)
		} else {
			lim.steps = 0
		}
	}
}

// shrink returns how many alerts to list next when listing n made a text
// of size over limit: fewer in proportion, at least one fewer.
func shrink(n, size, limit int) int {
	return max(min(n-1, n*limit/size), 0)
}

// call sends one API request: in (if not nil) as JSON, the answer decoded
// into out (if not nil). It returns the HTTP status (0 when none came) and
// an error classified by notify.HTTPError.
func (r *Receiver) call(ctx context.Context, op, method, path string, query url.Values, in, out any) (int, error) {
	token, err := r.token.Get()
	if err != nil {
		return 0, err
	}
	auth := "Bearer " + token
	if r.cfg.Auth != AuthBearer {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(r.cfg.Email+":"+token))
	}
	return notify.JSONCall{Client: r.client, Name: "jira", Op: op, Method: method, URL: r.api + path, Query: query,
		Authorization: auth, In: in, Out: out, MaxResponse: maxResponse, Classify: func(resp *http.Response, raw []byte) error { return notify.HTTPError(resp, excerpt(raw)) }}.Do(ctx)
}

// excerpt summarizes an error answer: Jira's errorMessages and field
// errors when it sent them, the start of the body otherwise; redacted.
func excerpt(raw []byte) string {
	var e struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	s := ""
	if json.Unmarshal(raw, &e) == nil && (len(e.ErrorMessages) > 0 || len(e.Errors) > 0) {
		parts := slices.Clone(e.ErrorMessages)
		keys := make([]string, 0, len(e.Errors))
		for k := range e.Errors {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			parts = append(parts, k+": "+e.Errors[k])
		}
		s = strings.Join(parts, "; ")
	} else {
		s = string(raw)
	}
	return render.ShortenUTF16(render.Scrub(redact.String(s)), 300)
}
