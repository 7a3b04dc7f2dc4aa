// Package opsgeniefake is a fake Opsgenie Alert API v2 for tests. It
// answers the requests Vigia makes the way Opsgenie does:
//
//   - POST /v2/alerts creates an alert, or, when an open alert has the same
//     alias, counts another occurrence on it;
//   - POST /v2/alerts/{identifier}/close, /acknowledge and /notes close,
//     acknowledge and annotate the alert named by id, alias or tiny id
//     (query identifierType, default id);
//   - GET /v2/alerts/{identifier} and GET /v2/alerts/requests/{id} read an
//     alert and the status of an asynchronous request.
//
// Requests need "Authorization: GenieKey <key>" (401 otherwise) and a JSON
// body (415 otherwise, 413 above 1 MiB). Bodies are validated against the
// API's limits: message required and at most 130 characters, alias 512,
// description 15,000, note 25,000, entity 512, source and user 100, at
// most 20 tags of 50 characters, details of at most 8,000 characters,
// priority P1 to P5, responders of a known type naming an id, name or
// username, no unknown fields in a create (close and note bodies may carry
// others, as the SDK's do); a violation answers 422 with the errors.
// Accepted requests answer 202 {"result":"Request will be processed",
// "took":…,"requestId":…} and are processed at once: closing or
// annotating an alert that does not exist is accepted, and its request
// status says it failed, as with Opsgenie. On demand the fake answers 429
// (with X-RateLimit-State THROTTLED, X-RateLimit-Period-In-Sec and an
// optional Retry-After) or any other status.
package opsgeniefake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Alert API limits, in characters.
const (
	MaxMessage     = 130
	MaxAlias       = 512
	MaxDescription = 15000
	MaxNote        = 25000
	MaxEntity      = 512
	MaxSource      = 100
	MaxUser        = 100
	MaxTags        = 20
	MaxTag         = 50
	MaxDetails     = 8000
	MaxResponders  = 50
	MaxActions     = 10
	MaxAction      = 50
	MaxBodyBytes   = 1 << 20
)

// Priorities are the accepted priorities.
var Priorities = []string{"P1", "P2", "P3", "P4", "P5"}

// Responder is a responder as sent.
type Responder struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

// Note is a note on an alert.
type Note struct {
	Note, User, Source string
}

// Alert is an Opsgenie alert as the fake keeps it.
type Alert struct {
	ID, TinyID, Alias string
	// Message, Description, ... are the creating request's: Opsgenie does
	// not change them when a create is deduplicated.
	Message, Description, Entity, Source, Priority, User string
	Tags                                                 []string
	Details                                              map[string]string
	Responders                                           []Responder
	// Status is "open" or "closed".
	Status string
	// Count is the number of creates applied (1 for a new alert).
	Count int
	Notes []Note
	// CloseNote is the note of the close request.
	CloseNote string
	// Acknowledged is set by an acknowledge request, with its user and
	// note.
	Acknowledged     bool
	AckUser, AckNote string
}

// Request is an asynchronous request's outcome.
type Request struct {
	ID      string
	Action  string // "Create", "Close", "AddNote"
	Alias   string
	AlertID string
	Success bool
	Status  string
}

// Call records one HTTP request, accepted or not.
type Call struct {
	Method, Path, ContentType string
	Query                     string
	// Authorized says whether the GenieKey header matched.
	Authorized bool
	Status     int
	// Body is the request body as received (at most MaxBodyBytes+1).
	Body string
	// Errors are the validation errors answered, by field.
	Errors map[string]string
}

// Server is a fake Opsgenie Alert API. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server
	key string

	mu          sync.Mutex
	calls       []Call
	alerts      []*Alert
	requests    []Request
	rateLimitN  int
	retryAfter  time.Duration
	failN       int
	failStatus  int
	throttledIn int // X-RateLimit-Period-In-Sec
}

// New starts a fake accepting apiKey; t.Cleanup closes it.
func New(t testing.TB, apiKey string) *Server {
	t.Helper()
	s := &Server{key: apiKey, throttledIn: 60}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API base URL (for opsgenie.Config.APIURL).
func (s *Server) URL() string { return s.srv.URL }

// Calls returns a copy of every request received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Alerts returns copies of the alerts, in creation order.
func (s *Server) Alerts() []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Alert, len(s.alerts))
	for i, a := range s.alerts {
		out[i] = *a
		out[i].Notes = slices.Clone(a.Notes)
	}
	return out
}

// Requests returns the asynchronous requests' outcomes, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// RateLimitNext makes the next n requests answer 429 with
// X-RateLimit-State THROTTLED and X-RateLimit-Period-In-Sec 60, and a
// Retry-After of retryAfter in whole seconds, rounded up, unless it is 0.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimitN, s.retryAfter = n, retryAfter
}

// FailNext makes the next n requests answer status, after any pending
// rate limits.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, ContentType: mediaType, Body: string(body)}
	call.Authorized = s.key != "" && r.Header.Get("Authorization") == "GenieKey "+s.key
	requestID := newID()
	answer := func(status int, v map[string]any) {
		call.Status = status
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		v["took"], v["requestId"] = 0.01, requestID
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", requestID)
		w.Header().Set("X-Response-Time", "0.01")
		if w.Header().Get("X-RateLimit-State") == "" {
			w.Header().Set("X-RateLimit-State", "OK")
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(status int, msg string) { answer(status, map[string]any{"message": msg}) }
	invalid := func(errs map[string]string) {
		call.Errors = errs
		answer(http.StatusUnprocessableEntity, map[string]any{
			"message": "Request body is not processable. Please check the errors.", "errors": errs,
		})
	}

	if status, after, limited, ok := s.fault(); ok {
		if limited {
			w.Header().Set("X-RateLimit-State", "THROTTLED")
			w.Header().Set("X-RateLimit-Reason", "INTEGRATION")
			w.Header().Set("X-RateLimit-Period-In-Sec", strconv.Itoa(s.throttledIn))
			if after > 0 {
				w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(after.Seconds())), 10))
			}
			fail(status, "You are making too many requests! To avoid errors, we recommend you limit requests.")
			return
		}
		fail(status, http.StatusText(status))
		return
	}
	if !call.Authorized {
		fail(http.StatusUnauthorized, "Could not authenticate")
		return
	}

	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/alerts"), "/")
	// parts: [""] for /v2/alerts; ["", id, "close"]; ["", "requests", id]
	if !strings.HasPrefix(r.URL.Path, "/v2/alerts") || parts[0] != "" {
		fail(http.StatusNotFound, "No handler found for path: "+r.URL.Path)
		return
	}
	method := http.MethodPost
	var handle func(id, idType, requestID string, body []byte) (int, map[string]any, map[string]string)
	switch {
	case len(parts) == 1:
		handle = s.create
	case len(parts) == 3 && parts[1] == "requests" && parts[2] != "":
		method, handle = http.MethodGet, s.requestStatus
	case len(parts) == 3 && parts[2] == "close" && parts[1] != "":
		handle = s.close
	case len(parts) == 3 && parts[2] == "notes" && parts[1] != "":
		handle = s.addNote
	case len(parts) == 3 && parts[2] == "acknowledge" && parts[1] != "":
		handle = s.acknowledge
	case len(parts) == 2 && parts[1] != "":
		method, handle = http.MethodGet, s.get
	default:
		fail(http.StatusNotFound, "No handler found for path: "+r.URL.Path)
		return
	}
	if r.Method != method {
		fail(http.StatusMethodNotAllowed, "Request method '"+r.Method+"' not supported")
		return
	}
	if method == http.MethodPost {
		switch {
		case mediaType != "application/json":
			fail(http.StatusUnsupportedMediaType, "Content type '"+mediaType+"' not supported")
			return
		case len(body) > MaxBodyBytes:
			fail(http.StatusRequestEntityTooLarge, "Request entity too large")
			return
		case !utf8.Valid(body):
			fail(http.StatusBadRequest, "Malformed request body")
			return
		}
	}
	idType := r.URL.Query().Get("identifierType")
	if idType == "" {
		idType = "id"
	}
	if !slices.Contains([]string{"id", "alias", "tiny"}, idType) {
		invalid(map[string]string{"identifierType": "must be one of id, alias, tiny"})
		return
	}
	id := ""
	if len(parts) > 1 {
		id = parts[1]
		if len(parts) == 3 && parts[1] == "requests" {
			id = parts[2]
		}
	}
	s.mu.Lock()
	status, resp, errs := handle(id, idType, requestID, body)
	s.mu.Unlock()
	if errs != nil {
		invalid(errs)
		return
	}
	if resp == nil {
		resp = map[string]any{}
	}
	if status == http.StatusAccepted {
		resp["result"] = "Request will be processed"
	}
	answer(status, resp)
}

func (s *Server) fault() (status int, after time.Duration, limited, ok bool) {
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

// find returns the alert named by id of idType: for an alias, the open
// alert with it, else the latest one. s.mu is held.
func (s *Server) find(id, idType string) *Alert {
	var found *Alert
	for _, a := range s.alerts {
		switch idType {
		case "id":
			if a.ID == id {
				return a
			}
		case "tiny":
			if a.TinyID == id {
				return a
			}
		case "alias":
			if a.Alias == id && (found == nil || found.Status != "open") {
				found = a
			}
		}
	}
	return found
}

type createBody struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description"`
	Responders  []Responder       `json:"responders"`
	VisibleTo   []Responder       `json:"visibleTo"`
	Actions     []string          `json:"actions"`
	Tags        []string          `json:"tags"`
	Details     map[string]string `json:"details"`
	Entity      string            `json:"entity"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
	User        string            `json:"user"`
	Note        string            `json:"note"`
}

type actionBody struct {
	User   string `json:"user"`
	Source string `json:"source"`
	Note   string `json:"note"`
}

func decode(body []byte, v any) map[string]string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return map[string]string{"body": "is not a valid request: " + err.Error()}
	}
	return nil
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// ValidateCreate checks a create-alert body and returns the problems by
// field, nil when there is none.
func ValidateCreate(body []byte) map[string]string {
	var b createBody
	if errs := decode(body, &b); errs != nil {
		return errs
	}
	return validateCreate(&b)
}

func validateCreate(b *createBody) map[string]string {
	errs := map[string]string{}
	limit := func(field, v string, max int) {
		if n := runes(v); n > max {
			errs[field] = fmt.Sprintf("%s can not be longer than %d characters, got %d", field, max, n)
		}
	}
	if strings.TrimSpace(b.Message) == "" {
		errs["message"] = "Message can not be empty."
	}
	limit("message", b.Message, MaxMessage)
	limit("alias", b.Alias, MaxAlias)
	limit("description", b.Description, MaxDescription)
	limit("entity", b.Entity, MaxEntity)
	limit("source", b.Source, MaxSource)
	limit("user", b.User, MaxUser)
	limit("note", b.Note, MaxNote)
	if b.Priority != "" && !slices.Contains(Priorities, b.Priority) {
		errs["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
	}
	if len(b.Tags) > MaxTags {
		errs["tags"] = fmt.Sprintf("Tags can not be more than %d", MaxTags)
	}
	for i, t := range b.Tags {
		if strings.TrimSpace(t) == "" || runes(t) > MaxTag || strings.Contains(t, ",") {
			errs[fmt.Sprintf("tags[%d]", i)] = fmt.Sprintf("tag must be 1 to %d characters without commas", MaxTag)
		}
	}
	if len(b.Actions) > MaxActions {
		errs["actions"] = fmt.Sprintf("Actions can not be more than %d", MaxActions)
	}
	for i, a := range b.Actions {
		if runes(a) > MaxAction {
			errs[fmt.Sprintf("actions[%d]", i)] = fmt.Sprintf("action can not be longer than %d characters", MaxAction)
		}
	}
	total := 0
	for k, v := range b.Details {
		total += runes(k) + runes(v)
	}
	if total > MaxDetails {
		errs["details"] = fmt.Sprintf("Details can not be longer than %d characters, got %d", MaxDetails, total)
	}
	for field, rs := range map[string][]Responder{"responders": b.Responders, "visibleTo": b.VisibleTo} {
		if len(rs) > MaxResponders {
			errs[field] = fmt.Sprintf("%s can not be more than %d", field, MaxResponders)
		}
		for i, r := range rs {
			at := fmt.Sprintf("%s[%d]", field, i)
			switch {
			case !slices.Contains([]string{"team", "user", "escalation", "schedule"}, r.Type):
				errs[at] = "type must be one of team, user, escalation, schedule"
			case r.Type == "user" && r.ID == "" && r.Username == "":
				errs[at] = "user responder needs id or username"
			case r.Type != "user" && r.ID == "" && r.Name == "":
				errs[at] = r.Type + " responder needs id or name"
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func (s *Server) create(_, _, requestID string, body []byte) (int, map[string]any, map[string]string) {
	var b createBody
	if errs := decode(body, &b); errs != nil {
		return 0, nil, errs
	}
	if errs := validateCreate(&b); errs != nil {
		return 0, nil, errs
	}
	req := Request{ID: requestID, Action: "Create", Alias: b.Alias, Success: true, Status: "Created alert"}
	var open *Alert
	if b.Alias != "" {
		if a := s.find(b.Alias, "alias"); a != nil && a.Status == "open" {
			open = a
		}
	}
	if open != nil {
		open.Count++
		req.Status = "Alert is deduplicated"
	} else {
		open = &Alert{
			ID: newID(), TinyID: strconv.Itoa(len(s.alerts) + 1), Alias: b.Alias,
			Message: b.Message, Description: b.Description, Entity: b.Entity, Source: b.Source,
			Priority: b.Priority, User: b.User, Tags: b.Tags, Details: b.Details, Responders: b.Responders,
			Status: "open", Count: 1,
		}
		if open.Priority == "" {
			open.Priority = "P3"
		}
		if open.Alias == "" {
			open.Alias = open.ID
		}
		if b.Note != "" {
			open.Notes = append(open.Notes, Note{Note: b.Note, User: b.User, Source: b.Source})
		}
		s.alerts = append(s.alerts, open)
	}
	req.AlertID = open.ID
	s.requests = append(s.requests, req)
	return http.StatusAccepted, map[string]any{}, nil
}

func (s *Server) action(kind, id, idType, requestID string, body []byte, noteRequired bool, apply func(*Alert, actionBody)) (int, map[string]any, map[string]string) {
	var b actionBody
	if len(bytes.TrimSpace(body)) > 0 {
		// Unknown fields are ignored here, as by Opsgenie: the SDK puts
		// its IdentifierType and IdentifierValue in the body.
		if err := json.Unmarshal(body, &b); err != nil {
			return 0, nil, map[string]string{"body": "is not a valid request: " + err.Error()}
		}
	}
	errs := map[string]string{}
	if noteRequired && strings.TrimSpace(b.Note) == "" {
		errs["note"] = "Note can not be empty."
	}
	if n := runes(b.Note); n > MaxNote {
		errs["note"] = fmt.Sprintf("note can not be longer than %d characters, got %d", MaxNote, n)
	}
	if runes(b.User) > MaxUser {
		errs["user"] = fmt.Sprintf("user can not be longer than %d characters", MaxUser)
	}
	if runes(b.Source) > MaxSource {
		errs["source"] = fmt.Sprintf("source can not be longer than %d characters", MaxSource)
	}
	if len(errs) > 0 {
		return 0, nil, errs
	}
	req := Request{ID: requestID, Action: kind, Success: true, Status: kind + " applied"}
	if idType == "alias" {
		req.Alias = id
	}
	a := s.find(id, idType)
	if a == nil {
		req.Success, req.Status = false, "Alert does not exist"
	} else {
		req.AlertID, req.Alias = a.ID, a.Alias
		apply(a, b)
	}
	s.requests = append(s.requests, req)
	return http.StatusAccepted, map[string]any{}, nil
}

func (s *Server) close(id, idType, requestID string, body []byte) (int, map[string]any, map[string]string) {
	return s.action("Close", id, idType, requestID, body, false, func(a *Alert, b actionBody) {
		a.Status, a.CloseNote = "closed", b.Note
	})
}

func (s *Server) acknowledge(id, idType, requestID string, body []byte) (int, map[string]any, map[string]string) {
	return s.action("Acknowledge", id, idType, requestID, body, false, func(a *Alert, b actionBody) {
		a.Acknowledged, a.AckUser, a.AckNote = true, b.User, b.Note
	})
}

func (s *Server) addNote(id, idType, requestID string, body []byte) (int, map[string]any, map[string]string) {
	return s.action("AddNote", id, idType, requestID, body, true, func(a *Alert, b actionBody) {
		a.Notes = append(a.Notes, Note{Note: b.Note, User: b.User, Source: b.Source})
	})
}

func (s *Server) get(id, idType, _ string, _ []byte) (int, map[string]any, map[string]string) {
	a := s.find(id, idType)
	if a == nil {
		return http.StatusNotFound, map[string]any{"message": "Alert does not exist"}, nil
	}
	return http.StatusOK, map[string]any{"data": map[string]any{
		"id": a.ID, "tinyId": a.TinyID, "alias": a.Alias, "message": a.Message, "status": a.Status,
		"count": a.Count, "tags": a.Tags, "priority": a.Priority, "source": a.Source, "entity": a.Entity,
		"description": a.Description, "details": a.Details,
	}}, nil
}

func (s *Server) requestStatus(id, _, _ string, _ []byte) (int, map[string]any, map[string]string) {
	for _, r := range s.requests {
		if r.ID == id {
			return http.StatusOK, map[string]any{"data": map[string]any{
				"success": r.Success, "action": r.Action, "status": r.Status, "alertId": r.AlertID, "alias": r.Alias,
				"isSuccess": r.Success,
			}}, nil
		}
	}
	return http.StatusNotFound, map[string]any{"message": "Request does not exist"}, nil
}
