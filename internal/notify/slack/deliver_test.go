package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/slack/slackfake"
	"github.com/vigia-dev/vigia/internal/runbook"
)

const groupKey = "5f1c0a7e9b2d4c6e8f0a1b2c3d4e5f60a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c"

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// clock is a fake clock: sleeping advances it, so pacing waits cost no
// real time and arrival times at the fake are exact. It starts at the real
// time so that context deadlines can be set on it.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	start time.Time
}

func newClock() *clock {
	now := time.Now()
	return &clock{t: now, start: now}
}

// elapsed is how far the clock was moved.
func (c *clock) elapsed() time.Duration { return c.Now().Sub(c.start) }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

// newReceiver returns a Receiver for cfg (token and channel defaulted) with
// its own pacer on clk.
func newReceiver(t testing.TB, cfg Config, books *runbook.Library, clk *clock) *Receiver {
	t.Helper()
	r := newNotifier(t, cfg, books)
	r.pace = &pacer{now: clk.Now, sleep: clk.Sleep, tat: map[string]time.Time{}, alias: map[string]string{}}
	r.now = clk.Now
	return r
}

func libraryPT(t testing.TB) *runbook.Library {
	t.Helper()
	lib := library(t)
	rb, err := runbook.Load("testdata", "runbooks/pt-BR/k8s/exec-into-pod.md")
	if err != nil {
		t.Fatal(err)
	}
	lib.Add(rb)
	return lib
}

func alertN(i int, sev string) *alert.Alert {
	a := testAlert()
	a.ID = fmt.Sprintf("alert-%02d", i)
	a.Rule.Severity = sev
	a.Time = t0.Add(time.Duration(i) * time.Minute)
	a.Entity.Pod = fmt.Sprintf("api-%02d", i)
	a.Summary = fmt.Sprintf("alice@example.com opened a shell in payments/api-%02d", i)
	return a
}

func notification(status string, total int, alerts ...*alert.Alert) *notify.Notification {
	n := &notify.Notification{
		ID: fmt.Sprintf("n-%s-%d", status, total), Receiver: "soc", GroupKey: groupKey,
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod", "identity": "alice@example.com"},
		Status:      status, Alerts: alerts, Total: total, FirstTime: t0,
	}
	n.LastTime = t0
	for _, a := range alerts {
		if a.Time.After(n.LastTime) {
			n.LastTime = a.Time
		}
	}
	return n
}

func all(t testing.TB, m slackfake.Message) string {
	t.Helper()
	return strings.Join(texts(t, m.Blocks), "\n")
}

func mustContain(t testing.TB, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q; it reads:\n%s", what, w, s)
		}
	}
}

// TestDeliverLifecycle follows one group: the first notification posts the
// parent, two repeats update it and reply in its thread, the resolution
// marks the parent resolved and says so in the thread.
func TestDeliverLifecycle(t *testing.T) {
	clk := newClock()
	srv := slackfake.New(t, testToken, slackfake.WithClock(clk.Now))
	r := newReceiver(t, Config{APIURL: srv.URL(), RunbookBaseURL: baseURL}, library(t), clk)
	ctx := t.Context()

	// 1. First notification: two alerts, one parent.
	st, err := r.Deliver(ctx, notification(notify.StatusFiring, 2, alertN(1, alert.SeverityMedium), alertN(2, alert.SeverityHigh)), nil)
	if err != nil {
		t.Fatalf("first: %v", err)
	}
	parents := srv.Parents()
	if len(parents) != 1 {
		t.Fatalf("%d parents after the first notification, want 1", len(parents))
	}
	p := parents[0]
	if st[StateChannel] != p.ChannelID || st[StateTS] != p.TS || st[StateParent] == "" {
		t.Fatalf("state %v does not name the parent %s/%s", st, p.ChannelID, p.TS)
	}
	if p.Blocks[0]["type"] != "header" {
		t.Errorf("parent starts with %v, want a header", p.Blocks[0]["type"])
	}
	mustContain(t, "parent", all(t, p),
		":large_orange_circle: HIGH: Exec into pod", // the most severe alert leads
		"*Firing* · 2 alerts · first `2025-03-04T05:06:07Z` · last `2025-03-04T05:08:07Z`",
		"alice@example.com opened a shell in payments/api-02",
		"*Who*", "*What*", "*Where*", "*When*", "pod: `api-02`", "identity: `alice@example.com`",
		"ATT&amp;CK: <https://attack.mitre.org/techniques/T1609/|T1609> <https://attack.mitre.org/techniques/T1610/|T1610>",
		"*Runbook:* <"+baseURL+runbookPath+"|Exec into a pod>",
		"1. Confirm who ran the exec", "2. Check whether the pod runs a *privileged* workload", "3. Look for follow-up activity",
		"*Also in this group*", "`payments/api-01` — alice@example.com opened a shell in payments/api-01",
		"group: `identity=alice@example.com` `rule=k8s.exec_into_pod`", "id `vigia-5f1c0a7e9b2d4c6e`",
	)
	if strings.Contains(all(t, p), "4. Fourth") {
		t.Error("parent shows more than 3 runbook steps")
	}
	if want := "[HIGH] Exec into pod: alice@example.com opened a shell in payments/api-02"; p.Text != want {
		t.Errorf("parent fallback %q, want %q", p.Text, want)
	}

	// 2. First repeat: one new alert.
	st2, err := r.Deliver(ctx, notification(notify.StatusFiring, 3, alertN(3, alert.SeverityHigh)), st)
	if err != nil {
		t.Fatalf("repeat 1: %v", err)
	}
	if st2[StateTS] != st[StateTS] || st2[StateChannel] != st[StateChannel] {
		t.Fatalf("repeat changed the parent: %v -> %v", st, st2)
	}
	p, _ = srv.Message(st[StateTS])
	if p.Updates != 1 {
		t.Errorf("parent updated %d times, want 1", p.Updates)
	}
	mustContain(t, "updated parent", all(t, p), "*Firing* · 3 alerts", "last `2025-03-04T05:09:07Z`", "HIGH: Exec into pod", "*Also in this group*")
	replies := srv.Replies(st[StateTS])
	if len(replies) != 1 {
		t.Fatalf("%d replies after repeat 1, want 1", len(replies))
	}
	mustContain(t, "reply 1", all(t, replies[0]), "*1 new alert, total 3*", "alice@example.com opened a shell in payments/api-03", "object: `payments/api-03`")
	if replies[0].Broadcast {
		t.Error("a plain repeat was broadcast to the channel")
	}

	// 3. Second repeat: twelve new alerts, one critical: ten shown, the
	// escalation broadcast and shown in the parent's header.
	var many []*alert.Alert
	for i := 4; i < 16; i++ {
		sev := alert.SeverityHigh
		if i == 9 {
			sev = alert.SeverityCritical
		}
		many = append(many, alertN(i, sev))
	}
	st3, err := r.Deliver(ctx, notification(notify.StatusFiring, 15, many...), st2)
	if err != nil {
		t.Fatalf("repeat 2: %v", err)
	}
	replies = srv.Replies(st[StateTS])
	if len(replies) != 2 {
		t.Fatalf("%d replies after repeat 2, want 2", len(replies))
	}
	r2 := replies[1]
	mustContain(t, "reply 2", all(t, r2), "*12 new alerts, total 15*", "payments/api-13", "_and 2 more_")
	if strings.Contains(all(t, r2), "payments/api-14") {
		t.Error("reply shows more than 10 alerts")
	}
	if n := len(r2.Blocks); n != 12 {
		t.Errorf("reply has %d blocks, want 12 (head, 10 alerts, more)", n)
	}
	if !r2.Broadcast {
		t.Error("an escalation to critical was not broadcast")
	}
	p, _ = srv.Message(st[StateTS])
	mustContain(t, "escalated parent", all(t, p), ":red_circle: CRITICAL: Exec into pod", "*Firing* · 15 alerts")

	// 4. Resolution.
	clk.Sleep(ctx, time.Hour)
	st4, err := r.Deliver(ctx, notification(notify.StatusResolved, 15), st3)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if st4[StateTS] != st[StateTS] {
		t.Errorf("resolution changed the parent")
	}
	p, _ = srv.Message(st[StateTS])
	if p.Updates != 3 {
		t.Errorf("parent updated %d times, want 3", p.Updates)
	}
	head := texts(t, p.Blocks)[0]
	if !strings.HasPrefix(head, "✅ Resolved · CRITICAL: Exec into pod") {
		t.Errorf("resolved header %q", head)
	}
	mustContain(t, "resolved parent", all(t, p), "✅ *Resolved* `"+clk.Now().Format(time.RFC3339)+"` · 15 alerts", "1. Confirm who ran the exec")
	if !strings.HasPrefix(p.Text, "✅ [Resolved] [CRITICAL] Exec into pod") {
		t.Errorf("resolved fallback %q", p.Text)
	}
	replies = srv.Replies(st[StateTS])
	if len(replies) != 3 {
		t.Fatalf("%d replies after resolution, want 3", len(replies))
	}
	mustContain(t, "resolution reply", all(t, replies[2]), "✅ *Resolved* · no new alerts since")

	// One parent, every reply under it, calls in order.
	if n := len(srv.Parents()); n != 1 {
		t.Errorf("%d parents at the end, want 1", n)
	}
	var seq []string
	for _, c := range srv.Calls() {
		s := c.Method
		if c.ThreadTS != "" {
			s += "(thread)"
		}
		seq = append(seq, s)
		if c.Error != "" {
			t.Errorf("call %s answered %s", c.Method, c.Error)
		}
	}
	want := "chat.postMessage chat.update chat.postMessage(thread) chat.update chat.postMessage(thread) chat.update chat.postMessage(thread)"
	if got := strings.Join(seq, " "); got != want {
		t.Errorf("calls\n %s\nwant\n %s", got, want)
	}
}

// TestDeliverReminder: a notification without alerts for a firing group
// (repeat_interval) refreshes the parent and re-surfaces it in the channel.
func TestDeliverReminder(t *testing.T) {
	clk := newClock()
	srv := slackfake.New(t, testToken)
	r := newReceiver(t, Config{APIURL: srv.URL()}, nil, clk)
	st, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1), st); err != nil {
		t.Fatal(err)
	}
	replies := srv.Replies(st[StateTS])
	if len(replies) != 1 || !replies[0].Broadcast {
		t.Fatalf("replies %+v, want one broadcast reminder", replies)
	}
	mustContain(t, "reminder", all(t, replies[0]), "*Still firing* · 1 alert")
	if p, _ := srv.Message(st[StateTS]); p.Updates != 1 {
		t.Errorf("parent updated %d times, want 1", p.Updates)
	}
}

// TestDeliverLostState documents what happens without the group's state:
// Slack gives a bot no search by our group key (search.messages needs a
// user token), so a repeat after the state was lost starts a new parent
// rather than finding the old one; so does a repeat whose parent was
// deleted. A resolution without state posts a short standalone message.
func TestDeliverLostState(t *testing.T) {
	t.Run("repeat without state", func(t *testing.T) {
		srv := slackfake.New(t, testToken)
		r := newReceiver(t, Config{APIURL: srv.URL()}, nil, newClock())
		st1, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 2, alertN(2, alert.SeverityHigh)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if st2[StateTS] == st1[StateTS] || len(srv.Parents()) != 2 {
			t.Errorf("want a second parent; states %v %v, %d parents", st1, st2, len(srv.Parents()))
		}
		p, _ := srv.Message(st2[StateTS])
		mustContain(t, "second parent", all(t, p), "*Firing* · 2 alerts", "payments/api-02")
	})
	t.Run("parent deleted", func(t *testing.T) {
		srv := slackfake.New(t, testToken)
		r := newReceiver(t, Config{APIURL: srv.URL()}, nil, newClock())
		st1, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil)
		if err != nil {
			t.Fatal(err)
		}
		srv.Delete(st1[StateTS])
		st2, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 2, alertN(2, alert.SeverityHigh)), st1)
		if err != nil {
			t.Fatalf("repeat after the parent was deleted: %v", err)
		}
		if st2[StateTS] == st1[StateTS] || st2[StateParent] == "" {
			t.Fatalf("state %v does not name a new parent", st2)
		}
		if n := len(srv.Replies(st1[StateTS])); n != 0 {
			t.Errorf("%d replies to the deleted parent", n)
		}
		// The group goes on in the new thread.
		if _, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 3, alertN(3, alert.SeverityHigh)), st2); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Replies(st2[StateTS])); n != 1 {
			t.Errorf("%d replies in the new thread, want 1", n)
		}
	})
	t.Run("resolution without state", func(t *testing.T) {
		srv := slackfake.New(t, testToken)
		r := newReceiver(t, Config{APIURL: srv.URL()}, nil, newClock())
		if _, err := r.Deliver(t.Context(), notification(notify.StatusResolved, 4), nil); err != nil {
			t.Fatal(err)
		}
		ps := srv.Parents()
		if len(ps) != 1 {
			t.Fatalf("%d messages, want 1", len(ps))
		}
		mustContain(t, "standalone resolution", all(t, ps[0]), "✅ Resolved", "4 alerts", "`rule=k8s.exec_into_pod`")
	})
}

// TestDeliverRetryDoesNotDuplicate: a delivery that fails part way is
// retried whole by the dispatcher with the same previous state; the
// update is repeated, the reply is not.
func TestDeliverRetryDoesNotDuplicate(t *testing.T) {
	fake := slackfake.New(t, testToken)
	var mu sync.Mutex
	failReplies, failUpdates := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		fail := (strings.HasSuffix(r.URL.Path, "chat.update") && failUpdates > 0) ||
			(strings.HasSuffix(r.URL.Path, "chat.postMessage") && bytes.Contains(body, []byte("thread_ts=")) && failReplies > 0)
		if fail && strings.HasSuffix(r.URL.Path, "chat.update") {
			failUpdates--
		} else if fail {
			failReplies--
		}
		mu.Unlock()
		if fail {
			http.Error(w, "upstream timeout", http.StatusGatewayTimeout)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	r := newReceiver(t, Config{APIURL: srv.URL + "/"}, nil, newClock())
	st, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil)
	if err != nil {
		t.Fatal(err)
	}
	repeat := notification(notify.StatusFiring, 2, alertN(2, alert.SeverityHigh))

	mu.Lock()
	failUpdates, failReplies = 1, 1
	mu.Unlock()
	for i, wantErr := range []bool{true, true, false} { // update fails, then reply fails, then both pass
		_, err := r.Deliver(t.Context(), repeat, st)
		if (err != nil) != wantErr {
			t.Fatalf("attempt %d: err %v, want error %v", i+1, err, wantErr)
		}
		if err != nil && notify.IsPermanent(err) {
			t.Fatalf("attempt %d: a 504 was made permanent: %v", i+1, err)
		}
	}
	if n := len(fake.Replies(st[StateTS])); n != 1 {
		t.Errorf("%d replies after retries, want exactly 1", n)
	}
	if p, _ := fake.Message(st[StateTS]); p.Updates != 2 {
		t.Errorf("parent updated %d times, want 2 (the second and third attempts)", p.Updates)
	}
}

// TestDeliverPacing: with the fake enforcing Slack's per-channel budget, a
// burst of notifications to one channel is delivered without a single
// 429: the receiver waits its turn (on a fake clock, so the test measures
// the schedule, not the wall clock). Without pacing the same burst is
// refused, which shows the fake's limit bites.
func TestDeliverPacing(t *testing.T) {
	tests := []struct {
		name      string
		interval  time.Duration
		burst     int
		fakeLimit int
		want429   bool
	}{
		{"one per second", time.Second, 1, 1, false},
		{"defaults", 0, 0, DefaultChannelBurst, false},
		{"unpaced", -1, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			srv := slackfake.New(t, testToken, slackfake.WithClock(clk.Now), slackfake.WithChannelRateLimit(tt.fakeLimit, time.Second))
			r := newReceiver(t, Config{APIURL: srv.URL(), ChannelInterval: tt.interval, ChannelBurst: tt.burst}, nil, clk)
			var st notify.State
			var errs []error
			for i := range 5 {
				next, err := r.Deliver(t.Context(), notification(notify.StatusFiring, i+1, alertN(i, alert.SeverityHigh)), st)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				st = next
			}
			var limited int
			for _, c := range srv.Calls() {
				if c.Status == http.StatusTooManyRequests {
					limited++
				}
			}
			if tt.want429 {
				if limited == 0 || len(errs) == 0 {
					t.Fatalf("unpaced burst: %d 429s, %d errors; the fake's limit did not bite", limited, len(errs))
				}
				if _, ok := notify.RetryAfter(errs[0]); !ok || notify.IsPermanent(errs[0]) {
					t.Errorf("429 surfaced as %v, want a retryable RetryAfterError", errs[0])
				}
				return
			}
			if len(errs) > 0 || limited > 0 {
				t.Fatalf("paced burst: %d 429s, errors %v", limited, errs)
			}
			msgs := srv.Messages()
			if len(msgs) != 5 || len(srv.Parents()) != 1 {
				t.Fatalf("%d messages (%d parents), want 5 (1)", len(msgs), len(srv.Parents()))
			}
			calls := srv.Calls()
			if tt.burst == 1 {
				for i := 1; i < len(calls); i++ {
					if d := calls[i].At.Sub(calls[i-1].At); d < tt.interval {
						t.Errorf("calls %d and %d went %s apart, want at least %s", i-1, i, d, tt.interval)
					}
				}
			}
			// 9 calls (a post, then an update and a reply per repeat)
			// at one per second after the burst.
			if want := time.Duration(len(calls)-max(tt.burst, DefaultChannelBurst*btoi(tt.burst == 0))) * time.Second; clk.elapsed() < want {
				t.Errorf("the burst took %s on the clock, want at least %s", clk.elapsed(), want)
			}
		})
	}
}

// TestDeliverRateLimited: a 429 from Slack comes back as a RetryAfterError
// with Slack's delay, and holds back the channel's next call until then.
func TestDeliverRateLimited(t *testing.T) {
	clk := newClock()
	srv := slackfake.New(t, testToken, slackfake.WithClock(clk.Now))
	r := newReceiver(t, Config{APIURL: srv.URL()}, nil, clk)
	srv.RateLimitNext(1, 3*time.Second)
	_, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil)
	if d, ok := notify.RetryAfter(err); !ok || d != 3*time.Second || notify.IsPermanent(err) {
		t.Fatalf("err %v (retry after %v), want a retryable RetryAfterError of 3s", err, d)
	}
	before := clk.Now()
	if _, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil); err != nil {
		t.Fatal(err)
	}
	if waited := clk.Now().Sub(before); waited < 3*time.Second {
		t.Errorf("the next call went after %s, want at least the 3s Retry-After", waited)
	}

	// A wait longer than the delivery deadline is not slept: it comes back
	// as a RetryAfterError at once.
	srv.RateLimitNext(1, time.Minute)
	if _, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(2, alert.SeverityHigh)), nil); err == nil {
		t.Fatal("want the 429")
	}
	ctx, cancel := context.WithDeadline(t.Context(), clk.Now().Add(10*time.Second))
	defer cancel()
	_, err = r.Deliver(ctx, notification(notify.StatusFiring, 1, alertN(3, alert.SeverityHigh)), nil)
	if d, ok := notify.RetryAfter(err); !ok || !errors.Is(err, ErrPaced) || d < 50*time.Second {
		t.Errorf("err %v (after %v), want ErrPaced with about a minute to wait", err, d)
	}
}

// TestDeliverErrors: Slack's answers map to the notify contract.
func TestDeliverErrors(t *testing.T) {
	tests := []struct {
		code      string // Slack error code; "" for an HTTP status
		status    int
		permanent bool
	}{
		{"invalid_auth", 200, true},
		{"channel_not_found", 200, true},
		{"not_in_channel", 200, true},
		{"msg_too_long", 200, true},
		{"invalid_blocks", 200, true},
		{"account_inactive", 200, true},
		{"internal_error", 200, false},
		{"fatal_error", 200, false},
		{"", 400, true},
		{"", 403, true},
		{"", 500, false},
		{"", 502, false},
		{"", 408, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s%d", tt.code, tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.code == "" {
					http.Error(w, "nope", tt.status)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"ok":false,"error":%q}`, tt.code)
			}))
			defer srv.Close()
			r := newReceiver(t, Config{APIURL: srv.URL + "/"}, nil, newClock())
			_, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil)
			if err == nil {
				t.Fatal("Deliver succeeded")
			}
			if notify.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v: %v", notify.IsPermanent(err), tt.permanent, err)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error carries the token: %v", err)
			}
		})
	}
	t.Run("invalid token against the fake", func(t *testing.T) {
		srv := slackfake.New(t, testToken)
		r := newReceiver(t, Config{APIURL: srv.URL(), Token: "xoxb-revoked-0000"}, nil, newClock())
		_, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil)
		if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "invalid_auth") || strings.Contains(err.Error(), "xoxb-revoked") {
			t.Errorf("err %v, want a permanent invalid_auth without the token", err)
		}
	})
}

// TestDeliverLocale: with locale pt-BR the labels are Portuguese and the
// runbook steps and link are the translation's; without a translation the
// English runbook is shown under Portuguese labels.
func TestDeliverLocale(t *testing.T) {
	tests := []struct {
		name        string
		cfgLocale   string
		noteLocale  string
		books       func(testing.TB) *runbook.Library
		want, avoid []string
	}{
		{
			name: "pt-BR from config", cfgLocale: "pt-BR", books: libraryPT,
			want: []string{
				":large_orange_circle: ALTA: Exec into pod", "*Ativo* · 1 alerta · primeiro",
				"*Quem*", "*O quê*", "*Onde*", "*Quando*", "identidade: `alice@example.com`", "IP de origem: `203.0.113.7`",
				"ação: `create`", "recurso: `pods/exec`",
				"*Runbook:* <" + baseURL + "runbooks/pt-BR/k8s/exec-into-pod.md|Exec em um pod>",
				"1. Confirme quem executou o exec: veja `user.username` no evento de auditoria &amp; o IP de origem.",
				"2. Verifique se o pod roda uma carga *privilegiada*",
				"3. Procure atividade posterior da mesma identidade, veja o <https://example.com/guia?a=1&amp;b=2|guia de auditoria>.",
				"grupo: `identity=alice@example.com`", "regra `k8s.exec_into_pod`",
			},
			avoid: []string{"*Who*", "Confirm who", "4. Quarto"},
		},
		{
			name: "pt-BR from the notification", cfgLocale: "en", noteLocale: "pt-BR", books: libraryPT,
			want: []string{"*Quem*", "1. Confirme quem executou o exec"},
		},
		{
			name: "pt-BR without a translation", cfgLocale: "pt-BR", books: library,
			want:  []string{"*Quem*", "*Runbook:* <" + baseURL + runbookPath + "|Exec into a pod>", "1. Confirm who ran the exec"},
			avoid: []string{"pt-BR/"},
		},
		{
			name: "English", books: libraryPT,
			want:  []string{"*Who*", "1. Confirm who ran the exec", "<" + baseURL + runbookPath + "|"},
			avoid: []string{"Quem", "Confirme"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := slackfake.New(t, testToken)
			r := newReceiver(t, Config{APIURL: srv.URL(), RunbookBaseURL: baseURL, Locale: tt.cfgLocale}, tt.books(t), newClock())
			n := notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh))
			n.Locale = tt.noteLocale
			st, err := r.Deliver(t.Context(), n, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := srv.Message(st[StateTS])
			s := all(t, p)
			mustContain(t, "parent", s, tt.want...)
			for _, a := range tt.avoid {
				if strings.Contains(s, a) {
					t.Errorf("parent contains %q", a)
				}
			}
		})
	}
	t.Run("pt-BR thread", func(t *testing.T) {
		srv := slackfake.New(t, testToken)
		r := newReceiver(t, Config{APIURL: srv.URL(), Locale: "pt-BR"}, libraryPT(t), newClock())
		st, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err = r.Deliver(t.Context(), notification(notify.StatusFiring, 3, alertN(2, alert.SeverityHigh), alertN(3, alert.SeverityLow)), st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Deliver(t.Context(), notification(notify.StatusResolved, 3), st); err != nil {
			t.Fatal(err)
		}
		replies := srv.Replies(st[StateTS])
		if len(replies) != 2 {
			t.Fatalf("%d replies", len(replies))
		}
		mustContain(t, "reply", all(t, replies[0]), "*2 novos alertas, total 3*")
		mustContain(t, "resolution", all(t, replies[1]), "✅ *Resolvido* · nenhum alerta novo desde")
		p, _ := srv.Message(st[StateTS])
		if h := texts(t, p.Blocks)[0]; !strings.HasPrefix(h, "✅ Resolvido · ALTA: ") {
			t.Errorf("resolved header %q", h)
		}
	})
}

// trustedLink matches the links the messages are meant to carry: ATT&CK
// techniques, the runbooks and the links inside the runbook fixtures.
var trustedLink = regexp.MustCompile(`<(https://attack\.mitre\.org/techniques/[T0-9/]+|` + regexp.QuoteMeta(baseURL) + `runbooks/[^|<>]+|https://example\.com/gui(?:de|a)\?a=1&amp;b=2)\|[^<>|]+>`)

// TestDeliverNeutralizesInjection: mentions and links in event data reach
// Slack escaped, in the parent, the thread and the state.
func TestDeliverNeutralizesInjection(t *testing.T) {
	evil := func(i int) *alert.Alert {
		a := alertN(i, alert.SeverityHigh)
		a.Entity.Identity = "<!channel> *boss* `x` <@U0123ABCD>"
		a.Summary = "<!here> click <https://evil.example|here> `code` <#C0123ABCD>\n> quoted"
		a.Entity.Pod = "<!everyone>"
		a.Context.Name = "a<https://evil.example>b"
		a.Context.UserAgent = "curl\n<!channel>\u202Egnp.exe"
		a.Rule.Title = "Title <!subteam^S123>"
		a.Rule.Tags = []string{"<!channel>", "attack.t1609", "attack.execution"}
		return a
	}
	srv := slackfake.New(t, testToken)
	r := newReceiver(t, Config{APIURL: srv.URL(), RunbookBaseURL: baseURL}, library(t), newClock())
	n := notification(notify.StatusFiring, 2, evil(1), evil(2))
	n.GroupLabels["identity"] = "<!channel>"
	st, err := r.Deliver(t.Context(), n, nil)
	if err != nil {
		t.Fatal(err)
	}
	n = notification(notify.StatusFiring, 3, evil(3))
	n.GroupLabels["identity"] = "<!channel>"
	if st, err = r.Deliver(t.Context(), n, st); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(st[StateParent], "\\u003c") {
		t.Errorf("parent state HTML-escaped: %s", st[StateParent])
	}
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		for _, s := range append(texts(t, m.Blocks), m.Text) {
			rest := trustedLink.ReplaceAllString(s, "")
			if strings.ContainsAny(rest, "<>") {
				t.Errorf("unescaped < or > in %q", rest)
			}
			if strings.Contains(s, "\u202E") {
				t.Errorf("bidi override kept in %q", s)
			}
		}
		for _, bad := range []string{"<!", "<@", "<#", "<https://evil"} {
			if strings.Contains(m.RawBlocks, bad) || strings.Contains(m.Text, bad) {
				t.Errorf("message carries %q: %s", bad, m.RawBlocks)
			}
		}
	}
	mustContain(t, "parent", all(t, msgs[0]),
		"identity: `&lt;!channel&gt; *boss* 'x' &lt;@U0123ABCD&gt;`",
		"&lt;!here&gt; click &lt;https://evil.example|here&gt; 'code' &lt;#C0123ABCD&gt; &gt; quoted",
		"`&lt;!channel&gt;` <https://attack.mitre.org/techniques/T1609/|T1609> Execution",
		"`identity=&lt;!channel&gt;`",
	)
}

// TestDeliverRedactsSecrets: credentials in an alert's fields never reach
// Slack — in no request body — nor the group's state.
func TestDeliverRedactsSecrets(t *testing.T) {
	const (
		bearer   = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXNlY3JldA"
		password = "hunter2-Sup3rSecret"
		xoxb     = "xoxb-1234567890-abcdefghijklmnop"
	)
	fake := slackfake.New(t, testToken)
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	leaky := func(i int) *alert.Alert {
		a := alertN(i, alert.SeverityHigh)
		a.Summary = "curl -H 'Authorization: Bearer " + bearer + "' https://api/ with password=" + password
		a.Context.UserAgent = "bot token " + xoxb
		a.Entity.Identity = "https://admin:" + password + "@registry.example"
		a.Rule.Title = "Leak Bearer " + bearer
		return a
	}
	r := newReceiver(t, Config{APIURL: srv.URL + "/"}, library(t), newClock())
	n := notification(notify.StatusFiring, 2, leaky(1), leaky(2))
	n.GroupLabels["identity"] = "token=" + password
	st, err := r.Deliver(t.Context(), n, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err = r.Deliver(t.Context(), notification(notify.StatusFiring, 3, leaky(3)), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Deliver(t.Context(), notification(notify.StatusResolved, 3), st); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 5 {
		t.Fatalf("%d requests, want 5", len(bodies))
	}
	stateJSON, _ := json.Marshal(st)
	for _, secret := range []string{bearer, password, xoxb, "c2lnbmF0dXJlLXNlY3JldA"} {
		for i, b := range append(bodies, string(stateJSON)) {
			if strings.Contains(b, secret) || strings.Contains(b, strings.ReplaceAll(secret, "-", "%2D")) {
				t.Errorf("secret %q in request %d: %.300s", secret, i, b)
			}
		}
	}
	if !strings.Contains(strings.Join(bodies, ""), "REDACTED") {
		t.Error("nothing was redacted: the fixture did not exercise redaction")
	}
}

// TestDeliverLimits: whatever the size and script of the event data, every
// message passes the fake's Block Kit validation (which would refuse the
// call), stays valid UTF-8 and marks its cuts.
func TestDeliverLimits(t *testing.T) {
	long := strings.Repeat
	tests := []struct {
		name string
		edit func(*alert.Alert)
		want string
	}{
		{"summary of 10000 multi-byte runes", func(a *alert.Alert) { a.Summary = long("ção", 3334) }, "çã…"},
		{"title of 500 emoji", func(a *alert.Alert) { a.Rule.Title = long("🚨", 500) }, "🚨…"},
		{"summary of escapes", func(a *alert.Alert) { a.Summary = long("<&>", 2000) }, "&lt;&amp;&gt;"},
		{"identity of 5000 ampersands", func(a *alert.Alert) { a.Entity.Identity = long("&", 5000) }, "&amp;…`"},
		{"every field long", func(a *alert.Alert) {
			a.Entity.Identity, a.Context.SourceIP, a.Context.UserAgent = long("ú", 3000), long("1", 3000), long("🚀", 3000)
			a.Context.Action, a.Context.Resource, a.Context.Name, a.Context.Outcome = long("a", 3000), long("r", 3000), long("n", 3000), long("o", 3000)
			a.Context.Cluster, a.Entity.Namespace, a.Entity.Pod, a.Context.Source = long("c", 3000), long("n", 3000), long("p", 3000), long("s", 3000)
			a.Context.Account, a.Context.Region = long("9", 3000), long("e", 3000)
			a.ID, a.DedupKey, a.Rule.ID = long("i", 3000), long("d", 3000), long("r", 3000)
			a.Runbook.Path, a.Runbook.Title = long("x/", 1500), long("t", 3000)
		}, "…`"},
		{"2000 tags", func(a *alert.Alert) { a.Rule.Tags = strings.Fields(long("attack.t1234.001 ", 2000)) }, "T1234.001"},
		{"invalid UTF-8", func(a *alert.Alert) { a.Entity.Identity = "al\xffice\xc3"; a.Summary = "\xe2\x82" }, "al\uFFFDice\uFFFD"},
		{"empty alert", func(a *alert.Alert) { *a = alert.Alert{} }, "identity: —"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := slackfake.New(t, testToken)
			r := newReceiver(t, Config{APIURL: srv.URL(), RunbookBaseURL: baseURL}, library(t), newClock())
			var alerts []*alert.Alert
			for i := range 30 {
				a := alertN(i, alert.SeverityHigh)
				tt.edit(a)
				alerts = append(alerts, a)
			}
			n := notification(notify.StatusFiring, 30, alerts...)
			n.GroupLabels = map[string]string{}
			for i := range 200 {
				n.GroupLabels[fmt.Sprintf("label-%03d", i)] = long("🚀", 100)
			}
			st, err := r.Deliver(t.Context(), n, nil)
			if err != nil {
				t.Fatalf("first: %v (calls %+v)", err, srv.Calls())
			}
			if st, err = r.Deliver(t.Context(), notification(notify.StatusFiring, 60, alerts...), st); err != nil {
				t.Fatalf("repeat: %v (calls %+v)", err, srv.Calls())
			}
			if _, err = r.Deliver(t.Context(), notification(notify.StatusResolved, 60), st); err != nil {
				t.Fatalf("resolve: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 3 {
				t.Fatalf("%d messages, want 3", len(msgs))
			}
			var joined []string
			for _, m := range msgs {
				ts := texts(t, m.Blocks)
				for _, s := range append(ts, m.Text) {
					if !utf8.ValidString(s) {
						t.Errorf("invalid UTF-8: %q", s)
					}
				}
				if n := utf8.RuneCountInString(m.Text); n > maxFallback {
					t.Errorf("fallback text of %d runes", n)
				}
				if len(m.Blocks) > slackfake.MaxBlocks {
					t.Errorf("%d blocks", len(m.Blocks))
				}
				joined = append(joined, ts...)
			}
			if !strings.Contains(strings.Join(joined, "\n"), tt.want) {
				t.Errorf("messages lack %q", tt.want)
			}
			if len(st[StateParent]) > maxParentState {
				t.Errorf("parent state of %d bytes", len(st[StateParent]))
			}
		})
	}
}

func TestConfigValidateNewFields(t *testing.T) {
	ok := Config{Token: testToken, Channel: testChannel}
	for _, tt := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"pt-BR", func(c *Config) { c.Locale = "pt-BR" }, ""},
		{"en", func(c *Config) { c.Locale = "en" }, ""},
		{"unknown locale", func(c *Config) { c.Locale = "fr" }, "locale"},
		{"pacing off", func(c *Config) { c.ChannelInterval = -1 }, ""},
		{"negative burst", func(c *Config) { c.ChannelBurst = -1 }, "channel_burst"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			fe, isField := errors.AsType[*FieldError](err)
			if !isField || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want a FieldError for %q", err, tt.field)
			}
		})
	}
	r := newNotifier(t, Config{}, nil)
	if r.cfg.ChannelInterval != DefaultChannelInterval || r.cfg.ChannelBurst != DefaultChannelBurst || r.pace != shared {
		t.Errorf("pacing defaults not applied: %+v", r.cfg)
	}
}

// TestSharedPacer: two receivers posting to the same channel share its
// budget, whether they name it by #name or id.
func TestSharedPacer(t *testing.T) {
	clk := newClock()
	p := &pacer{now: clk.Now, sleep: clk.Sleep, tat: map[string]time.Time{}, alias: map[string]string{}}
	ctx := t.Context()
	for range 2 {
		if err := p.wait(ctx, "u", "#alerts", time.Second, 2); err != nil {
			t.Fatal(err)
		}
	}
	p.learn("u", "#alerts", "C0000001")
	if err := p.wait(ctx, "u", "C0000001", time.Second, 2); err != nil {
		t.Fatal(err)
	}
	if got := clk.elapsed(); got != time.Second {
		t.Errorf("third call in the id's bucket waited %s, want 1s (the name's burst was spent)", got)
	}
	if err := p.wait(ctx, "u", "#other", time.Second, 2); err != nil || clk.elapsed() != time.Second {
		t.Errorf("another channel waited: %v, clock +%s", err, clk.elapsed())
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.wait(cancelled, "u", "#alerts", time.Second, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
}

// FuzzDeliverBlocks checks that whatever an event carries, the parent and
// the thread reply pass Slack's Block Kit validation and carry no
// unescaped < or > outside the links we put there.
func FuzzDeliverBlocks(f *testing.F) {
	f.Add("alice", "summary", "Title", "pod", "attack.t1611")
	f.Add("<!channel>", "<https://x|y>", "ção", "\xff", "<@U1>")
	f.Add(strings.Repeat("&", 200), strings.Repeat("🚨", 200), strings.Repeat("<", 60), "`", "attack.privilege_escalation")
	books := libraryPT(f)
	r := newReceiver(f, Config{RunbookBaseURL: baseURL}, books, newClock())
	f.Fuzz(func(t *testing.T, identity, summary, title, pod, tag string) {
		a := alertN(1, alert.SeverityHigh)
		a.Entity.Identity, a.Summary, a.Rule.Title, a.Entity.Pod = identity, summary, title, pod
		a.Context.UserAgent, a.Rule.Tags = summary, []string{identity, tag, pod}
		n := notification(notify.StatusFiring, 2, a, a)
		n.GroupLabels["x"] = identity
		for _, locale := range []string{"", "pt-BR"} {
			n.Locale = locale
			v := r.view(n)
			st := statusOf(n, t0)
			p := newParent(n.Alerts)
			reply, _ := replyBlocks(n, st, v)
			group, _ := groupBlocks(st, v)
			for _, blocks := range [][]any{{r.parentBlocks(p, st, v)}, {reply}, {group}} {
				raw, err := json.Marshal(blocks[0])
				if err != nil {
					t.Fatal(err)
				}
				got, problems := slackfake.ValidateBlocks(string(raw))
				if len(problems) > 0 {
					t.Fatalf("invalid blocks: %v\n%s", problems, raw)
				}
				for _, s := range texts(t, got) {
					if rest := trustedLink.ReplaceAllString(s, ""); strings.ContainsAny(rest, "<>") {
						t.Errorf("unescaped < or > in %q", s)
					}
					if !utf8.ValidString(s) {
						t.Errorf("invalid UTF-8 in %q", s)
					}
				}
			}
		}
	})
}

// BenchmarkParentBlocks measures drawing a parent (the work of every
// chat.update): decode the kept card, render, encode.
func BenchmarkParentBlocks(b *testing.B) {
	r := newReceiver(b, Config{RunbookBaseURL: baseURL}, libraryPT(b), newClock())
	n := notification(notify.StatusFiring, 3, alertN(1, alert.SeverityHigh), alertN(2, alert.SeverityMedium), alertN(3, alert.SeverityLow))
	raw := newParent(n.Alerts).encode()
	v, st := r.view(n), statusOf(n, t0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p := decodeParent(raw)
		if _, err := json.Marshal(r.parentBlocks(p, st, v)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliverRepeat measures one repeat (chat.update and a thread
// reply) against the fake over loopback HTTP, unpaced.
func BenchmarkDeliverRepeat(b *testing.B) {
	srv := slackfake.New(b, testToken)
	r := newReceiver(b, Config{APIURL: srv.URL(), ChannelInterval: -1}, libraryPT(b), newClock())
	st, err := r.Deliver(b.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil)
	if err != nil {
		b.Fatal(err)
	}
	repeat := notification(notify.StatusFiring, 2, alertN(2, alert.SeverityHigh))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Deliver(b.Context(), repeat, st); err != nil {
			b.Fatal(err)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
