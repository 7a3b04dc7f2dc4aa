package lifecycle

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/github"
	"github.com/vigia-dev/vigia/internal/notify/github/githubfake"
	"github.com/vigia-dev/vigia/internal/notify/jira"
	"github.com/vigia-dev/vigia/internal/notify/jira/jirafake"
	"github.com/vigia-dev/vigia/internal/notify/opsgenie"
	"github.com/vigia-dev/vigia/internal/notify/opsgenie/opsgeniefake"
	"github.com/vigia-dev/vigia/internal/notify/pagerduty"
	"github.com/vigia-dev/vigia/internal/notify/pagerduty/pagerdutyfake"
	"github.com/vigia-dev/vigia/internal/notify/servicenow"
	"github.com/vigia-dev/vigia/internal/notify/servicenow/servicenowfake"
	"github.com/vigia-dev/vigia/internal/notify/slack"
	"github.com/vigia-dev/vigia/internal/notify/slack/slackfake"
	"github.com/vigia-dev/vigia/internal/outbox"
	"github.com/vigia-dev/vigia/internal/route"
	"github.com/vigia-dev/vigia/internal/silence"
)

// Secrets of the rig; a test asserts none of them shows up anywhere.
const (
	slackToken    = "xoxb-lifecycle-test-token"
	signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	pdSecret      = "pd-webhook-secret-0123456789abcdef"
	routingKey    = "R0UT1NGKEY0123456789ABCDEFGHIJKL"
	ogKey         = "opsgenie-key-0123"
	jiraToken     = "jira-token-0123"
	snowPassword  = "snow-password-0123"
	ghToken       = "ghp_lifecycletoken0123456789"
)

// Slack users: Ana is in the SOC user group, allowed on the root route;
// Bia is allowed by id; Eve is nobody.
const (
	userAna = "U0ANA0001"
	userBia = "U0BIA0002"
	userEve = "U0EVE0003"
	groupSO = "S0SOC0001"
)

var groupLabels = map[string]string{"rule": "k8s-pod-exec-attach", "identity": "alice@example.com", "namespace": "payments", "pod": "api-0"}

// rig is every receiver behind its fake, one incident open on all of
// them, and the lifecycle endpoint in front.
type rig struct {
	t        *testing.T
	slack    *slackfake.Server
	pd       *pagerdutyfake.Server
	og       *opsgeniefake.Server
	jira     *jirafake.Server
	snow     *servicenowfake.Server
	gh       *githubfake.Server
	states   *outbox.File
	silences *silence.Silencer
	audit    *FileStore
	svc      *Service
	ep       *Endpoint
	srv      *httptest.Server
	keys     map[string]string // receiver -> group key
	// responses are the bodies posted to the fake response_url.
	respMu    sync.Mutex
	responses []string
	respURL   string
	jobs      chan struct{}
	logs      *strings.Builder
}

func secretFile(t *testing.T, v string) string {
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, keys: map[string]string{}, jobs: make(chan struct{}, 64), logs: &strings.Builder{}}
	r.slack = slackfake.New(t, slackToken, slackfake.WithUserGroups(map[string][]string{groupSO: {userAna}}))
	r.pd = pagerdutyfake.New(t, routingKey)
	r.og = opsgeniefake.New(t, ogKey)
	r.jira = jirafake.New(t, jirafake.WithBasic("vigia@example.com", jiraToken))
	r.snow = servicenowfake.New(t, servicenowfake.WithBasic("vigia", snowPassword))
	r.gh = githubfake.New(t, ghToken, "acme", "sec")

	sl, err := slack.New(slack.Config{Token: slackToken, Channel: "#soc", APIURL: r.slack.URL(), Interactive: true, ChannelInterval: -1}, nil)
	must(t, err)
	pd, err := pagerduty.New(pagerduty.Config{RoutingKey: routingKey, URL: r.pd.URL()}, nil)
	must(t, err)
	og, err := opsgenie.New(opsgenie.Config{APIKey: ogKey, APIURL: r.og.URL()}, nil)
	must(t, err)
	ji, err := jira.New(jira.Config{URL: r.jira.URL(), Email: "vigia@example.com", APITokenFile: secretFile(t, jiraToken),
		Project: "SEC", ResolveTransition: "Done", AcknowledgeTransition: "Start Progress"}, nil)
	must(t, err)
	sn, err := servicenow.New(servicenow.Config{URL: r.snow.URL(), Username: "vigia", PasswordFile: secretFile(t, snowPassword), AcknowledgeState: 2}, nil)
	must(t, err)
	gh, err := github.New(github.Config{BaseURL: r.gh.EnterpriseURL(), TokenFile: secretFile(t, ghToken), Owner: "acme", Repo: "sec"}, nil)
	must(t, err)
	receivers := map[string]notify.Receiver{"soc-slack": sl, "pager": pd, "opsgenie": og, "jira": ji, "servicenow": sn, "github": gh}
	order := []string{"soc-slack", "pager", "opsgenie", "jira", "servicenow", "github"}

	r.states, err = outbox.NewFile(t.TempDir(), outbox.FileOptions{})
	must(t, err)
	t.Cleanup(func() { r.states.Close() })
	store, err := silence.OpenFile(t.TempDir(), silence.FileOptions{})
	must(t, err)
	r.silences = silence.New(store, silence.Options{})
	must(t, r.silences.Start(t.Context()))
	t.Cleanup(func() { r.silences.Close() })
	r.audit, err = OpenFile(t.TempDir())
	must(t, err)
	t.Cleanup(func() { r.audit.Close() })

	// The incident: one firing notification delivered to every receiver,
	// and its group state stored as the dispatcher would.
	a := &alert.Alert{ID: "alert-1", Rule: alert.Rule{ID: "k8s-pod-exec-attach", Title: "Shell in a pod", Severity: alert.SeverityHigh},
		Time: time.Now().Add(-time.Minute).UTC(), Summary: "alice@example.com opened a shell in payments/api-0", Labels: groupLabels}
	a.Entity.Identity, a.Entity.Namespace, a.Entity.Pod = "alice@example.com", "payments", "api-0"
	for _, name := range order {
		key := route.GroupKey(name, "0", groupLabels)
		r.keys[name] = key
		n := &notify.Notification{ID: "n1-" + name, Receiver: name, GroupKey: key, GroupLabels: groupLabels, Status: notify.StatusFiring,
			Alerts: []*alert.Alert{a}, Total: 1, FirstTime: a.Time, LastTime: a.Time}
		st, err := receivers[name].Deliver(t.Context(), n, nil)
		if err != nil {
			t.Fatalf("deliver to %s: %v", name, err)
		}
		must(t, r.states.Put(t.Context(), name, key, &outbox.GroupState{State: st, Route: "0", GroupLabels: groupLabels, Total: 1,
			First: a.Time, Last: a.Time, Notified: time.Now()}, time.Hour))
	}

	log := slog.New(slog.NewTextHandler(&lockedWriter{b: r.logs}, nil))
	r.svc = New(Config{Receivers: receivers, Order: order, States: r.states, Silences: r.silences, Audit: r.audit,
		Policy: NewPolicy(map[string]Actors{"0": {Users: []string{userBia}, Groups: []string{groupSO}}},
			slackMembers(r.slack.URL()), time.Minute),
		Logger: log})
	resp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.respMu.Lock()
		r.responses = append(r.responses, string(b))
		r.respMu.Unlock()
	}))
	t.Cleanup(resp.Close)
	r.respURL = resp.URL + "/actions/T0/1/xyz"
	r.ep = NewEndpoint(HandlerConfig{Service: r.svc, SlackSigningSecret: signingSecret, SlackReceivers: []string{"soc-slack"},
		PagerDutySecrets: []string{pdSecret}, PagerDutyReceivers: []string{"pager"}, ResponseURLPrefixes: []string{resp.URL + "/"},
		Workers: 2, Logger: log})
	r.ep.done = func() { r.jobs <- struct{}{} }
	r.ep.Start(t.Context())
	t.Cleanup(r.ep.Close)
	r.srv = httptest.NewServer(r.ep)
	t.Cleanup(r.srv.Close)
	return r
}

// slackMembers reads user groups from the fake as the pipeline does, with
// slack-go's client.
func slackMembers(apiURL string) MembersFunc {
	return func(ctx context.Context, group string) ([]string, error) {
		return slackClient(apiURL).GetUserGroupMembersContext(ctx, group)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// parent returns the incident's Slack parent message.
func (r *rig) parent() slackfake.Message {
	r.t.Helper()
	ps := r.slack.Parents()
	if len(ps) != 1 {
		r.t.Fatalf("want 1 Slack parent, got %d", len(ps))
	}
	return ps[0]
}

// click builds Slack's block_actions payload for a click by user on the
// parent's element actionID (a menu's option value in selected).
var (
	names  = map[string]string{userAna: "ana", userBia: "bia", userEve: "eve"}
	clicks int
)

func (r *rig) click(user, actionID, value, selected string) string {
	p := r.parent()
	clicks++ // every click has its own action_ts, so its own signature
	actionTS := fmt.Sprintf("%d.%06d", time.Now().Unix(), clicks)
	act := map[string]any{"action_id": actionID, "block_id": slack.BlockIDActions, "type": "button", "value": value, "action_ts": actionTS}
	if selected != "" {
		act = map[string]any{"action_id": actionID, "block_id": slack.BlockIDActions, "type": "static_select",
			"selected_option": map[string]any{"value": selected, "text": map[string]any{"type": "plain_text", "text": "x"}}, "action_ts": actionTS}
	}
	payload := map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user, "name": names[user]},
		"team": map[string]any{"id": "T0"}, "channel": map[string]any{"id": p.ChannelID},
		"container":    map[string]any{"type": "message", "channel_id": p.ChannelID, "message_ts": p.TS},
		"message":      map[string]any{"ts": p.TS},
		"response_url": r.respURL, "trigger_id": "1.2.3", "actions": []any{act},
	}
	b, _ := json.Marshal(payload)
	return url.Values{"payload": {string(b)}}.Encode()
}

// slackPost sends body signed with secret at ts (zero: now) and returns
// the status.
func (r *rig) slackPost(body, secret string, ts time.Time, header func(http.Header)) int {
	r.t.Helper()
	if ts.IsZero() {
		ts = time.Now()
	}
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+PathSlack, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", stamp, body)
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	if header != nil {
		header(req.Header)
	}
	resp, err := http.DefaultClient.Do(req)
	must(r.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// wait waits for n queued actions to finish.
func (r *rig) wait(n int) {
	r.t.Helper()
	for range n {
		select {
		case <-r.jobs:
		case <-time.After(30 * time.Second):
			r.t.Fatal("lifecycle action did not finish")
		}
	}
}

func (r *rig) entries() []*Entry {
	r.t.Helper()
	list, err := r.audit.List(context.Background(), Query{})
	must(r.t, err)
	return list
}

func (r *rig) responsesText() string {
	r.respMu.Lock()
	defer r.respMu.Unlock()
	return strings.Join(r.responses, "\n")
}

func (r *rig) state(name string) *outbox.GroupState {
	r.t.Helper()
	st, ok, err := r.states.Get(context.Background(), name, r.keys[name])
	if err != nil || !ok {
		r.t.Fatalf("state of %s: %v %v", name, ok, err)
	}
	return st
}

func pdEvents(s *pagerdutyfake.Server, action string) []pagerdutyfake.Event {
	var out []pagerdutyfake.Event
	for _, e := range s.Events() {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func TestSlackSignatures(t *testing.T) {
	r := newRig(t)
	body := r.click(userAna, slack.ActionIDAcknowledge, r.keys["soc-slack"], "")
	for _, tt := range []struct {
		name   string
		secret string
		ts     time.Time
		header func(http.Header)
		want   int
	}{
		{"unsigned", signingSecret, time.Time{}, func(h http.Header) { h.Del("X-Slack-Signature"); h.Del("X-Slack-Request-Timestamp") }, 401},
		{"wrong secret", "not-the-signing-secret", time.Time{}, nil, 401},
		{"stale timestamp, correctly signed", signingSecret, time.Now().Add(-6 * time.Minute), nil, 401},
		{"future timestamp, correctly signed", signingSecret, time.Now().Add(6 * time.Minute), nil, 401},
		{"tampered signature", signingSecret, time.Time{}, func(h http.Header) { h.Set("X-Slack-Signature", "v0=00"+h.Get("X-Slack-Signature")[5:]) }, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.slackPost(body, tt.secret, tt.ts, tt.header); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
		})
	}
	if n := len(pdEvents(r.pd, "acknowledge")); n != 0 {
		t.Fatalf("refused requests acted: %d PagerDuty acknowledges", n)
	}
	if len(r.entries()) != 0 {
		t.Fatalf("refused requests reached the audit trail: %+v", r.entries())
	}

	// Signed: accepted; the same request again is a replay.
	ts := time.Now()
	if got := r.slackPost(body, signingSecret, ts, nil); got != 200 {
		t.Fatalf("signed request: status %d", got)
	}
	r.wait(1)
	if got := r.slackPost(body, signingSecret, ts, nil); got != 401 {
		t.Fatalf("replayed request: status %d, want 401", got)
	}
	if n := len(r.entries()); n != 1 {
		t.Fatalf("audit entries: %d, want 1", n)
	}
	if !strings.Contains(r.logs.String(), "replayed") || !strings.Contains(r.logs.String(), "timestamp more than 5 minutes off") {
		t.Errorf("refusals not logged with their reason:\n%s", r.logs.String())
	}
}

func TestSlackAcknowledgeEverywhere(t *testing.T) {
	r := newRig(t)
	if got := r.slackPost(r.click(userAna, slack.ActionIDAcknowledge, r.keys["soc-slack"], ""), signingSecret, time.Time{}, nil); got != 200 {
		t.Fatalf("status %d", got)
	}
	r.wait(1)

	// Slack: the parent says who and when, the Acknowledge button is gone.
	p := r.parent()
	if p.Updates == 0 || !strings.Contains(p.RawBlocks, "Acknowledged") || !strings.Contains(p.RawBlocks, "ana ("+userAna+")") {
		t.Errorf("parent not updated with the acknowledgement: %s", p.RawBlocks)
	}
	if strings.Contains(p.RawBlocks, slack.ActionIDAcknowledge) || !strings.Contains(p.RawBlocks, slack.ActionIDResolve) {
		t.Errorf("buttons after acknowledge: %s", p.RawBlocks)
	}
	if rs := r.slack.Replies(p.TS); len(rs) != 1 || !strings.Contains(rs[0].Text, "Acknowledged") {
		t.Errorf("thread replies: %+v", rs)
	}
	// PagerDuty: acknowledge with the group's dedup key.
	acks := pdEvents(r.pd, "acknowledge")
	if len(acks) != 1 || acks[0].DedupKey != notify.DedupKey(r.keys["pager"]) {
		t.Fatalf("PagerDuty acknowledges: %+v", acks)
	}
	if inc := r.pd.Incidents(); len(inc) != 1 || inc[0].Status != "acknowledged" {
		t.Errorf("PagerDuty incident: %+v", inc)
	}
	// Opsgenie: acknowledged by alias, the person as user.
	if al := r.og.Alerts(); len(al) != 1 || !al[0].Acknowledged || !strings.Contains(al[0].AckUser, userAna) || al[0].Alias != notify.DedupKey(r.keys["opsgenie"]) {
		t.Errorf("Opsgenie alert: %+v", al)
	}
	// Jira: transitioned and commented.
	is := r.jira.Issues()
	if len(is) != 1 || len(is[0].Comments) != 1 || !strings.Contains(is[0].Comments[0].Text(), "Acknowledged by") ||
		len(is[0].Transitions) != 1 || is[0].Transitions[0] != "Start Progress" {
		t.Errorf("Jira issue: %+v", is)
	}
	// ServiceNow: work note and state 2.
	rec := r.snow.Records("incident")
	if len(rec) != 1 || rec[0].Fields["state"] != "2" || len(rec[0].WorkNotes) == 0 || !strings.Contains(rec[0].WorkNotes[len(rec[0].WorkNotes)-1], "Acknowledged by") {
		t.Errorf("ServiceNow record: %+v", rec)
	}
	// GitHub: a comment, the issue stays open.
	gi := r.gh.Issues()
	if len(gi) != 1 || gi[0].State != "open" || len(gi[0].Comments) != 1 || !strings.Contains(gi[0].Comments[0], "Acknowledged") {
		t.Errorf("GitHub issue: %+v", gi)
	}
	// Audit: one entry, done, every receiver reached.
	es := r.entries()
	if len(es) != 1 || es[0].Outcome != OutcomeDone || es[0].ActorID != userAna || es[0].Source != "slack" || len(es[0].Targets) != 6 {
		t.Fatalf("audit: %+v", es)
	}
	for name := range r.keys {
		if st := r.state(name); st.Acknowledged.IsZero() {
			t.Errorf("%s: group not marked acknowledged", name)
		}
	}
	if r.responsesText() != "" {
		t.Errorf("a successful action answered ephemerally: %s", r.responsesText())
	}

	// PagerDuty echoes the acknowledgement by webhook: nothing changes.
	before := len(r.slack.Calls())
	if got := r.pdPost(pdWebhook("evt-1", "incident.acknowledged", notify.DedupKey(r.keys["pager"])), pdSecret); got != 202 {
		t.Fatalf("webhook status %d", got)
	}
	r.wait(1)
	if after := len(r.slack.Calls()); after != before {
		t.Errorf("the echo called Slack %d times", after-before)
	}
	es = r.entries()
	if len(es) != 2 || es[1].Outcome != OutcomeNoChange || es[1].Source != "pagerduty" {
		t.Errorf("echo audit: %+v", es[len(es)-1])
	}
	// A second click: nothing to do, said ephemerally.
	r.slackPost(r.click(userAna, slack.ActionIDAcknowledge, r.keys["soc-slack"], ""), signingSecret, time.Time{}, nil)
	r.wait(1)
	if !strings.Contains(r.responsesText(), "acknowledged already") || !strings.Contains(r.responsesText(), `"response_type":"ephemeral"`) {
		t.Errorf("second click answer: %s", r.responsesText())
	}
	r.noSecrets()
}

func TestSlackRefusedUser(t *testing.T) {
	r := newRig(t)
	r.slackPost(r.click(userEve, slack.ActionIDResolve, r.keys["soc-slack"], ""), signingSecret, time.Time{}, nil)
	r.wait(1)
	if n := len(pdEvents(r.pd, "resolve")); n != 0 {
		t.Fatalf("refused user resolved PagerDuty")
	}
	if r.parent().Updates != 0 {
		t.Fatalf("refused user updated the Slack message")
	}
	resp := r.responsesText()
	if !strings.Contains(resp, "You may not resolve") || !strings.Contains(resp, `"response_type":"ephemeral"`) {
		t.Fatalf("refusal not answered ephemerally: %q", resp)
	}
	es := r.entries()
	if len(es) != 1 || es[0].Outcome != OutcomeRefused || es[0].ActorID != userEve {
		t.Fatalf("audit: %+v", es)
	}
	if !strings.Contains(r.logs.String(), "outcome=refused") {
		t.Errorf("refusal not logged")
	}

	// Allowed by id (Bia) and by user group (Ana, read through
	// usergroups.users.list, cached).
	r.slackPost(r.click(userBia, slack.ActionIDAcknowledge, r.keys["soc-slack"], ""), signingSecret, time.Time{}, nil)
	r.wait(1)
	if es := r.entries(); es[len(es)-1].Outcome != OutcomeDone {
		t.Fatalf("Bia: %+v", es[len(es)-1])
	}
	for range 2 {
		r.slackPost(r.click(userAna, slack.ActionIDSilence1h, r.keys["soc-slack"], ""), signingSecret, time.Time{}, nil)
		r.wait(1)
	}
	if es := r.entries(); es[len(es)-1].Outcome != OutcomeDone {
		t.Fatalf("Ana: %+v", es[len(es)-1])
	}
	n := 0
	for _, c := range r.slack.Calls() {
		if c.Method == "usergroups.users.list" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("usergroups.users.list called %d times, want 1 (cached)", n)
	}
}

func TestSlackClickOnAnotherMessage(t *testing.T) {
	r := newRig(t)
	// A genuine click whose button value names a group that is not the
	// clicked message's.
	body := r.click(userAna, slack.ActionIDResolve, r.keys["soc-slack"], "")
	body = strings.Replace(body, url.QueryEscape(r.parent().TS), url.QueryEscape("1699999999.000100"), -1)
	r.slackPost(body, signingSecret, time.Time{}, nil)
	r.wait(1)
	if es := r.entries(); len(es) != 1 || es[0].Outcome != OutcomeRefused {
		t.Fatalf("audit: %+v", es)
	}
	if n := len(pdEvents(r.pd, "resolve")); n != 0 {
		t.Fatal("resolved through another message")
	}
}

func TestSlackResolveEverywhere(t *testing.T) {
	r := newRig(t)
	r.slackPost(r.click(userAna, slack.ActionIDResolve, r.keys["soc-slack"], ""), signingSecret, time.Time{}, nil)
	r.wait(1)
	p := r.parent()
	if !strings.Contains(p.RawBlocks, "Resolved") || strings.Contains(p.RawBlocks, `"type":"actions"`) {
		t.Errorf("parent after resolve: %s", p.RawBlocks)
	}
	if res := pdEvents(r.pd, "resolve"); len(res) != 1 || res[0].DedupKey != notify.DedupKey(r.keys["pager"]) {
		t.Errorf("PagerDuty resolves: %+v", res)
	}
	if al := r.og.Alerts(); al[0].Status != "closed" || !strings.Contains(al[0].CloseNote, "Resolved by") {
		t.Errorf("Opsgenie: %+v", al[0])
	}
	if is := r.jira.Issues(); is[0].Status != jirafake.StatusDone {
		t.Errorf("Jira: %+v", is[0])
	}
	if rec := r.snow.Records("incident"); rec[0].Fields["state"] != "6" || !strings.Contains(rec[0].Fields["close_notes"], "Resolved by") {
		t.Errorf("ServiceNow: %+v", rec[0].Fields)
	}
	if gi := r.gh.Issues(); gi[0].State != "closed" || gi[0].StateReason != "completed" {
		t.Errorf("GitHub: %+v", gi[0])
	}
	for name := range r.keys {
		if !r.state(name).Resolved {
			t.Errorf("%s: group not resolved", name)
		}
	}
	r.noSecrets()
}

func TestSlackSilence(t *testing.T) {
	r := newRig(t)
	r.slackPost(r.click(userAna, slack.ActionIDSilenceFor, "", r.keys["soc-slack"]+"|4h0m0s"), signingSecret, time.Time{}, nil)
	r.wait(1)
	list, err := r.silences.List(context.Background(), false)
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("silences: %d", len(list))
	}
	s := list[0]
	if !strings.Contains(s.CreatedBy, userAna) || !strings.HasPrefix(s.CreatedBy, "slack:") {
		t.Errorf("author %q", s.CreatedBy)
	}
	if d := s.EndsAt.Sub(s.StartsAt); d < 4*time.Hour-time.Minute || d > 4*time.Hour+time.Minute {
		t.Errorf("silence length %s", d)
	}
	if !s.Matches(groupLabels, time.Now()) {
		t.Errorf("silence %s does not match the group", s.Matchers)
	}
	other := map[string]string{"rule": "k8s-pod-exec-attach", "identity": "bob@example.com", "namespace": "payments", "pod": "api-0"}
	if s.Matches(other, time.Now()) {
		t.Errorf("silence %s matches another group", s.Matchers)
	}
	if p := r.parent(); !strings.Contains(p.RawBlocks, "Silenced") {
		t.Errorf("parent: %s", p.RawBlocks)
	}
	if al := r.og.Alerts(); len(al[0].Notes) == 0 || !strings.Contains(al[0].Notes[len(al[0].Notes)-1].Note, "Silenced by") {
		t.Errorf("Opsgenie notes: %+v", al[0].Notes)
	}
	if n := len(pdEvents(r.pd, "acknowledge")) + len(pdEvents(r.pd, "resolve")); n != 0 {
		t.Errorf("a silence changed PagerDuty")
	}
	es := r.entries()
	if len(es) != 1 || es[0].SilenceID != s.ID || es[0].Action != "silence" {
		t.Errorf("audit: %+v", es)
	}
}

// pdWebhook is a PagerDuty v3 webhook body.
func pdWebhook(id, typ, incidentKey string) string {
	b, _ := json.Marshal(map[string]any{"event": map[string]any{
		"id": id, "event_type": typ, "resource_type": "incident", "occurred_at": time.Now().UTC().Format(time.RFC3339),
		"agent": map[string]any{"id": "PUSER01", "summary": "Carla Responder", "type": "user_reference"},
		"data": map[string]any{"id": "PINC001", "type": "incident", "number": 42, "status": "resolved",
			"incident_key": incidentKey, "html_url": "https://acme.pagerduty.com/incidents/PINC001"},
	}})
	return string(b)
}

func (r *rig) pdPost(body, secret string, extra ...string) int {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+PathPagerDuty, strings.NewReader(body))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	sigs := append(extra, "v1="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-PagerDuty-Signature", strings.Join(sigs, ","))
	resp, err := http.DefaultClient.Do(req)
	must(r.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestPagerDutyWebhook(t *testing.T) {
	r := newRig(t)
	key := notify.DedupKey(r.keys["pager"])
	if got := r.pdPost(pdWebhook("evt-bad", "incident.resolved", key), "wrong-secret"); got != 401 {
		t.Fatalf("bad signature: status %d", got)
	}
	if len(r.entries()) != 0 {
		t.Fatal("a badly signed webhook acted")
	}
	// Several signatures (a secret being rotated): one valid is enough.
	if got := r.pdPost(pdWebhook("evt-2", "incident.resolved", key), pdSecret, "v1=deadbeef"); got != 202 {
		t.Fatalf("status %d", got)
	}
	r.wait(1)
	p := r.parent()
	if !strings.Contains(p.RawBlocks, "Resolved") || !strings.Contains(p.RawBlocks, "Carla Responder") {
		t.Errorf("Slack parent after PagerDuty resolve: %s", p.RawBlocks)
	}
	if al := r.og.Alerts(); al[0].Status != "closed" {
		t.Errorf("Opsgenie not closed: %+v", al[0])
	}
	if gi := r.gh.Issues(); gi[0].State != "closed" {
		t.Errorf("GitHub not closed")
	}
	if n := len(pdEvents(r.pd, "resolve")); n != 0 {
		t.Errorf("the PagerDuty resolve was sent back to PagerDuty (%d events)", n)
	}
	if !r.state("pager").Resolved {
		t.Errorf("the PagerDuty group is not marked resolved")
	}
	es := r.entries()
	if len(es) != 1 || es[0].Source != "pagerduty" || es[0].ActorID != "PUSER01" || es[0].Outcome != OutcomeDone || !strings.Contains(es[0].Where, "#42") {
		t.Fatalf("audit: %+v", es)
	}
	for _, tg := range es[0].Targets {
		if tg.Receiver == "pager" {
			t.Errorf("PagerDuty is a target of its own webhook")
		}
	}
	// PagerDuty delivers the same event again: applied once.
	if got := r.pdPost(pdWebhook("evt-2", "incident.resolved", key), pdSecret); got != 204 {
		t.Fatalf("redelivery: status %d", got)
	}
	// Other events and unknown incidents are accepted and change nothing.
	if got := r.pdPost(pdWebhook("evt-3", "incident.priority_updated", key), pdSecret); got != 204 {
		t.Fatalf("other event: status %d", got)
	}
	r.pdPost(pdWebhook("evt-4", "incident.acknowledged", "vigia-00000000000000000000000000000000"), pdSecret)
	r.wait(1)
	if es := r.entries(); len(es) != 2 || es[1].Outcome != OutcomeUnknown {
		t.Fatalf("unknown incident: %+v", es)
	}
}

func TestCLISourceAndAuditQuery(t *testing.T) {
	r := newRig(t)
	_, err := r.svc.Do(context.Background(), Request{Kind: notify.ActionAcknowledge, Source: notify.SourceCLI, ActorName: "dana",
		Where: "cli 127.0.0.1", Receiver: "jira", GroupKey: r.keys["jira"]})
	must(t, err)
	if acks := pdEvents(r.pd, "acknowledge"); len(acks) != 1 {
		t.Fatalf("CLI acknowledge did not reach PagerDuty")
	}
	_, err = r.svc.Do(context.Background(), Request{Kind: "explode", Source: notify.SourceCLI, ActorName: "dana", Receiver: "jira", GroupKey: r.keys["jira"]})
	if err == nil {
		t.Fatal("unknown action accepted")
	}
	time.Sleep(10 * time.Millisecond)
	mark := time.Now()
	_, err = r.svc.Do(context.Background(), Request{Kind: notify.ActionResolve, Source: notify.SourceCLI, ActorName: "erin",
		Receiver: "soc-slack", GroupKey: r.keys["soc-slack"]})
	must(t, err)
	all, _ := r.svc.Log(context.Background(), Query{})
	if len(all) != 2 || all[0].Actor != "dana" || all[1].Actor != "erin" {
		t.Fatalf("log: %+v", all)
	}
	if got, _ := r.svc.Log(context.Background(), Query{Actor: "DAN"}); len(got) != 1 || got[0].Actor != "dana" {
		t.Errorf("actor filter: %+v", got)
	}
	if got, _ := r.svc.Log(context.Background(), Query{Since: mark}); len(got) != 1 || got[0].Actor != "erin" {
		t.Errorf("since filter: %+v", got)
	}
	if got, _ := r.svc.Log(context.Background(), Query{Limit: 1}); len(got) != 1 || got[0].Actor != "erin" {
		t.Errorf("limit: %+v", got)
	}
}

// noSecrets checks no credential reached a fake, a log line or the audit
// trail.
func (r *rig) noSecrets() {
	r.t.Helper()
	var all strings.Builder
	all.WriteString(r.logs.String())
	b, _ := json.Marshal(r.entries())
	all.Write(b)
	all.WriteString(r.responsesText())
	for _, m := range r.slack.Messages() {
		all.WriteString(m.RawBlocks + m.Text)
	}
	for _, e := range r.pd.Events() {
		if e.Payload != nil {
			all.WriteString(e.Payload.Summary)
		}
	}
	for _, a := range r.og.Alerts() {
		b, _ := json.Marshal(a)
		all.Write(b)
	}
	for _, i := range r.jira.Issues() {
		b, _ := json.Marshal(i)
		all.Write(b)
	}
	for _, s := range []string{slackToken, signingSecret, pdSecret, routingKey, ogKey, jiraToken, snowPassword, ghToken} {
		if strings.Contains(all.String(), s) {
			r.t.Errorf("secret %q leaked", s[:6])
		}
	}
}
