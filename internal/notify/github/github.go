// Package github opens one GitHub issue per alert group, through the REST
// API (google/go-github), on github.com or GitHub Enterprise Server.
//
// The first notification of a group creates an issue labelled "vigia",
// "severity:<level>" and the group's "vigia-<dedup>" label, whose body
// starts with a hidden marker <!-- vigia:group=vigia-<dedup> -->; later
// ones comment ("3 new alerts, 7 in total"); the resolution closes the
// issue as completed and comments. The issue number is kept in the
// group's State.
//
// When the State is empty (the group's first notification, or state lost
// in a crash between creating the issue and saving the state) the receiver
// lists the repository's open issues carrying the group's label before
// creating one, so a restart never duplicates an issue. Listing by label
// rather than searching for the marker is deliberate: the search API
// allows 30 requests a minute and its index lags behind new issues, while
// listing uses the core rate limit and sees an issue as soon as it exists.
// The cost is one label per group in the repository.
//
// Rate limits: GitHub answers 403 or 429 with Retry-After or
// X-RateLimit-Remaining: 0 and X-RateLimit-Reset; both the primary and the
// secondary limits become a notify.RetryAfterError (a secondary limit
// without a header waits a minute, as GitHub asks).
//
// Event-derived text is rendered inert: escaped markdown with @mentions,
// #references and bare URLs broken by an invisible space, and identities
// in code spans. Comments are delivered at least once.
package github

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gh "github.com/google/go-github/v84/github"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/runbook"
	"github.com/vigia-dev/vigia/internal/secret"
)

// StateNumber is the State key of the issue number.
const StateNumber = "number"

// secondaryWait is how long to wait after a secondary rate limit that came
// without a header: "at least one minute", GitHub's documentation says.
const secondaryWait = time.Minute

// Receiver delivers notifications to one repository's issues. It is safe
// for concurrent use.
type Receiver struct {
	cfg     Config
	content content
	client  *gh.Client
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a Receiver for cfg. books supplies the runbook steps shown in
// issues; it may be nil. The token must be readable now.
func New(cfg Config, books *runbook.Library) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cred := secret.Source{Field: "github: token", Env: cfg.TokenEnv, File: cfg.TokenFile}
	if _, err := cred.Get(); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: cfg.Timeout, Transport: &auth{cred: cred, next: http.DefaultTransport}}
	client := gh.NewClient(hc)
	if cfg.BaseURL != "" {
		var err error
		if client, err = client.WithEnterpriseURLs(cfg.BaseURL, cfg.BaseURL); err != nil {
			return nil, &FieldError{Field: "base_url", Problem: err.Error()}
		}
	}
	r := &Receiver{cfg: cfg, client: client}
	r.content = content{cfg: &r.cfg, books: books}
	return r, nil
}

// auth sets the token, read again for every request, as a bearer token.
type auth struct {
	cred secret.Source
	next http.RoundTripper
}

func (a *auth) RoundTrip(req *http.Request) (*http.Response, error) {
	token, err := a.cred.Get()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+token)
	return a.next.RoundTrip(req)
}

// Deliver creates, comments on or closes the group's issue.
func (r *Receiver) Deliver(ctx context.Context, n *notify.Notification, prev notify.State) (notify.State, error) {
	if n == nil {
		return prev, nil
	}
	number, _ := strconv.Atoi(prev[StateNumber])
	if n.Status == notify.StatusResolved {
		return r.resolve(ctx, n, prev, number)
	}
	if number > 0 {
		err := r.comment(ctx, number, r.fit(n, func(l limits) string { return r.content.update(n, l) }))
		if !gone(err) {
			return prev, err
		}
		// Deleted or transferred: open another.
	}
	found, err := r.find(ctx, n.GroupKey)
	if err != nil {
		return prev, err
	}
	if found > 0 {
		if err := r.comment(ctx, found, r.fit(n, func(l limits) string { return r.content.update(n, l) })); err != nil {
			return prev, err
		}
		return state(found), nil
	}
	created, err := r.create(ctx, n)
	if err != nil {
		return prev, err
	}
	return state(created), nil
}

func state(number int) notify.State { return notify.State{StateNumber: strconv.Itoa(number)} }

func (r *Receiver) labels(n *notify.Notification) []string {
	ls := []string{"vigia"}
	if sev := n.Severity(); sev != "" {
		ls = append(ls, "severity:"+render.Shorten(render.Scrub(sev), maxLabel-len("severity:")))
	}
	ls = append(ls, notify.DedupKey(n.GroupKey))
	for _, l := range r.cfg.Labels {
		if !slices.Contains(ls, l) {
			ls = append(ls, l)
		}
	}
	return ls
}

func (r *Receiver) create(ctx context.Context, n *notify.Notification) (int, error) {
	req := &gh.IssueRequest{
		Title:  gh.Ptr(Title(n)),
		Body:   gh.Ptr(r.fit(n, func(l limits) string { return r.content.body(n, l) })),
		Labels: gh.Ptr(r.labels(n)),
	}
	if len(r.cfg.Assignees) > 0 {
		req.Assignees = gh.Ptr(slices.Clone(r.cfg.Assignees))
	}
	issue, _, err := r.client.Issues.Create(ctx, r.cfg.Owner, r.cfg.Repo, req)
	if err != nil {
		return 0, classify("create issue in "+r.repo(), err)
	}
	if issue.GetNumber() <= 0 {
		return 0, fmt.Errorf("github: create issue in %s: the answer names no issue", r.repo())
	}
	return issue.GetNumber(), nil
}

// find returns the number of the oldest open issue with the group's label,
// or 0.
func (r *Receiver) find(ctx context.Context, groupKey string) (int, error) {
	opts := &gh.IssueListByRepoOptions{
		State: "open", Labels: []string{notify.DedupKey(groupKey)}, Sort: "created", Direction: "asc",
		ListOptions: gh.ListOptions{PerPage: 10},
	}
	issues, _, err := r.client.Issues.ListByRepo(ctx, r.cfg.Owner, r.cfg.Repo, opts)
	if err != nil {
		return 0, classify("list the group's issues in "+r.repo(), err)
	}
	for _, i := range issues {
		if !i.IsPullRequest() && i.GetNumber() > 0 {
			return i.GetNumber(), nil
		}
	}
	return 0, nil
}

func (r *Receiver) comment(ctx context.Context, number int, body string) error {
	_, _, err := r.client.Issues.CreateComment(ctx, r.cfg.Owner, r.cfg.Repo, number, &gh.IssueComment{Body: gh.Ptr(body)})
	return classify(fmt.Sprintf("comment on %s#%d", r.repo(), number), err)
}

// resolve closes the group's issue as completed and comments. A group
// whose issue is unknown or gone is resolved.
func (r *Receiver) resolve(ctx context.Context, n *notify.Notification, prev notify.State, number int) (notify.State, error) {
	st := prev
	if number <= 0 {
		found, err := r.find(ctx, n.GroupKey)
		if err != nil || found == 0 {
			return prev, err
		}
		number, st = found, state(found)
	}
	// Close first: a retry after a failed comment closes again (harmless)
	// rather than commenting twice.
	_, _, err := r.client.Issues.Edit(ctx, r.cfg.Owner, r.cfg.Repo, number, &gh.IssueRequest{
		State: gh.Ptr("closed"), StateReason: gh.Ptr("completed"),
	})
	if err = classify(fmt.Sprintf("close %s#%d", r.repo(), number), err); gone(err) {
		return st, nil
	} else if err != nil {
		return st, err
	}
	err = r.comment(ctx, number, r.fit(n, func(l limits) string { return r.content.resolution(n, l) }))
	if gone(err) {
		return st, nil
	}
	return st, err
}

func (r *Receiver) repo() string { return r.cfg.Owner + "/" + r.cfg.Repo }

// fit renders a body, dropping listed alerts, then runbook steps, then
// truncating until it fits GitHub's limit.
func (r *Receiver) fit(n *notify.Notification, build func(limits) string) string {
	lim := limits{alerts: min(r.cfg.MaxAlerts, len(n.Alerts)), steps: r.cfg.FirstSteps}
	for {
		s := build(lim)
		size := utf8.RuneCountInString(s)
		if size <= maxBody || (lim.alerts == 0 && lim.steps == 0) {
			return render.Shorten(s, maxBody)
		}
		if lim.alerts > 0 {
			lim.alerts = shrink(lim.alerts, size, maxBody)
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

// statusError carries the HTTP status of a refused request.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// gone reports whether err says the issue no longer exists (404, or 410
// for a deleted issue).
func gone(err error) bool {
	var se *statusError
	return errors.As(err, &se) && (se.status == http.StatusNotFound || se.status == http.StatusGone)
}

// classify turns a go-github error into a notify error:
//
//   - *github.RateLimitError (primary limit: 403/429 with
//     X-RateLimit-Remaining 0): retry at X-RateLimit-Reset.
//   - *github.AbuseRateLimitError (secondary limit): retry after its
//     Retry-After, or a minute without one.
//   - *github.ErrorResponse: a 403 or 429 with Retry-After or an exhausted
//     X-RateLimit-Remaining is a rate limit too; otherwise 408, 429 and 5xx
//     retry, other statuses are permanent (notify.HTTPError).
//   - *github.AcceptedError, network errors, timeouts and the rest: retry.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	wrap := func(e error) error { return fmt.Errorf("github: %s: %w", op, e) }
	if e, ok := errors.AsType[*gh.RateLimitError](err); ok {
		return &notify.RetryAfterError{After: max(time.Until(e.Rate.Reset.Time), time.Second), Err: wrap(errors.New(safe(e.Message, "primary rate limit exceeded")))}
	}
	if e, ok := errors.AsType[*gh.AbuseRateLimitError](err); ok {
		// go-github falls back on X-RateLimit-Reset, which GitHub sends with
		// every answer; GitHub asks to wait for it only when the remaining
		// count is 0, and a minute otherwise.
		after := secondaryWait
		if resp := e.Response; resp != nil {
			if d, ok := notify.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				after = d
			} else if d, ok := rateReset(resp); ok {
				after = d
			}
		} else if d := e.GetRetryAfter(); d > 0 {
			after = d
		}
		return &notify.RetryAfterError{After: after, Err: wrap(errors.New(safe(e.Message, "secondary rate limit exceeded")))}
	}
	if e, ok := errors.AsType[*gh.ErrorResponse](err); ok && e.Response != nil {
		resp := e.Response
		msg := safe(e.Message, http.StatusText(resp.StatusCode))
		for _, fe := range e.Errors {
			if fe.Message != "" {
				msg += "; " + fe.Field + ": " + fe.Message
			} else if fe.Code != "" {
				msg += "; " + fe.Field + ": " + fe.Code
			}
		}
		msg = render.Shorten(render.Scrub(redact.String(msg)), 300)
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests {
			if d, ok := notify.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				return &notify.RetryAfterError{After: d, Err: wrap(fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg))}
			}
			if d, ok := rateReset(resp); ok {
				return &notify.RetryAfterError{After: d, Err: wrap(fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg))}
			}
		}
		return &statusError{status: resp.StatusCode, err: wrap(notify.HTTPError(resp, msg))}
	}
	if _, ok := errors.AsType[*gh.AcceptedError](err); ok {
		return wrap(errors.New("accepted for processing; not done yet"))
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return wrap(err)
	}
	// Context errors, undecodable answers, a token that cannot be read.
	return wrap(err)
}

// rateReset returns the wait until X-RateLimit-Reset when the answer says
// the limit is exhausted (X-RateLimit-Remaining: 0).
func rateReset(resp *http.Response) (time.Duration, bool) {
	if resp.Header.Get("X-RateLimit-Remaining") != "0" {
		return 0, false
	}
	reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return secondaryWait, true
	}
	return max(time.Until(time.Unix(reset, 0)), time.Second), true
}

// safe returns msg, redacted and shortened, or def when it is empty.
func safe(msg, def string) string {
	if strings.TrimSpace(msg) == "" {
		return def
	}
	return render.Shorten(render.Scrub(redact.String(msg)), 300)
}
