package lifecycle

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/vigia-dev/vigia/internal/notify"
	vslack "github.com/vigia-dev/vigia/internal/notify/slack"
	"github.com/vigia-dev/vigia/internal/outbox"
)

// Paths served by Handler.
const (
	PathSlack     = "/slack/interactions"
	PathPagerDuty = "/pagerduty/webhook"
	PathHealth    = "/healthz"
)

// HandlerConfig configures Handler.
type HandlerConfig struct {
	Service *Service
	// SlackSigningSecret is the Slack app's signing secret; "" answers
	// 404 on PathSlack.
	SlackSigningSecret string
	// SlackReceivers are the names of the Slack receivers with buttons.
	SlackReceivers []string
	// PagerDutySecrets are the webhook subscriptions' secrets; empty
	// answers 404 on PathPagerDuty.
	PagerDutySecrets []string
	// PagerDutyReceivers are the names of the PagerDuty receivers.
	PagerDutyReceivers []string
	// Workers and QueueSize bound the work done after answering.
	// Defaults: 4 and 256.
	Workers, QueueSize int
	// ResponseURLPrefixes are the URL prefixes a Slack response_url may
	// have. Default: https://hooks.slack.com/ and https://hooks.slack-gov.com/.
	ResponseURLPrefixes []string
	// MaxAge is the oldest Slack request timestamp accepted; requests are
	// remembered this long to refuse replays. Default: 5m.
	MaxAge time.Duration
	// HTTPClient posts to response_url. Default: 10s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Endpoint serves Slack interactivity and PagerDuty webhooks. Start its
// workers with Start; Close drains them.
type Endpoint struct {
	cfg    HandlerConfig
	svc    *Service
	log    *slog.Logger
	jobs   chan func(context.Context)
	wg     sync.WaitGroup
	cancel context.CancelFunc
	seen   *replays
	events *replays
	mux    *http.ServeMux
	// done is called after each job (tests).
	done func()
}

// NewEndpoint returns the endpoint; its workers start with Start.
func NewEndpoint(cfg HandlerConfig) *Endpoint {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if len(cfg.ResponseURLPrefixes) == 0 {
		cfg.ResponseURLPrefixes = []string{"https://hooks.slack.com/", "https://hooks.slack-gov.com/"}
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 5 * time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Endpoint{cfg: cfg, svc: cfg.Service, log: log.With("component", "lifecycle"), jobs: make(chan func(context.Context), cfg.QueueSize),
		seen: newReplays(2 * cfg.MaxAge), events: newReplays(24 * time.Hour), mux: http.NewServeMux()}
	e.mux.HandleFunc(PathSlack, e.slack)
	e.mux.HandleFunc(PathPagerDuty, e.pagerduty)
	e.mux.HandleFunc(PathHealth, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return e
}

// Start starts the workers; they run until Close.
func (e *Endpoint) Start(ctx context.Context) {
	ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for range e.cfg.Workers {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case job := <-e.jobs:
					job(ctx)
					if e.done != nil {
						e.done()
					}
				}
			}
		}()
	}
}

// Close stops the workers after the job each is doing; jobs still queued
// are dropped (and logged). Safe without Start, safe twice.
func (e *Endpoint) Close() {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	if n := len(e.jobs); n > 0 {
		e.log.Warn("lifecycle actions dropped at shutdown; the people who asked see no result", "count", n)
	}
}

// ServeHTTP implements http.Handler.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	e.mux.ServeHTTP(w, r)
}

// enqueue hands job to the workers; false when the queue is full.
func (e *Endpoint) enqueue(job func(context.Context)) bool {
	select {
	case e.jobs <- job:
		return true
	default:
		return false
	}
}

// maxBody bounds request bodies (Slack's payloads are a few KB).
const maxBody = 1 << 20

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	return body, true
}

// slack serves Slack's interactivity requests: the signature is checked
// over the raw body (slack-go's SecretsVerifier, which also refuses
// timestamps more than five minutes off), a signature seen before is a
// replay, and the action is queued; Slack gets its 200 at once.
func (e *Endpoint) slack(w http.ResponseWriter, r *http.Request) {
	if e.cfg.SlackSigningSecret == "" {
		http.NotFound(w, r)
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	sv, err := slack.NewSecretsVerifier(r.Header, e.cfg.SlackSigningSecret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		e.log.Warn("slack interactivity request refused: bad or stale signature", "remote", r.RemoteAddr, "reason", verifyReason(err))
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	if !e.seen.add(r.Header.Get("X-Slack-Signature")) {
		e.log.Warn("slack interactivity request refused: replayed", "remote", r.RemoteAddr)
		http.Error(w, "replayed request", http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "want a form with a payload", http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		http.Error(w, "payload is not an interaction", http.StatusBadRequest)
		return
	}
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
		w.WriteHeader(http.StatusOK) // nothing of ours
		return
	}
	req, ok := slackRequest(&cb)
	if !ok {
		w.WriteHeader(http.StatusOK)
		return
	}
	if !e.enqueue(func(ctx context.Context) { e.slackAction(ctx, &cb, req) }) {
		e.log.Error("lifecycle queue full: slack action refused", "action", req.Kind, "user", cb.User.ID)
		http.Error(w, "busy, try again", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// verifyReason names why a signature check failed, without the secret or
// the signatures.
func verifyReason(err error) string {
	switch {
	case errors.Is(err, slack.ErrExpiredTimestamp):
		return "timestamp more than 5 minutes off"
	case errors.Is(err, slack.ErrInvalidSignature):
		return "signature does not match"
	case errors.Is(err, slack.ErrMissingHeaders):
		return "X-Slack-Signature or X-Slack-Request-Timestamp missing"
	}
	return "malformed signature headers"
}

// slackRequest reads the action clicked: the buttons carry the group key,
// the silence menu "GROUPKEY|DURATION".
func slackRequest(cb *slack.InteractionCallback) (Request, bool) {
	act := cb.ActionCallback.BlockActions[0]
	req := Request{Source: notify.SourceSlack, ActorID: cb.User.ID, ActorName: firstNonEmpty(cb.User.Name, cb.User.Profile.DisplayName),
		Where: "slack channel " + cb.Channel.ID, Authorize: true, GroupKey: act.Value}
	switch act.ActionID {
	case vslack.ActionIDAcknowledge:
		req.Kind = notify.ActionAcknowledge
	case vslack.ActionIDResolve:
		req.Kind = notify.ActionResolve
	case vslack.ActionIDSilence1h:
		req.Kind, req.Duration = notify.ActionSilence, time.Hour
	case vslack.ActionIDSilence24h:
		req.Kind, req.Duration = notify.ActionSilence, 24*time.Hour
	case vslack.ActionIDSilenceFor:
		key, d, ok := strings.Cut(act.SelectedOption.Value, "|")
		dur, err := time.ParseDuration(d)
		if !ok || err != nil || dur <= 0 {
			return req, false
		}
		req.Kind, req.Duration, req.GroupKey = notify.ActionSilence, dur, key
	default:
		return req, false
	}
	return req, req.GroupKey != "" && len(req.GroupKey) <= 128
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// slackAction finds which interactive Slack receiver's group was clicked,
// checks the message is that group's, applies the action and tells the
// person when it did not go through.
func (e *Endpoint) slackAction(ctx context.Context, cb *slack.InteractionCallback, req Request) {
	channel, ts := cb.Container.ChannelID, cb.Container.MessageTs
	if channel == "" {
		channel = cb.Channel.ID
	}
	if ts == "" {
		ts = cb.Message.Timestamp
	}
	for _, name := range e.cfg.SlackReceivers {
		if _, ok, _ := e.svc.cfg.States.Get(ctx, name, req.GroupKey); ok {
			req.Receiver = name
			break
		}
	}
	if req.Receiver == "" {
		req.Receiver = firstNonEmpty(e.cfg.SlackReceivers...)
	}
	req.Check = func(st *outbox.GroupState) error {
		if st.State[vslack.StateChannel] != channel || st.State[vslack.StateTS] != ts {
			return errors.New("the message clicked is not this group's")
		}
		return nil
	}
	entry, err := e.svc.Do(ctx, req)
	if err != nil && entry == nil {
		e.log.Warn("slack action not applied", "user", cb.User.ID, "err", err)
		e.respond(ctx, cb.ResponseURL, "Vigia could not apply this action: "+err.Error())
		return
	}
	if msg := ephemeral(entry); msg != "" {
		e.respond(ctx, cb.ResponseURL, msg)
	}
}

// ephemeral is what the person is told about an action that did not fully
// go through; "" when the updated message says it all.
func ephemeral(e *Entry) string {
	switch e.Outcome {
	case OutcomeDone:
		return ""
	case OutcomeRefused:
		return "You may not " + e.Action + " this alert: " + e.Reason + ". Ask an administrator to add you (or your user group) to the route's lifecycle actors."
	case OutcomeNoChange:
		if e.Reason != "" {
			return "Nothing to do: " + e.Reason + "."
		}
		return "Nothing to do: the alert is in that state already."
	case OutcomeUnknown:
		return "Vigia no longer knows this alert group (resolved, or its state expired)."
	}
	var failed []string
	for _, t := range e.Targets {
		if t.Result == "failed" {
			failed = append(failed, t.Receiver+": "+t.Detail)
		}
	}
	if e.Reason != "" {
		failed = append(failed, e.Reason)
	}
	return "The " + e.Action + " did not reach everywhere (" + strings.Join(failed, "; ") + "). See vigia lifecycle log."
}

// respond posts an ephemeral message to a Slack response_url, if it is
// Slack's.
func (e *Endpoint) respond(ctx context.Context, responseURL, text string) {
	ok := false
	for _, p := range e.cfg.ResponseURLPrefixes {
		ok = ok || strings.HasPrefix(responseURL, p)
	}
	if !ok {
		e.log.Warn("slack response_url is not Slack's; no answer sent", "url_host", hostOf(responseURL))
		return
	}
	if r := []rune(text); len(r) > 2900 {
		text = string(r[:2899]) + "…"
	}
	b, _ := json.Marshal(map[string]any{"response_type": "ephemeral", "replace_original": false, "text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(b))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		e.log.Warn("slack response_url post failed", "err", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		e.log.Warn("slack response_url refused the answer", "status", resp.StatusCode)
	}
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Host
}

// pdEvent is the part of a PagerDuty v3 webhook Vigia reads.
type pdEvent struct {
	Event struct {
		ID         string    `json:"id"`
		EventType  string    `json:"event_type"`
		OccurredAt time.Time `json:"occurred_at"`
		Agent      *struct {
			ID      string `json:"id"`
			Summary string `json:"summary"`
			Type    string `json:"type"`
		} `json:"agent"`
		Data struct {
			ID          string `json:"id"`
			Type        string `json:"type"`
			Number      int    `json:"number"`
			HTMLURL     string `json:"html_url"`
			IncidentKey string `json:"incident_key"`
		} `json:"data"`
	} `json:"event"`
}

// pagerduty serves PagerDuty v3 webhooks: X-PagerDuty-Signature is one or
// more "v1=HEX" (HMAC-SHA256 of the raw body with a subscription's secret;
// several while a secret is rotated), any of which must match.
// incident.acknowledged and incident.resolved are applied to the group
// whose dedup key is the incident's key, everywhere but PagerDuty; other
// events are acknowledged and ignored. A webhook delivered twice (same
// event id) is applied once.
func (e *Endpoint) pagerduty(w http.ResponseWriter, r *http.Request) {
	if len(e.cfg.PagerDutySecrets) == 0 {
		http.NotFound(w, r)
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if !pdSigned(r.Header.Get("X-PagerDuty-Signature"), body, e.cfg.PagerDutySecrets) {
		e.log.Warn("pagerduty webhook refused: bad signature", "remote", r.RemoteAddr)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var ev pdEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "not a PagerDuty v3 webhook", http.StatusBadRequest)
		return
	}
	kind := map[string]string{"incident.acknowledged": notify.ActionAcknowledge, "incident.resolved": notify.ActionResolve}[ev.Event.EventType]
	if kind == "" || ev.Event.Data.IncidentKey == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if ev.Event.ID != "" && !e.events.add(ev.Event.ID) {
		w.WriteHeader(http.StatusNoContent) // a retried delivery
		return
	}
	req := Request{Kind: kind, Source: notify.SourcePagerDuty, DedupKey: ev.Event.Data.IncidentKey,
		DedupReceivers: e.cfg.PagerDutyReceivers, Exclude: e.cfg.PagerDutyReceivers,
		Where: fmt.Sprintf("pagerduty incident #%d %s", ev.Event.Data.Number, ev.Event.Data.ID)}
	if a := ev.Event.Agent; a != nil {
		req.ActorID, req.ActorName = a.ID, a.Summary
	}
	if req.ActorID == "" && req.ActorName == "" {
		req.ActorName = "PagerDuty"
	}
	if !e.enqueue(func(ctx context.Context) {
		if _, err := e.svc.Do(ctx, req); err != nil {
			e.log.Warn("pagerduty webhook not applied", "event", ev.Event.ID, "err", err)
		}
	}) {
		e.events.forget(ev.Event.ID)
		e.log.Error("lifecycle queue full: pagerduty webhook refused; PagerDuty retries it", "event", ev.Event.ID)
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// pdSigned reports whether any v1 signature of header matches body under
// any of secrets.
func pdSigned(header string, body []byte, secrets []string) bool {
	for _, part := range strings.Split(header, ",") {
		hexsig, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok {
			continue
		}
		sig, err := hex.DecodeString(hexsig)
		if err != nil {
			continue
		}
		for _, s := range secrets {
			m := hmac.New(sha256.New, []byte(s))
			m.Write(body)
			if hmac.Equal(m.Sum(nil), sig) {
				return true
			}
		}
	}
	return false
}

// replays remembers keys (request signatures, event ids) for a while.
type replays struct {
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	keys map[string]time.Time
}

func newReplays(ttl time.Duration) *replays {
	return &replays{ttl: ttl, now: time.Now, keys: map[string]time.Time{}}
}

// add reports whether k is new, and remembers it.
func (r *replays) add(k string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if len(r.keys) > 1024 {
		for key, t := range r.keys {
			if now.Sub(t) > r.ttl {
				delete(r.keys, key)
			}
		}
	}
	if t, ok := r.keys[k]; ok && now.Sub(t) <= r.ttl {
		return false
	}
	r.keys[k] = now
	return true
}

func (r *replays) forget(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.keys, k)
}
