// Package silence mutes alerts for a while, as Alertmanager's silences do,
// and names the time intervals routes mute themselves in.
//
// A Silence is a set of label matchers (rule="k8s-pod-exec-attach",
// namespace=~"dev|staging", severity!="critical") with a start, an end, an
// author and a reason. While it is active every alert whose labels match
// all its matchers is not notified. Silences live in a Store — a JSON file
// in the data directory for one replica, Redis for several — and a
// Silencer keeps the active and pending ones in memory, indexed, so the
// dispatcher's Muted check costs a map lookup or two per alert.
//
// Intervals answers whether any of a route's named time intervals
// (mute_time_intervals, active_time_intervals) contains an instant.
package silence

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/pkg/labels"
)

// Sentinel errors; the API maps them to status codes.
var (
	// ErrInvalid wraps every validation failure.
	ErrInvalid = errors.New("invalid silence")
	// ErrNotFound is returned for an unknown (or long expired) silence id.
	ErrNotFound = errors.New("silence not found")
	// ErrExpired is returned when expiring a silence that already ended.
	ErrExpired = errors.New("silence already expired")
)

// Limits on what one silence may hold.
const (
	MaxMatchers = 64
	MaxAuthor   = 256  // runes
	MaxComment  = 4096 // runes
)

// States of a silence at an instant.
const (
	StatePending = "pending" // starts later
	StateActive  = "active"
	StateExpired = "expired"
)

// Silence mutes the alerts whose labels match all of its Matchers from
// StartsAt (inclusive) to EndsAt (exclusive).
type Silence struct {
	// ID is assigned on creation.
	ID       string
	Matchers labels.Matchers
	StartsAt time.Time
	EndsAt   time.Time
	// CreatedBy is the author and Comment the reason; both required.
	CreatedBy string
	Comment   string
	// CreatedAt and UpdatedAt are set by the Silencer.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// State returns StatePending, StateActive or StateExpired at t.
func (s *Silence) State(t time.Time) string {
	switch {
	case t.Before(s.StartsAt):
		return StatePending
	case t.Before(s.EndsAt):
		return StateActive
	default:
		return StateExpired
	}
}

// Matches reports whether s is active at t and all of its matchers match
// lbls (a missing label matches as the empty string, as in Alertmanager).
func (s *Silence) Matches(lbls map[string]string, t time.Time) bool {
	return s.State(t) == StateActive && matchAll(s.Matchers, lbls)
}

func matchAll(ms labels.Matchers, lbls map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(lbls[m.Name]) {
			return false
		}
	}
	return true
}

// Validate checks s as a new or stored silence: at least one matcher, not
// every matcher matching the empty string (such a silence would mute
// alerts that lack the labels, likely everything), EndsAt after StartsAt,
// author and comment set. Errors wrap ErrInvalid and name the field.
func (s *Silence) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch {
	case len(s.Matchers) == 0:
		bad("matchers", "at least one matcher is required")
	case len(s.Matchers) > MaxMatchers:
		bad("matchers", "%d matchers, at most %d", len(s.Matchers), MaxMatchers)
	default:
		empty := true
		for i, m := range s.Matchers {
			if m == nil {
				bad(fmt.Sprintf("matchers[%d]", i), "is empty")
				continue
			}
			if !m.Matches("") {
				empty = false
			}
		}
		if empty {
			bad("matchers", "every matcher matches the empty string, so the silence would mute alerts lacking those labels; add one that requires a value (like rule=\"…\")")
		}
	}
	if s.StartsAt.IsZero() {
		bad("starts_at", "is required")
	}
	if s.EndsAt.IsZero() {
		bad("ends_at", "is required")
	} else if !s.EndsAt.After(s.StartsAt) {
		bad("ends_at", "%s is not after starts_at %s", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339))
	}
	if strings.TrimSpace(s.CreatedBy) == "" {
		bad("created_by", "the author is required")
	} else if n := utf8.RuneCountInString(s.CreatedBy); n > MaxAuthor {
		bad("created_by", "%d characters, at most %d", n, MaxAuthor)
	}
	if strings.TrimSpace(s.Comment) == "" {
		bad("comment", "the reason is required")
	} else if n := utf8.RuneCountInString(s.Comment); n > MaxComment {
		bad("comment", "%d characters, at most %d", n, MaxComment)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
}

// ParseMatchers parses matcher expressions in Alertmanager's syntax; each
// may hold several, comma separated (`rule="x", namespace=~"dev|qa"`).
// Errors wrap ErrInvalid and quote the bad expression.
func ParseMatchers(exprs ...string) (labels.Matchers, error) {
	var out labels.Matchers
	for i, e := range exprs {
		ms, err := labels.ParseMatchers(e)
		if err != nil {
			return nil, fmt.Errorf("%w: matchers[%d] %q: %v", ErrInvalid, i, e, err)
		}
		if len(ms) == 0 {
			return nil, fmt.Errorf("%w: matchers[%d] %q: no matcher", ErrInvalid, i, e)
		}
		out = append(out, ms...)
	}
	return out, nil
}

// MatcherStrings returns the matchers in the syntax ParseMatchers reads.
func MatcherStrings(ms labels.Matchers) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}

// silenceJSON is the stored and served form: matchers as strings.
type silenceJSON struct {
	ID        string    `json:"id"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MarshalJSON writes matchers as strings (`rule="x"`).
func (s *Silence) MarshalJSON() ([]byte, error) {
	return json.Marshal(silenceJSON{ID: s.ID, Matchers: MatcherStrings(s.Matchers), StartsAt: s.StartsAt, EndsAt: s.EndsAt,
		CreatedBy: s.CreatedBy, Comment: s.Comment, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Silence) UnmarshalJSON(b []byte) error {
	var j silenceJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	ms, err := ParseMatchers(j.Matchers...)
	if err != nil {
		return err
	}
	*s = Silence{ID: j.ID, Matchers: ms, StartsAt: j.StartsAt, EndsAt: j.EndsAt,
		CreatedBy: j.CreatedBy, Comment: j.Comment, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
	return nil
}

// clone returns a copy sharing the (immutable) matchers.
func (s *Silence) clone() *Silence {
	c := *s
	c.Matchers = append(labels.Matchers(nil), s.Matchers...)
	return &c
}

// newID returns a random UUID (version 4), the id format Alertmanager's
// silences use.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
