// Package webhookfake is a webhook endpoint for tests of Vigia's webhook
// receiver. It checks what a careful endpoint would: POST only (405),
// Content-Type application/json (415), a body of at most MaxBodyBytes
// (413) that is a JSON object with "version" "1" and an "id" (400), and,
// when built with a secret, the X-Vigia-Signature HMAC over
// X-Vigia-Timestamp "." body, computed here independently of the
// receiver's code, with the timestamp within five minutes (401). Required
// headers answer 403 when absent or different. It records every
// delivery, flags repeats of a notification id, and on demand answers 429
// with Retry-After or any other status.
package webhookfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// MaxBodyBytes is the largest body accepted.
const MaxBodyBytes = 2 << 20

// Tolerance is how far a timestamp may be from the fake's clock.
const Tolerance = 5 * time.Minute

// Delivery is one request.
type Delivery struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	// Doc is the decoded body (nil when it is not a JSON object).
	Doc map[string]any
	// Signed says whether the signature verified (always false without a
	// secret).
	Signed bool
	// Repeat says whether a delivery with the same notification id was
	// accepted before.
	Repeat bool
	Status int
	// Problem says why the request was refused.
	Problem string
}

// Option configures a Server.
type Option func(*Server)

// RequireHeader makes requests without header name set to value answer 403.
func RequireHeader(name, value string) Option {
	return func(s *Server) { s.required[http.CanonicalHeaderKey(name)] = value }
}

// Server is a fake webhook endpoint. It is safe for concurrent use.
type Server struct {
	srv      *httptest.Server
	secret   string
	required map[string]string

	mu         sync.Mutex
	deliveries []Delivery
	ids        map[string]bool
	rateLimitN int
	retryAfter time.Duration
	failN      int
	failStatus int
}

// New starts an endpoint verifying signatures with secret ("" accepts
// unsigned requests); t.Cleanup closes it.
func New(t testing.TB, secret string, opts ...Option) *Server {
	t.Helper()
	s := &Server{secret: secret, required: map[string]string{}, ids: map[string]bool{}}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the endpoint's base URL; any path is accepted.
func (s *Server) URL() string { return s.srv.URL }

// Deliveries returns every request received, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// Accepted returns the deliveries answered 2xx, in order.
func (s *Server) Accepted() []Delivery {
	var out []Delivery
	for _, d := range s.Deliveries() {
		if d.Status/100 == 2 {
			out = append(out, d)
		}
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

// FailNext makes the next n requests answer status.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	d := Delivery{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	answer := func(status int, problem string) {
		d.Status, d.Problem = status, problem
		s.mu.Lock()
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if problem == "" {
			_, _ = io.WriteString(w, `{"ok":true}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"error": problem})
	}
	_ = json.Unmarshal(body, &d.Doc)
	if s.secret != "" {
		d.Signed = s.verify(r.Header.Get("X-Vigia-Timestamp"), r.Header.Get("X-Vigia-Signature"), body)
	}

	s.mu.Lock()
	switch {
	case s.rateLimitN > 0:
		s.rateLimitN--
		after := s.retryAfter
		s.mu.Unlock()
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(after.Seconds())), 10))
		answer(http.StatusTooManyRequests, "slow down")
		return
	case s.failN > 0:
		s.failN--
		status := s.failStatus
		s.mu.Unlock()
		answer(status, http.StatusText(status))
		return
	}
	s.mu.Unlock()

	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	id, _ := d.Doc["id"].(string)
	switch {
	case r.Method != http.MethodPost:
		answer(http.StatusMethodNotAllowed, "POST only")
		return
	case mediaType != "application/json":
		answer(http.StatusUnsupportedMediaType, "JSON only")
		return
	case len(body) > MaxBodyBytes:
		answer(http.StatusRequestEntityTooLarge, "body too large")
		return
	case s.secret != "" && !d.Signed:
		answer(http.StatusUnauthorized, "bad or missing signature, or stale timestamp")
		return
	case d.Doc == nil || d.Doc["version"] != "1" || id == "":
		answer(http.StatusBadRequest, `body must be a JSON object with "version" "1" and an "id"`)
		return
	}
	for name, want := range s.required {
		if r.Header.Get(name) != want {
			answer(http.StatusForbidden, "missing or wrong "+name)
			return
		}
	}
	s.mu.Lock()
	d.Repeat = s.ids[id]
	s.ids[id] = true
	s.mu.Unlock()
	answer(http.StatusOK, "")
}

// verify checks the documented scheme: "sha256=" + hex(HMAC-SHA256(secret,
// timestamp + "." + body)), timestamp within Tolerance.
func (s *Server) verify(timestamp, signature string, body []byte) bool {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || math.Abs(float64(time.Since(time.Unix(sec, 0)))) > float64(Tolerance) {
		return false
	}
	m := hmac.New(sha256.New, []byte(s.secret))
	m.Write([]byte(timestamp + "."))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(signature), []byte(want))
}
