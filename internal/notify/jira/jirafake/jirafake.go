// Package jirafake is a fake Jira REST API (versions 2 and 3) for tests. It
// answers the calls an issue integration makes the way Jira does: issue
// creation with field validation (project, issue type, summary length and
// line breaks, labels, priority; v3 descriptions must be Atlassian
// Document Format, v2 descriptions strings), comments, transitions through a
// small workflow, issue reads, and JQL search by project, label and status
// (v3 /search/jql; v2 /search; v3 /search is gone, 410, as on Cloud). It
// checks basic or bearer credentials, content type and body size, answers
// errors as {"errorMessages":[...],"errors":{...}}, and on demand HTTP 429
// with Retry-After or any other status.
//
//	srv := jirafake.New(t, jirafake.WithBasic("bot@example.com", "token"))
//	cfg := jira.Config{URL: srv.URL(), Email: "bot@example.com", ...}
//	issues := srv.Issues()
package jirafake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"
)

// Jira's limits, in UTF-16 code units (Java string lengths).
const (
	MaxSummary = 255
	MaxText    = 32767 // description, comment (serialized ADF in v3)
	MaxLabel   = 255
	MaxBody    = 1 << 20
)

// Workflow statuses and their categories.
const (
	StatusToDo       = "To Do"
	StatusInProgress = "In Progress"
	StatusDone       = "Done"
)

var categories = map[string]string{StatusToDo: "new", StatusInProgress: "indeterminate", StatusDone: "done"}

var categoryNames = map[string]string{"new": "To Do", "indeterminate": "In Progress", "done": "Done"}

type transition struct{ id, name, to string }

// workflow lists the transitions offered from each status.
var workflow = map[string][]transition{
	StatusToDo:       {{"21", "Start Progress", StatusInProgress}, {"31", "Done", StatusDone}},
	StatusInProgress: {{"11", "Stop Progress", StatusToDo}, {"31", "Done", StatusDone}},
	StatusDone:       {{"41", "Reopen", StatusToDo}},
}

// Resolutions are the resolution names accepted with a transition to Done.
var Resolutions = []string{"Done", "Fixed", "Won't Do", "Duplicate"}

// Issue is an issue created through the fake.
type Issue struct {
	ID, Key, Project, IssueType string
	Summary                     string
	// Description is the description as sent: an ADF document (v3) or a
	// JSON string (v2). Version is the API version that created the issue.
	Description json.RawMessage
	Version     int
	Labels      []string
	Priority    string
	Status      string
	Resolution  string
	Comments    []Comment
	// Transitions lists the names of the transitions applied, in order.
	Transitions []string
}

// Comment is a comment added through the fake.
type Comment struct {
	ID string
	// Body is the body as sent: ADF (v3) or a JSON string (v2).
	Body    json.RawMessage
	Version int
}

// Text returns the comment's text: the ADF's text (v3) or the string (v2).
func (c Comment) Text() string { return text(c.Body, c.Version) }

// DescriptionText returns the description's text: the ADF's text (v3) or
// the wiki markup string (v2).
func (i Issue) DescriptionText() string { return text(i.Description, i.Version) }

func text(raw json.RawMessage, version int) string {
	if version == 3 {
		return ADFText(raw)
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// Call records one request, accepted or not.
type Call struct {
	Method string // HTTP method
	Path   string // URL path, e.g. /rest/api/3/issue
	Query  string
	// Auth is how the caller authenticated: "basic", "bearer" or "" (none
	// or invalid).
	Auth   string
	Status int    // HTTP status answered
	Body   string // request body as received
}

// Option configures a Server.
type Option func(*Server)

// WithBasic accepts HTTP basic credentials user:token (Cloud API tokens).
func WithBasic(user, token string) Option {
	return func(s *Server) { s.basicUser, s.basicToken = user, token }
}

// WithBearer accepts "Authorization: Bearer token" (personal access
// tokens).
func WithBearer(token string) Option { return func(s *Server) { s.bearer = token } }

// WithProjects sets the project keys that exist. Default: SEC.
func WithProjects(keys ...string) Option { return func(s *Server) { s.projects = keys } }

// WithIssueTypes sets the issue types that exist. Default: Task, Bug.
func WithIssueTypes(names ...string) Option { return func(s *Server) { s.issueTypes = names } }

// WithPriorities sets the priority names that exist; none means the
// priority field is not on the create screen (setting it answers 400).
// Default: Highest, High, Medium, Low, Lowest.
func WithPriorities(names ...string) Option { return func(s *Server) { s.priorities = names } }

// Server is a fake Jira. It is safe for concurrent use.
type Server struct {
	srv        *httptest.Server
	basicUser  string
	basicToken string
	bearer     string
	projects   []string
	issueTypes []string
	priorities []string

	mu         sync.Mutex
	issues     []*Issue
	deleted    map[string]bool
	calls      []Call
	keySeq     map[string]int
	idSeq      int
	rateLimitN int
	retryAfter time.Duration
	failN      int
	failStatus int
}

// New starts a fake; t.Cleanup closes it. Without WithBasic or WithBearer
// every request is refused with 401.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		projects:   []string{"SEC"},
		issueTypes: []string{"Task", "Bug"},
		priorities: []string{"Highest", "High", "Medium", "Low", "Lowest"},
		deleted:    map[string]bool{},
		keySeq:     map[string]int{},
		idSeq:      10000,
	}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the site's base URL (for Config.URL).
func (s *Server) URL() string { return s.srv.URL }

// Issues returns copies of the issues, in creation order (deleted ones
// excluded).
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Issue
	for _, i := range s.issues {
		if !s.deleted[i.ID] {
			out = append(out, clone(i))
		}
	}
	return out
}

// Issue returns a copy of the issue with key or id, or false.
func (s *Server) Issue(keyOrID string) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.find(keyOrID); i != nil {
		return clone(i), true
	}
	return Issue{}, false
}

func clone(i *Issue) Issue {
	c := *i
	c.Labels = slices.Clone(i.Labels)
	c.Comments = slices.Clone(i.Comments)
	c.Transitions = slices.Clone(i.Transitions)
	return c
}

// SetStatus moves an issue to status directly, as a person would.
func (s *Server) SetStatus(keyOrID, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.find(keyOrID); i != nil {
		i.Status = status
	}
}

// Delete deletes an issue: it answers 404 from now on.
func (s *Server) Delete(keyOrID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.find(keyOrID); i != nil {
		s.deleted[i.ID] = true
	}
}

// Calls returns a copy of every request received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// RateLimitNext makes the next n requests answer 429 with a Retry-After
// header of retryAfter in whole seconds, rounded up.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimitN, s.retryAfter = n, retryAfter
}

// FailNext makes the next n requests (after pending rate limits) answer
// status with an HTML body, as a proxy in front of Jira does.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// find returns the live issue with key or id; s.mu held.
func (s *Server) find(keyOrID string) *Issue {
	for _, i := range s.issues {
		if (i.ID == keyOrID || i.Key == keyOrID) && !s.deleted[i.ID] {
			return i
		}
	}
	return nil
}

// apiError is a Jira error answer.
type apiError struct {
	status   int
	messages []string
	fields   map[string]string
}

func (e *apiError) field(name, msg string) *apiError {
	if e.fields == nil {
		e.fields = map[string]string{}
	}
	e.fields[name] = msg
	return e
}

func badRequest(msgs ...string) *apiError {
	return &apiError{status: http.StatusBadRequest, messages: msgs}
}

func notFound() *apiError {
	return &apiError{status: http.StatusNotFound, messages: []string{"Issue does not exist or you do not have permission to see it."}}
}

// request is a parsed call.
type request struct {
	version int
	method  string
	parts   []string // path after /rest/api/N/
	query   map[string][]string
	body    []byte
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	call.Body = string(body)
	record := func(status int) {
		call.Status = status
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
	}
	if status, retryAfter, limited, ok := s.fault(); ok {
		if limited {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(retryAfter.Seconds())), 10))
			writeError(w, &apiError{status: status, messages: []string{"Rate limit exceeded."}})
		} else {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<html><body>%d %s</body></html>", status, http.StatusText(status))
		}
		record(status)
		return
	}
	call.Auth = s.authenticate(r)
	resp, status, aerr := s.route(r, body, err, call.Auth)
	if aerr != nil {
		writeError(w, aerr)
		record(aerr.status)
		return
	}
	if resp == nil {
		w.WriteHeader(status)
	} else {
		writeJSON(w, status, resp)
	}
	record(status)
}

func (s *Server) route(r *http.Request, body []byte, readErr error, auth string) (any, int, *apiError) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/rest/api/")
	if !ok {
		return nil, 0, &apiError{status: http.StatusNotFound, messages: []string{"No resource found for " + r.URL.Path}}
	}
	ver, rest, _ := strings.Cut(rest, "/")
	if ver != "2" && ver != "3" {
		return nil, 0, &apiError{status: http.StatusNotFound, messages: []string{"Unknown API version " + ver}}
	}
	if auth == "" {
		return nil, 0, &apiError{status: http.StatusUnauthorized, messages: []string{"Client must be authenticated to access this resource."}}
	}
	if readErr != nil || len(body) > MaxBody {
		return nil, 0, &apiError{status: http.StatusRequestEntityTooLarge, messages: []string{"Request body too large."}}
	}
	req := &request{method: r.Method, parts: strings.Split(strings.Trim(rest, "/"), "/"), query: r.URL.Query(), body: body}
	req.version, _ = strconv.Atoi(ver)
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/json" {
			return nil, 0, &apiError{status: http.StatusUnsupportedMediaType, messages: []string{"Unsupported Media Type: use application/json."}}
		}
	}
	p := req.parts
	switch {
	case len(p) == 1 && p[0] == "issue" && r.Method == http.MethodPost:
		return s.create(req)
	case len(p) == 2 && p[0] == "issue" && r.Method == http.MethodGet:
		return s.get(req, p[1])
	case len(p) == 3 && p[0] == "issue" && p[2] == "comment" && r.Method == http.MethodPost:
		return s.comment(req, p[1])
	case len(p) == 3 && p[0] == "issue" && p[2] == "transitions" && r.Method == http.MethodGet:
		return s.transitions(p[1])
	case len(p) == 3 && p[0] == "issue" && p[2] == "transitions" && r.Method == http.MethodPost:
		return s.transition(req, p[1])
	case len(p) == 2 && p[0] == "search" && p[1] == "jql" && req.version == 3 && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		return s.search(req)
	case len(p) == 1 && p[0] == "search" && req.version == 3:
		return nil, 0, &apiError{status: http.StatusGone, messages: []string{"The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."}}
	case len(p) == 1 && p[0] == "search" && req.version == 2 && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		return s.search(req)
	}
	return nil, 0, &apiError{status: http.StatusNotFound, messages: []string{"No resource found for " + r.Method + " " + r.URL.Path}}
}

func (s *Server) authenticate(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok && s.bearer != "" && tok == s.bearer {
		return "bearer"
	}
	if enc, ok := strings.CutPrefix(h, "Basic "); ok && s.basicUser != "" {
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err == nil && string(raw) == s.basicUser+":"+s.basicToken {
			return "basic"
		}
	}
	return ""
}

func (s *Server) fault() (status int, retryAfter time.Duration, limited, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.rateLimitN > 0:
		s.rateLimitN--
		return http.StatusTooManyRequests, s.retryAfter, true, true
	case s.failN > 0:
		s.failN--
		return s.failStatus, 0, false, true
	}
	return 0, 0, false, false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	msgs := e.messages
	if msgs == nil {
		msgs = []string{}
	}
	fields := e.fields
	if fields == nil {
		fields = map[string]string{}
	}
	writeJSON(w, e.status, map[string]any{"errorMessages": msgs, "errors": fields})
}

// units is the length of s in UTF-16 code units.
func units(s string) int { return len(utf16.Encode([]rune(s))) }

// richText validates a description or comment body for the API version.
func richText(version int, raw json.RawMessage) []string {
	if version == 3 {
		if probs := ValidateADF(raw); len(probs) > 0 {
			return probs
		}
		if units(string(raw)) > MaxText {
			return []string{fmt.Sprintf("The entered text is too long. It exceeds the allowed limit of %d characters.", MaxText)}
		}
		return nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return []string{"Operation value must be a string"}
	}
	if units(str) > MaxText {
		return []string{fmt.Sprintf("The entered text is too long. It exceeds the allowed limit of %d characters.", MaxText)}
	}
	return nil
}

func named(raw json.RawMessage, key string) (string, bool) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return "", false
	}
	v, ok := m[key].(string)
	return v, ok
}

func (s *Server) create(req *request) (any, int, *apiError) {
	var body struct {
		Fields map[string]json.RawMessage `json:"fields"`
		Update map[string]json.RawMessage `json:"update"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil {
		return nil, 0, badRequest("Unexpected character in the request body: " + err.Error())
	}
	if body.Fields == nil {
		return nil, 0, badRequest("Issue must have fields.")
	}
	e := &apiError{status: http.StatusBadRequest}
	f := body.Fields
	project, ok := named(f["project"], "key")
	if !ok {
		project, _ = named(f["project"], "id")
	}
	if !slices.Contains(s.projects, project) {
		e.field("project", "Specify a valid project ID or key")
	}
	issueType, ok := named(f["issuetype"], "name")
	if !ok {
		issueType, _ = named(f["issuetype"], "id")
	}
	if !slices.Contains(s.issueTypes, issueType) {
		e.field("issuetype", "Specify a valid issue type")
	}
	var summary string
	switch err := json.Unmarshal(f["summary"], &summary); {
	case f["summary"] == nil || err != nil || strings.TrimSpace(summary) == "":
		e.field("summary", "You must specify a summary of the issue.")
	case strings.ContainsAny(summary, "\r\n"):
		e.field("summary", "The summary is invalid because it contains newline characters.")
	case units(summary) > MaxSummary:
		e.field("summary", fmt.Sprintf("Summary must be less than %d characters.", MaxSummary+1))
	}
	if d, ok := f["description"]; ok {
		if probs := richText(req.version, d); len(probs) > 0 {
			e.field("description", strings.Join(probs, "; "))
		}
	}
	var labels []string
	if l, ok := f["labels"]; ok {
		if err := json.Unmarshal(l, &labels); err != nil {
			e.field("labels", "Labels must be an array of strings.")
		}
		for _, label := range labels {
			switch {
			case label == "" || strings.ContainsFunc(label, unicode.IsSpace):
				e.field("labels", "The label '"+label+"' contains spaces which is invalid.")
			case units(label) > MaxLabel:
				e.field("labels", fmt.Sprintf("The label '%s' exceeds the maximum length for a single label of %d characters.", label, MaxLabel))
			}
		}
	}
	var priority string
	if p, ok := f["priority"]; ok {
		switch {
		case len(s.priorities) == 0:
			e.field("priority", "Field 'priority' cannot be set. It is not on the appropriate screen, or unknown.")
		default:
			priority, _ = named(p, "name")
			if !slices.Contains(s.priorities, priority) {
				e.field("priority", "Specify the Priority (name) in the string format")
			}
		}
	}
	for k := range f {
		switch k {
		case "project", "issuetype", "summary", "description", "labels", "priority":
		default:
			e.field(k, "Field '"+k+"' cannot be set. It is not on the appropriate screen, or unknown.")
		}
	}
	if len(e.fields) > 0 {
		return nil, 0, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idSeq++
	s.keySeq[project]++
	i := &Issue{
		ID: strconv.Itoa(s.idSeq), Key: fmt.Sprintf("%s-%d", project, s.keySeq[project]),
		Project: project, IssueType: issueType, Summary: summary, Description: f["description"],
		Version: req.version, Labels: labels, Priority: priority, Status: StatusToDo,
	}
	s.issues = append(s.issues, i)
	return map[string]string{"id": i.ID, "key": i.Key, "self": s.srv.URL + "/rest/api/" + strconv.Itoa(req.version) + "/issue/" + i.ID}, http.StatusCreated, nil
}

func (s *Server) statusJSON(status string) map[string]any {
	cat := categories[status]
	return map[string]any{"name": status, "statusCategory": map[string]string{"key": cat, "name": categoryNames[cat]}}
}

// fields returns the requested fields of an issue (all known when none
// are named); s.mu held.
func (s *Server) fields(i *Issue, want []string) map[string]any {
	all := map[string]any{
		"summary": i.Summary, "labels": i.Labels, "status": s.statusJSON(i.Status),
		"project":   map[string]string{"key": i.Project},
		"issuetype": map[string]string{"name": i.IssueType},
	}
	if i.Priority != "" {
		all["priority"] = map[string]string{"name": i.Priority}
	}
	if len(want) == 0 {
		return all
	}
	out := map[string]any{}
	for _, f := range want {
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	return out
}

func splitFields(vals []string) []string {
	var out []string
	for _, v := range vals {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" && f != "*all" {
				out = append(out, f)
			}
		}
	}
	return out
}

func (s *Server) get(req *request, key string) (any, int, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(key)
	if i == nil {
		return nil, 0, notFound()
	}
	return map[string]any{"id": i.ID, "key": i.Key, "fields": s.fields(i, splitFields(req.query["fields"]))}, http.StatusOK, nil
}

func (s *Server) comment(req *request, key string) (any, int, *apiError) {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(req.body, &body); err != nil || body == nil {
		return nil, 0, badRequest("Unexpected character in the request body.")
	}
	raw, ok := body["body"]
	if !ok {
		return nil, 0, (&apiError{status: http.StatusBadRequest}).field("comment", "Comment body can not be empty!")
	}
	if probs := richText(req.version, raw); len(probs) > 0 {
		return nil, 0, (&apiError{status: http.StatusBadRequest}).field("comment", strings.Join(probs, "; "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(key)
	if i == nil {
		return nil, 0, notFound()
	}
	s.idSeq++
	c := Comment{ID: strconv.Itoa(s.idSeq), Body: raw, Version: req.version}
	i.Comments = append(i.Comments, c)
	return map[string]any{"id": c.ID, "body": raw}, http.StatusCreated, nil
}

func (s *Server) transitions(key string) (any, int, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(key)
	if i == nil {
		return nil, 0, notFound()
	}
	out := []map[string]any{}
	for _, t := range workflow[i.Status] {
		out = append(out, map[string]any{"id": t.id, "name": t.name, "to": s.statusJSON(t.to)})
	}
	return map[string]any{"transitions": out}, http.StatusOK, nil
}

func (s *Server) transition(req *request, key string) (any, int, *apiError) {
	var body struct {
		Transition *struct {
			ID string `json:"id"`
		} `json:"transition"`
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil {
		return nil, 0, badRequest("Unexpected character in the request body.")
	}
	if body.Transition == nil || body.Transition.ID == "" {
		return nil, 0, badRequest("Missing 'transition' identifier")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(key)
	if i == nil {
		return nil, 0, notFound()
	}
	var t *transition
	for _, c := range workflow[i.Status] {
		if c.id == body.Transition.ID {
			t = &c
		}
	}
	if t == nil {
		return nil, 0, badRequest(fmt.Sprintf("Transition id '%s' is not valid for this issue.", body.Transition.ID))
	}
	resolution := ""
	for k, v := range body.Fields {
		if k != "resolution" || t.to != StatusDone {
			return nil, 0, (&apiError{status: http.StatusBadRequest}).field(k, "Field '"+k+"' cannot be set. It is not on the appropriate screen, or unknown.")
		}
		resolution, _ = named(v, "name")
		if !slices.Contains(Resolutions, resolution) {
			return nil, 0, (&apiError{status: http.StatusBadRequest}).field("resolution", "Resolution '"+resolution+"' is not valid")
		}
	}
	i.Status = t.to
	i.Transitions = append(i.Transitions, t.name)
	switch {
	case t.to == StatusDone && resolution == "":
		i.Resolution = "Done"
	case t.to == StatusDone:
		i.Resolution = resolution
	default:
		i.Resolution = ""
	}
	return nil, http.StatusNoContent, nil
}

// clause is one "field op value" condition of a JQL query.
type clause struct{ field, op, value string }

var (
	jqlClause = regexp.MustCompile(`^\s*(project|labels|statusCategory|status|key)\s*(!=|=)\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_.-]+)\s*$`)
	jqlAnd    = regexp.MustCompile(`(?i)\s+AND\s+`)
	jqlOrder  = regexp.MustCompile(`(?i)\s*ORDER\s+BY\s+(created|key)(\s+(ASC|DESC))?\s*$`)
)

// parseJQL parses the subset of JQL the fake understands: clauses on
// project, labels, statusCategory, status and key with = or !=, joined by
// AND, optionally ordered by created or key.
func parseJQL(q string) ([]clause, bool, error) {
	desc := false
	if m := jqlOrder.FindStringSubmatch(q); m != nil {
		desc = strings.EqualFold(m[3], "DESC")
		q = q[:len(q)-len(m[0])]
	}
	if strings.TrimSpace(q) == "" {
		return nil, desc, nil
	}
	var out []clause
	for part := range strings.SplitSeq(jqlAnd.ReplaceAllString(q, "\x00"), "\x00") {
		m := jqlClause.FindStringSubmatch(part)
		if m == nil {
			return nil, false, fmt.Errorf("Error in the JQL Query: cannot parse %q (the fake understands project, labels, status, statusCategory and key with = or !=, joined by AND)", strings.TrimSpace(part))
		}
		v := m[3]
		if strings.HasPrefix(v, `"`) {
			v = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(v[1 : len(v)-1])
		}
		out = append(out, clause{m[1], m[2], v})
	}
	return out, desc, nil
}

func (c clause) match(s *Server, i *Issue) bool {
	var ok bool
	switch c.field {
	case "project":
		ok = strings.EqualFold(i.Project, c.value)
	case "key":
		ok = strings.EqualFold(i.Key, c.value)
	case "labels":
		ok = slices.Contains(i.Labels, c.value)
	case "status":
		ok = strings.EqualFold(i.Status, c.value)
	case "statusCategory":
		cat := categories[i.Status]
		ok = strings.EqualFold(cat, c.value) || strings.EqualFold(categoryNames[cat], c.value)
	}
	if c.op == "!=" {
		return !ok
	}
	return ok
}

func (s *Server) search(req *request) (any, int, *apiError) {
	var in struct {
		JQL        string   `json:"jql"`
		MaxResults *int     `json:"maxResults"`
		StartAt    int      `json:"startAt"`
		Fields     []string `json:"fields"`
	}
	if req.method == http.MethodPost {
		if err := json.Unmarshal(req.body, &in); err != nil {
			return nil, 0, badRequest("Unexpected character in the request body.")
		}
	} else {
		in.JQL = first(req.query["jql"])
		if m := first(req.query["maxResults"]); m != "" {
			n, err := strconv.Atoi(m)
			if err != nil {
				return nil, 0, badRequest("maxResults must be a number")
			}
			in.MaxResults = &n
		}
		in.StartAt, _ = strconv.Atoi(first(req.query["startAt"]))
		in.Fields = splitFields(req.query["fields"])
	}
	clauses, desc, err := parseJQL(in.JQL)
	if err != nil {
		return nil, 0, badRequest(err.Error())
	}
	if req.version == 3 && len(clauses) == 0 {
		return nil, 0, badRequest("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
	}
	limit := 50
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	if limit < 0 {
		return nil, 0, badRequest("maxResults must not be negative")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*Issue
	for _, i := range s.issues {
		if s.deleted[i.ID] {
			continue
		}
		all := true
		for _, c := range clauses {
			all = all && c.match(s, i)
		}
		if all {
			hits = append(hits, i)
		}
	}
	if desc {
		slices.Reverse(hits)
	}
	total := len(hits)
	if req.version == 2 {
		hits = hits[min(in.StartAt, len(hits)):]
	}
	hits = hits[:min(limit, len(hits))]
	issues := []map[string]any{}
	for _, i := range hits {
		issues = append(issues, map[string]any{"id": i.ID, "key": i.Key, "fields": s.fields(i, in.Fields)})
	}
	if req.version == 3 {
		return map[string]any{"issues": issues, "isLast": len(hits) == total}, http.StatusOK, nil
	}
	return map[string]any{"startAt": in.StartAt, "maxResults": limit, "total": total, "issues": issues}, http.StatusOK, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
