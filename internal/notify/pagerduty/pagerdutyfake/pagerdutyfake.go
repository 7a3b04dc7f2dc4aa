// Package pagerdutyfake is a fake PagerDuty Events API v2 for tests. It
// answers POST /v2/enqueue the way PagerDuty does: 202 with
// {"status":"success","message":"Event processed","dedup_key":…} for a
// valid event, 400 {"status":"invalid event",…,"errors":[…]} for an
// invalid one (routing key of 32 characters and known to the fake,
// event_action, dedup_key ≤ 255 characters and required for acknowledge
// and resolve, payload required for trigger with summary ≤ 1,024
// characters, source and severity one of critical, error, warning, info,
// ISO 8601 timestamp, object custom_details, links with href, images with
// an https src, no unknown fields), 413 above 512 KB, and on demand 429
// with Retry-After or any other status.
//
// It keeps PagerDuty alerts by dedup key the way PagerDuty deduplicates
// them: a trigger on an open alert adds to it, a resolve closes it, a
// trigger after the resolve opens a new one; acknowledge and resolve for
// no open alert are accepted and dropped.
//
//	srv := pagerdutyfake.New(t, routingKey)
//	cfg := pagerduty.Config{RoutingKeyFile: f, URL: srv.URL()}
//	...
//	incidents := srv.Incidents()
package pagerdutyfake

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
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Events API v2 limits.
const (
	MaxBodyBytes  = 512 * 1024
	MaxSummary    = 1024
	MaxDedupKey   = 255
	RoutingKeyLen = 32
)

// Severities are the accepted payload.severity values.
var Severities = []string{"critical", "error", "warning", "info"}

// Actions are the accepted event_action values.
var Actions = []string{"trigger", "acknowledge", "resolve"}

// Event is an accepted event.
type Event struct {
	RoutingKey string   `json:"routing_key"`
	Action     string   `json:"event_action"`
	DedupKey   string   `json:"dedup_key,omitempty"`
	Payload    *Payload `json:"payload,omitempty"`
	Links      []Link   `json:"links,omitempty"`
	Images     []Image  `json:"images,omitempty"`
	Client     string   `json:"client,omitempty"`
	ClientURL  string   `json:"client_url,omitempty"`
	// Raw is the request body as received.
	Raw string `json:"-"`
}

// Payload is an event's payload.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is one entry of links.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Image is one entry of images.
type Image struct {
	Src  string `json:"src"`
	Href string `json:"href,omitempty"`
	Alt  string `json:"alt,omitempty"`
}

// Incident is a PagerDuty alert as the fake keeps it.
type Incident struct {
	DedupKey   string
	RoutingKey string
	// Status is "triggered", "acknowledged" or "resolved".
	Status string
	// Summary and Severity are the first trigger's: PagerDuty does not
	// retitle an alert on later triggers.
	Summary  string
	Severity string
	// Triggers counts the trigger events applied (1 for a new alert).
	Triggers int
	// Events are every event applied to the alert, in order.
	Events []Event
}

// Call records one request, accepted or not.
type Call struct {
	Method, Path, ContentType string
	Status                    int
	// Body is the request body as received (at most MaxBodyBytes+1).
	Body string
	// Errors are the validation errors answered.
	Errors []string
}

// Server is a fake Events API v2. It is safe for concurrent use.
type Server struct {
	srv  *httptest.Server
	keys map[string]bool

	mu         sync.Mutex
	calls      []Call
	events     []Event
	incidents  []*Incident
	rateLimitN int
	retryAfter time.Duration
	failN      int
	failStatus int
}

// New starts a fake accepting the given routing keys (each 32
// characters); t.Cleanup closes it.
func New(t testing.TB, routingKeys ...string) *Server {
	t.Helper()
	s := &Server{keys: map[string]bool{}}
	for _, k := range routingKeys {
		if len(k) != RoutingKeyLen {
			t.Fatalf("pagerdutyfake: routing key of %d characters, want %d", len(k), RoutingKeyLen)
		}
		s.keys[k] = true
	}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the Events API base URL (for pagerduty.Config.URL).
func (s *Server) URL() string { return s.srv.URL }

// Calls returns a copy of every request received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Events returns a copy of the accepted events, in order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Incidents returns a copy of the alerts, in creation order.
func (s *Server) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Incident, len(s.incidents))
	for i, in := range s.incidents {
		out[i] = *in
		out[i].Events = slices.Clone(in.Events)
	}
	return out
}

// RateLimitNext makes the next n requests answer 429 with a Retry-After
// of retryAfter in whole seconds, rounded up.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimitN, s.retryAfter = n, retryAfter
}

// FailNext makes the next n requests answer status (with a JSON error
// body), after any pending rate limits.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	call := Call{Method: r.Method, Path: r.URL.Path, ContentType: mediaType}
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	call.Body = string(body)
	answer := func(status int, v any, errs ...string) {
		call.Status, call.Errors = status, errs
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	invalid := func(status int, msg string, errs ...string) {
		answer(status, map[string]any{"status": "invalid event", "message": msg, "errors": errs}, errs...)
	}

	if status, after, limited, ok := s.fault(); ok {
		if limited {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(after.Seconds())), 10))
			answer(status, map[string]any{"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."})
			return
		}
		answer(status, map[string]any{"status": "unavailable", "message": http.StatusText(status)})
		return
	}
	switch {
	case r.URL.Path != "/v2/enqueue":
		answer(http.StatusNotFound, map[string]any{"status": "not found", "message": "Not Found"})
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		answer(http.StatusMethodNotAllowed, map[string]any{"status": "method not allowed", "message": "Method Not Allowed"})
		return
	case mediaType != "application/json":
		invalid(http.StatusBadRequest, "Event object is invalid", "Content-Type must be application/json")
		return
	case len(body) > MaxBodyBytes:
		invalid(http.StatusRequestEntityTooLarge, "Request entity too large", fmt.Sprintf("payload exceeds %d bytes", MaxBodyBytes))
		return
	}
	ev, errs := Validate(body)
	if len(errs) == 0 && !s.keys[ev.RoutingKey] {
		errs = []string{"Invalid routing key"}
	}
	if len(errs) > 0 {
		invalid(http.StatusBadRequest, "Event object is invalid", errs...)
		return
	}
	s.mu.Lock()
	if ev.DedupKey == "" {
		ev.DedupKey = newKey()
	}
	s.events = append(s.events, ev)
	s.apply(ev)
	s.mu.Unlock()
	answer(http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

// apply updates the alerts for ev; s.mu is held.
func (s *Server) apply(ev Event) {
	var open *Incident
	for _, in := range s.incidents {
		if in.DedupKey == ev.DedupKey && in.RoutingKey == ev.RoutingKey && in.Status != "resolved" {
			open = in
		}
	}
	switch ev.Action {
	case "trigger":
		if open == nil {
			open = &Incident{DedupKey: ev.DedupKey, RoutingKey: ev.RoutingKey, Status: "triggered",
				Summary: ev.Payload.Summary, Severity: ev.Payload.Severity}
			s.incidents = append(s.incidents, open)
		}
		open.Triggers++
	case "acknowledge":
		if open == nil {
			return // dropped
		}
		open.Status = "acknowledged"
	case "resolve":
		if open == nil {
			return // dropped
		}
		open.Status = "resolved"
	}
	open.Events = append(open.Events, ev)
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

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Validate checks an event body against the Events API v2 schema (but
// not whether the routing key is known) and returns the event, or the
// problems found.
func Validate(body []byte) (Event, []string) {
	var ev Event
	if !utf8.Valid(body) {
		return ev, []string{"body is not valid UTF-8"}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return ev, []string{"body must be a JSON object"}
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	known := []string{"routing_key", "event_action", "dedup_key", "payload", "links", "images", "client", "client_url"}
	for k := range top {
		if !slices.Contains(known, k) {
			bad("unknown field %q", k)
		}
	}
	str := func(obj map[string]json.RawMessage, k, at string) string {
		raw, ok := obj[k]
		if !ok || string(raw) == "null" {
			return ""
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			bad("'%s' must be a string", at)
		}
		return v
	}
	ev.RoutingKey = str(top, "routing_key", "routing_key")
	ev.Action = str(top, "event_action", "event_action")
	ev.DedupKey = str(top, "dedup_key", "dedup_key")
	ev.Client = str(top, "client", "client")
	ev.ClientURL = str(top, "client_url", "client_url")
	ev.Raw = string(body)
	switch {
	case ev.RoutingKey == "":
		bad("'routing_key' is missing or blank")
	case len(ev.RoutingKey) != RoutingKeyLen:
		bad("'routing_key' must be %d characters", RoutingKeyLen)
	}
	if !slices.Contains(Actions, ev.Action) {
		bad("'event_action' must be one of %s", strings.Join(Actions, ", "))
	}
	if utf8.RuneCountInString(ev.DedupKey) > MaxDedupKey {
		bad("'dedup_key' must be at most %d characters", MaxDedupKey)
	}
	if ev.DedupKey == "" && (ev.Action == "acknowledge" || ev.Action == "resolve") {
		bad("'dedup_key' is required for %s events", ev.Action)
	}
	if raw, ok := top["payload"]; ok && string(raw) != "null" {
		p, perrs := payload(raw, ev.Action == "trigger")
		errs = append(errs, perrs...)
		ev.Payload = p
	} else if ev.Action == "trigger" {
		bad("'payload' is missing or blank")
	}
	if raw, ok := top["links"]; ok {
		if err := strictDecode(raw, &ev.Links); err != nil {
			bad("'links' must be an array of {href, text} objects: %v", err)
		}
		for i, l := range ev.Links {
			if !absURL(l.Href) {
				bad("'links[%d].href' must be an absolute URL", i)
			}
		}
	}
	if raw, ok := top["images"]; ok {
		if err := strictDecode(raw, &ev.Images); err != nil {
			bad("'images' must be an array of {src, href, alt} objects: %v", err)
		}
		for i, im := range ev.Images {
			if u, err := url.Parse(im.Src); err != nil || u.Scheme != "https" || u.Host == "" {
				bad("'images[%d].src' must be an https URL", i)
			}
		}
	}
	if ev.ClientURL != "" && !absURL(ev.ClientURL) {
		bad("'client_url' must be an absolute URL")
	}
	return ev, errs
}

func payload(raw json.RawMessage, trigger bool) (*Payload, []string) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	var p Payload
	if err := strictDecode(raw, &p); err != nil {
		return nil, []string{"'payload' is invalid: " + err.Error()}
	}
	if !trigger {
		return &p, nil
	}
	switch n := utf8.RuneCountInString(p.Summary); {
	case strings.TrimSpace(p.Summary) == "":
		bad("'payload.summary' is missing or blank")
	case n > MaxSummary:
		bad("'payload.summary' must be at most %d characters, got %d", MaxSummary, n)
	}
	if strings.TrimSpace(p.Source) == "" {
		bad("'payload.source' is missing or blank")
	}
	if !slices.Contains(Severities, p.Severity) {
		bad("'payload.severity' must be one of %s", strings.Join(Severities, ", "))
	}
	if p.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, p.Timestamp); err != nil {
			if _, err := time.Parse("2006-01-02T15:04:05.000-0700", p.Timestamp); err != nil {
				bad("'payload.timestamp' must be an ISO 8601 timestamp")
			}
		}
	}
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(raw, &obj)
	if cd, ok := obj["custom_details"]; ok && string(cd) != "null" && !bytes.HasPrefix(bytes.TrimSpace(cd), []byte("{")) {
		bad("'payload.custom_details' must be an object")
	}
	return &p, errs
}

func strictDecode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func absURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
