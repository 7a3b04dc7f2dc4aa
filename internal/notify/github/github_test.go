package github

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/github/githubfake"
	"github.com/vigia-dev/vigia/internal/runbook"
)

const (
	testToken   = "github_pat_test_token_1234567890"
	owner       = "acme"
	repo        = "security-incidents"
	runbookPath = "runbooks/k8s/exec-into-pod.md"
	baseURL     = "https://git.example/vigia/blob/main/"
	groupKey    = "0123456789abcdef0123456789abcdefXYZ"
	wantLabel   = "vigia-0123456789abcdef0123456789abcdef"
)

func testAlert(id string) *alert.Alert {
	return &alert.Alert{
		ID:       id,
		Rule:     alert.Rule{ID: "k8s.exec_into_pod", Title: "Exec into pod", Severity: alert.SeverityHigh, Tags: []string{"T1609"}},
		Time:     time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Summary:  "alice opened a shell in payments/api-7d9f",
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
		ID: "n-" + alerts[0].ID, Receiver: "gh", GroupKey: groupKey,
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod", "identity": "alice@example.com"},
		Status:      notify.StatusFiring, Alerts: alerts, Total: len(alerts),
		FirstTime: alerts[0].Time, LastTime: alerts[len(alerts)-1].Time,
	}
}

func resolved(total int) *notify.Notification {
	return &notify.Notification{
		ID: "n-resolved", Receiver: "gh", GroupKey: groupKey, Status: notify.StatusResolved, Total: total,
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

func tokenFile(t testing.TB, v string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func config(t testing.TB, srv *githubfake.Server) Config {
	return Config{
		BaseURL: srv.EnterpriseURL(), TokenFile: tokenFile(t, testToken), Owner: owner, Repo: repo,
		Labels: []string{"security"}, Assignees: []string{"oncall-bot"}, RunbookBaseURL: baseURL,
	}
}

func newFake(t testing.TB) *githubfake.Server {
	return githubfake.New(t, testToken, owner, repo, githubfake.WithCollaborators("oncall-bot"))
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

func only(t testing.TB, srv *githubfake.Server) githubfake.Issue {
	t.Helper()
	issues := srv.Issues()
	if len(issues) != 1 {
		t.Fatalf("%d issues, want 1", len(issues))
	}
	return issues[0]
}

func TestLifecycle(t *testing.T) {
	srv := newFake(t)
	r := newReceiver(t, config(t, srv))
	st := deliver(t, r, firing(testAlert("a1")), nil)
	issue := only(t, srv)
	if st[StateNumber] != "1" {
		t.Fatalf("state %v", st)
	}
	if want := "[HIGH] Exec into pod: alice opened a shell in payments/api-7d9f"; issue.Title != want {
		t.Errorf("title %q, want %q", issue.Title, want)
	}
	if !slices.Equal(issue.Labels, []string{"vigia", "severity:high", wantLabel, "security"}) || !slices.Equal(issue.Assignees, []string{"oncall-bot"}) {
		t.Errorf("labels %q assignees %q", issue.Labels, issue.Assignees)
	}
	for _, want := range []string{
		"<!-- vigia:group=" + wantLabel + " -->\n",
		"**HIGH** · alice opened a shell in payments/api-7d9f",
		"| Identity | `alice@example.com` |", "| Source IP | `203.0.113.7` |", "| Object | `payments/api-7d9f` |",
		"| Rule | `k8s.exec_into_pod` Exec into pod |", "| Tags | [T1609](https://attack.mitre.org/techniques/T1609/) |",
		"### Triage: first steps", "1. Confirm **who** ran it", "2. List recent exec calls with `kubectl get events -n <namespace>`.",
		"3. Read [the exec audit guide](https://docs.example/audit#exec) before acting.",
		"**Runbook:** [Shell opened in a running pod](" + baseURL + runbookPath + ")",
		"- `2025-03-04T05:06:07Z` `k8s.exec_into_pod` alice opened a shell in payments/api-7d9f (`alice@example.com`)",
	} {
		if !strings.Contains(issue.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, issue.Body)
		}
	}
	if strings.Contains(issue.Body, "Fourth step") {
		t.Errorf("more than 3 steps")
	}

	deliver(t, r, &notify.Notification{ID: "n2", GroupKey: groupKey, Status: notify.StatusFiring, Total: 3,
		Alerts: []*alert.Alert{testAlert("a2"), testAlert("a3")}, LastTime: time.Date(2025, 3, 4, 5, 30, 0, 0, time.UTC)}, st)
	deliver(t, r, &notify.Notification{ID: "n3", GroupKey: groupKey, Status: notify.StatusFiring, Total: 3}, st)
	issue = only(t, srv)
	if len(issue.Comments) != 2 || !strings.Contains(issue.Comments[0], "New alerts: 2 (3 in total") || !strings.Contains(issue.Comments[1], "Still firing: 3 alerts") {
		t.Fatalf("comments %q", issue.Comments)
	}

	deliver(t, r, resolved(3), st)
	issue = only(t, srv)
	if issue.State != "closed" || issue.StateReason != "completed" || len(issue.Comments) != 3 || !strings.Contains(issue.Comments[2], "Resolved by Vigia") {
		t.Errorf("after resolve: %s %s %q", issue.State, issue.StateReason, issue.Comments)
	}
	// The group fires again: the closed issue is not reused.
	if st2 := deliver(t, r, firing(testAlert("a4")), nil); st2[StateNumber] != "2" {
		t.Errorf("state %v, want issue 2", st2)
	}
	for _, c := range srv.Calls() {
		if c.Auth != "bearer" {
			t.Errorf("%s %s auth %q", c.Method, c.Path, c.Auth)
		}
	}
}

func TestLostState(t *testing.T) {
	srv := newFake(t)
	r := newReceiver(t, config(t, srv))
	// A pull request with the group's label is not taken for the issue.
	srv.AddPullRequest("unrelated", wantLabel)
	st := deliver(t, r, firing(testAlert("a1")), nil)
	st2 := deliver(t, r, firing(testAlert("a2")), nil)
	if st2[StateNumber] != st[StateNumber] || st[StateNumber] != "2" {
		t.Fatalf("state %v then %v, want issue 2 both times", st, st2)
	}
	if issue := only(t, srv); len(issue.Comments) != 1 {
		t.Errorf("%d comments", len(issue.Comments))
	}
	deliver(t, r, resolved(2), nil)
	if issue := only(t, srv); issue.State != "closed" {
		t.Errorf("state %s after resolve without state", issue.State)
	}
	if _, err := r.Deliver(t.Context(), resolved(2), nil); err != nil {
		t.Errorf("resolve without issue: %v", err)
	}
	lists := 0
	for _, c := range srv.Calls() {
		if c.Method == http.MethodGet {
			lists++
			if !strings.Contains(c.Query, "labels="+wantLabel) || !strings.Contains(c.Query, "state=open") {
				t.Errorf("list query %q", c.Query)
			}
		}
	}
	if lists != 4 {
		t.Errorf("%d lists, want 4", lists)
	}
}

func TestDeletedIssue(t *testing.T) {
	srv := newFake(t)
	r := newReceiver(t, config(t, srv))
	st := deliver(t, r, firing(testAlert("a1")), nil)
	srv.Delete(1)
	st2 := deliver(t, r, firing(testAlert("a2")), st)
	if st2[StateNumber] != "2" {
		t.Errorf("state %v, want a new issue", st2)
	}
	if _, err := r.Deliver(t.Context(), resolved(2), st); err != nil {
		t.Errorf("resolving a deleted issue: %v", err)
	}
}

func TestRateLimits(t *testing.T) {
	t.Run("secondary 403 Retry-After", func(t *testing.T) {
		srv := newFake(t)
		srv.SecondaryRateLimitNext(1, http.StatusForbidden, 42*time.Second)
		_, err := newReceiver(t, config(t, srv)).Deliver(t.Context(), firing(testAlert("a1")), nil)
		if d, ok := notify.RetryAfter(err); !ok || d != 42*time.Second || notify.IsPermanent(err) {
			t.Fatalf("err = %v (%s)", err, d)
		}
		// go-github remembers the limit; a new client (as after the wait) succeeds.
		deliver(t, newReceiver(t, config(t, srv)), firing(testAlert("a1")), nil)
		only(t, srv)
	})
	t.Run("secondary 429 without header", func(t *testing.T) {
		srv := newFake(t)
		srv.SecondaryRateLimitNext(1, http.StatusTooManyRequests, 0)
		_, err := newReceiver(t, config(t, srv)).Deliver(t.Context(), firing(testAlert("a1")), nil)
		if d, ok := notify.RetryAfter(err); !ok || d != secondaryWait {
			t.Fatalf("err = %v (%s), want retry after a minute", err, d)
		}
	})
	t.Run("primary 403 reset", func(t *testing.T) {
		srv := newFake(t)
		srv.PrimaryRateLimitNext(1, time.Now().Add(90*time.Second))
		_, err := newReceiver(t, config(t, srv)).Deliver(t.Context(), firing(testAlert("a1")), nil)
		if d, ok := notify.RetryAfter(err); !ok || d < 80*time.Second || d > 91*time.Second || notify.IsPermanent(err) {
			t.Fatalf("err = %v (%s), want retry after about 90s", err, d)
		}
	})
	t.Run("5xx retryable", func(t *testing.T) {
		srv := newFake(t)
		srv.FailNext(1, http.StatusBadGateway)
		_, err := newReceiver(t, config(t, srv)).Deliver(t.Context(), firing(testAlert("a1")), nil)
		if err == nil || notify.IsPermanent(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
		if _, ok := notify.RetryAfter(err); ok {
			t.Errorf("retry-after without header: %v", err)
		}
	})
}

func TestPermanent(t *testing.T) {
	for _, tt := range []struct {
		name string
		srv  func(t testing.TB) *githubfake.Server
		cfg  func(*Config)
		want string
	}{
		{"bad credentials", newFake, func(c *Config) { c.TokenFile = tokenFile(t, "ghp_wrong") }, "HTTP 401: Bad credentials"},
		{"unknown repo", newFake, func(c *Config) { c.Repo = "nope" }, "HTTP 404"},
		{"not a collaborator", newFake, func(c *Config) { c.Assignees = []string{"mallory"} }, "HTTP 422: Validation Failed; assignees"},
		{"issues disabled", func(t testing.TB) *githubfake.Server {
			return githubfake.New(t, testToken, owner, repo, githubfake.WithIssuesDisabled())
		}, func(c *Config) { c.Assignees = nil }, "HTTP 410"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.srv(t)
			cfg := config(t, srv)
			tt.cfg(&cfg)
			_, err := newReceiver(t, cfg).Deliver(t.Context(), firing(testAlert("a1")), nil)
			if !notify.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want permanent %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "ghp_wrong") || strings.Contains(err.Error(), testToken) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestGitHubDotCom(t *testing.T) {
	// Without base_url the client talks to api.github.com; point its base
	// at the fake's root to check the paths it uses there.
	srv := newFake(t)
	cfg := config(t, srv)
	cfg.BaseURL = ""
	r := newReceiver(t, cfg)
	if got := r.client.BaseURL.String(); got != "https://api.github.com/" {
		t.Errorf("default base %s", got)
	}
	r.client.BaseURL, _ = r.client.BaseURL.Parse(srv.URL())
	deliver(t, r, firing(testAlert("a1")), nil)
	if calls := srv.Calls(); len(calls) != 2 || calls[1].Path != "/repos/acme/security-incidents/issues" {
		t.Errorf("calls %+v", calls)
	}
}

func TestTruncation(t *testing.T) {
	for _, fill := range []string{"ç", "🔥", "a"} {
		t.Run(fill, func(t *testing.T) {
			srv := newFake(t)
			cfg := config(t, srv)
			cfg.MaxAlerts = 1000
			r := newReceiver(t, cfg)
			var alerts []*alert.Alert
			for i := range 80 {
				a := testAlert(fmt.Sprint("a", i))
				a.Summary = strings.Repeat(fill, 3000)
				a.Entity.Identity = strings.Repeat(fill, 3000)
				alerts = append(alerts, a)
			}
			st := deliver(t, r, firing(alerts...), nil)
			deliver(t, r, firing(alerts...), st)
			issue := only(t, srv)
			if n := utf8.RuneCountInString(issue.Title); !utf8.ValidString(issue.Title) || n != maxTitle || !strings.HasSuffix(issue.Title, "…") {
				t.Errorf("title (%d runes) %q", n, issue.Title)
			}
			if n := utf8.RuneCountInString(issue.Body); n > maxBody || !strings.Contains(issue.Body, "more.") {
				t.Errorf("body %d runes", n)
			}
		})
	}
}

// hostile is text an attacker controls.
const hostile = "@octocat see #1, GH-7 and acme/other#2 [click](https://evil.example) ![x](https://evil.example/p.png) <img src=x onerror=alert(1)> **b** `c` | cell | &#64;team www.evil.example https://evil.example/x"

func TestEscaping(t *testing.T) {
	srv := newFake(t)
	r := newReceiver(t, config(t, srv))
	a := testAlert("a1")
	a.Summary, a.Entity.Identity, a.Context.UserAgent, a.Entity.Pod = hostile, hostile, hostile, "pod|with`ticks"
	st := deliver(t, r, firing(a), nil)
	deliver(t, r, firing(a), st)
	issue := only(t, srv)
	for _, body := range append([]string{issue.Body}, issue.Comments...) {
		// Outside code spans no mention, reference, link, image, HTML or
		// entity may survive.
		prose := regexp.MustCompile("`[^`]*`").ReplaceAllString(body, "")
		prose = strings.ReplaceAll(prose, "(https://git.example/vigia/blob/main/runbooks/k8s/exec-into-pod.md)", "")
		prose = strings.ReplaceAll(prose, "(https://docs.example/audit#exec)", "")
		prose = strings.ReplaceAll(prose, "[T1609](https://attack.mitre.org/techniques/T1609/)", "")
		for _, bad := range []*regexp.Regexp{
			regexp.MustCompile(`@[A-Za-z0-9]`), regexp.MustCompile(`#[0-9]`), regexp.MustCompile(`(?i)\bgh-[0-9]`), regexp.MustCompile(`[^\\]\]\(`),
			regexp.MustCompile(`[^\\]<img`), regexp.MustCompile(`&#`), regexp.MustCompile(`https?://`), regexp.MustCompile(`www\.`),
		} {
			if m := bad.FindString(prose); m != "" {
				t.Errorf("%q survived in prose:\n%s", m, prose)
			}
		}
	}
	// Identities stay readable in code spans, pipes escaped in the table.
	if !strings.Contains(issue.Body, "| Pod | `pod\\|with'ticks` |") {
		t.Errorf("pod cell:\n%s", issue.Body)
	}
	if strings.Count(issue.Body, "\n| ") != strings.Count(issue.Body, " |\n") {
		t.Errorf("a table row is broken:\n%s", issue.Body)
	}
}

func TestNoSecrets(t *testing.T) {
	secrets := []string{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlMTIz", "hunter2-very-secret", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}
	srv := newFake(t)
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
			if strings.Contains(c.Body, s) || strings.Contains(c.Query, s) {
				t.Errorf("%s %s carries secret %q", c.Method, c.Path, s)
			}
		}
	}
	if !strings.Contains(only(t, srv).Title, "[REDACTED]") {
		t.Errorf("title not redacted: %q", only(t, srv).Title)
	}
}

func TestLocale(t *testing.T) {
	srv := newFake(t)
	r := newReceiver(t, config(t, srv))
	n := firing(testAlert("a1"))
	n.Locale = "pt-BR"
	deliver(t, r, n, nil)
	body := only(t, srv).Body
	for _, want := range []string{"### Triagem: primeiros passos", "1. Confirme **quem** executou", "| Identidade | `alice@example.com` |",
		"[Shell aberto em um pod em execução](" + baseURL + "runbooks/pt-BR/k8s/exec-into-pod.md)"} {
		if !strings.Contains(body, want) {
			t.Errorf("pt-BR body lacks %q:\n%s", want, body)
		}
	}
}

func TestTokenRotation(t *testing.T) {
	srv := newFake(t)
	cfg := config(t, srv)
	file := tokenFile(t, "expired-installation-token")
	cfg.TokenFile = file
	r := newReceiver(t, cfg)
	if _, err := r.Deliver(t.Context(), firing(testAlert("a1")), nil); !notify.IsPermanent(err) {
		t.Fatalf("old token: %v", err)
	}
	if err := os.WriteFile(file, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	deliver(t, r, firing(testAlert("a1")), nil)

	cfg.TokenFile, cfg.TokenEnv = "", "VIGIA_TEST_GITHUB_TOKEN"
	t.Setenv("VIGIA_TEST_GITHUB_TOKEN", "")
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "VIGIA_TEST_GITHUB_TOKEN") {
		t.Errorf("unset variable: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{TokenEnv: "GITHUB_TOKEN", Owner: "acme", Repo: "sec.incidents"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for _, tt := range []struct {
		mutate func(*Config)
		field  string
	}{
		{func(c *Config) { c.BaseURL = "ghe.example.com" }, "base_url"},
		{func(c *Config) { c.BaseURL = "https://x:y@ghe.example.com" }, "base_url"},
		{func(c *Config) { c.TokenEnv = "" }, "token_env"},
		{func(c *Config) { c.TokenFile = "/t" }, "token_env"},
		{func(c *Config) { c.Owner = "" }, "owner"},
		{func(c *Config) { c.Owner = "acme/sec" }, "owner"},
		{func(c *Config) { c.Repo = "a b" }, "repo"},
		{func(c *Config) { c.Labels = []string{strings.Repeat("l", 51)} }, "labels[0]"},
		{func(c *Config) { c.Labels = []string{"a,b"} }, "labels[0]"},
		{func(c *Config) { c.Assignees = []string{"@alice"} }, "assignees[0]"},
		{func(c *Config) { c.RunbookBaseURL = "x" }, "runbook_base_url"},
		{func(c *Config) { c.MaxAlerts = -2 }, "max_alerts"},
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
base_url: https://ghe.acme.example/api/v3/
token_file: /var/run/secrets/vigia/github-token
owner: acme
repo: security-incidents
labels: [security]
assignees: [secops-bot]
runbook_base_url: https://github.com/acme/vigia/blob/main/
first_steps: 3
timeout: 5s
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 5*time.Second || c.Assignees[0] != "secops-bot" {
		t.Errorf("decoded %+v", c)
	}
}

func FuzzText(f *testing.F) {
	f.Add(hostile)
	f.Add("@@a ##1 hxxps://x")
	f.Fuzz(func(t *testing.T, s string) {
		got := text(s, 500)
		for _, bad := range []*regexp.Regexp{regexp.MustCompile(`@[A-Za-z0-9]`), regexp.MustCompile(`#[0-9]`), regexp.MustCompile(`(?i)\bgh-[0-9]`), regexp.MustCompile(`(?i)https?://`)} {
			if m := bad.FindString(got); m != "" {
				t.Fatalf("text(%q) = %q keeps %q", s, got, m)
			}
		}
		if strings.ContainsAny(got, "\n\r") || !utf8.ValidString(got) {
			t.Fatalf("text(%q) = %q", s, got)
		}
	})
}

func BenchmarkBody(b *testing.B) {
	c := content{cfg: &Config{RunbookBaseURL: baseURL}, books: library(b)}
	n := firing(testAlert("a1"), testAlert("a2"), testAlert("a3"))
	b.ReportAllocs()
	for b.Loop() {
		_ = c.body(n, limits{alerts: 10, steps: 3})
	}
}

func BenchmarkDeliverRepeat(b *testing.B) {
	srv := newFake(b)
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
