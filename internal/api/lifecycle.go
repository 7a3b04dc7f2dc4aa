package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/lifecycle"
	"github.com/vigia-dev/vigia/internal/notify"
)

// Lifecycle is what the API needs of the incident lifecycle;
// *lifecycle.Service implements it.
type Lifecycle interface {
	Do(ctx context.Context, req lifecycle.Request) (*lifecycle.Entry, error)
	Log(ctx context.Context, q lifecycle.Query) ([]*lifecycle.Entry, error)
}

var _ Lifecycle = (*lifecycle.Service)(nil)

// LifecycleRequest acknowledges, resolves or silences a group from the
// CLI.
type LifecycleRequest struct {
	// Action is acknowledge, resolve or silence.
	Action string `json:"action"`
	// Receiver and GroupKey name the group (the Slack message's footer
	// shows its id; vigia lifecycle log lists them).
	Receiver string `json:"receiver"`
	GroupKey string `json:"group_key"`
	// Actor is who acts; required.
	Actor string `json:"actor"`
	// Duration of a silence, a Go duration ("2h").
	Duration string `json:"duration,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

func (s *server) lifecycle(w http.ResponseWriter) bool {
	if s.cfg.Lifecycle == nil {
		writeError(w, http.StatusServiceUnavailable, "the incident lifecycle is not available on this instance")
		return false
	}
	return true
}

func (s *server) lifecycleLog(w http.ResponseWriter, r *http.Request) {
	if !s.lifecycle(w) {
		return
	}
	q := lifecycle.Query{Actor: r.URL.Query().Get("actor")}
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since=%q: want an RFC 3339 time", v)
			return
		}
		q.Since = t
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "limit=%q: want a number, 0 for the default", v)
			return
		}
		q.Limit = n
	}
	list, err := s.cfg.Lifecycle.Log(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []*lifecycle.Entry{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *server) lifecycleAct(w http.ResponseWriter, r *http.Request) {
	if !s.lifecycle(w) {
		return
	}
	var req LifecycleRequest
	if !s.decode(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Actor) == "" {
		writeError(w, http.StatusBadRequest, "actor is required: say who acts")
		return
	}
	lr := lifecycle.Request{Kind: req.Action, Source: notify.SourceCLI, Where: "cli " + r.RemoteAddr, ActorName: req.Actor,
		Receiver: req.Receiver, GroupKey: req.GroupKey, Comment: req.Comment}
	if req.Duration != "" {
		d, err := time.ParseDuration(req.Duration)
		if err != nil {
			writeError(w, http.StatusBadRequest, "duration %q: want a Go duration like 90m or 2h", req.Duration)
			return
		}
		lr.Duration = d
	}
	e, err := s.cfg.Lifecycle.Do(r.Context(), lr)
	switch {
	case errors.Is(err, lifecycle.ErrInvalid):
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	case err != nil && e == nil:
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// LifecycleLog lists audit entries: since (zero: all), actor ("" all),
// limit (0: the server's default).
func (c *Client) LifecycleLog(ctx context.Context, since time.Time, actor string, limit int) ([]lifecycle.Entry, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	if actor != "" {
		q.Set("actor", actor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []lifecycle.Entry
	return out, c.do(ctx, http.MethodGet, "/api/v1/lifecycle/log?"+q.Encode(), nil, &out)
}

// LifecycleAct applies an action and returns its audit entry.
func (c *Client) LifecycleAct(ctx context.Context, req LifecycleRequest) (*lifecycle.Entry, error) {
	var out lifecycle.Entry
	if err := c.do(ctx, http.MethodPost, "/api/v1/lifecycle/actions", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
