// Package githubfake is a fake GitHub REST API for the issue endpoints an
// alert integration uses, for tests. It serves them at the root (as
// api.github.com does) and under /api/v3 (as GitHub Enterprise Server
// does): create, get, edit and list repository issues (labels, state,
// direction, per_page, page; pull requests are listed too, as GitHub does)
// and create issue comments. It checks the token ("Authorization:
// Bearer" or "token"), JSON bodies, body size, the repository's
// existence, title (required, at most 256 characters), body (65,536),
// labels (at most 50 characters), assignees (collaborators only),
// state and state_reason values; answers errors as GitHub does
// ({"message","documentation_url"}, 422 with "errors"); sends X-RateLimit-*
// headers, and on demand a primary rate limit (403, X-RateLimit-Remaining
// 0 and X-RateLimit-Reset), a secondary one (403 or 429 with Retry-After)
// or any other status. Deleted issues answer 410, like GitHub.
package githubfake

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// GitHub's limits, in characters.
const (
	MaxTitle   = 256
	MaxBody    = 65536
	MaxLabel   = 50
	MaxRequest = 25 << 20
)

const (
	docsPrimary   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit"
	docsSecondary = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)

// Issue is an issue of the fake repository.
type Issue struct {
	Number      int
	Title       string
	Body        string
	State       string // open, closed
	StateReason string
	Labels      []string
	Assignees   []string
	Comments    []string
	// PullRequest marks a pull request (the issues API lists them too).
	PullRequest bool
	Created     time.Time
}

// Call records one request, accepted or not.
type Call struct {
	Method string
	// Path is the URL path without the /api/v3 prefix.
	Path  string
	Query string
	// Auth is how the token came: "bearer", "token" or "" (none or wrong).
	Auth   string
	Status int
	Body   string
}

// Option configures a Server.
type Option func(*Server)

// WithCollaborators sets the logins issues may be assigned to.
func WithCollaborators(logins ...string) Option {
	return func(s *Server) { s.collaborators = logins }
}

// WithIssuesDisabled makes the repository answer 410 "Issues are disabled".
func WithIssuesDisabled() Option { return func(s *Server) { s.disabled = true } }

// Server is a fake GitHub. It is safe for concurrent use.
type Server struct {
	srv           *httptest.Server
	token         string
	owner, repo   string
	collaborators []string
	disabled      bool

	mu         sync.Mutex
	issues     []*Issue
	deleted    map[int]bool
	calls      []Call
	remaining  int
	clock      time.Time
	primaryN   int
	primaryAt  time.Time
	secondN    int
	secondFor  time.Duration
	secondCode int
	failN      int
	failStatus int
}

// New starts a fake for repository owner/repo accepting token; t.Cleanup
// closes it.
func New(t testing.TB, token, owner, repo string, opts ...Option) *Server {
	t.Helper()
	s := &Server{token: token, owner: owner, repo: repo, deleted: map[int]bool{}, remaining: 5000,
		clock: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API's base URL, ending in "/" (github.com style).
func (s *Server) URL() string { return s.srv.URL + "/" }

// EnterpriseURL is the base URL as a GitHub Enterprise Server has it.
func (s *Server) EnterpriseURL() string { return s.srv.URL + "/api/v3/" }

// Issues returns copies of the issues (deleted ones excluded), by number.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Issue
	for _, i := range s.issues {
		if !s.deleted[i.Number] && !i.PullRequest {
			out = append(out, clone(i))
		}
	}
	return out
}

func clone(i *Issue) Issue {
	c := *i
	c.Labels, c.Assignees, c.Comments = slices.Clone(i.Labels), slices.Clone(i.Assignees), slices.Clone(i.Comments)
	return c
}

// AddPullRequest adds an open pull request with labels (pull requests share
// the issues list).
func (s *Server) AddPullRequest(title string, labels ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.add(title, "", labels, nil)
	i.PullRequest = true
	return i.Number
}

// SetState sets an issue's state as a person would.
func (s *Server) SetState(number int, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.get(number); i != nil {
		i.State = state
	}
}

// Delete deletes an issue: it answers 410 from now on.
func (s *Server) Delete(number int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted[number] = true
}

// Calls returns a copy of every request received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// PrimaryRateLimitNext makes the next n requests answer 403 with
// X-RateLimit-Remaining 0 and X-RateLimit-Reset at reset.
func (s *Server) PrimaryRateLimitNext(n int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.primaryN, s.primaryAt = n, reset
}

// SecondaryRateLimitNext makes the next n requests answer status (403 or
// 429) with the secondary limit's documentation URL and, when retryAfter
// is positive, a Retry-After header in whole seconds (rounded up).
func (s *Server) SecondaryRateLimitNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secondN, s.secondCode, s.secondFor = n, status, retryAfter
}

// FailNext makes the next n requests answer status with a JSON message.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

type apiError struct {
	status  int
	message string
	docs    string
	errors  []map[string]string
}

func fail(status int, msg string) *apiError { return &apiError{status: status, message: msg} }

func invalid(field, code, msg string) *apiError {
	e := map[string]string{"resource": "Issue", "field": field, "code": code}
	if msg != "" {
		e["message"] = msg
	}
	return &apiError{status: http.StatusUnprocessableEntity, message: "Validation Failed", errors: []map[string]string{e}}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxRequest+1))
	call := Call{Method: r.Method, Path: path, Query: r.URL.RawQuery, Body: string(body)}
	status, resp, aerr := s.serve(w, r, path, body, readErr, &call)
	if aerr != nil {
		status = aerr.status
		if aerr.docs == "" {
			aerr.docs = "https://docs.github.com/rest"
		}
		out := map[string]any{"message": aerr.message, "documentation_url": aerr.docs, "status": strconv.Itoa(status)}
		if aerr.errors != nil {
			out["errors"] = aerr.errors
		}
		resp = out
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if resp != nil {
		_ = json.NewEncoder(w).Encode(resp)
	}
	call.Status = status
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, path string, body []byte, readErr error, call *Call) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	switch {
	case s.primaryN > 0:
		s.primaryN--
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", "5000")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(s.primaryAt.Unix(), 10))
		return 0, nil, &apiError{status: http.StatusForbidden, message: "API rate limit exceeded for installation.", docs: docsPrimary}
	case s.secondN > 0:
		s.secondN--
		if s.secondFor > 0 {
			h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(s.secondFor.Seconds())), 10))
		}
		return 0, nil, &apiError{status: s.secondCode, message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", docs: docsSecondary}
	case s.failN > 0:
		s.failN--
		return 0, nil, fail(s.failStatus, http.StatusText(s.failStatus))
	}
	s.remaining = max(s.remaining-1, 1)
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(5000-s.remaining))

	authz := r.Header.Get("Authorization")
	switch {
	case authz == "Bearer "+s.token:
		call.Auth = "bearer"
	case authz == "token "+s.token:
		call.Auth = "token"
	default:
		return 0, nil, fail(http.StatusUnauthorized, "Bad credentials")
	}
	if readErr != nil || len(body) > MaxRequest {
		return 0, nil, fail(http.StatusRequestEntityTooLarge, "Payload too large")
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 4 || parts[0] != "repos" || parts[3] != "issues" {
		return 0, nil, fail(http.StatusNotFound, "Not Found")
	}
	if !strings.EqualFold(parts[1], s.owner) || !strings.EqualFold(parts[2], s.repo) {
		return 0, nil, fail(http.StatusNotFound, "Not Found")
	}
	if s.disabled {
		return 0, nil, fail(http.StatusGone, "Issues are disabled for this repo")
	}
	var in map[string]json.RawMessage
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		if err := json.Unmarshal(body, &in); err != nil || in == nil {
			return 0, nil, fail(http.StatusBadRequest, "Problems parsing JSON")
		}
	}
	rest := parts[4:]
	switch {
	case len(rest) == 0 && r.Method == http.MethodPost:
		return s.create(in)
	case len(rest) == 0 && r.Method == http.MethodGet:
		return s.list(r)
	}
	number, err := strconv.Atoi(rest[0])
	if err != nil {
		return 0, nil, fail(http.StatusNotFound, "Not Found")
	}
	i := s.get(number)
	switch {
	case s.deleted[number]:
		return 0, nil, fail(http.StatusGone, "This issue was deleted")
	case i == nil:
		return 0, nil, fail(http.StatusNotFound, "Not Found")
	}
	switch {
	case len(rest) == 1 && r.Method == http.MethodGet:
		return http.StatusOK, s.json(i), nil
	case len(rest) == 1 && r.Method == http.MethodPatch:
		return s.edit(i, in)
	case len(rest) == 2 && rest[1] == "comments" && r.Method == http.MethodPost:
		var text string
		if err := json.Unmarshal(in["body"], &text); err != nil || strings.TrimSpace(text) == "" {
			return 0, nil, invalid("body", "missing_field", "")
		}
		if utf8.RuneCountInString(text) > MaxBody {
			return 0, nil, invalid("body", "custom", fmt.Sprintf("body is too long (maximum is %d characters)", MaxBody))
		}
		i.Comments = append(i.Comments, text)
		return http.StatusCreated, map[string]any{"id": 1000 + len(i.Comments), "body": text,
			"html_url": fmt.Sprintf("https://github.example/%s/%s/issues/%d#issuecomment-%d", s.owner, s.repo, i.Number, len(i.Comments))}, nil
	}
	return 0, nil, fail(http.StatusNotFound, "Not Found")
}

// get returns issue number, or nil; s.mu held.
func (s *Server) get(number int) *Issue {
	for _, i := range s.issues {
		if i.Number == number {
			return i
		}
	}
	return nil
}

// add appends an issue; s.mu held.
func (s *Server) add(title, body string, labels, assignees []string) *Issue {
	i := &Issue{Number: len(s.issues) + 1, Title: title, Body: body, State: "open", Labels: labels, Assignees: assignees,
		Created: s.clock.Add(time.Duration(len(s.issues)) * time.Minute)}
	s.issues = append(s.issues, i)
	return i
}

func (s *Server) json(i *Issue) map[string]any {
	labels := []map[string]string{}
	for _, l := range i.Labels {
		labels = append(labels, map[string]string{"name": l})
	}
	assignees := []map[string]string{}
	for _, a := range i.Assignees {
		assignees = append(assignees, map[string]string{"login": a})
	}
	out := map[string]any{
		"id": 5000 + i.Number, "number": i.Number, "title": i.Title, "body": i.Body, "state": i.State,
		"labels": labels, "assignees": assignees, "comments": len(i.Comments),
		"created_at": i.Created.Format(time.RFC3339),
		"html_url":   fmt.Sprintf("https://github.example/%s/%s/issues/%d", s.owner, s.repo, i.Number),
	}
	if i.StateReason != "" {
		out["state_reason"] = i.StateReason
	}
	if i.PullRequest {
		out["pull_request"] = map[string]string{"url": fmt.Sprintf("https://github.example/%s/%s/pull/%d", s.owner, s.repo, i.Number)}
	}
	return out
}

// fields validates the writable fields of a create or edit.
func (s *Server) fields(in map[string]json.RawMessage, creating bool) (title, body *string, labels, assignees *[]string, aerr *apiError) {
	if raw, ok := in["title"]; ok || creating {
		var t string
		if err := json.Unmarshal(raw, &t); err != nil || strings.TrimSpace(t) == "" {
			return nil, nil, nil, nil, invalid("title", "missing_field", "")
		}
		if utf8.RuneCountInString(t) > MaxTitle {
			return nil, nil, nil, nil, invalid("title", "custom", fmt.Sprintf("title is too long (maximum is %d characters)", MaxTitle))
		}
		title = &t
	}
	if raw, ok := in["body"]; ok && string(raw) != "null" {
		var b string
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, nil, nil, nil, invalid("body", "invalid", "")
		}
		if utf8.RuneCountInString(b) > MaxBody {
			return nil, nil, nil, nil, invalid("body", "custom", fmt.Sprintf("body is too long (maximum is %d characters)", MaxBody))
		}
		body = &b
	}
	if raw, ok := in["labels"]; ok {
		var ls []string
		if err := json.Unmarshal(raw, &ls); err != nil {
			return nil, nil, nil, nil, invalid("labels", "invalid", "")
		}
		for _, l := range ls {
			if strings.TrimSpace(l) == "" || utf8.RuneCountInString(l) > MaxLabel {
				return nil, nil, nil, nil, invalid("labels", "custom", fmt.Sprintf("name is too long (maximum is %d characters)", MaxLabel))
			}
		}
		labels = &ls
	}
	if raw, ok := in["assignees"]; ok {
		var as []string
		if err := json.Unmarshal(raw, &as); err != nil {
			return nil, nil, nil, nil, invalid("assignees", "invalid", "")
		}
		for _, a := range as {
			if !slices.Contains(s.collaborators, a) {
				return nil, nil, nil, nil, invalid("assignees", "invalid", "")
			}
		}
		assignees = &as
	}
	return title, body, labels, assignees, nil
}

func (s *Server) create(in map[string]json.RawMessage) (int, any, *apiError) {
	title, body, labels, assignees, aerr := s.fields(in, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	i := s.add(*title, "", nil, nil)
	if body != nil {
		i.Body = *body
	}
	if labels != nil {
		i.Labels = *labels
	}
	if assignees != nil {
		i.Assignees = *assignees
	}
	return http.StatusCreated, s.json(i), nil
}

func (s *Server) edit(i *Issue, in map[string]json.RawMessage) (int, any, *apiError) {
	title, body, labels, assignees, aerr := s.fields(in, false)
	if aerr != nil {
		return 0, nil, aerr
	}
	state, reason := i.State, i.StateReason
	if raw, ok := in["state"]; ok {
		if err := json.Unmarshal(raw, &state); err != nil || (state != "open" && state != "closed") {
			return 0, nil, invalid("state", "invalid", "")
		}
	}
	if raw, ok := in["state_reason"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &reason); err != nil || !slices.Contains([]string{"completed", "not_planned", "reopened"}, reason) {
			return 0, nil, invalid("state_reason", "invalid", "")
		}
		if (state == "closed") == (reason == "reopened") {
			return 0, nil, invalid("state_reason", "invalid", "state_reason does not match state")
		}
	}
	if title != nil {
		i.Title = *title
	}
	if body != nil {
		i.Body = *body
	}
	if labels != nil {
		i.Labels = *labels
	}
	if assignees != nil {
		i.Assignees = *assignees
	}
	i.State, i.StateReason = state, reason
	if state == "open" && reason != "reopened" {
		i.StateReason = ""
	}
	return http.StatusOK, s.json(i), nil
}

var labelList = regexp.MustCompile(`^[^,]+(,[^,]+)*$`)

func (s *Server) list(r *http.Request) (int, any, *apiError) {
	q := r.URL.Query()
	state := q.Get("state")
	switch state {
	case "":
		state = "open"
	case "open", "closed", "all":
	default:
		return 0, nil, invalid("state", "invalid", "")
	}
	var want []string
	if l := q.Get("labels"); l != "" {
		if !labelList.MatchString(l) {
			return 0, nil, invalid("labels", "invalid", "")
		}
		want = strings.Split(l, ",")
	}
	perPage, page := 30, 1
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, nil, invalid("per_page", "invalid", "")
		}
		perPage = min(n, 100)
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, nil, invalid("page", "invalid", "")
		}
		page = n
	}
	var hits []*Issue
	for _, i := range s.issues {
		if s.deleted[i.Number] || (state != "all" && i.State != state) {
			continue
		}
		all := true
		for _, l := range want {
			all = all && slices.ContainsFunc(i.Labels, func(x string) bool { return strings.EqualFold(x, l) })
		}
		if all {
			hits = append(hits, i)
		}
	}
	if q.Get("direction") != "asc" {
		slices.Reverse(hits) // newest first, GitHub's default
	}
	from := min((page-1)*perPage, len(hits))
	hits = hits[from:min(from+perPage, len(hits))]
	out := []map[string]any{}
	for _, i := range hits {
		out = append(out, s.json(i))
	}
	return http.StatusOK, out, nil
}
