package servicenow

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/notify/servicenow/servicenowfake"
	"github.com/vigia-dev/vigia/internal/runbook"
)

const (
	testUser     = "vigia.integration"
	testPassword = "snow-password-123"
	runbookPath  = "runbooks/k8s/exec-into-pod.md"
	baseURL      = "https://git.example/vigia/blob/main/"
	groupKey     = "0123456789abcdef0123456789abcdefXYZ"
	wantCorr     = "vigia-0123456789abcdef0123456789abcdef"
)

func testAlert(id string) *alert.Alert {
	return &alert.Alert{
		ID:       id,
		Rule:     alert.Rule{ID: "k8s.exec_into_pod", Title: "Exec into pod", Severity: alert.SeverityHigh, Tags: []string{"T1609"}},
		Time:     time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Summary:  "alice@example.com opened a shell in payments/api-7d9f",
		Entity:   alert.Entity{Identity: "alice@example.com", Namespace: "payments", Pod: "api-7d9f"},
		Runbook:  alert.Runbook{Path: runbookPath, Title: "Exec into a pod"},
		DedupKey: "d3d0p",
		Context: alert.Context{
			Source: "k8s_audit", Action: "create", Resource: "pods/exec", Name: "api-7d9f",
			Cluster: "prod-eu", SourceIP: "203.0.113.7", UserAgent: "kubectl/v1.31.0", Outcome: "allowed",
		},
	}
}

func firing(alerts ...*alert.Alert) *notify.Notification {
	return &notify.Notification{
		ID: "n-" + alerts[0].ID, Receiver: "snow", GroupKey: groupKey,
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod", "identity": "alice@example.com"},
		Status:      notify.StatusFiring, Alerts: alerts, Total: len(alerts),
		FirstTime: alerts[0].Time, LastTime: alerts[len(alerts)-1].Time,
	}
}

func resolved(total int) *notify.Notification {
	return &notify.Notification{
		ID: "n-resolved", Receiver: "snow", GroupKey: groupKey, Status: notify.StatusResolved, Total: total,
		FirstTime: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), LastTime: time.Date(2025, 3, 4, 6, 0, 0, 0, time.UTC),
	}
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

func secretFile(t testing.TB, v string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func config(t testing.TB, srv *servicenowfake.Server) Config {
	return Config{
		URL: srv.URL(), Username: testUser, PasswordFile: secretFile(t, testPassword),
		AssignmentGroup: "Security Operations", CallerID: "vigia.integration", Category: "network",
		Fields:         map[string]string{"contact_type": "integration"},
		RunbookBaseURL: baseURL,
	}
}

func newReceiver(t testing.TB, cfg Config) *Receiver {
	t.Helper()
	r, err := New(cfg, library(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func deliver(t testing.TB, r *Receiver, n *notify.Notification, prev notify.State) notify.State {
	t.Helper()
	st, err := r.Deliver(t.Context(), n, prev)
	if err != nil {
		t.Fatalf("Deliver(%s): %v", n.Status, err)
	}
	return st
}

func only(t testing.TB, srv *servicenowfake.Server) servicenowfake.Record {
	t.Helper()
	recs := srv.Records("incident")
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	return recs[0]
}

func TestLifecycle(t *testing.T) {
	for _, auth := range []string{AuthBasic, AuthBearer} {
		t.Run(auth, func(t *testing.T) {
			srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword), servicenowfake.WithBearer("oauth-token"))
			cfg := config(t, srv)
			if auth == AuthBearer {
				cfg.Auth, cfg.Username, cfg.PasswordFile, cfg.TokenFile = AuthBearer, "", "", secretFile(t, "oauth-token")
			}
			r := newReceiver(t, cfg)

			crit := testAlert("a1")
			crit.Rule.Severity = alert.SeverityCritical
			st := deliver(t, r, firing(testAlert("a0"), crit), nil)
			rec := only(t, srv)
			f := rec.Fields
			if st[StateSysID] != rec.SysID() || st[StateNumber] != "INC0010001" {
				t.Fatalf("state %v, record %s %s", st, rec.SysID(), f["number"])
			}
			want := map[string]string{
				"short_description": "[CRITICAL] Exec into pod: alice@example.com opened a shell in payments/api-7d9f",
				"correlation_id":    wantCorr, "correlation_display": "Vigia", "urgency": "1", "impact": "1",
				"assignment_group": "Security Operations", "caller_id": "vigia.integration", "category": "network",
				"contact_type": "integration", "state": servicenowfake.StateNew,
			}
			for k, v := range want {
				if f[k] != v {
					t.Errorf("%s = %q, want %q", k, f[k], v)
				}
			}
			for _, s := range []string{
				"[CRITICAL] alice@example.com opened a shell", "Alerts so far: 2", "Identity: alice@example.com",
				"Source IP: 203.0.113.7", "Object: payments/api-7d9f", "Triage: first steps",
				"1. Confirm who ran it", "2. List recent exec calls with `kubectl get events -n <namespace>`.",
				"3. Read the exec audit guide (https://docs.example/audit#exec) before acting.",
				"Runbook: Shell opened in a running pod " + baseURL + runbookPath, wantCorr,
				"Tags: T1609 (https://attack.mitre.org/techniques/T1609/)",
			} {
				if !strings.Contains(f["description"], s) {
					t.Errorf("description lacks %q:\n%s", s, f["description"])
				}
			}

			deliver(t, r, &notify.Notification{ID: "n2", GroupKey: groupKey, Status: notify.StatusFiring, Total: 3,
				Alerts: []*alert.Alert{testAlert("a2")}, LastTime: time.Date(2025, 3, 4, 5, 30, 0, 0, time.UTC)}, st)
			deliver(t, r, &notify.Notification{ID: "n3", GroupKey: groupKey, Status: notify.StatusFiring, Total: 3}, st)
			rec = only(t, srv)
			if len(rec.WorkNotes) != 2 || !strings.Contains(rec.WorkNotes[0], "New alerts: 1 (3 in total") ||
				!strings.Contains(rec.WorkNotes[1], "Still firing: 3 alerts") {
				t.Fatalf("work notes %q", rec.WorkNotes)
			}

			deliver(t, r, resolved(3), st)
			rec = only(t, srv)
			if rec.Fields["state"] != servicenowfake.StateResolved || rec.Fields["close_code"] != DefaultCloseCode ||
				!strings.Contains(rec.Fields["close_notes"], "Resolved by Vigia: no new alerts") {
				t.Errorf("after resolve: %v", rec.Fields)
			}
			// Resolving again (a retry) changes nothing.
			deliver(t, r, resolved(3), st)
			if rec2 := only(t, srv); rec2.Updates != rec.Updates {
				t.Errorf("second resolve updated the record")
			}
			// The group fires again: a new incident, the resolved one stays.
			st2 := deliver(t, r, firing(testAlert("a4")), nil)
			if recs := srv.Records("incident"); len(recs) != 2 || st2[StateNumber] != "INC0010002" {
				t.Errorf("%d records, state %v", len(recs), st2)
			}
			for _, c := range srv.Calls() {
				if c.Auth != auth {
					t.Errorf("%s %s auth %q, want %q", c.Method, c.Path, c.Auth, auth)
				}
			}
		})
	}
}

func TestLostState(t *testing.T) {
	srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
	r := newReceiver(t, config(t, srv))
	st := deliver(t, r, firing(testAlert("a1")), nil)
	st2 := deliver(t, r, firing(testAlert("a2")), nil)
	if st2[StateSysID] != st[StateSysID] {
		t.Errorf("lookup found %v, want %v", st2, st)
	}
	if rec := only(t, srv); len(rec.WorkNotes) != 1 {
		t.Errorf("%d work notes", len(rec.WorkNotes))
	}
	deliver(t, r, resolved(2), nil)
	if rec := only(t, srv); rec.Fields["state"] != servicenowfake.StateResolved {
		t.Errorf("state %s after resolve without state", rec.Fields["state"])
	}
	if _, err := r.Deliver(t.Context(), resolved(2), nil); err != nil {
		t.Errorf("resolving a group without record: %v", err)
	}
	queries := 0
	for _, c := range srv.Calls() {
		if q := c.Query["sysparm_query"]; len(q) > 0 {
			queries++
			if q[0] != "correlation_id="+wantCorr+"^active=true^state!=6^ORDERBYsys_created_on" || c.Query["sysparm_limit"][0] != "1" {
				t.Errorf("query %q", q)
			}
		}
	}
	if queries != 4 {
		t.Errorf("%d queries, want 4", queries)
	}
}

func TestClosedOrDeleted(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(srv *servicenowfake.Server, sysID string)
	}{
		{"closed", func(srv *servicenowfake.Server, id string) { srv.SetState("incident", id, servicenowfake.StateClosed) }},
		{"canceled", func(srv *servicenowfake.Server, id string) {
			srv.SetState("incident", id, servicenowfake.StateCanceled)
		}},
		{"deleted", func(srv *servicenowfake.Server, id string) { srv.Delete("incident", id) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
			r := newReceiver(t, config(t, srv))
			st := deliver(t, r, firing(testAlert("a1")), nil)
			tt.change(srv, st[StateSysID])
			st2 := deliver(t, r, firing(testAlert("a2")), st)
			if st2[StateSysID] == st[StateSysID] || st2[StateSysID] == "" {
				t.Fatalf("state %v, want a new record", st2)
			}
			if _, err := r.Deliver(t.Context(), resolved(2), st); err != nil {
				t.Errorf("resolving the old record: %v", err)
			}
		})
	}
	t.Run("resolved by a person", func(t *testing.T) {
		srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
		r := newReceiver(t, config(t, srv))
		st := deliver(t, r, firing(testAlert("a1")), nil)
		srv.SetState("incident", st[StateSysID], servicenowfake.StateResolved)
		deliver(t, r, firing(testAlert("a2")), st)
		if rec := only(t, srv); len(rec.WorkNotes) != 1 {
			t.Errorf("a resolved, active record takes the work notes: %d", len(rec.WorkNotes))
		}
	})
}

func TestErrors(t *testing.T) {
	t.Run("429 honoured", func(t *testing.T) {
		srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
		r := newReceiver(t, config(t, srv))
		srv.RateLimitNext(1, 9*time.Second)
		_, err := r.Deliver(t.Context(), firing(testAlert("a1")), nil)
		if d, ok := notify.RetryAfter(err); !ok || d != 9*time.Second || notify.IsPermanent(err) {
			t.Fatalf("err = %v (%s), want retryable after 9s", err, d)
		}
		deliver(t, r, firing(testAlert("a1")), nil)
		only(t, srv)
	})
	t.Run("429 with X-RateLimit-Reset only", func(t *testing.T) {
		srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
		r := newReceiver(t, config(t, srv))
		srv.RateLimitNext(1, 0)
		_, err := r.Deliver(t.Context(), firing(testAlert("a1")), nil)
		if d, ok := notify.RetryAfter(err); !ok || d <= 0 || d > time.Minute {
			t.Fatalf("err = %v (%s), want retry within a minute", err, d)
		}
	})
	t.Run("5xx retryable", func(t *testing.T) {
		srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
		r := newReceiver(t, config(t, srv))
		srv.FailNext(1, http.StatusServiceUnavailable)
		_, err := r.Deliver(t.Context(), firing(testAlert("a1")), nil)
		if err == nil || notify.IsPermanent(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
	})
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		opts   []servicenowfake.Option
		want   string
	}{
		{"wrong password", func(c *Config) { c.PasswordFile = secretFile(t, "nope-wrong") }, nil, "HTTP 401: User Not Authenticated"},
		{"unknown table", func(c *Config) { c.Table = "x_sir" }, nil, "HTTP 400: Invalid table x_sir"},
		{"unknown close code", nil, []servicenowfake.Option{servicenowfake.WithCloseCodes("Solved (Permanently)")}, "HTTP 400: Invalid choice for close_code"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := servicenowfake.New(t, append(tt.opts, servicenowfake.WithBasic(testUser, testPassword))...)
			cfg := config(t, srv)
			if tt.mutate != nil {
				tt.mutate(&cfg)
			}
			r := newReceiver(t, cfg)
			st, err := r.Deliver(t.Context(), firing(testAlert("a1")), nil)
			if err == nil {
				_, err = r.Deliver(t.Context(), resolved(1), st)
			}
			if !notify.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want permanent %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "nope-wrong") || strings.Contains(err.Error(), testPassword) {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	for _, fill := range []string{"ç", "🔥", "a"} {
		t.Run(fill, func(t *testing.T) {
			srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
			cfg := config(t, srv)
			cfg.MaxAlerts = 500
			r := newReceiver(t, cfg)
			var alerts []*alert.Alert
			for i := range 50 {
				a := testAlert(fmt.Sprint("a", i))
				a.Summary = strings.Repeat(fill, 2000)
				a.Entity.Identity = strings.Repeat(fill, 2000)
				alerts = append(alerts, a)
			}
			st := deliver(t, r, firing(alerts...), nil)
			deliver(t, r, firing(alerts...), st) // work notes of 50 long alerts fit too
			rec := only(t, srv)
			sd := rec.Fields["short_description"]
			if !utf8.ValidString(sd) || render.UTF16Len(sd) > maxShort || render.UTF16Len(sd) < maxShort-2 || !strings.HasSuffix(sd, "…") {
				t.Errorf("short_description (%d units) %q", render.UTF16Len(sd), sd)
			}
			if d := rec.Fields["description"]; !utf8.ValidString(d) || render.UTF16Len(d) > maxText || !strings.Contains(d, "more.") {
				t.Errorf("description (%d units) ends %q", render.UTF16Len(d), d[max(0, len(d)-100):])
			}
		})
	}
}

const hostile = "[code]<img src=x onerror=alert(1)>[/code] [ CODE ]<b>x</b>[/ code]"

func TestEscaping(t *testing.T) {
	srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
	r := newReceiver(t, config(t, srv))
	a := testAlert("a1")
	a.Summary, a.Entity.Identity, a.Context.UserAgent = hostile, hostile, "line1\nline2\r\n\u202eevil"
	st := deliver(t, r, firing(a), nil)
	deliver(t, r, firing(a), st)
	rec := only(t, srv)
	for _, text := range append([]string{rec.Fields["short_description"], rec.Fields["description"]}, rec.WorkNotes...) {
		if codeTag.MatchString(text) {
			t.Errorf("[code] markup survived: %q", text)
		}
		if strings.Contains(text, "\u202e") || strings.Contains(text, "line1\nline2") {
			t.Errorf("control characters survived: %q", text)
		}
	}
	if !strings.Contains(rec.Fields["description"], "(code)<img src=x onerror=alert(1)>(/code)") {
		t.Errorf("defused text missing:\n%s", rec.Fields["description"])
	}
}

func TestNoSecrets(t *testing.T) {
	secrets := []string{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlMTIz", "hunter2-very-secret", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}
	srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
	r := newReceiver(t, config(t, srv))
	a := testAlert("a1")
	a.Summary = "curl -H 'Authorization: Bearer " + secrets[0] + "' by alice"
	a.Rule.Title = "Leak password=" + secrets[1]
	a.Context.UserAgent = "tool token=" + secrets[2]
	st := deliver(t, r, firing(a), nil)
	deliver(t, r, firing(a), st)
	deliver(t, r, resolved(2), st)
	for _, c := range srv.Calls() {
		for _, s := range secrets {
			if strings.Contains(c.Body, s) {
				t.Errorf("%s %s body carries secret %q", c.Method, c.Path, s)
			}
		}
	}
	if !strings.Contains(only(t, srv).Fields["short_description"], "[REDACTED]") {
		t.Errorf("short description not redacted: %q", only(t, srv).Fields["short_description"])
	}
}

func TestLocale(t *testing.T) {
	srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
	r := newReceiver(t, config(t, srv))
	n := firing(testAlert("a1"))
	n.Locale = "pt-BR"
	deliver(t, r, n, nil)
	d := only(t, srv).Fields["description"]
	for _, want := range []string{"Triagem: primeiros passos", "1. Confirme quem executou", "Identidade: alice@example.com",
		"Runbook: Shell aberto em um pod em execução " + baseURL + "runbooks/pt-BR/k8s/exec-into-pod.md"} {
		if !strings.Contains(d, want) {
			t.Errorf("pt-BR description lacks %q:\n%s", want, d)
		}
	}
}

func TestLevels(t *testing.T) {
	srv := servicenowfake.New(t, servicenowfake.WithBasic(testUser, testPassword))
	cfg := config(t, srv)
	cfg.Levels = map[string]Level{alert.SeverityCritical: {Urgency: 1, Impact: 1}}
	r := newReceiver(t, cfg)
	deliver(t, r, firing(testAlert("a1")), nil) // high: not mapped
	if f := only(t, srv).Fields; f["urgency"] != "" || f["impact"] != "" {
		t.Errorf("unmapped severity set urgency %q impact %q", f["urgency"], f["impact"])
	}
}

func TestValidate(t *testing.T) {
	ok := Config{URL: "https://acme.service-now.com", Username: "u", PasswordEnv: "SNOW_PASSWORD"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for _, tt := range []struct {
		mutate func(*Config)
		field  string
	}{
		{func(c *Config) { c.URL = "" }, "url"},
		{func(c *Config) { c.URL = "https://u:p@acme.service-now.com" }, "url"},
		{func(c *Config) { c.Table = "Incident; drop" }, "table"},
		{func(c *Config) { c.Auth = "ntlm" }, "auth"},
		{func(c *Config) { c.Username = "" }, "username"},
		{func(c *Config) { c.PasswordEnv = "" }, "password_env"},
		{func(c *Config) { c.TokenFile = "/t" }, "token_env"},
		{func(c *Config) { c.Auth, c.Username = AuthBearer, "" }, "token_env"},
		{func(c *Config) { c.Levels = map[string]Level{"high": {Urgency: 4, Impact: 1}} }, "levels"},
		{func(c *Config) { c.Levels = map[string]Level{"severe": {Urgency: 1, Impact: 1}} }, "levels"},
		{func(c *Config) { c.Fields = map[string]string{"state": "2"} }, "fields"},
		{func(c *Config) { c.Fields = map[string]string{"Bad Name": "x"} }, "fields"},
		{func(c *Config) { c.CorrelationDisplay = strings.Repeat("x", 101) }, "correlation_display"},
		{func(c *Config) { c.ResolveState = -1 }, "resolve_state"},
		{func(c *Config) { c.RunbookBaseURL = "ftp://x" }, "runbook_base_url"},
		{func(c *Config) { c.FirstSteps = -1 }, "first_steps"},
		{func(c *Config) { c.Timeout = -1 }, "timeout"},
	} {
		c := ok
		tt.mutate(&c)
		var fe *FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%+v: err = %v, want field %s", c, err, tt.field)
		}
	}
}

func TestYAML(t *testing.T) {
	const doc = `
url: https://acme.service-now.com
auth: basic
username: vigia.integration
password_env: SNOW_PASSWORD
assignment_group: Security Operations
caller_id: vigia.integration
category: security
levels:
  critical: {urgency: 1, impact: 1}
  high: {urgency: 1, impact: 2}
fields: {contact_type: integration}
resolve_state: 6
close_code: Solution provided
close_notes: Closed automatically.
runbook_base_url: https://github.com/acme/vigia/blob/main/
timeout: 20s
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Levels["high"] != (Level{Urgency: 1, Impact: 2}) || c.Timeout != 20*time.Second || c.Fields["contact_type"] != "integration" {
		t.Errorf("decoded %+v", c)
	}
}

func FuzzClean(f *testing.F) {
	f.Add(hostile)
	f.Add("[[code]code]]")
	f.Fuzz(func(t *testing.T, s string) {
		got := render.ShortenUTF16(clean(s), maxShort)
		if codeTag.MatchString(got) || !utf8.ValidString(got) || render.UTF16Len(got) > maxShort || strings.ContainsAny(got, "\n\r\t") {
			t.Fatalf("clean(%q) = %q", s, got)
		}
	})
}

func BenchmarkDescription(b *testing.B) {
	c := content{cfg: &Config{RunbookBaseURL: baseURL}, books: library(b)}
	n := firing(testAlert("a1"), testAlert("a2"), testAlert("a3"))
	b.ReportAllocs()
	for b.Loop() {
		_ = c.description(n, limits{alerts: 10, steps: 3})
	}
}

func BenchmarkDeliverRepeat(b *testing.B) {
	srv := servicenowfake.New(b, servicenowfake.WithBasic(testUser, testPassword))
	r := newReceiver(b, config(b, srv))
	st := deliver(b, r, firing(testAlert("a1")), nil)
	n := firing(testAlert("a2"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Deliver(b.Context(), n, st); err != nil {
			b.Fatal(err)
		}
	}
}
