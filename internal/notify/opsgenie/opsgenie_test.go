package opsgenie

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

	ogalert "github.com/opsgenie/opsgenie-go-sdk-v2/alert"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/opsgenie/opsgeniefake"
	"github.com/vigia-dev/vigia/internal/runbook"
)

const (
	testKey     = "0b1e7c1a-5f4e-4b8a-9c3d-2e6f7a8b9c0d"
	groupKey    = "0123456789abcdef0123456789abcdef"
	alias       = "vigia-" + groupKey
	runbookPath = "runbooks/k8s/exec-into-pod.md"
	baseURL     = "https://git.example/vigia/blob/main/"
	bearer      = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
)

func keyFile(t testing.TB, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "api-key")
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

func testAlert(id, sev string) *alert.Alert {
	a := &alert.Alert{
		ID:       id,
		Rule:     alert.Rule{ID: "k8s.exec_into_pod", Title: "Exec into pod", Severity: sev, Tags: []string{"T1609", "mitre attack"}},
		Time:     time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Summary:  "alice@example.com opened a shell in payments/api-7d9f",
		Entity:   alert.Entity{Identity: "alice@example.com", Namespace: "payments", Pod: "api-7d9f"},
		Events:   []event.Ref{{Source: "k8s_audit", ID: "audit-" + id}},
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
		ID: "n-" + alerts[0].ID, Receiver: "opsgenie", GroupKey: groupKey,
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod"},
		Status:      notify.StatusFiring, Alerts: alerts, Total: total,
	}
}

func resolved(total int) *notify.Notification {
	return &notify.Notification{ID: "n-resolved", Receiver: "opsgenie", GroupKey: groupKey, Status: notify.StatusResolved, Total: total}
}

func newReceiver(t testing.TB, cfg Config, books *runbook.Library) *Receiver {
	t.Helper()
	if cfg.APIKeyFile == "" && cfg.APIKeyEnv == "" && cfg.APIKey == "" {
		cfg.APIKeyFile = keyFile(t, testKey)
	}
	r, err := New(cfg, books)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLifecycle(t *testing.T) {
	srv := opsgeniefake.New(t, testKey)
	r := newReceiver(t, Config{
		APIURL: srv.URL(), RunbookBaseURL: baseURL, Tags: []string{"kubernetes"},
		Responders: []Responder{{Type: "team", Name: "secops"}},
	}, library(t))
	ctx := t.Context()

	st, err := r.Deliver(ctx, firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st[StateAlias] != alias || st[StatePriority] != "P2" || st[StateRequestID] == "" || st[StateTitle] != "Exec into pod" {
		t.Fatalf("state %v", st)
	}
	a2, a3 := testAlert("a2", alert.SeverityHigh), testAlert("a3", alert.SeverityHigh)
	a3.Summary = "bob opened a shell in payments/api-7d9f"
	if st, err = r.Deliver(ctx, firing([]*alert.Alert{a2, a3}, 7), st); err != nil {
		t.Fatal(err)
	}
	reminder := firing([]*alert.Alert{a3}, 7)
	reminder.Alerts = nil
	if st, err = r.Deliver(ctx, reminder, st); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Deliver(ctx, resolved(7), st); err != nil {
		t.Fatal(err)
	}

	alerts := srv.Alerts()
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	if a.Alias != alias || a.Status != "closed" || a.Count != 3 || a.Priority != "P2" || a.Source != "vigia" || a.Entity != "alice@example.com" {
		t.Fatalf("alert %+v", a)
	}
	if a.Message != "Exec into pod: alice@example.com opened a shell in payments/api-7d9f" {
		t.Errorf("message %q", a.Message)
	}
	for _, want := range []string{
		"alice@example.com opened a shell in payments/api-7d9f\n\n",
		"Who: identity alice@example.com · source IP 203.0.113.7 · user agent kubectl/v1.31.0\n",
		"What: action create · resource pods/exec · object payments/api-7d9f · outcome success\n",
		"Where: cluster prod-eu · namespace payments · pod api-7d9f\n",
		"When: 2025-03-04T05:06:07Z · source k8s_audit\n",
		"Runbook: Shell opened in a running pod\n" + baseURL + runbookPath + "\n",
		"1. Find who opened the shell: the identity and source IP are in the alert.\n",
		"3. List what else the same identity did in the last hour.\n",
		"Alerts (1 new, 1 in total):\n- 2025-03-04T05:06:07Z a1: alice@example.com opened a shell in payments/api-7d9f (events k8s_audit:audit-a1)",
		"Rule k8s.exec_into_pod · group " + alias,
	} {
		if !strings.Contains(a.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, a.Description)
		}
	}
	if strings.Contains(a.Description, "Fourth step") {
		t.Error("more than three runbook steps")
	}
	if got := strings.Join(a.Tags, " "); got != "vigia severity:high rule:k8s.exec_into_pod T1609 mitre_attack kubernetes" {
		t.Errorf("tags %q", got)
	}
	for k, v := range map[string]string{
		"rule": "k8s.exec_into_pod", "identity": "alice@example.com", "cluster": "prod-eu", "source_ip": "203.0.113.7",
		"runbook_url": baseURL + runbookPath, "alert_ids": "a1", "events": "k8s_audit:audit-a1", "total": "1",
		"group_rule": "k8s.exec_into_pod",
	} {
		if a.Details[k] != v {
			t.Errorf("details[%s] = %q, want %q", k, a.Details[k], v)
		}
	}
	if len(a.Responders) != 1 || a.Responders[0].Type != "team" || a.Responders[0].Name != "secops" {
		t.Errorf("responders %+v", a.Responders)
	}
	if len(a.Notes) != 2 {
		t.Fatalf("notes %+v, want 2", a.Notes)
	}
	if n := a.Notes[0]; !strings.HasPrefix(n.Note, "2 new alerts, total 7.\nAlerts (2 new, 7 in total):\n- 2025-03-04T05:06:07Z a2:") ||
		!strings.Contains(n.Note, "a3: bob opened a shell") || n.Source != "vigia" {
		t.Errorf("repeat note %+v", n)
	}
	if n := a.Notes[1].Note; n != "Still firing: no new alerts, 7 alerts in total." {
		t.Errorf("reminder note %q", n)
	}
	if a.CloseNote != "Resolved in Vigia: 7 alerts in total." {
		t.Errorf("close note %q", a.CloseNote)
	}
	for _, req := range srv.Requests() {
		if !req.Success {
			t.Errorf("request failed: %+v", req)
		}
	}
	for _, c := range srv.Calls() {
		if c.Status != http.StatusAccepted || !c.Authorized {
			t.Errorf("call %+v", c)
		}
		if strings.HasSuffix(c.Path, "/close") || strings.HasSuffix(c.Path, "/notes") {
			if c.Query != "identifierType=alias" || !strings.HasPrefix(c.Path, "/v2/alerts/"+alias+"/") {
				t.Errorf("call by %s %s, want the alias", c.Path, c.Query)
			}
		}
	}
}

// TestLostState: with the state lost, repeats and the resolution still
// reach the one Opsgenie alert.
func TestLostState(t *testing.T) {
	srv := opsgeniefake.New(t, testKey)
	r := newReceiver(t, Config{APIURL: srv.URL()}, nil)
	n := firing([]*alert.Alert{testAlert("a1", alert.SeverityCritical)}, 1)
	for range 2 {
		if _, err := r.Deliver(t.Context(), n, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Deliver(t.Context(), resolved(1), nil); err != nil {
		t.Fatal(err)
	}
	as := srv.Alerts()
	if len(as) != 1 || as[0].Count != 2 || as[0].Status != "closed" || as[0].Priority != "P1" {
		t.Fatalf("alerts %+v, want one closed P1 alert created twice", as)
	}
	// A repeat after lost state (total above the alerts carried) adds a note.
	if _, err := r.Deliver(t.Context(), firing([]*alert.Alert{testAlert("a2", alert.SeverityCritical)}, 5), nil); err != nil {
		t.Fatal(err)
	}
	as = srv.Alerts()
	if len(as) != 2 || as[1].Status != "open" || len(as[1].Notes) != 1 {
		t.Fatalf("alerts %+v, want a second, open, annotated alert", as)
	}
}

func TestPriority(t *testing.T) {
	tests := map[string]ogalert.Priority{
		alert.SeverityCritical: "P1", alert.SeverityHigh: "P2", alert.SeverityMedium: "P3",
		alert.SeverityLow: "P4", alert.SeverityInfo: "P5", "": "P3", "weird": "P3",
	}
	r := newReceiver(t, Config{}, nil)
	for sev, want := range tests {
		if got := Priority(sev); got != want {
			t.Errorf("Priority(%q) = %q, want %q", sev, got, want)
		}
		if got := r.CreateRequest(firing([]*alert.Alert{testAlert("a", sev)}, 1), nil).Priority; got != want {
			t.Errorf("%q created as %q, want %q", sev, got, want)
		}
	}
	crit := testAlert("c", alert.SeverityCritical)
	crit.Summary = "the critical one"
	req := r.CreateRequest(firing([]*alert.Alert{testAlert("l", alert.SeverityLow), crit}, 2), nil)
	if req.Priority != "P1" || req.Message != "Exec into pod: the critical one" {
		t.Errorf("mixed: %q %q", req.Priority, req.Message)
	}
	// A reminder keeps the priority it had.
	rem := firing([]*alert.Alert{crit}, 4)
	rem.Alerts = nil
	if got := r.CreateRequest(rem, notify.State{StatePriority: "P1", StateTitle: "Exec into pod"}); got.Priority != "P1" || got.Message != "Exec into pod: still firing, 4 alerts in total" {
		t.Errorf("reminder: %q %q", got.Priority, got.Message)
	}
}

func TestLocalizedRunbook(t *testing.T) {
	tests := []struct{ locale, url, step string }{
		{"", baseURL + runbookPath, "1. Find who opened the shell"},
		{"pt-BR", baseURL + "runbooks/pt-BR/k8s/exec-into-pod.md", "1. Descubra quem abriu o shell"},
	}
	for _, tt := range tests {
		r := newReceiver(t, Config{RunbookBaseURL: baseURL}, library(t))
		n := firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1)
		n.Locale = tt.locale
		req := r.CreateRequest(n, nil)
		if !strings.Contains(req.Description, tt.url+"\n") || !strings.Contains(req.Description, tt.step) || req.Details["runbook_url"] != tt.url {
			t.Errorf("locale %q: description\n%s\ndetails %v", tt.locale, req.Description, req.Details)
		}
	}
	r := newReceiver(t, Config{}, library(t))
	req := r.CreateRequest(firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1), nil)
	if !strings.Contains(req.Description, "Runbook: Shell opened in a running pod\n"+runbookPath+"\n") {
		t.Errorf("no base URL: description\n%s", req.Description)
	}
}

func TestLimits(t *testing.T) {
	long := strings.Repeat
	tests := []struct {
		name string
		edit func(*alert.Alert)
	}{
		{"multi-byte", func(a *alert.Alert) { a.Summary, a.Rule.Title = long("ção", 9000), long("ü", 300) }},
		{"emoji", func(a *alert.Alert) { a.Summary, a.Entity.Identity = long("🚨", 30000), long("🚀", 3000) }},
		{"invalid UTF-8", func(a *alert.Alert) { a.Summary = long("\xffa", 9000) }},
		{"everything long", func(a *alert.Alert) {
			a.Summary, a.Entity.Identity, a.Context.UserAgent = long("é", 20000), long("ú", 9000), long("🚀", 9000)
			a.Context.Cluster, a.Entity.Namespace, a.Entity.Pod, a.Rule.ID = long("c", 9000), long("n", 9000), long("p", 9000), long("r", 9000)
			a.Rule.Tags = strings.Fields(long("T1234,x ", 100) + long("ü", 80))
			a.ID = long("i", 500)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := opsgeniefake.New(t, testKey)
			r := newReceiver(t, Config{APIURL: srv.URL(), RunbookBaseURL: baseURL}, library(t))
			var alerts []*alert.Alert
			for i := range 40 {
				a := testAlert("a"+string(rune('A'+i)), alert.SeverityHigh)
				tt.edit(a)
				alerts = append(alerts, a)
			}
			n := firing(alerts, 40)
			for i := range 100 {
				n.GroupLabels[long("k", i+1)] = long("v", 400)
			}
			st, err := r.Deliver(t.Context(), n, nil)
			if err != nil {
				t.Fatalf("Deliver: %v; calls %+v", err, srv.Calls())
			}
			if _, err := r.Deliver(t.Context(), firing(alerts, 80), st); err != nil {
				t.Fatalf("repeat: %v; calls %+v", err, srv.Calls())
			}
			a := srv.Alerts()[0]
			if n := utf8.RuneCountInString(a.Message); n != MaxMessage || !strings.HasSuffix(a.Message, "…") {
				t.Errorf("message of %d runes: %q", n, a.Message)
			}
			for _, s := range append([]string{a.Message, a.Description, a.Entity, a.Notes[0].Note}, a.Tags...) {
				if !utf8.ValidString(s) {
					t.Errorf("invalid UTF-8: %q", s)
				}
			}
			if utf8.RuneCountInString(a.Description) > MaxDescription || utf8.RuneCountInString(a.Entity) > MaxEntity {
				t.Errorf("description or entity too long")
			}
			if len(a.Tags) > MaxTags {
				t.Errorf("%d tags", len(a.Tags))
			}
		})
	}
}

func TestNoSecrets(t *testing.T) {
	secrets := []string{bearer, "hunter2hunter2", testKey}
	srv := opsgeniefake.New(t, testKey)
	r := newReceiver(t, Config{APIURL: srv.URL(), RunbookBaseURL: baseURL}, library(t))
	a := testAlert("a1", alert.SeverityCritical)
	a.Summary = "curl -H 'Authorization: Bearer " + bearer + "' https://api.internal/"
	a.Rule.Title = "Token " + bearer
	a.Rule.Tags = []string{"Bearer " + bearer}
	a.Entity.Identity = "https://admin:hunter2hunter2@registry.example/"
	a.Context.UserAgent = "password=hunter2hunter2"
	n := firing([]*alert.Alert{a}, 1)
	n.GroupLabels["password"] = "hunter2hunter2"
	n.GroupLabels["identity"] = "token: " + bearer
	st, err := r.Deliver(t.Context(), n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Deliver(t.Context(), firing([]*alert.Alert{a}, 3), st); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if len(calls) != 3 {
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
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"message":"key `+strings.TrimPrefix(r.Header.Get("Authorization"), "GenieKey ")+` is not allowed"}`)
	}))
	defer echo.Close()
	r = newReceiver(t, Config{APIURL: echo.URL}, nil)
	_, err = r.Deliver(t.Context(), n, nil)
	if err == nil || !notify.IsPermanent(err) || strings.Contains(err.Error(), testKey) || !strings.Contains(err.Error(), "HTTP 403") {
		t.Errorf("err %v: want a permanent 403 without the key", err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(*opsgeniefake.Server)
		key        string
		path       string
		permanent  bool
		retryAfter time.Duration
		contains   string
	}{
		{"rate limited", func(s *opsgeniefake.Server) { s.RateLimitNext(1, 7*time.Second) }, "", "", false, 7 * time.Second, "HTTP 429"},
		{"rate limited without Retry-After", func(s *opsgeniefake.Server) { s.RateLimitNext(1, 0) }, "", "", false, 60 * time.Second, "HTTP 429"},
		{"500", func(s *opsgeniefake.Server) { s.FailNext(1, 500) }, "", "", false, 0, "HTTP 500"},
		{"503", func(s *opsgeniefake.Server) { s.FailNext(1, 503) }, "", "", false, 0, "HTTP 503"},
		{"400", func(s *opsgeniefake.Server) { s.FailNext(1, 400) }, "", "", true, 0, "HTTP 400"},
		{"422", func(s *opsgeniefake.Server) { s.FailNext(1, 422) }, "", "", true, 0, "HTTP 422"},
		{"wrong key", nil, "11111111-2222-3333-4444-555555555555", "", true, 0, "Could not authenticate"},
		{"wrong path", nil, "", "/proxy", true, 0, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := opsgeniefake.New(t, testKey)
			if tt.setup != nil {
				tt.setup(srv)
			}
			cfg := Config{APIURL: srv.URL() + tt.path}
			if tt.key != "" {
				cfg.APIKeyFile = keyFile(t, tt.key)
			}
			r := newReceiver(t, cfg, nil)
			_, err := r.Deliver(t.Context(), firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1), nil)
			checkErr(t, err, tt.permanent, tt.retryAfter, tt.contains)
			if len(srv.Alerts()) != 0 {
				t.Error("alert recorded despite the failure")
			}
			if n := len(srv.Calls()); n != 1 {
				t.Errorf("%d calls: the SDK retried on its own", n)
			}
		})
	}
	t.Run("note refused after create", func(t *testing.T) {
		srv := opsgeniefake.New(t, testKey)
		r := newReceiver(t, Config{APIURL: srv.URL()}, nil)
		st, err := r.Deliver(t.Context(), firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1), nil)
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if calls++; calls == 2 {
				http.Error(w, "bad gateway", http.StatusBadGateway)
				return
			}
			srv.ServeHTTP(w, req)
		}))
		defer proxy.Close()
		r = newReceiver(t, Config{APIURL: proxy.URL}, nil)
		_, err = r.Deliver(t.Context(), firing([]*alert.Alert{testAlert("a2", alert.SeverityHigh)}, 2), st)
		checkErr(t, err, false, 0, "add note to "+alias+": HTTP 502")
	})
	t.Run("server down", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		r := newReceiver(t, Config{APIURL: srv.URL}, nil)
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
		r := newReceiver(t, Config{APIURL: srv.URL, Timeout: 50 * time.Millisecond}, nil)
		_, err := r.Deliver(t.Context(), resolved(1), nil)
		checkErr(t, err, false, 0, "")
		if msg := err.Error(); !strings.Contains(msg, "Timeout") && !strings.Contains(msg, "deadline exceeded") {
			t.Errorf("error %q does not say it timed out", msg)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		srv := opsgeniefake.New(t, testKey)
		r := newReceiver(t, Config{APIURL: srv.URL()}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := r.Deliver(ctx, resolved(1), nil)
		checkErr(t, err, false, 0, "canceled")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v is not context.Canceled", err)
		}
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
		t.Errorf("error %q leaks the API key", err)
	}
}

func TestAPIURL(t *testing.T) {
	// A path prefix (a proxy) is kept; the SDK's own https://HOST is not used.
	srv := opsgeniefake.New(t, testKey)
	var paths []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		paths = append(paths, req.URL.Path)
		req.URL.Path = strings.TrimPrefix(req.URL.Path, "/opsgenie")
		srv.ServeHTTP(w, req)
	}))
	defer proxy.Close()
	r := newReceiver(t, Config{APIURL: proxy.URL + "/opsgenie/"}, nil)
	if _, err := r.Deliver(t.Context(), resolved(1), nil); err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0] != "/opsgenie/v2/alerts/"+alias+"/close" {
		t.Errorf("paths %v", paths)
	}
}

func TestAlias(t *testing.T) {
	if got := notify.DedupKey(groupKey + "ff"); got != alias {
		t.Errorf("hex: %q", got)
	}
	if a, b := notify.DedupKey("x"), notify.DedupKey("y"); a == b || len(a) != len(alias) {
		t.Errorf("non-hex: %q %q", a, b)
	}
}

func TestConfig(t *testing.T) {
	ok := Config{APIKeyEnv: "OG_KEY"}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"minimal", func(*Config) {}, ""},
		{"everything", func(c *Config) {
			c.APIURL, c.RunbookBaseURL, c.FirstSteps, c.Timeout = EUAPIURL, baseURL, 2, time.Second
			c.Responders = []Responder{{Type: "team", Name: "secops"}, {Type: "user", Username: "a@example.com"}, {Type: "schedule", ID: "x"}}
			c.Tags = []string{"k8s"}
		}, ""},
		{"no key", func(c *Config) { c.APIKeyEnv = "" }, "api_key_env"},
		{"two keys", func(c *Config) { c.APIKeyFile = "/x" }, "api_key_env"},
		{"bad env", func(c *Config) { c.APIKeyEnv = "1X" }, "api_key_env"},
		{"bad url", func(c *Config) { c.APIURL = "api.opsgenie.com" }, "api_url"},
		{"url with query", func(c *Config) { c.APIURL = "https://api.opsgenie.com/?x=1" }, "api_url"},
		{"bad responder type", func(c *Config) { c.Responders = []Responder{{Type: "group", Name: "x"}} }, "responders[0].type"},
		{"user without name", func(c *Config) { c.Responders = []Responder{{Type: "user", Name: "x"}} }, "responders[0]"},
		{"team without name", func(c *Config) { c.Responders = []Responder{{Type: "team"}} }, "responders[0]"},
		{"long tag", func(c *Config) { c.Tags = []string{strings.Repeat("t", 51)} }, "tags[0]"},
		{"bad runbook url", func(c *Config) { c.RunbookBaseURL = "/x" }, "runbook_base_url"},
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
			if !isField || fe.Field != tt.field || !strings.HasPrefix(err.Error(), "opsgenie: "+tt.field+" ") {
				t.Fatalf("Validate = %v, want a FieldError for %s", err, tt.field)
			}
		})
	}
	t.Setenv("VIGIA_TEST_OG_KEY", testKey)
	t.Setenv("VIGIA_TEST_OG_BAD", "has space")
	if r, err := New(Config{APIKeyEnv: "VIGIA_TEST_OG_KEY"}, nil); err != nil || r.key != testKey || r.cfg.APIURL != DefaultAPIURL || r.cfg.Timeout != DefaultTimeout {
		t.Errorf("env key: %v", err)
	}
	for _, c := range []Config{{APIKeyEnv: "VIGIA_TEST_OG_UNSET"}, {APIKeyEnv: "VIGIA_TEST_OG_BAD"}, {APIKeyFile: filepath.Join(t.TempDir(), "nope")}} {
		if _, err := New(c, nil); err == nil || strings.Contains(err.Error(), "has space") {
			t.Errorf("New(%+v) = %v", c, err)
		}
	}
}

// FuzzCreate: whatever the alert carries, the create request passes the
// Alert API validation.
func FuzzCreate(f *testing.F) {
	f.Add("alice", "summary", "Title", "pod", "high")
	f.Add("<b>", "\xff\xfe", "ção", "", "")
	f.Add(strings.Repeat("🚨", 700), strings.Repeat(",", 2000), strings.Repeat("ü", 300), "\u202e", "critical")
	books := library(f)
	f.Fuzz(func(t *testing.T, identity, summary, title, pod, sev string) {
		r := &Receiver{cfg: Config{RunbookBaseURL: baseURL, Tags: []string{"x"}}.withDefaults(), books: books}
		a := testAlert("a1", sev)
		a.Entity.Identity, a.Summary, a.Rule.Title, a.Entity.Pod = identity, summary, title, pod
		a.Context.UserAgent, a.Rule.Tags, a.Rule.ID = summary, []string{identity, pod, title}, title
		n := firing([]*alert.Alert{a}, 1)
		n.GroupLabels[identity] = summary
		b, err := json.Marshal(r.CreateRequest(n, nil))
		if err != nil {
			t.Fatal(err)
		}
		if problems := opsgeniefake.ValidateCreate(b); problems != nil {
			t.Fatalf("invalid request: %v\n%s", problems, b)
		}
	})
}

func BenchmarkCreateRequest(b *testing.B) {
	r := &Receiver{cfg: Config{RunbookBaseURL: baseURL}.withDefaults(), books: library(b)}
	var alerts []*alert.Alert
	for i := range 20 {
		alerts = append(alerts, testAlert("a"+string(rune('A'+i)), alert.SeverityHigh))
	}
	n := firing(alerts, 20)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := json.Marshal(r.CreateRequest(n, nil)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeliver(b *testing.B) {
	srv := opsgeniefake.New(b, testKey)
	r := newReceiver(b, Config{APIURL: srv.URL()}, library(b))
	n := firing([]*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Deliver(b.Context(), n, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStateAliasChecked(t *testing.T) {
	srv := opsgeniefake.New(t, testKey)
	r := newReceiver(t, Config{APIURL: srv.URL()}, nil)
	for _, bad := range []string{"../../v2/alerts", "a/b?x=1", strings.Repeat("a", MaxAlias+1)} {
		if _, err := r.Deliver(t.Context(), resolved(1), notify.State{StateAlias: bad}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Deliver(t.Context(), resolved(1), notify.State{StateAlias: "vigia-kept"}); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	for i, c := range calls[:3] {
		if c.Path != "/v2/alerts/"+alias+"/close" {
			t.Errorf("call %d to %s, want the group's alias", i, c.Path)
		}
	}
	if calls[3].Path != "/v2/alerts/vigia-kept/close" {
		t.Errorf("kept alias not used: %s", calls[3].Path)
	}
}

// TestHTMLEscaped: Opsgenie renders HTML in the message, description and
// notes; event-derived text there cannot inject markup.
func TestHTMLEscaped(t *testing.T) {
	srv := opsgeniefake.New(t, testKey)
	r := newReceiver(t, Config{APIURL: srv.URL()}, nil)
	a := testAlert("a1", alert.SeverityHigh)
	a.Summary = `<a href="https://evil.example">click</a> & <img src=x onerror=alert(1)>`
	a.Entity.Identity = "<b>root</b>"
	st, err := r.Deliver(t.Context(), firing([]*alert.Alert{a}, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Deliver(t.Context(), firing([]*alert.Alert{a}, 2), st); err != nil {
		t.Fatal(err)
	}
	got := srv.Alerts()[0]
	for name, s := range map[string]string{"message": got.Message, "description": got.Description, "note": got.Notes[0].Note} {
		if strings.ContainsAny(s, "<>") {
			t.Errorf("%s keeps markup: %q", name, s)
		}
		if !strings.Contains(s, "&lt;a href=") {
			t.Errorf("%s lacks the escaped text: %q", name, s)
		}
	}
	// Cut after escaping, never inside an entity.
	a.Summary = strings.Repeat("<", 200)
	msg := r.CreateRequest(firing([]*alert.Alert{a}, 1), nil).Message
	if n := utf8.RuneCountInString(msg); n > MaxMessage || !strings.HasSuffix(msg, "&lt;…") {
		t.Errorf("message of %d runes: %q", n, msg)
	}
}
