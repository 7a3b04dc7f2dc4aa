// Package api is Vigia's small admin HTTP API, which `vigia silence` and
// `vigia deliveries` talk to:
//
//	GET    /api/v1/silences                    active and pending silences (?expired=true: all)
//	POST   /api/v1/silences                    create one; 201 with the silence and its id
//	DELETE /api/v1/silences/{id}               expire one now
//	GET    /api/v1/deliveries/dead             dead letters, oldest first (?limit=N, default 100, 0: all)
//	POST   /api/v1/deliveries/dead/replay      {"ids":["…"]} or {"all":true}: back into the outbox
//	GET    /api/v1/lifecycle/log               lifecycle audit trail, oldest first (?since=RFC3339&actor=…&limit=N)
//	POST   /api/v1/lifecycle/actions           acknowledge, resolve or silence a group (source cli)
//	GET    /api/v1/status                      version, uptime, silence counts
//
// Every response is JSON; errors are {"error":"…"} with a 4xx/5xx status.
// With a token configured every request must carry "Authorization: Bearer
// TOKEN" (compared in constant time). Request bodies are limited in size.
// Serve it on localhost, or set a token: it can mute every alert.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/outbox"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/silence"
)

// Silences is what the API needs of the silences; *silence.Silencer
// implements it.
type Silences interface {
	Create(ctx context.Context, in *silence.Silence) (*silence.Silence, error)
	Expire(ctx context.Context, id string) (*silence.Silence, error)
	List(ctx context.Context, expired bool) ([]*silence.Silence, error)
	Counts(t time.Time) (active, pending int)
}

// DeadLetters is what the API needs of the outbox; outbox.Queue
// implements it.
type DeadLetters interface {
	Dead(ctx context.Context, limit int) ([]*outbox.Dead, error)
	Revive(ctx context.Context, ids ...string) (int, error)
}

var (
	_ Silences    = (*silence.Silencer)(nil)
	_ DeadLetters = outbox.Queue(nil)
)

// Config configures the Handler.
type Config struct {
	// Silences serves /api/v1/silences; nil answers 503.
	Silences Silences
	// Dead serves /api/v1/deliveries/dead; nil answers 503.
	Dead DeadLetters
	// Lifecycle serves /api/v1/lifecycle; nil answers 503.
	Lifecycle Lifecycle
	// Token, when set, is required as a bearer token on every request
	// (see LoadToken). Default: none.
	Token string
	// Version is reported by /api/v1/status.
	Version string
	// Status adds fields to /api/v1/status. Default: none.
	Status func(ctx context.Context) map[string]any
	// MaxBody limits request bodies, in bytes. Default: 256 KiB.
	MaxBody int64
	// DefaultDuration is a new silence's length when the request gives
	// neither ends_at nor duration. Default: 1h.
	DefaultDuration time.Duration
	// Logger logs changes (silences created and expired, replays) and
	// internal errors. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests). Default: time.Now.
	Now func() time.Time
}

// LoadToken reads a bearer token from a file (surrounding whitespace
// trimmed); "" returns "" (no token).
func LoadToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("api token: %s is empty", path)
	}
	return tok, nil
}

// Wire types, shared with Client.

// SilenceRequest creates a silence.
type SilenceRequest struct {
	// Matchers in Alertmanager's syntax, all must match: `rule="x"`.
	Matchers []string `json:"matchers"`
	// StartsAt defaults to now.
	StartsAt *time.Time `json:"starts_at,omitempty"`
	// EndsAt, or Duration (a Go duration like "2h") from StartsAt.
	EndsAt   *time.Time `json:"ends_at,omitempty"`
	Duration string     `json:"duration,omitempty"`
	// CreatedBy is the author and Comment the reason; both required.
	CreatedBy string `json:"created_by"`
	Comment   string `json:"comment"`
}

// Silence is a silence as served, with its state at the time of the
// request: active, pending or expired.
type Silence struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DeadLetter is a delivery a receiver refused for good.
type DeadLetter struct {
	DeadID   string    `json:"dead_id"`
	Receiver string    `json:"receiver"`
	Route    string    `json:"route"`
	GroupKey string    `json:"group_key"`
	AlertID  string    `json:"alert_id"`
	Rule     string    `json:"rule"`
	Severity string    `json:"severity"`
	Summary  string    `json:"summary"`
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
	Enqueued time.Time `json:"enqueued"`
}

// ReplayRequest names dead letters to revive: IDs, or All.
type ReplayRequest struct {
	IDs []string `json:"ids,omitempty"`
	All bool     `json:"all,omitempty"`
}

// ReplayResult says how many dead letters went back into the outbox.
type ReplayResult struct {
	Requested int `json:"requested"`
	Revived   int `json:"revived"`
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}

const (
	defaultMaxBody   = 256 << 10
	defaultDeadLimit = 100
)

type server struct {
	cfg     Config
	log     *slog.Logger
	token   [sha256.Size]byte
	started time.Time
}

// Handler returns the API.
func Handler(cfg Config) http.Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = defaultMaxBody
	}
	if cfg.DefaultDuration <= 0 {
		cfg.DefaultDuration = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &server{cfg: cfg, log: cfg.Logger, started: cfg.Now()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if cfg.Token != "" {
		s.token = sha256.Sum256([]byte(cfg.Token))
	}
	mux := http.NewServeMux()
	handle := func(pattern string, methods map[string]http.HandlerFunc) {
		allow := make([]string, 0, len(methods))
		for m := range methods {
			allow = append(allow, m)
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			h, ok := methods[r.Method]
			if !ok {
				w.Header().Set("Allow", strings.Join(allow, ", "))
				writeError(w, http.StatusMethodNotAllowed, "%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))
				return
			}
			h(w, r)
		})
	}
	handle("/api/v1/silences", map[string]http.HandlerFunc{http.MethodGet: s.listSilences, http.MethodPost: s.createSilence})
	handle("/api/v1/silences/{id}", map[string]http.HandlerFunc{http.MethodDelete: s.expireSilence})
	handle("/api/v1/deliveries/dead", map[string]http.HandlerFunc{http.MethodGet: s.listDead})
	handle("/api/v1/deliveries/dead/replay", map[string]http.HandlerFunc{http.MethodPost: s.replay})
	handle("/api/v1/lifecycle/log", map[string]http.HandlerFunc{http.MethodGet: s.lifecycleLog})
	handle("/api/v1/lifecycle/actions", map[string]http.HandlerFunc{http.MethodPost: s.lifecycleAct})
	handle("/api/v1/status", map[string]http.HandlerFunc{http.MethodGet: s.status})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "%s: no such endpoint", r.URL.Path)
	})
	return s.auth(mux)
}

// auth checks the bearer token, comparing hashes in constant time so
// neither the token's content nor its length leaks through timing.
func (s *server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 || !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="vigia"`)
				writeError(w, http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer …; the CLI reads it from --token-file)")
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeError answers an error; messages echo the request, and errors from
// stores pass through redact first (see fail).
func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, Error{Error: fmt.Sprintf(format, args...)})
}

// fail answers err: sentinel errors map to 4xx, the rest is a 500 logged.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, silence.ErrInvalid):
		writeError(w, http.StatusBadRequest, "%v", err)
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, silence.ErrExpired):
		writeError(w, http.StatusConflict, "%v", err)
	case errors.Is(err, context.Canceled):
		writeError(w, http.StatusServiceUnavailable, "request canceled")
	default:
		msg := redact.String(err.Error())
		s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", msg)
		writeError(w, http.StatusInternalServerError, "%s %s failed: %s", r.Method, r.URL.Path, msg)
	}
}

// decode reads a JSON body strictly: size-limited, no unknown fields, one
// value.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("unexpected data after the JSON object")
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "request body over %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "request body: a JSON object is required")
	default:
		writeError(w, http.StatusBadRequest, "request body: %v", err)
	}
	return false
}

func (s *server) silences(w http.ResponseWriter) bool {
	if s.cfg.Silences == nil {
		writeError(w, http.StatusServiceUnavailable, "silences are not available on this instance")
		return false
	}
	return true
}

func (s *server) deadLetters(w http.ResponseWriter) bool {
	if s.cfg.Dead == nil {
		writeError(w, http.StatusServiceUnavailable, "dead letters are not available on this instance")
		return false
	}
	return true
}

func view(x *silence.Silence, now time.Time) Silence {
	return Silence{ID: x.ID, Status: x.State(now), Matchers: silence.MatcherStrings(x.Matchers), StartsAt: x.StartsAt, EndsAt: x.EndsAt,
		CreatedBy: x.CreatedBy, Comment: x.Comment, CreatedAt: x.CreatedAt, UpdatedAt: x.UpdatedAt}
}

func (s *server) listSilences(w http.ResponseWriter, r *http.Request) {
	if !s.silences(w) {
		return
	}
	expired := false
	if v := r.URL.Query().Get("expired"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "expired=%q: want true or false", v)
			return
		}
		expired = b
	}
	list, err := s.cfg.Silences.List(r.Context(), expired)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Now()
	out := make([]Silence, len(list))
	for i, x := range list {
		out[i] = view(x, now)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) createSilence(w http.ResponseWriter, r *http.Request) {
	if !s.silences(w) {
		return
	}
	var req SilenceRequest
	if !s.decode(w, r, &req) {
		return
	}
	ms, err := silence.ParseMatchers(req.Matchers...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Now()
	in := &silence.Silence{Matchers: ms, CreatedBy: req.CreatedBy, Comment: req.Comment, StartsAt: now}
	if req.StartsAt != nil {
		in.StartsAt = *req.StartsAt
	}
	// Create starts a past start at its own now, a moment later: the
	// length comes out short by that moment, as in Alertmanager.
	start := in.StartsAt
	if start.Before(now) {
		start = now
	}
	switch {
	case req.EndsAt != nil && req.Duration != "":
		writeError(w, http.StatusBadRequest, "give ends_at or duration, not both")
		return
	case req.EndsAt != nil:
		in.EndsAt = *req.EndsAt
	case req.Duration != "":
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "duration %q: want a positive Go duration like 90m or 2h", req.Duration)
			return
		}
		in.EndsAt = start.Add(d)
	default:
		in.EndsAt = start.Add(s.cfg.DefaultDuration)
	}
	created, err := s.cfg.Silences.Create(r.Context(), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("silence created", "id", created.ID, "matchers", created.Matchers.String(), "starts_at", created.StartsAt,
		"ends_at", created.EndsAt, "created_by", created.CreatedBy)
	w.Header().Set("Location", "/api/v1/silences/"+created.ID)
	writeJSON(w, http.StatusCreated, view(created, s.cfg.Now()))
}

func (s *server) expireSilence(w http.ResponseWriter, r *http.Request) {
	if !s.silences(w) {
		return
	}
	id := r.PathValue("id")
	x, err := s.cfg.Silences.Expire(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("silence expired", "id", x.ID, "matchers", x.Matchers.String())
	writeJSON(w, http.StatusOK, view(x, s.cfg.Now()))
}

func (s *server) listDead(w http.ResponseWriter, r *http.Request) {
	if !s.deadLetters(w) {
		return
	}
	limit := defaultDeadLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "limit=%q: want a number, 0 for all", v)
			return
		}
		limit = n
	}
	dead, err := s.cfg.Dead.Dead(r.Context(), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]DeadLetter, 0, len(dead))
	for _, d := range dead {
		dl := DeadLetter{DeadID: d.DeadID, Receiver: d.Receiver, Route: d.Route, GroupKey: d.GroupKey,
			Reason: redact.String(d.Reason), Time: d.Time, Enqueued: d.Enqueued}
		if a := d.Alert; a != nil {
			dl.AlertID, dl.Rule, dl.Severity, dl.Summary = a.ID, a.Rule.ID, a.Rule.Severity, redact.String(a.Summary)
		}
		out = append(out, dl)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) replay(w http.ResponseWriter, r *http.Request) {
	if !s.deadLetters(w) {
		return
	}
	var req ReplayRequest
	if !s.decode(w, r, &req) {
		return
	}
	switch {
	case req.All && len(req.IDs) > 0:
		writeError(w, http.StatusBadRequest, "give ids or all, not both")
		return
	case !req.All && len(req.IDs) == 0:
		writeError(w, http.StatusBadRequest, `give the dead letters to replay: {"ids":["…"]} or {"all":true}`)
		return
	}
	ids := req.IDs
	if req.All {
		dead, err := s.cfg.Dead.Dead(r.Context(), 0)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, d := range dead {
			ids = append(ids, d.DeadID)
		}
	}
	res := ReplayResult{Requested: len(ids)}
	if len(ids) > 0 {
		n, err := s.cfg.Dead.Revive(r.Context(), ids...)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res.Revived = n
	}
	s.log.Info("dead letters replayed", "requested", res.Requested, "revived", res.Revived, "all", req.All)
	writeJSON(w, http.StatusOK, res)
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	out := map[string]any{
		"version":        s.cfg.Version,
		"started_at":     s.started,
		"uptime_seconds": int64(now.Sub(s.started).Seconds()),
	}
	if s.cfg.Silences != nil {
		active, pending := s.cfg.Silences.Counts(now)
		out["silences"] = map[string]int{"active": active, "pending": pending}
	}
	if s.cfg.Status != nil {
		for k, v := range s.cfg.Status(r.Context()) {
			if _, taken := out[k]; !taken {
				out[k] = v
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Serve serves h on ln until ctx ends, then shuts down gracefully (5s for
// requests in flight). It returns nil after a shutdown caused by ctx.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
