package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/pagerduty/pagerdutyfake"
	"github.com/vigia-dev/vigia/internal/runbook"
)

const (
	testKey     = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12" // 32 characters
	groupKey    = "0123456789abcdef0123456789abcdef"
	runbookPath = "runbooks/k8s/exec-into-pod.md"
	baseURL     = "https://git.example/vigia/blob/main/"
	bearer      = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
)

func keyFile(t testing.TB, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "routing-key")
	if err := os.WriteFile(p, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func library(t testing.TB) *runbook.Library {
	t.Helper()
	lib := runbook.NewLibrary()
	for _, p := range []string{runbookPath, runbook.LocalizedPath(runbookPath, "pt-BR")} {
		rb, err := runbook.Load("testdata", p)
		if err != nil {
			t.Fatal(err)
		}
		lib.Add(rb)
	}
	return lib
}

func testAlert(id string, sev string) *alert.Alert {
	a := &alert.Alert{
		ID:       id,
		Rule:     alert.Rule{ID: "k8s.exec_into_pod", Title: "Exec into pod", Severity: sev, Tags: []string{"T1609"}},
		Time:     time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Summary:  "alice@example.com opened a shell in payments/api-7d9f",
		Entity:   alert.Entity{Identity: "alice@example.com", Namespace: "payments", Pod: "api-7d9f"},
		Events:   []event.Ref{{Source: "k8s_audit", ID: "audit-" + id, Time: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}},
		Runbook:  alert.Runbook{Path: runbookPath, Title: "Exec into a pod"},
		DedupKey: "d3d0p",
		Context: alert.Context{
			Source: "k8s_audit", Action: "create", Resource: "pods/exec", Name: "api-7d9f",
			Cluster: "prod-eu", SourceIP: "203.0.113.7", UserAgent: "kubectl/v1.31.0", Outcome: "success",
		},
	}
	a.Labels = a.BaseLabels()
	return a
}

func firing(alerts []*alert.Alert, total int) *notify.Notification {
	return &notify.Notification{
		ID: "n-" + alerts[0].ID, Receiver: "pager", GroupKey: groupKey,
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod"},
		Status:      notify.StatusFiring, Alerts: alerts, Total: total,
		FirstTime: alerts[0].Time, LastTime: alerts[len(alerts)-1].Time,
	}
}

func resolved(total int) *notify.Notification {
	return &notify.Notification{
		ID: "n-resolved", Receiver: "pager", GroupKey: groupKey,
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod"},
		Status:      notify.StatusResolved, Total: total,
	}
}

func newReceiver(t testing.TB, cfg Config, books *runbook.Library) *Receiver {
	t.Helper()
	if cfg.RoutingKeyFile == "" && cfg.RoutingKeyEnv == "" && cfg.RoutingKey == "" {
		cfg.RoutingKeyFile = keyFile(t, testKey)
	}
	r, err := New(cfg, books)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLifecycle(t *testing.T) {
	srv := pagerdutyfake.New(t, testKey)
	r := newReceiver(t, Config{URL: srv.URL(), RunbookBaseURL: baseURL, ClientURL: "https://vigia.example/alerts"}, library(t))
	ctx := t.Context()

	// First notification: a new PagerDuty alert.
	st, err := r.Deliver(ctx, firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantKey := "vigia-" + groupKey
	if st[StateDedupKey] != wantKey || st[StateSeverity] != "error" || st[StateTitle] != "Exec into pod" {
		t.Fatalf("state %v", st)
	}
	// Repeat: two new alerts, seven in all.
	a2, a3 := testAlert("a2", alert.SeverityHigh), testAlert("a3", alert.SeverityHigh)
	a3.Summary = "bob opened a shell in payments/api-7d9f"
	st, err = r.Deliver(ctx, firing([]*alert.Alert{a2, a3}, 7), st)
	if err != nil {
		t.Fatal(err)
	}
	// Reminder: no new alert.
	reminder := firing([]*alert.Alert{a3}, 7)
	reminder.Alerts = nil
	if st, err = r.Deliver(ctx, reminder, st); err != nil {
		t.Fatal(err)
	}
	// Resolution.
	if _, err := r.Deliver(ctx, resolved(7), st); err != nil {
		t.Fatal(err)
	}

	incidents := srv.Incidents()
	if len(incidents) != 1 {
		t.Fatalf("%d incidents, want 1: %+v", len(incidents), incidents)
	}
	in := incidents[0]
	if in.DedupKey != wantKey || in.Status != "resolved" || in.Triggers != 3 || len(in.Events) != 4 {
		t.Fatalf("incident %+v", in)
	}
	first := in.Events[0]
	p := first.Payload
	checks := map[string][2]string{
		"summary":   {p.Summary, "Exec into pod: alice@example.com opened a shell in payments/api-7d9f"},
		"source":    {p.Source, "prod-eu"},
		"severity":  {p.Severity, "error"},
		"component": {p.Component, "payments/api-7d9f"},
		"group":     {p.Group, "k8s.exec_into_pod"},
		"class":     {p.Class, "k8s_audit"},
		"timestamp": {p.Timestamp, "2025-03-04T05:06:07Z"},
		"client":    {first.Client, "Vigia"},
		"clientURL": {first.ClientURL, "https://vigia.example/alerts"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if len(first.Links) != 1 || first.Links[0].Href != baseURL+runbookPath || first.Links[0].Text != "Runbook: Shell opened in a running pod" {
		t.Errorf("links %+v", first.Links)
	}
	details, _ := json.Marshal(p.CustomDetails)
	for _, want := range []string{
		`"identity":"alice@example.com"`, `"source_ip":"203.0.113.7"`, `"user_agent":"kubectl/v1.31.0"`,
		`"action":"create"`, `"resource":"pods/exec"`, `"object":"payments/api-7d9f"`,
		`"cluster":"prod-eu"`, `"namespace":"payments"`, `"pod":"api-7d9f"`,
		`"events":["k8s_audit:audit-a1@2025-03-04T05:06:07Z"]`, `"id":"a1"`,
		`"first_steps":["Find who opened the shell: the identity and source IP are in the alert."`,
		`"url":"` + baseURL + runbookPath + `"`, `"group_labels":{"rule":"k8s.exec_into_pod"}`,
		`"new_alerts":1`, `"total":1`,
	} {
		if !strings.Contains(string(details), want) {
			t.Errorf("custom_details lack %s:\n%s", want, details)
		}
	}
	if strings.Contains(string(details), "Fourth step") {
		t.Error("more than three runbook steps")
	}
	if got := in.Events[1].Payload.Summary; got != "Exec into pod: 2 new alerts, total 7: bob opened a shell in payments/api-7d9f" {
		t.Errorf("repeat summary %q", got)
	}
	if got := in.Events[2].Payload; got.Summary != "Exec into pod: still firing, 7 alerts in total" || got.Severity != "error" {
		t.Errorf("reminder payload %+v", got)
	}
	if ev := in.Events[3]; ev.Action != "resolve" || ev.DedupKey != wantKey || ev.Payload != nil {
		t.Errorf("resolve event %+v", ev)
	}
}

// TestLostState: with the state lost between deliveries (a crash between
// the send and the state save), repeats and the resolution still reach the
// one PagerDuty alert.
func TestLostState(t *testing.T) {
	srv := pagerdutyfake.New(t, testKey)
	r := newReceiver(t, Config{URL: srv.URL()}, nil)
	n := firing([]*alert.Alert{testAlert("a1", alert.SeverityCritical)}, 1)
	for range 2 {
		if _, err := r.Deliver(t.Context(), n, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Deliver(t.Context(), resolved(1), nil); err != nil {
		t.Fatal(err)
	}
	in := srv.Incidents()
	if len(in) != 1 || in[0].Triggers != 2 || in[0].Status != "resolved" || in[0].Severity != "critical" {
		t.Fatalf("incidents %+v, want one resolved critical alert triggered twice", in)
	}
	// A group firing again after its resolution opens a new alert.
	if _, err := r.Deliver(t.Context(), n, nil); err != nil {
		t.Fatal(err)
	}
	if in := srv.Incidents(); len(in) != 2 || in[1].Status != "triggered" {
		t.Fatalf("incidents %+v, want a second, open alert", in)
	}
}

func TestSeverity(t *testing.T) {
	tests := map[string]string{
		alert.SeverityCritical: "critical", alert.SeverityHigh: "error", alert.SeverityMedium: "warning",
		alert.SeverityLow: "info", alert.SeverityInfo: "info", "": "warning", "weird": "warning",
	}
	srv := pagerdutyfake.New(t, testKey)
	r := newReceiver(t, Config{URL: srv.URL()}, nil)
	for sev, want := range tests {
		if got := Severity(sev); got != want {
			t.Errorf("Severity(%q) = %q, want %q", sev, got, want)
		}
		n := firing([]*alert.Alert{testAlert("a-"+sev, sev)}, 1)
		n.GroupKey = "group-" + sev
		if _, err := r.Deliver(t.Context(), n, nil); err != nil {
			t.Fatalf("%q: %v", sev, err)
		}
		evs := srv.Events()
		if got := evs[len(evs)-1].Payload.Severity; got != want {
			t.Errorf("%q sent as %q, want %q", sev, got, want)
		}
	}
	// The highest severity of the notification's alerts wins.
	// The highest severity of the notification's alerts wins, and the
	// most severe alert is the one shown; on a repeat, the latest.
	crit := testAlert("c", alert.SeverityCritical)
	crit.Summary = "the critical one"
	n := firing([]*alert.Alert{testAlert("l", alert.SeverityLow), crit, testAlert("m", alert.SeverityMedium)}, 3)
	if p := r.Event(n, nil).Payload; p.Severity != "critical" || p.Summary != "Exec into pod: 3 alerts: the critical one" {
		t.Errorf("mixed severities sent as %q: %q", p.Severity, p.Summary)
	}
	n.Total = 10
	if p := r.Event(n, nil).Payload; p.Severity != "critical" || !strings.HasSuffix(p.Summary, "3 new alerts, total 10: alice@example.com opened a shell in payments/api-7d9f") {
		t.Errorf("repeat sent as %q: %q", p.Severity, p.Summary)
	}
}

func TestLocalizedRunbook(t *testing.T) {
	tests := []struct {
		locale, url, step string
	}{
		{"", baseURL + runbookPath, "Find who opened the shell"},
		{"en", baseURL + runbookPath, "Find who opened the shell"},
		{"pt-BR", baseURL + "runbooks/pt-BR/k8s/exec-into-pod.md", "Descubra quem abriu o shell"},
	}
	for _, tt := range tests {
		t.Run("locale "+tt.locale, func(t *testing.T) {
			r := newReceiver(t, Config{RunbookBaseURL: baseURL}, library(t))
			n := firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1)
			n.Locale = tt.locale
			ev := r.Event(n, nil)
			if len(ev.Links) != 1 || ev.Links[0].(map[string]string)["href"] != tt.url {
				t.Errorf("links %v, want %s", ev.Links, tt.url)
			}
			b, _ := json.Marshal(ev.Payload.Details)
			if !strings.Contains(string(b), tt.step) {
				t.Errorf("details lack %q: %s", tt.step, b)
			}
		})
	}
	t.Run("runbook not loaded", func(t *testing.T) {
		r := newReceiver(t, Config{RunbookBaseURL: baseURL}, nil)
		n := firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1)
		n.Locale = "pt-BR"
		ev := r.Event(n, nil)
		if len(ev.Links) != 1 || ev.Links[0].(map[string]string)["href"] != baseURL+runbookPath {
			t.Errorf("links %v, want the English runbook", ev.Links)
		}
	})
	t.Run("no base URL", func(t *testing.T) {
		r := newReceiver(t, Config{}, library(t))
		ev := r.Event(firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1), nil)
		b, _ := json.Marshal(ev.Payload.Details)
		if len(ev.Links) != 0 || !strings.Contains(string(b), `"path":"`+runbookPath+`"`) {
			t.Errorf("links %v, details %s: want no link and the path", ev.Links, b)
		}
	})
}

func TestLimits(t *testing.T) {
	long := strings.Repeat
	tests := []struct {
		name string
		edit func(*alert.Alert)
		tail string
	}{
		{"multi-byte summary", func(a *alert.Alert) { a.Summary = long("ção", 2000) }, "…"},
		{"emoji summary", func(a *alert.Alert) { a.Summary = long("🚨", 3000) }, "🚨…"},
		{"long title", func(a *alert.Alert) { a.Rule.Title = long("ü", 5000) }, "ü…"},
		{"invalid UTF-8", func(a *alert.Alert) { a.Summary = long("\xffa", 2000) }, "…"},
		{"every field long", func(a *alert.Alert) {
			a.Summary, a.Entity.Identity, a.Context.UserAgent, a.Context.Cluster = long("é", 9000), long("ú", 9000), long("🚀", 9000), long("c", 9000)
			a.Entity.Namespace, a.Entity.Pod, a.Rule.ID, a.Context.Source = long("n", 9000), long("p", 9000), long("r", 9000), long("s", 9000)
			a.Rule.Tags = strings.Fields(long("T1234 ", 1000))
			for k := range 500 {
				a.Labels[long("k", k+1)] = long("v", 9000)
			}
		}, "é…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := pagerdutyfake.New(t, testKey)
			r := newReceiver(t, Config{URL: srv.URL()}, library(t))
			var alerts []*alert.Alert
			for i := range 60 {
				a := testAlert("a"+string(rune('A'+i)), alert.SeverityHigh)
				tt.edit(a)
				for j := range 50 {
					a.Events = append(a.Events, event.Ref{Source: "k8s_audit", ID: long("e", 200) + string(rune('a'+j%26))})
				}
				alerts = append(alerts, a)
			}
			if _, err := r.Deliver(t.Context(), firing(alerts, 60), nil); err != nil {
				t.Fatalf("Deliver: %v; calls %+v", err, srv.Calls())
			}
			ev := srv.Events()[0]
			s := ev.Payload.Summary
			if n := utf8.RuneCountInString(s); n != MaxSummary {
				t.Errorf("summary has %d runes, want %d", n, MaxSummary)
			}
			if !utf8.ValidString(s) || !strings.HasSuffix(s, tt.tail) {
				t.Errorf("summary ends %q, want %q", s[max(0, len(s)-20):], tt.tail)
			}
			if len(ev.Raw) > MaxEventBytes {
				t.Errorf("event of %d bytes", len(ev.Raw))
			}
			if list, _ := ev.Payload.CustomDetails["alerts"].([]any); len(list) > maxAlerts {
				t.Errorf("%d alerts listed", len(list))
			}
		})
	}
}

// TestNoSecrets: credentials in an alert's fields reach no request body,
// and the routing key reaches no error even when the server echoes it.
func TestNoSecrets(t *testing.T) {
	secrets := []string{bearer, "hunter2hunter2", "AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"[21:]}
	srv := pagerdutyfake.New(t, testKey)
	r := newReceiver(t, Config{URL: srv.URL(), RunbookBaseURL: baseURL}, library(t))
	a := testAlert("a1", alert.SeverityCritical)
	a.Summary = "curl -H 'Authorization: Bearer " + bearer + "' https://api.internal/"
	a.Rule.Title = "Token " + bearer
	a.Entity.Identity = "https://admin:hunter2hunter2@registry.example/"
	a.Context.UserAgent = "aws-cli AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	a.Labels["password"] = "hunter2hunter2"
	a.Labels["note"] = "password=hunter2hunter2"
	a2 := testAlert("a2", alert.SeverityCritical)
	a2.Summary = "token: " + bearer
	n := firing([]*alert.Alert{a, a2}, 2)
	n.GroupLabels["identity"] = "Bearer " + bearer
	st, err := r.Deliver(t.Context(), n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Deliver(t.Context(), firing([]*alert.Alert{a2}, 3), st); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	for _, c := range calls {
		for _, s := range secrets {
			if strings.Contains(c.Body, s) {
				t.Errorf("secret %q sent in %s", s, c.Body)
			}
		}
		if !strings.Contains(c.Body, "[REDACTED]") {
			t.Errorf("nothing redacted in %s", c.Body)
		}
	}

	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(b[:min(len(b), 200)])
	}))
	defer echo.Close()
	r = newReceiver(t, Config{URL: echo.URL}, nil)
	_, err = r.Deliver(t.Context(), n, nil)
	if err == nil || !notify.IsPermanent(err) {
		t.Fatalf("err %v, want permanent", err)
	}
	if strings.Contains(err.Error(), testKey) || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("error %q leaks the routing key or lacks the status", err)
	}
}

func TestErrors(t *testing.T) {
	type want struct {
		permanent  bool
		retryAfter time.Duration // 0: none
		contains   string
	}
	tests := []struct {
		name  string
		setup func(*pagerdutyfake.Server)
		key   string
		path  string
		want  want
	}{
		{"rate limited", func(s *pagerdutyfake.Server) { s.RateLimitNext(1, 7*time.Second) }, "", "", want{false, 7 * time.Second, "HTTP 429"}},
		{"rate limited, sub-second", func(s *pagerdutyfake.Server) { s.RateLimitNext(1, 300*time.Millisecond) }, "", "", want{false, time.Second, "HTTP 429"}},
		{"500", func(s *pagerdutyfake.Server) { s.FailNext(1, 500) }, "", "", want{false, 0, "HTTP 500"}},
		{"503", func(s *pagerdutyfake.Server) { s.FailNext(1, 503) }, "", "", want{false, 0, "HTTP 503"}},
		{"408", func(s *pagerdutyfake.Server) { s.FailNext(1, 408) }, "", "", want{false, 0, "HTTP 408"}},
		{"400", func(s *pagerdutyfake.Server) { s.FailNext(1, 400) }, "", "", want{true, 0, "HTTP 400"}},
		{"unknown routing key", nil, "0THERKEY0THERKEY0THERKEY0THERKEY", "", want{true, 0, "Invalid routing key"}},
		{"wrong path", nil, "", "/pd", want{true, 0, "HTTP 404"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := pagerdutyfake.New(t, testKey)
			if tt.setup != nil {
				tt.setup(srv)
			}
			cfg := Config{URL: srv.URL() + tt.path}
			if tt.key != "" {
				cfg.RoutingKeyFile = keyFile(t, tt.key)
			}
			r := newReceiver(t, cfg, nil)
			_, err := r.Deliver(t.Context(), firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1), nil)
			checkErr(t, err, tt.want.permanent, tt.want.retryAfter, tt.want.contains)
			if len(srv.Incidents()) != 0 {
				t.Error("incident recorded despite the failure")
			}
			if tt.setup != nil { // the fault was one-off: a retry succeeds
				if _, err := r.Deliver(t.Context(), firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1), nil); err != nil {
					t.Fatalf("retry: %v", err)
				}
			}
		})
	}
	t.Run("server down", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		r := newReceiver(t, Config{URL: srv.URL}, nil)
		_, err := r.Deliver(t.Context(), resolved(1), nil)
		checkErr(t, err, false, 0, "connect")
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		r := newReceiver(t, Config{URL: srv.URL, Timeout: 50 * time.Millisecond}, nil)
		_, err := r.Deliver(t.Context(), resolved(1), nil)
		checkErr(t, err, false, 0, "")
		if msg := err.Error(); !strings.Contains(msg, "Timeout") && !strings.Contains(msg, "deadline exceeded") {
			t.Errorf("error %q does not say it timed out", msg)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		srv := pagerdutyfake.New(t, testKey)
		r := newReceiver(t, Config{URL: srv.URL()}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := r.Deliver(ctx, resolved(1), nil)
		checkErr(t, err, false, 0, "canceled")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v is not context.Canceled", err)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		srv := httptest.NewServer(http.RedirectHandler("https://elsewhere.example/v2/enqueue", http.StatusTemporaryRedirect))
		defer srv.Close()
		r := newReceiver(t, Config{URL: srv.URL}, nil)
		_, err := r.Deliver(t.Context(), resolved(1), nil)
		checkErr(t, err, true, 0, "HTTP 307")
	})
	t.Run("unknown status", func(t *testing.T) {
		r := newReceiver(t, Config{}, nil)
		n := resolved(1)
		n.Status = "pending"
		_, err := r.Deliver(t.Context(), n, nil)
		checkErr(t, err, true, 0, "unknown status")
	})
}

func checkErr(t *testing.T, err error, permanent bool, retryAfter time.Duration, contains string) {
	t.Helper()
	if err == nil {
		t.Fatal("Deliver succeeded, want an error")
	}
	if notify.IsPermanent(err) != permanent {
		t.Errorf("permanent = %v, want %v (err %v)", notify.IsPermanent(err), permanent, err)
	}
	after, ok := notify.RetryAfter(err)
	if ok != (retryAfter != 0) || after != retryAfter {
		t.Errorf("RetryAfter = %v, %v; want %v (err %v)", after, ok, retryAfter, err)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q does not mention %q", err, contains)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("error %q leaks the routing key", err)
	}
}

func TestDedupKey(t *testing.T) {
	if got := notify.DedupKey(groupKey + "ffff"); got != "vigia-"+groupKey {
		t.Errorf("hex group key: %q", got)
	}
	if got := notify.DedupKey(strings.ToUpper(groupKey)); got != "vigia-"+groupKey {
		t.Errorf("upper-case hex group key: %q", got)
	}
	a, b := notify.DedupKey("receiver/route/not hex"), notify.DedupKey("receiver/route/not hex!")
	if a == b || len(a) != len("vigia-")+32 || a != notify.DedupKey("receiver/route/not hex") {
		t.Errorf("non-hex keys: %q %q", a, b)
	}
	if got := notify.DedupKey(""); len(got) != 38 {
		t.Errorf("empty key: %q", got)
	}
}

func TestConfig(t *testing.T) {
	ok := Config{RoutingKeyEnv: "PD_KEY"}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"minimal", func(*Config) {}, ""},
		{"file", func(c *Config) { c.RoutingKeyEnv, c.RoutingKeyFile = "", "/run/secrets/pd" }, ""},
		{"everything", func(c *Config) {
			c.URL, c.ClientURL, c.RunbookBaseURL, c.FirstSteps, c.Timeout = EUURL, "https://vigia.example", baseURL, 5, time.Second
		}, ""},
		{"no key", func(c *Config) { c.RoutingKeyEnv = "" }, "routing_key_env"},
		{"two keys", func(c *Config) { c.RoutingKeyFile = "/x" }, "routing_key_env"},
		{"bad env name", func(c *Config) { c.RoutingKeyEnv = "PD KEY" }, "routing_key_env"},
		{"relative url", func(c *Config) { c.URL = "events.pagerduty.com" }, "url"},
		{"url with credentials", func(c *Config) { c.URL = "https://u:p@events.pagerduty.com" }, "url"},
		{"bad client url", func(c *Config) { c.ClientURL = "ftp://x" }, "client_url"},
		{"bad runbook url", func(c *Config) { c.RunbookBaseURL = "::" }, "runbook_base_url"},
		{"negative steps", func(c *Config) { c.FirstSteps = -1 }, "first_steps"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
	}
	for _, tt := range tests {
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
			if !isField || fe.Field != tt.field || !strings.HasPrefix(err.Error(), "pagerduty: "+tt.field+" ") {
				t.Fatalf("Validate = %v, want a FieldError for %s", err, tt.field)
			}
			if strings.Contains(err.Error(), "u:p@") {
				t.Errorf("error %q shows the URL's credentials", err)
			}
		})
	}
	if got := (Config{}).withDefaults(); got.URL != DefaultURL || got.FirstSteps != DefaultFirstSteps || got.Timeout != DefaultTimeout {
		t.Errorf("defaults %+v", got)
	}
	if got := (Config{URL: EUURL + "/v2/enqueue"}).withDefaults().URL; got != EUURL {
		t.Errorf("enqueue URL not trimmed: %q", got)
	}
}

func TestRoutingKeySources(t *testing.T) {
	t.Setenv("VIGIA_TEST_PD_KEY", testKey)
	t.Setenv("VIGIA_TEST_PD_SHORT", "short-key-value")
	tests := []struct {
		name  string
		cfg   Config
		field string // "" for success
	}{
		{"env", Config{RoutingKeyEnv: "VIGIA_TEST_PD_KEY"}, ""},
		{"file", Config{RoutingKeyFile: keyFile(t, testKey)}, ""},
		{"unset env", Config{RoutingKeyEnv: "VIGIA_TEST_PD_UNSET"}, "routing_key_env"},
		{"short key", Config{RoutingKeyEnv: "VIGIA_TEST_PD_SHORT"}, "routing_key_env"},
		{"missing file", Config{RoutingKeyFile: filepath.Join(t.TempDir(), "nope")}, "routing_key_file"},
		{"key with symbols", Config{RoutingKeyFile: keyFile(t, strings.Repeat("!", 32))}, "routing_key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg, nil)
			if tt.field == "" {
				if err != nil || r.key != testKey {
					t.Fatalf("New: %v", err)
				}
				return
			}
			fe, ok := errors.AsType[*FieldError](err)
			if !ok || fe.Field != tt.field {
				t.Fatalf("New = %v, want a FieldError for %s", err, tt.field)
			}
			if strings.Contains(err.Error(), "short-key-value") || strings.Contains(err.Error(), "!!!!") {
				t.Errorf("error %q shows the key", err)
			}
		})
	}
}

// FuzzEvent: whatever the alert carries, the event passes the Events API
// v2 validation.
func FuzzEvent(f *testing.F) {
	f.Add("alice", "summary", "Title", "pod", "high")
	f.Add("<!channel>", "\xff\xfe", "ção", "", "")
	f.Add(strings.Repeat("🚨", 700), strings.Repeat("&", 2000), strings.Repeat("ü", 300), "\u202e", "critical")
	books := library(f)
	f.Fuzz(func(t *testing.T, identity, summary, title, pod, sev string) {
		r := &Receiver{cfg: Config{RunbookBaseURL: baseURL}.withDefaults(), books: books}
		a := testAlert("a1", sev)
		a.Entity.Identity, a.Summary, a.Rule.Title, a.Entity.Pod, a.Context.Cluster = identity, summary, title, pod, pod
		a.Context.UserAgent, a.Rule.Tags, a.Rule.ID = summary, []string{identity, pod}, title
		ev := r.Event(firing([]*alert.Alert{a}, 1), nil)
		ev.RoutingKey = testKey
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, problems := pagerdutyfake.Validate(b); len(problems) > 0 {
			t.Fatalf("invalid event: %v\n%s", problems, b)
		}
	})
}

func BenchmarkEvent(b *testing.B) {
	r := &Receiver{cfg: Config{RunbookBaseURL: baseURL}.withDefaults(), books: library(b)}
	var alerts []*alert.Alert
	for i := range 20 {
		alerts = append(alerts, testAlert("a"+string(rune('A'+i)), alert.SeverityHigh))
	}
	n := firing(alerts, 20)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ev := r.Event(n, nil)
		if _, err := json.Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeliver(b *testing.B) {
	srv := pagerdutyfake.New(b, testKey)
	r := newReceiver(b, Config{URL: srv.URL()}, library(b))
	n := firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Deliver(b.Context(), n, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReminderState(t *testing.T) {
	r := newReceiver(t, Config{}, nil)
	n := firing([]*alert.Alert{testAlert("a1", alert.SeverityCritical)}, 4)
	n.Alerts = nil
	if p := r.Event(n, notify.State{StateSeverity: "critical", StateTitle: "Exec into pod"}).Payload; p.Severity != "critical" || p.Summary != "Exec into pod: still firing, 4 alerts in total" {
		t.Errorf("reminder %+v", p)
	}
	if p := r.Event(n, notify.State{StateSeverity: "bogus"}).Payload; p.Severity != "warning" || p.Summary != "k8s.exec_into_pod: still firing, 4 alerts in total" {
		t.Errorf("reminder with a bad state %+v", p)
	}
}
