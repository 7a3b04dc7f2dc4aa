// Package lifecycle lets people acknowledge, resolve and silence an
// incident where they are — a button on the Slack message, the PagerDuty
// incident, the CLI — and keeps every other place the incident lives in
// step: the Slack message says who and when, the PagerDuty and Opsgenie
// alerts of the same group are acknowledged or resolved, the Jira,
// ServiceNow and GitHub tickets are commented on and transitioned, a
// silence is created for the group with the person as its author, and
// every action is written to an append-only audit trail.
//
// An incident is one alert group of one receiver (its outbox GroupState).
// The groups of the other receivers that gathered the same alerts — same
// group labels, still open — are the same incident elsewhere: an action
// on one reaches all of them (Service.Do), through the optional
// notify.Acknowledger, notify.Resolver and notify.Commenter interfaces.
// An action coming from PagerDuty is not sent back to PagerDuty. A group
// already acknowledged (or resolved) is skipped, so the echo of Vigia's
// own acknowledgement from PagerDuty's webhook changes nothing.
//
// Two HTTP endpoints feed it (Handler): Slack's interactivity requests
// (signed with the app's signing secret, checked with slack-go's
// SecretsVerifier; stale and replayed requests refused; answered at once,
// the work done by a bounded worker queue) and PagerDuty v3 webhooks
// (X-PagerDuty-Signature, HMAC-SHA256 with the subscription's secret).
// Who may act from Slack is decided per route (Policy).
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/outbox"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/silence"
)

// Sentinel errors of Do's requests.
var (
	// ErrInvalid is a malformed request (unknown action, no group).
	ErrInvalid = errors.New("invalid lifecycle request")
)

// Request is one person's action, as an endpoint received it.
type Request struct {
	// Kind is notify.ActionAcknowledge, ActionResolve or ActionSilence.
	Kind string
	// Source is notify.SourceSlack, SourcePagerDuty or SourceCLI; Where
	// says more (channel, incident, address) for the audit trail.
	Source, Where string
	// ActorID is the person's id at the source (the Slack user id is what
	// Policy checks); ActorName their name.
	ActorID, ActorName string
	// Receiver and GroupKey name the group acted on; or DedupKey names it
	// by its dedup key among the groups of DedupReceivers (PagerDuty's
	// incident_key).
	Receiver, GroupKey string
	DedupKey           string
	DedupReceivers     []string
	// Check, when set, is called with the group's state before anything
	// is done; an error refuses the request (the Slack message clicked is
	// not this group's).
	Check func(st *outbox.GroupState) error
	// Authorize checks the actor against the group's route (Slack).
	Authorize bool
	// Exclude are receivers not to act on (the source's own: PagerDuty).
	Exclude []string
	// Duration of a silence; Comment the actor's note.
	Duration time.Duration
	Comment  string
}

// actor is how the request names the person.
func (r *Request) actor() string {
	switch {
	case r.ActorName != "" && r.ActorID != "" && r.ActorName != r.ActorID:
		return r.ActorName + " (" + r.ActorID + ")"
	case r.ActorName != "":
		return r.ActorName
	}
	return r.ActorID
}

// Silencer creates silences; *silence.Silencer implements it.
type Silencer interface {
	Create(ctx context.Context, in *silence.Silence) (*silence.Silence, error)
}

// Config configures a Service.
type Config struct {
	// Receivers are every configured receiver by name; Order their names
	// in configuration order (the order actions fan out in).
	Receivers map[string]notify.Receiver
	Order     []string
	// States are the outbox's group states.
	States outbox.States
	// Silences creates silences; nil refuses silence requests.
	Silences Silencer
	// Audit records every action; required.
	Audit Store
	// Policy decides who may act from Slack; nil refuses everyone.
	Policy *Policy
	// StateTTL is how long group states are kept (delivery.state_ttl).
	// Default: 30 days.
	StateTTL time.Duration
	// CallTimeout bounds one receiver call. Default: 30s.
	CallTimeout time.Duration
	// LockWait is how long to wait for a group a dispatcher is delivering.
	// Default: 30s.
	LockWait time.Duration
	// MaxSilence bounds a silence's length. Default: 7 days.
	MaxSilence time.Duration
	Logger     *slog.Logger
	// Now is the clock (tests). Default: time.Now.
	Now func() time.Time
}

// Service applies lifecycle actions. It is safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = 30 * 24 * time.Hour
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.LockWait <= 0 {
		cfg.LockWait = 30 * time.Second
	}
	if cfg.MaxSilence <= 0 {
		cfg.MaxSilence = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{cfg: cfg, log: log.With("component", "lifecycle")}
}

// Log returns audit entries.
func (s *Service) Log(ctx context.Context, q Query) ([]*Entry, error) {
	return s.cfg.Audit.List(ctx, q)
}

// Do applies req and returns its audit entry (already stored; an error
// storing it is returned along with it). Refusals and failures are
// entries, not errors: the error is for malformed requests and for the
// store.
func (s *Service) Do(ctx context.Context, req Request) (*Entry, error) {
	now := s.cfg.Now().UTC()
	e := &Entry{Time: now, Action: req.Kind, Source: req.Source, Where: clip(req.Where, 300),
		Actor: clip(req.actor(), 200), ActorID: clip(req.ActorID, 100), Receiver: req.Receiver, GroupKey: req.GroupKey,
		Comment: clip(redact.String(req.Comment), 1000)}
	switch req.Kind {
	case notify.ActionAcknowledge, notify.ActionResolve:
	case notify.ActionSilence:
		if req.Duration <= 0 || req.Duration > s.cfg.MaxSilence {
			return nil, fmt.Errorf("%w: silence duration %s: want more than 0 and at most %s", ErrInvalid, req.Duration, s.cfg.MaxSilence)
		}
		e.Until = now.Add(req.Duration)
	default:
		return nil, fmt.Errorf("%w: unknown action %q", ErrInvalid, req.Kind)
	}
	if (req.Receiver == "" || req.GroupKey == "") && req.DedupKey == "" {
		return nil, fmt.Errorf("%w: no group named", ErrInvalid)
	}
	s.apply(ctx, req, e)
	level := slog.LevelInfo
	if e.Outcome == OutcomeRefused || e.Outcome == OutcomeFailed || e.Outcome == OutcomePartial {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "lifecycle action", "action", e.Action, "source", e.Source, "actor", e.Actor, "where", e.Where,
		"receiver", e.Receiver, "group", e.GroupKey, "outcome", e.Outcome, "reason", e.Reason, "targets", len(e.Targets))
	if err := s.cfg.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("lifecycle action not written to the audit trail", "action", e.Action, "actor", e.Actor, "err", err)
		return e, err
	}
	return e, nil
}

// group is one receiver's group.
type group struct {
	receiver, key string
	st            *outbox.GroupState
}

func (s *Service) apply(ctx context.Context, req Request, e *Entry) {
	origin, err := s.find(ctx, req)
	switch {
	case err != nil:
		e.Outcome, e.Reason = OutcomeFailed, redact.String(err.Error())
		return
	case origin == nil:
		e.Outcome, e.Reason = OutcomeUnknown, "no group of Vigia's matches"
		return
	}
	e.Receiver, e.GroupKey, e.Route, e.GroupLabels = origin.receiver, origin.key, origin.st.Route, maps.Clone(origin.st.GroupLabels)
	if req.Check != nil {
		if err := req.Check(origin.st); err != nil {
			e.Outcome, e.Reason = OutcomeRefused, err.Error()
			return
		}
	}
	if req.Authorize {
		ok, err := s.cfg.Policy.Allowed(ctx, origin.st.Route, req.ActorID)
		if !ok {
			e.Outcome, e.Reason = OutcomeRefused, "not allowed to act on this route's alerts (lifecycle actors)"
			if err != nil {
				e.Reason += "; " + redact.String(err.Error())
			}
			return
		}
	}
	if origin.st.Resolved {
		e.Outcome, e.Reason = OutcomeNoChange, "the group is resolved already"
		return
	}
	targets, err := s.related(ctx, origin, req.Exclude)
	if err != nil {
		e.Outcome, e.Reason = OutcomeFailed, redact.String(err.Error())
		return
	}
	until := e.Until
	if req.Kind == notify.ActionSilence {
		sil, err := s.silence(ctx, req, origin, until)
		if err != nil {
			e.Outcome, e.Reason = OutcomeFailed, "silence not created: "+redact.String(err.Error())
			return
		}
		e.SilenceID = sil.ID
	}
	if slices.Contains(req.Exclude, origin.receiver) {
		// The source's own group (PagerDuty's, acted on in PagerDuty):
		// recorded, not called back.
		s.mark(ctx, req, e, origin)
	}
	done, failed, skipped := 0, 0, 0
	for _, g := range targets {
		t := s.act(ctx, req, e, g)
		e.Targets = append(e.Targets, t)
		switch t.Result {
		case "done":
			done++
		case "failed":
			failed++
		default:
			skipped++
		}
	}
	switch {
	case failed == 0 && done == 0 && e.SilenceID == "":
		e.Outcome = OutcomeNoChange
		if req.Kind == notify.ActionAcknowledge && !origin.st.Acknowledged.IsZero() {
			e.Reason = "acknowledged already by " + origin.st.AcknowledgedBy + " at " + origin.st.Acknowledged.UTC().Format(time.RFC3339)
		}
	case failed == 0:
		e.Outcome = OutcomeDone
	case done > 0 || e.SilenceID != "":
		e.Outcome = OutcomePartial
	default:
		e.Outcome = OutcomeFailed
	}
}

// find returns the request's group, nil when there is none.
func (s *Service) find(ctx context.Context, req Request) (*group, error) {
	if req.Receiver != "" && req.GroupKey != "" {
		if _, ok := s.cfg.Receivers[req.Receiver]; !ok {
			return nil, nil
		}
		st, ok, err := s.cfg.States.Get(ctx, req.Receiver, req.GroupKey)
		if err != nil || !ok {
			return nil, err
		}
		return &group{receiver: req.Receiver, key: req.GroupKey, st: st}, nil
	}
	var found *group
	for _, name := range req.DedupReceivers {
		err := s.cfg.States.List(ctx, name, func(key string, st *outbox.GroupState) bool {
			if st.State["dedup_key"] == req.DedupKey || notify.DedupKey(key) == req.DedupKey {
				found = &group{receiver: name, key: key, st: st}
				return false
			}
			return true
		})
		if err != nil || found != nil {
			return found, err
		}
	}
	return nil, nil
}

// related returns origin and the open groups of the other receivers with
// the same group labels, in configuration order, origin first.
func (s *Service) related(ctx context.Context, origin *group, exclude []string) ([]*group, error) {
	out := []*group{}
	if !slices.Contains(exclude, origin.receiver) {
		out = append(out, origin)
	}
	for _, name := range s.cfg.Order {
		if name == origin.receiver || slices.Contains(exclude, name) || !lifecycleCapable(s.cfg.Receivers[name]) {
			continue
		}
		err := s.cfg.States.List(ctx, name, func(key string, st *outbox.GroupState) bool {
			if !st.Resolved && maps.Equal(st.GroupLabels, origin.st.GroupLabels) {
				out = append(out, &group{receiver: name, key: key, st: st})
			}
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func lifecycleCapable(r notify.Receiver) bool {
	_, a := r.(notify.Acknowledger)
	_, b := r.(notify.Resolver)
	_, c := r.(notify.Commenter)
	return a || b || c
}

// silence creates the silence of a silence request: the group's labels as
// matchers, the actor as author.
func (s *Service) silence(ctx context.Context, req Request, g *group, until time.Time) (*silence.Silence, error) {
	if s.cfg.Silences == nil {
		return nil, errors.New("silences are not available")
	}
	var ms labels.Matchers
	for _, k := range slices.Sorted(maps.Keys(g.st.GroupLabels)) {
		m, err := labels.NewMatcher(labels.MatchEqual, k, g.st.GroupLabels[k])
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	comment := fmt.Sprintf("Silenced from %s (%s) for %s", req.Source, notify.DedupKey(g.key), req.Duration)
	if c := strings.TrimSpace(req.Comment); c != "" {
		comment += ": " + clip(redact.String(c), 1000)
	}
	return s.cfg.Silences.Create(ctx, &silence.Silence{Matchers: ms, StartsAt: s.cfg.Now(), EndsAt: until,
		CreatedBy: clip(req.Source+":"+req.actor(), silence.MaxAuthor), Comment: comment})
}

// act applies the request to one group under its lock, and stores the
// receiver's new state.
func (s *Service) act(ctx context.Context, req Request, e *Entry, g *group) Target {
	t := Target{Receiver: g.receiver, GroupKey: g.key}
	r := s.cfg.Receivers[g.receiver]
	var call func(context.Context, *notify.Action, notify.State) (notify.State, error)
	switch req.Kind {
	case notify.ActionAcknowledge:
		if a, ok := r.(notify.Acknowledger); ok {
			call = a.Acknowledge
		} else if c, ok := r.(notify.Commenter); ok {
			call = c.Comment
		}
	case notify.ActionResolve:
		if a, ok := r.(notify.Resolver); ok {
			call = a.Resolve
		}
	case notify.ActionSilence:
		if c, ok := r.(notify.Commenter); ok {
			call = c.Comment
		}
	}
	if call == nil {
		t.Result, t.Detail = "skipped", "the receiver has no "+req.Kind+" action"
		return t
	}
	release, err := s.lock(ctx, g)
	if err != nil {
		t.Result, t.Detail = "failed", redact.String(err.Error())
		return t
	}
	defer release()
	st, ok, err := s.cfg.States.Get(ctx, g.receiver, g.key)
	switch {
	case err != nil:
		t.Result, t.Detail = "failed", redact.String(err.Error())
		return t
	case !ok || st.Resolved:
		t.Result, t.Detail = "skipped", "resolved already"
		return t
	case req.Kind == notify.ActionAcknowledge && !st.Acknowledged.IsZero():
		t.Result, t.Detail = "skipped", "acknowledged already by "+st.AcknowledgedBy
		return t
	}
	a := &notify.Action{Kind: req.Kind, Actor: e.Actor, Source: req.Source, At: e.Time, Until: e.Until, Comment: e.Comment,
		GroupKey: g.key, GroupLabels: st.GroupLabels, Total: st.Total, FirstTime: st.First, LastTime: st.Last}
	next, err := s.call(ctx, call, a, st.State)
	if err != nil {
		t.Result, t.Detail = "failed", redact.String(err.Error())
		return t
	}
	upd := *st
	upd.State = next
	switch req.Kind {
	case notify.ActionAcknowledge:
		upd.Acknowledged, upd.AcknowledgedBy = e.Time, e.Actor
	case notify.ActionResolve:
		upd.Resolved = true
	}
	if err := s.cfg.States.Put(ctx, g.receiver, g.key, &upd, s.cfg.StateTTL); err != nil {
		t.Result, t.Detail = "failed", "applied, but the group's state was not stored: "+redact.String(err.Error())
		return t
	}
	t.Result = "done"
	return t
}

// mark records the request's effect on a group without calling its
// receiver.
func (s *Service) mark(ctx context.Context, req Request, e *Entry, g *group) {
	release, err := s.lock(ctx, g)
	if err != nil {
		return
	}
	defer release()
	st, ok, err := s.cfg.States.Get(ctx, g.receiver, g.key)
	if err != nil || !ok || st.Resolved {
		return
	}
	switch req.Kind {
	case notify.ActionAcknowledge:
		if !st.Acknowledged.IsZero() {
			return
		}
		st.Acknowledged, st.AcknowledgedBy = e.Time, e.Actor
	case notify.ActionResolve:
		st.Resolved = true
	default:
		return
	}
	if err := s.cfg.States.Put(ctx, g.receiver, g.key, st, s.cfg.StateTTL); err != nil {
		s.log.Warn("lifecycle: group state not updated", "receiver", g.receiver, "group", g.key, "err", err)
	}
}

// call runs one receiver call, retrying what the receiver says may succeed
// later (three attempts, waiting as asked, at most 10s).
func (s *Service) call(ctx context.Context, f func(context.Context, *notify.Action, notify.State) (notify.State, error), a *notify.Action, prev notify.State) (notify.State, error) {
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		next, err := f(cctx, a, prev)
		cancel()
		if err == nil || notify.IsPermanent(err) || attempt == 3 || ctx.Err() != nil {
			return next, err
		}
		if d, ok := notify.RetryAfter(err); ok {
			wait = d
		}
		if !sleep(ctx, min(wait, 10*time.Second)) {
			return nil, ctx.Err()
		}
		wait *= 2
	}
}

// lock takes the group's delivery lock, waiting while a dispatcher holds
// it.
func (s *Service) lock(ctx context.Context, g *group) (func(), error) {
	deadline := s.cfg.Now().Add(s.cfg.LockWait)
	for {
		release, ok, err := s.cfg.States.Lock(ctx, g.receiver, g.key, s.cfg.CallTimeout*4)
		if err != nil {
			return nil, err
		}
		if ok {
			return release, nil
		}
		if s.cfg.Now().After(deadline) {
			return nil, fmt.Errorf("group busy: a delivery held it for over %s", s.cfg.LockWait)
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// clip cuts s to max runes, on one line.
func clip(s string, max int) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
