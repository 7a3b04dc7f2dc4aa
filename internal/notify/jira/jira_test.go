package jira

import (
	"encoding/json"
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
	"github.com/vigia-dev/vigia/internal/notify/jira/jirafake"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/runbook"
)

const (
	testEmail   = "vigia-bot@example.com"
	testToken   = "jira-api-token-123"
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
		ID: "n-" + alerts[0].ID, Receiver: "jira", GroupKey: groupKey,
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod", "identity": "alice@example.com"},
		Status:      notify.StatusFiring, Alerts: alerts, Total: len(alerts),
		FirstTime: alerts[0].Time, LastTime: alerts[len(alerts)-1].Time,
	}
}

func resolved(total int) *notify.Notification {
	return &notify.Notification{
		ID: "n-resolved", Receiver: "jira", GroupKey: groupKey,
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod"},
		Status:      notify.StatusResolved, Total: total,
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

// tokenFile writes token to a file and returns its path.
func tokenFile(t testing.TB, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func config(t testing.TB, srv *jirafake.Server, version int) Config {
	return Config{
		URL: srv.URL(), APIVersion: version, Email: testEmail, APITokenFile: tokenFile(t, testToken),
		Project: "SEC", ResolveTransition: "Done", RunbookBaseURL: baseURL,
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

func only(t testing.TB, srv *jirafake.Server) jirafake.Issue {
	t.Helper()
	issues := srv.Issues()
	if len(issues) != 1 {
		t.Fatalf("%d issues, want 1: %+v", len(issues), issues)
	}
	return issues[0]
}

func TestLifecycle(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version int
		auth    string
	}{
		{"cloud v3 basic", 3, AuthBasic},
		{"server v2 bearer", 2, AuthBearer},
		{"v2 basic", 2, AuthBasic},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken), jirafake.WithBearer(testToken))
			cfg := config(t, srv, tt.version)
			cfg.Auth = tt.auth
			cfg.Labels = []string{"security", "vigia"}
			r := newReceiver(t, cfg)

			st := deliver(t, r, firing(testAlert("a1")), nil)
			issue := only(t, srv)
			if st[StateKey] != "SEC-1" || st[StateID] != issue.ID {
				t.Fatalf("state %v, want key SEC-1 and id %s", st, issue.ID)
			}
			if want := "[HIGH] Exec into pod: alice@example.com opened a shell in payments/api-7d9f"; issue.Summary != want {
				t.Errorf("summary %q, want %q", issue.Summary, want)
			}
			if !slices.Equal(issue.Labels, []string{"vigia", wantLabel, "security"}) {
				t.Errorf("labels %q", issue.Labels)
			}
			if issue.Priority != "High" || issue.IssueType != "Task" || issue.Version != tt.version {
				t.Errorf("priority %q, type %q, version %d", issue.Priority, issue.IssueType, issue.Version)
			}
			desc := issue.DescriptionText()
			if tt.version == 2 {
				desc = strings.ReplaceAll(desc, `\`, "") // wiki escapes
			}
			for _, want := range []string{
				"alice@example.com opened a shell", "203.0.113.7", "kubectl/v1.31.0", "payments/api-7d9f", "prod-eu",
				"Shell opened in a running pod", "Confirm", "who", "kubectl get events -n <namespace>", "the exec audit guide",
				wantLabel, "Alerts so far: 1", "T1609",
			} {
				if !strings.Contains(desc, want) {
					t.Errorf("description lacks %q:\n%s", want, desc)
				}
			}
			if strings.Contains(desc, "Fourth step") {
				t.Errorf("description shows more than 3 steps:\n%s", desc)
			}
			link := baseURL + runbookPath
			if tt.version == 2 {
				if !strings.Contains(desc, "[Shell opened in a running pod|"+link+"]") {
					t.Errorf("no wiki link to the runbook:\n%s", desc)
				}
			} else if !strings.Contains(string(issue.Description), `"href":"`+link+`"`) {
				t.Errorf("no ADF link to the runbook: %s", issue.Description)
			}
			if tt.version == 2 && !strings.Contains(issue.DescriptionText(), "[T1609|https://attack.mitre.org/techniques/T1609/]") {
				t.Errorf("no wiki link to the technique:\n%s", issue.DescriptionText())
			}

			// A repeat comments on the same issue.
			st2 := deliver(t, r, &notify.Notification{
				ID: "n2", GroupKey: groupKey, Status: notify.StatusFiring, Total: 3,
				Alerts: []*alert.Alert{testAlert("a2"), testAlert("a3")}, LastTime: time.Date(2025, 3, 4, 5, 30, 0, 0, time.UTC),
			}, st)
			if !maps(st2, st) {
				t.Errorf("state changed on repeat: %v -> %v", st, st2)
			}
			issue = only(t, srv)
			if len(issue.Comments) != 1 || !strings.Contains(issue.Comments[0].Text(), "New alerts: 2 (3 in total") {
				t.Fatalf("comments after repeat: %+v", issue.Comments)
			}

			// A reminder without alerts says it is still firing.
			deliver(t, r, &notify.Notification{ID: "n3", GroupKey: groupKey, Status: notify.StatusFiring, Total: 3}, st)
			issue = only(t, srv)
			if len(issue.Comments) != 2 || !strings.Contains(issue.Comments[1].Text(), "Still firing: 3 alerts") {
				t.Fatalf("comments after reminder: %+v", issue.Comments)
			}

			// Resolution: transition to Done and a comment.
			deliver(t, r, resolved(3), st)
			issue = only(t, srv)
			if issue.Status != jirafake.StatusDone || !slices.Equal(issue.Transitions, []string{"Done"}) {
				t.Errorf("after resolve: status %q, transitions %q", issue.Status, issue.Transitions)
			}
			if len(issue.Comments) != 3 || !strings.Contains(issue.Comments[2].Text(), "Resolved by Vigia") {
				t.Errorf("comments after resolve: %+v", issue.Comments)
			}

			// The group fires again later: a new issue (the old one is done).
			st3 := deliver(t, r, firing(testAlert("a4")), nil)
			if st3[StateKey] != "SEC-2" || len(srv.Issues()) != 2 {
				t.Errorf("after a new firing: state %v, %d issues", st3, len(srv.Issues()))
			}
			for _, c := range srv.Calls() {
				if c.Auth != tt.auth {
					t.Errorf("%s %s authenticated as %q, want %q", c.Method, c.Path, c.Auth, tt.auth)
				}
				if !strings.HasPrefix(c.Path, fmt.Sprintf("/rest/api/%d/", tt.version)) {
					t.Errorf("call to %s with api_version %d", c.Path, tt.version)
				}
			}
		})
	}
}

func maps(a, b notify.State) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestLostState: a crash between creating the issue and saving the state
// must not duplicate the issue: with an empty state the receiver finds the
// open issue by its label and comments on it.
func TestLostState(t *testing.T) {
	for _, version := range []int{2, 3} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) {
			srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
			r := newReceiver(t, config(t, srv, version))
			st := deliver(t, r, firing(testAlert("a1")), nil)

			st2 := deliver(t, r, firing(testAlert("a2")), nil)
			if !maps(st, st2) {
				t.Errorf("state after lookup %v, want %v", st2, st)
			}
			issue := only(t, srv)
			if len(issue.Comments) != 1 {
				t.Errorf("%d comments, want 1", len(issue.Comments))
			}
			// The resolution of a group whose state was lost finds it too.
			deliver(t, r, resolved(2), nil)
			if issue := only(t, srv); issue.Status != jirafake.StatusDone {
				t.Errorf("status %q after resolve without state", issue.Status)
			}
			// Resolving a group that has no issue is a no-op.
			if _, err := r.Deliver(t.Context(), resolved(2), nil); err != nil {
				t.Errorf("resolve without issue: %v", err)
			}
			search := 0
			for _, c := range srv.Calls() {
				if strings.Contains(c.Path, "/search") {
					search++
					if !strings.Contains(c.Body, `labels = \"`+wantLabel+`\"`) || !strings.Contains(c.Body, "statusCategory != Done") {
						t.Errorf("search body %s", c.Body)
					}
				}
			}
			if search != 4 {
				t.Errorf("%d searches, want 4 (create, lost repeat, lost resolve, resolve of nothing)", search)
			}
		})
	}
}

func TestResolveVariants(t *testing.T) {
	t.Run("comment only", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
		cfg := config(t, srv, 3)
		cfg.ResolveTransition = ""
		r := newReceiver(t, cfg)
		st := deliver(t, r, firing(testAlert("a1")), nil)
		deliver(t, r, resolved(1), st)
		issue := only(t, srv)
		if issue.Status != jirafake.StatusToDo || len(issue.Comments) != 1 {
			t.Fatalf("status %q, %d comments", issue.Status, len(issue.Comments))
		}
		// The issue stays open, so the group's next alerts go to it.
		deliver(t, r, firing(testAlert("a2")), nil)
		if issue := only(t, srv); len(issue.Comments) != 2 {
			t.Errorf("%d comments, want 2", len(issue.Comments))
		}
	})
	t.Run("already done", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
		r := newReceiver(t, config(t, srv, 3))
		st := deliver(t, r, firing(testAlert("a1")), nil)
		srv.SetStatus(st[StateKey], jirafake.StatusDone)
		deliver(t, r, resolved(1), st)
		if issue := only(t, srv); len(issue.Transitions) != 0 || len(issue.Comments) != 1 {
			t.Errorf("transitions %q, %d comments", issue.Transitions, len(issue.Comments))
		}
	})
	t.Run("by target status, with resolution", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
		cfg := config(t, srv, 2)
		cfg.ResolveTransition, cfg.Resolution = "done", "Fixed"
		r := newReceiver(t, cfg)
		st := deliver(t, r, firing(testAlert("a1")), nil)
		srv.SetStatus(st[StateKey], jirafake.StatusInProgress)
		deliver(t, r, resolved(1), st)
		if issue := only(t, srv); issue.Status != jirafake.StatusDone || issue.Resolution != "Fixed" {
			t.Errorf("status %q resolution %q", issue.Status, issue.Resolution)
		}
	})
	t.Run("transition missing", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
		cfg := config(t, srv, 3)
		cfg.ResolveTransition = "Closed"
		r := newReceiver(t, cfg)
		st := deliver(t, r, firing(testAlert("a1")), nil)
		_, err := r.Deliver(t.Context(), resolved(1), st)
		if !notify.IsPermanent(err) || !errors.Is(err, errNoTransition) || !strings.Contains(err.Error(), `"Start Progress"`) {
			t.Fatalf("err = %v, want permanent errNoTransition listing the offered transitions", err)
		}
		if issue := only(t, srv); len(issue.Comments) != 1 || issue.Status != jirafake.StatusToDo {
			t.Errorf("the resolution comment is still posted: %d comments, status %q", len(issue.Comments), issue.Status)
		}
	})
	t.Run("issue deleted", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
		r := newReceiver(t, config(t, srv, 3))
		st := deliver(t, r, firing(testAlert("a1")), nil)
		srv.Delete(st[StateKey])
		if _, err := r.Deliver(t.Context(), resolved(1), st); err != nil {
			t.Errorf("resolving a deleted issue: %v", err)
		}
	})
}

// TestDeletedIssue: a repeat for an issue that no longer exists opens a
// new one instead of failing for ever.
func TestDeletedIssue(t *testing.T) {
	srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
	r := newReceiver(t, config(t, srv, 3))
	st := deliver(t, r, firing(testAlert("a1")), nil)
	srv.Delete(st[StateKey])
	st2 := deliver(t, r, firing(testAlert("a2")), st)
	if st2[StateKey] != "SEC-2" {
		t.Errorf("state %v, want a new issue SEC-2", st2)
	}
	issue := only(t, srv)
	if issue.Key != "SEC-2" || !strings.Contains(issue.DescriptionText(), "alice@example.com") {
		t.Errorf("new issue %+v", issue)
	}
}

func TestErrors(t *testing.T) {
	t.Run("429 honoured", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
		r := newReceiver(t, config(t, srv, 3))
		srv.RateLimitNext(1, 7*time.Second)
		_, err := r.Deliver(t.Context(), firing(testAlert("a1")), nil)
		if d, ok := notify.RetryAfter(err); !ok || d != 7*time.Second || notify.IsPermanent(err) {
			t.Fatalf("err = %v (retry after %s, %v), want retryable after 7s", err, d, ok)
		}
		deliver(t, r, firing(testAlert("a1")), nil)
		only(t, srv)
	})
	t.Run("5xx retryable", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
		r := newReceiver(t, config(t, srv, 3))
		st := deliver(t, r, firing(testAlert("a1")), nil)
		srv.FailNext(1, http.StatusBadGateway)
		_, err := r.Deliver(t.Context(), firing(testAlert("a2")), st)
		if err == nil || notify.IsPermanent(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
		if _, ok := notify.RetryAfter(err); ok {
			t.Errorf("retry-after without a header: %v", err)
		}
		deliver(t, r, firing(testAlert("a2")), st)
		if issue := only(t, srv); len(issue.Comments) != 1 {
			t.Errorf("%d comments", len(issue.Comments))
		}
	})
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"unknown issue type", func(c *Config) { c.IssueType = "Epic" }, "issuetype: Specify a valid issue type"},
		{"unknown project", func(c *Config) { c.Project = "OPS" }, "project: Specify a valid project ID or key"},
		{"unknown priority", func(c *Config) { c.Priorities = map[string]string{"high": "P1"} }, "priority:"},
		{"wrong token", func(c *Config) { c.APITokenFile = tokenFile(t, "wrong-token") }, "HTTP 401"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
			cfg := config(t, srv, 3)
			tt.mutate(&cfg)
			r := newReceiver(t, cfg)
			_, err := r.Deliver(t.Context(), firing(testAlert("a1")), nil)
			if !notify.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want permanent with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "wrong-token") || strings.Contains(err.Error(), testToken) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
	t.Run("priority off the screen", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken), jirafake.WithPriorities())
		cfg := config(t, srv, 3)
		r := newReceiver(t, cfg)
		if _, err := r.Deliver(t.Context(), firing(testAlert("a1")), nil); !notify.IsPermanent(err) {
			t.Fatalf("err = %v, want permanent", err)
		}
		cfg.DisablePriority = true
		deliver(t, newReceiver(t, cfg), firing(testAlert("a1")), nil)
		if issue := only(t, srv); issue.Priority != "" {
			t.Errorf("priority %q", issue.Priority)
		}
	})
	t.Run("network error retryable", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
		cfg := config(t, srv, 3)
		cfg.URL = "http://127.0.0.1:1"
		_, err := newReceiver(t, cfg).Deliver(t.Context(), firing(testAlert("a1")), nil)
		if err == nil || notify.IsPermanent(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
	})
}

func TestTruncation(t *testing.T) {
	for _, version := range []int{2, 3} {
		for _, fill := range []string{"ç", "🔥", "a"} {
			t.Run(fmt.Sprintf("v%d %s", version, fill), func(t *testing.T) {
				srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
				r := newReceiver(t, config(t, srv, version))
				a := testAlert("a1")
				a.Summary = strings.Repeat(fill, 400)
				a.Entity.Identity = strings.Repeat(fill, 2000)
				deliver(t, r, firing(a), nil)
				issue := only(t, srv)
				if !utf8.ValidString(issue.Summary) || render.UTF16Len(issue.Summary) > maxSummary || !strings.HasSuffix(issue.Summary, "…") {
					t.Errorf("summary (%d units) %q", render.UTF16Len(issue.Summary), issue.Summary)
				}
				if render.UTF16Len(issue.Summary) < maxSummary-2 {
					t.Errorf("summary cut too short: %d units", render.UTF16Len(issue.Summary))
				}
				desc := issue.DescriptionText()
				if !utf8.ValidString(desc) || strings.Contains(desc, strings.Repeat(fill, maxValue)) {
					t.Errorf("identity not truncated to %d", maxValue)
				}
			})
		}
	}
}

// TestFitsLimit: however many alerts a notification carries, the text fits
// Jira's 32,767 characters.
func TestFitsLimit(t *testing.T) {
	for _, version := range []int{2, 3} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) {
			srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
			cfg := config(t, srv, version)
			cfg.MaxAlerts = 1000
			r := newReceiver(t, cfg)
			var alerts []*alert.Alert
			for i := range 100 {
				a := testAlert(fmt.Sprint("a", i))
				a.Summary = strings.Repeat("x", 600)
				a.Entity.Identity = strings.Repeat("y", 600)
				alerts = append(alerts, a)
			}
			st := deliver(t, r, firing(alerts...), nil)
			deliver(t, r, firing(alerts...), st)
			issue := only(t, srv)
			if len(issue.Comments) != 1 || !strings.Contains(issue.DescriptionText(), "more") {
				t.Errorf("%d comments; description ends %q", len(issue.Comments), tail(issue.DescriptionText()))
			}
		})
	}
}

func tail(s string) string { return s[max(0, len(s)-200):] }

// hostile is text an attacker controls (a user name, a pod name).
const hostile = "[~admin] {color:red}x{color} *bold* _it_ !http://evil.example/x.png! |cell| [click|http://evil.example] h1. big \\\\ @here"

func TestEscaping(t *testing.T) {
	t.Run("v2 wiki", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
		r := newReceiver(t, config(t, srv, 2))
		a := testAlert("a1")
		a.Entity.Identity, a.Summary, a.Context.UserAgent = hostile, hostile, hostile
		deliver(t, r, firing(a), nil)
		desc := only(t, srv).DescriptionText()
		// Drop every escaped character: what remains is markup.
		markup := regexp.MustCompile(`\\.`).ReplaceAllString(desc, "")
		for _, raw := range []string{"[~admin]", "{color:red}", "*bold*", "_it_", "!http", "|cell|", "[click|", "\\\\"} {
			if strings.Contains(markup, raw) {
				t.Errorf("unescaped %q in\n%s", raw, desc)
			}
		}
		for _, esc := range []string{`\[\~admin\]`, `\{color:red\}`, `\*bold\*`, `\_it\_`, `\!http`, `\|cell\|`, `{{\[\~admin\]`, "big ＼＼ @here"} {
			if !strings.Contains(desc, esc) {
				t.Errorf("missing escaped %q in\n%s", esc, desc)
			}
		}
	})
	t.Run("v3 adf", func(t *testing.T) {
		srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
		r := newReceiver(t, config(t, srv, 3))
		a := testAlert("a1")
		a.Entity.Identity, a.Summary = hostile, hostile
		deliver(t, r, firing(a), nil)
		issue := only(t, srv)
		nodes := jirafake.ADFNodes(issue.Description)
		if slices.Contains(nodes, "mention") || slices.Contains(nodes, "inlineCard") {
			t.Errorf("ADF has nodes built from text: %q", nodes)
		}
		links := 0
		for _, n := range nodes {
			if n == "mark:link" {
				links++
			}
		}
		if links != 3 { // the runbook, the link in its third step, the ATT&CK technique
			t.Errorf("%d links, want 3 (runbook title, step, technique): %s", links, issue.Description)
		}
		if !strings.Contains(issue.DescriptionText(), hostile) {
			t.Errorf("hostile text not carried verbatim as text:\n%s", issue.DescriptionText())
		}
	})
}

// TestNoSecrets: credentials that slipped into an alert's fields never
// reach Jira.
func TestNoSecrets(t *testing.T) {
	secrets := []string{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlMTIz", "hunter2-very-secret", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}
	for _, version := range []int{2, 3} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) {
			srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
			r := newReceiver(t, config(t, srv, version))
			a := testAlert("a1")
			a.Summary = "curl -H 'Authorization: Bearer " + secrets[0] + "' by alice"
			a.Rule.Title = "Leak password=" + secrets[1]
			a.Context.UserAgent = "tool token=" + secrets[2]
			a.Entity.Identity = "alice\nAuthorization:\nBearer " + secrets[0]
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
			if !strings.Contains(only(t, srv).Summary, "[REDACTED]") {
				t.Errorf("summary %q not redacted", only(t, srv).Summary)
			}
		})
	}
}

func TestLocale(t *testing.T) {
	srv := jirafake.New(t, jirafake.WithBasic(testEmail, testToken))
	r := newReceiver(t, config(t, srv, 3))
	n := firing(testAlert("a1"))
	n.Locale = "pt-BR"
	deliver(t, r, n, nil)
	issue := only(t, srv)
	desc := issue.DescriptionText()
	for _, want := range []string{"Shell aberto em um pod", "Confirme", "Triagem: primeiros passos", "Alertas até agora: 1", "Identidade"} {
		if !strings.Contains(desc, want) {
			t.Errorf("pt-BR description lacks %q:\n%s", want, desc)
		}
	}
	if !strings.Contains(string(issue.Description), baseURL+"runbooks/pt-BR/k8s/exec-into-pod.md") {
		t.Errorf("link is not to the translation: %s", issue.Description)
	}
}

func TestCredential(t *testing.T) {
	srv := jirafake.New(t, jirafake.WithBearer("rotated-token"))
	cfg := config(t, srv, 2)
	cfg.Auth = AuthBearer
	file := tokenFile(t, "old-token")
	cfg.APITokenFile = file
	r := newReceiver(t, cfg)
	if _, err := r.Deliver(t.Context(), firing(testAlert("a1")), nil); !notify.IsPermanent(err) {
		t.Fatalf("old token: err = %v, want permanent 401", err)
	}
	if err := os.WriteFile(file, []byte("rotated-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	deliver(t, r, firing(testAlert("a1")), nil)

	cfg.APITokenFile, cfg.APITokenEnv = "", "VIGIA_TEST_JIRA_TOKEN"
	t.Setenv("VIGIA_TEST_JIRA_TOKEN", "")
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "VIGIA_TEST_JIRA_TOKEN") {
		t.Errorf("New with an unset variable: %v", err)
	}
	t.Setenv("VIGIA_TEST_JIRA_TOKEN", "rotated-token")
	deliver(t, newReceiver(t, cfg), firing(testAlert("a1")), nil)

	cfg.APITokenEnv, cfg.APITokenFile = "", filepath.Join(t.TempDir(), "missing")
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("New with a missing file: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{URL: "https://acme.atlassian.net", Email: "a@b.c", APITokenEnv: "JIRA_TOKEN", Project: "SEC"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range []struct {
		mutate func(*Config)
		field  string
	}{
		{func(c *Config) { c.URL = "" }, "url"},
		{func(c *Config) { c.URL = "acme.atlassian.net" }, "url"},
		{func(c *Config) { c.URL = "https://u:p@acme.atlassian.net" }, "url"},
		{func(c *Config) { c.APIVersion = 4 }, "api_version"},
		{func(c *Config) { c.Auth = "oauth" }, "auth"},
		{func(c *Config) { c.Email = "" }, "email"},
		{func(c *Config) { c.APITokenEnv = "" }, "api_token_env"},
		{func(c *Config) { c.APITokenFile = "/x" }, "api_token_env"},
		{func(c *Config) { c.APITokenEnv = "BAD-NAME" }, "api_token_env"},
		{func(c *Config) { c.Project = "sec" }, "project"},
		{func(c *Config) { c.Labels = []string{"has space"} }, "labels[0]"},
		{func(c *Config) { c.Priorities = map[string]string{"urgent": "P1"} }, "priorities"},
		{func(c *Config) { c.Resolution = "Done" }, "resolution"},
		{func(c *Config) { c.RunbookBaseURL = "/relative" }, "runbook_base_url"},
		{func(c *Config) { c.FirstSteps = -1 }, "first_steps"},
		{func(c *Config) { c.MaxAlerts = -1 }, "max_alerts"},
		{func(c *Config) { c.Timeout = -time.Second }, "timeout"},
	} {
		c := ok
		tt.mutate(&c)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%+v: err = %v, want field %s", c, err, tt.field)
		}
	}
	bearer := ok
	bearer.Auth, bearer.Email = AuthBearer, ""
	if err := bearer.Validate(); err != nil {
		t.Errorf("bearer without email: %v", err)
	}
}

// TestYAML: the Config decodes from the configuration file's YAML.
func TestYAML(t *testing.T) {
	const doc = `
url: https://acme.atlassian.net
api_version: 3
auth: basic
email: vigia-bot@acme.example
api_token_env: JIRA_API_TOKEN
project: SEC
issue_type: Bug
labels: [security, k8s]
priorities: {critical: Highest, high: High}
resolve_transition: Done
resolution: Fixed
runbook_base_url: https://github.com/acme/vigia/blob/main/
first_steps: 2
max_alerts: 5
timeout: 15s
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 15*time.Second || c.Priorities["high"] != "High" || c.IssueType != "Bug" || len(c.Labels) != 2 || c.Resolution != "Fixed" {
		t.Errorf("decoded %+v", c)
	}
}

func TestDedup(t *testing.T) {
	if got := notify.DedupKey("ABCDEF0123456789abcdef0123456789ff"); got != "vigia-abcdef0123456789abcdef0123456789" {
		t.Errorf("hex key: %s", got)
	}
	a, b := notify.DedupKey("not hex"), notify.DedupKey("not hex either")
	if a == b || len(a) != len("vigia-")+32 || checkLabel(a) != nil {
		t.Errorf("hashed keys %s %s", a, b)
	}
}

func TestADFValid(t *testing.T) {
	c := content{cfg: &Config{RunbookBaseURL: baseURL}, books: library(t)}
	a := testAlert("a1")
	a.Summary = ""
	a.Context = alert.Context{}
	for _, blocks := range [][]block{
		c.description(firing(a), limits{alerts: 10, steps: 3}),
		c.description(&notify.Notification{GroupKey: "k"}, limits{}),
		c.update(firing(testAlert("a"), testAlert("b")), limits{alerts: 1}),
		c.resolution(resolved(1), limits{}),
	} {
		raw, err := json.Marshal(adf(blocks))
		if err != nil {
			t.Fatal(err)
		}
		if probs := jirafake.ValidateADF(raw); len(probs) > 0 {
			t.Errorf("invalid ADF: %q\n%s", probs, raw)
		}
	}
}

func FuzzEscapeWiki(f *testing.F) {
	f.Add(hostile)
	f.Add("{{code}} \\ [x|y]")
	f.Fuzz(func(t *testing.T, s string) {
		e := escapeWiki(s)
		prevEscape := false
		for _, r := range e {
			if r == '\\' {
				prevEscape = !prevEscape
				continue
			}
			if strings.ContainsRune(wikiSpecial, r) && !prevEscape {
				t.Fatalf("unescaped %q in %q", r, e)
			}
			prevEscape = false
		}
		if strings.Contains(e, `\\`) {
			t.Fatalf("doubled backslash (a line break) in %q", e)
		}
	})
}

func FuzzTruncate(f *testing.F) {
	f.Add("héllo wörld 🔥🔥", 5)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%400 + 1
		if max < 1 {
			max = -max + 1
		}
		got := render.ShortenUTF16(render.Scrub(s), max)
		if !utf8.ValidString(got) || render.UTF16Len(got) > max {
			t.Fatalf("truncate(%q, %d) = %q (%d units)", s, max, got, render.UTF16Len(got))
		}
	})
}

func BenchmarkDescriptionADF(b *testing.B) {
	c := content{cfg: &Config{RunbookBaseURL: baseURL}, books: library(b)}
	n := firing(testAlert("a1"), testAlert("a2"), testAlert("a3"))
	b.ReportAllocs()
	for b.Loop() {
		doc := adf(c.description(n, limits{alerts: 10, steps: 3}))
		if _, err := json.Marshal(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeliverRepeat(b *testing.B) {
	srv := jirafake.New(b, jirafake.WithBasic(testEmail, testToken))
	r := newReceiver(b, config(b, srv, 3))
	st := deliver(b, r, firing(testAlert("a1")), nil)
	n := firing(testAlert("a2"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Deliver(b.Context(), n, st); err != nil {
			b.Fatal(err)
		}
	}
}
