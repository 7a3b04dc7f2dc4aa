// Package servicenow opens one ServiceNow incident per alert group through
// the Table API (/api/now/table/incident).
//
// The first notification of a group creates an incident whose
// correlation_id is the group's Dedup key and whose urgency and impact
// follow the severity; later ones add work notes ("3 new alerts, 7 in
// total"); the resolution sets the resolve state (6, Resolved) with a
// close code and notes. The record's sys_id and number are kept in the
// group's State. When the State is empty (the group's first notification,
// or state lost in a crash between creating the record and saving the
// state) the receiver first queries for an active, unresolved record with
// the group's correlation_id, so a restart never duplicates an incident.
//
// A record that was deleted, closed or cancelled (closed records are
// read-only) is not updated: the group's next alerts open a new incident.
// Work notes are delivered at least once: a retry after a lost answer may
// add a second copy.
//
// Texts are plain text; every event-derived text is cleaned (credentials
// redacted, control characters removed, ServiceNow's [code] markup
// defused) and truncated to the field's length on a rune boundary.
package servicenow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/runbook"
	"github.com/vigia-dev/vigia/internal/secret"
)

// State keys: the record's sys_id and its number (INC0010042), shown to
// people.
const (
	StateSysID  = "sys_id"
	StateNumber = "number"
)

const maxResponse = 1 << 20

// Receiver delivers notifications to one ServiceNow table. It is safe for
// concurrent use.
type Receiver struct {
	cfg     Config
	content content
	secret  secret.Source
	client  *http.Client
	table   string // https://instance/api/now/table/incident
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a Receiver for cfg. books supplies the runbook steps shown in
// incidents; it may be nil. The credential must be readable now.
func New(cfg Config, books *runbook.Library) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Receiver{
		cfg:    cfg,
		client: &http.Client{Timeout: cfg.Timeout},
		table:  cfg.URL + "/api/now/table/" + cfg.Table,
	}
	if cfg.Auth == AuthBearer {
		r.secret = secret.Source{Field: "servicenow: token", Env: cfg.TokenEnv, File: cfg.TokenFile}
	} else {
		r.secret = secret.Source{Field: "servicenow: password", Env: cfg.PasswordEnv, File: cfg.PasswordFile}
	}
	r.content = content{cfg: &r.cfg, books: books}
	if _, err := r.secret.Get(); err != nil {
		return nil, err
	}
	return r, nil
}

// record is a record as the Table API returns it (values as strings).
type record struct {
	SysID  string `json:"sys_id"`
	Number string `json:"number"`
	State  string `json:"state"`
	Active string `json:"active"`
}

func (rec *record) state() notify.State {
	return notify.State{StateSysID: rec.SysID, StateNumber: rec.Number}
}

// open reports whether the record can still be updated: not closed or
// cancelled (inactive).
func (rec *record) open() bool { return rec.Active != "false" }

const fields = "sys_id,number,state,active"

// Deliver creates, updates or resolves the group's incident.
func (r *Receiver) Deliver(ctx context.Context, n *notify.Notification, prev notify.State) (notify.State, error) {
	if n == nil {
		return prev, nil
	}
	sysID := prev[StateSysID]
	var cur *record
	if sysID != "" {
		var err error
		cur, err = r.get(ctx, sysID)
		if err != nil {
			return prev, err
		}
	}
	if n.Status == notify.StatusResolved {
		return r.resolve(ctx, n, prev, cur)
	}
	if cur != nil && cur.open() {
		return prev, r.patch(ctx, "add work notes to "+cur.Number, cur.SysID, map[string]any{
			"work_notes": r.fit(n, func(l limits) string { return r.content.update(n, l) }),
		})
	}
	// No record yet, or it was deleted or closed: find the group's open
	// record (lost state), or open one.
	found, err := r.find(ctx, n.GroupKey)
	if err != nil {
		return prev, err
	}
	if found != nil {
		err := r.patch(ctx, "add work notes to "+found.Number, found.SysID, map[string]any{
			"work_notes": r.fit(n, func(l limits) string { return r.content.update(n, l) }),
		})
		return found.state(), err
	}
	created, err := r.create(ctx, n)
	if err != nil {
		return prev, err
	}
	return created.state(), nil
}

// get reads record sysID; nil when it no longer exists.
func (r *Receiver) get(ctx context.Context, sysID string) (*record, error) {
	var out struct {
		Result *record `json:"result"`
	}
	q := url.Values{"sysparm_fields": {fields}, "sysparm_exclude_reference_link": {"true"}}
	status, err := r.call(ctx, "read record "+sysID, http.MethodGet, "/"+url.PathEscape(sysID), q, nil, &out)
	switch {
	case status == http.StatusNotFound:
		return nil, nil
	case err != nil:
		return nil, err
	case out.Result == nil || out.Result.SysID == "":
		return nil, fmt.Errorf("servicenow: read record %s: the answer has no result", sysID)
	}
	return out.Result, nil
}

// find returns the group's active record that is not resolved, or nil.
func (r *Receiver) find(ctx context.Context, groupKey string) (*record, error) {
	query := fmt.Sprintf("correlation_id=%s^active=true^state!=%d^ORDERBYsys_created_on", notify.DedupKey(groupKey), r.cfg.ResolveState)
	q := url.Values{
		"sysparm_query":                  {query},
		"sysparm_limit":                  {"1"},
		"sysparm_fields":                 {fields},
		"sysparm_exclude_reference_link": {"true"},
	}
	var out struct {
		Result []*record `json:"result"`
	}
	if _, err := r.call(ctx, "query the group's record", http.MethodGet, "", q, nil, &out); err != nil {
		return nil, err
	}
	for _, rec := range out.Result {
		if rec != nil && rec.SysID != "" {
			return rec, nil
		}
	}
	return nil, nil
}

// create opens the group's incident.
func (r *Receiver) create(ctx context.Context, n *notify.Notification) (*record, error) {
	body := map[string]any{}
	for k, v := range r.cfg.Fields {
		body[k] = v
	}
	body["short_description"] = ShortDescription(n)
	body["description"] = r.fit(n, func(l limits) string { return r.content.description(n, l) })
	body["correlation_id"] = notify.DedupKey(n.GroupKey)
	body["correlation_display"] = r.cfg.CorrelationDisplay
	if l, ok := r.cfg.Levels[n.Severity()]; ok {
		body["urgency"], body["impact"] = strconv.Itoa(l.Urgency), strconv.Itoa(l.Impact)
	}
	for k, v := range map[string]string{"assignment_group": r.cfg.AssignmentGroup, "caller_id": r.cfg.CallerID, "category": r.cfg.Category} {
		if v != "" {
			body[k] = v
		}
	}
	var out struct {
		Result *record `json:"result"`
	}
	q := url.Values{"sysparm_fields": {fields}, "sysparm_exclude_reference_link": {"true"}}
	if _, err := r.call(ctx, "create a record in "+r.cfg.Table, http.MethodPost, "", q, body, &out); err != nil {
		return nil, err
	}
	if out.Result == nil || out.Result.SysID == "" {
		return nil, errors.New("servicenow: create a record: the answer names no record")
	}
	return out.Result, nil
}

// resolve sets the group's record to the resolve state. A group whose
// record is unknown, gone, closed or already resolved is resolved.
func (r *Receiver) resolve(ctx context.Context, n *notify.Notification, prev notify.State, cur *record) (notify.State, error) {
	state := prev
	if cur == nil && prev[StateSysID] == "" {
		found, err := r.find(ctx, n.GroupKey)
		if err != nil || found == nil {
			return prev, err
		}
		cur, state = found, found.state()
	}
	if cur == nil || !cur.open() || cur.State == strconv.Itoa(r.cfg.ResolveState) {
		return state, nil
	}
	notes := r.fit(n, func(l limits) string { return r.content.resolution(n, l) })
	return state, r.patch(ctx, "resolve "+cur.Number, cur.SysID, map[string]any{
		"state":       strconv.Itoa(r.cfg.ResolveState),
		"close_code":  r.cfg.CloseCode,
		"close_notes": notes,
	})
}

func (r *Receiver) patch(ctx context.Context, op, sysID string, body map[string]any) error {
	q := url.Values{"sysparm_fields": {fields}, "sysparm_exclude_reference_link": {"true"}}
	_, err := r.call(ctx, op, http.MethodPatch, "/"+url.PathEscape(sysID), q, body, nil)
	return err
}

// fit renders a text, dropping listed alerts, then runbook steps, then
// truncating until it fits the field.
func (r *Receiver) fit(n *notify.Notification, build func(limits) string) string {
	lim := limits{alerts: min(r.cfg.MaxAlerts, len(n.Alerts)), steps: r.cfg.FirstSteps}
	for {
		s := build(lim)
		size := render.UTF16Len(s)
		if size <= maxText || (lim.alerts == 0 && lim.steps == 0) {
			return render.ShortenUTF16(s, maxText)
		}
		if lim.alerts > 0 {
			lim.alerts = shrink(lim.alerts, size, maxText)
		} else {
			lim.steps = 0
		}
	}
}

// shrink returns how many alerts to list next when listing n made a text
// of size over limit: fewer in proportion, at least one fewer.
func shrink(n, size, limit int) int {
	return max(min(n-1, n*limit/size), 0)
}

// call sends one Table API request: in (if not nil) as JSON, the answer
// decoded into out (if not nil). It returns the HTTP status (0 when none
// came) and an error classified by notify.HTTPError.
func (r *Receiver) call(ctx context.Context, op, method, path string, query url.Values, in, out any) (int, error) {
	secret, err := r.secret.Get()
	if err != nil {
		return 0, err
	}
	auth := "Bearer " + secret
	if r.cfg.Auth != AuthBearer {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(r.cfg.Username+":"+secret))
	}
	return notify.JSONCall{Client: r.client, Name: "servicenow", Op: op, Method: method, URL: r.table + path, Query: query,
		Authorization: auth, In: in, Out: out, MaxResponse: maxResponse, Classify: httpError}.Do(ctx)
}

// httpError classifies an answer with notify.HTTPError, and also honours
// X-RateLimit-Reset (a Unix time) on a 429 without Retry-After.
func httpError(resp *http.Response, raw []byte) error {
	err := notify.HTTPError(resp, excerpt(raw))
	if err == nil || resp.StatusCode != http.StatusTooManyRequests {
		return err
	}
	if _, ok := notify.RetryAfter(err); ok {
		return err
	}
	if reset, perr := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); perr == nil && reset > 0 {
		return &notify.RetryAfterError{After: max(time.Until(time.Unix(reset, 0)), 0), Err: err}
	}
	return err
}

// excerpt summarizes an error answer: the Table API's error message and
// detail when present, the start of the body otherwise; redacted.
func excerpt(raw []byte) string {
	var e struct {
		Error *struct {
			Message string `json:"message"`
			Detail  any    `json:"detail"`
		} `json:"error"`
	}
	s := string(raw)
	if json.Unmarshal(raw, &e) == nil && e.Error != nil {
		s = e.Error.Message
		if d, ok := e.Error.Detail.(string); ok && d != "" {
			s += ": " + d
		}
	}
	return render.ShortenUTF16(clean(redact.String(strings.TrimSpace(s))), 300)
}
