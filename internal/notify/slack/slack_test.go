package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/slack/slackfake"
	"github.com/vigia-dev/vigia/internal/runbook"
)

const (
	testToken   = "xoxb-test-token"
	testChannel = "#security-alerts"
	runbookPath = "runbooks/k8s/exec-into-pod.md"
	baseURL     = "https://git.example/vigia/blob/main/"
)

func testAlert() *alert.Alert {
	return &alert.Alert{
		ID:       "a1b2c3",
		Rule:     alert.Rule{ID: "k8s.exec_into_pod", Title: "Exec into pod", Severity: alert.SeverityHigh, Tags: []string{"T1609", "T1610"}},
		Time:     time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 3600)),
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

func library(t testing.TB) *runbook.Library {
	t.Helper()
	rb, err := runbook.Load("testdata", runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	lib := runbook.NewLibrary()
	lib.Add(rb)
	return lib
}

func newNotifier(t testing.TB, cfg Config, books *runbook.Library) *Notifier {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if cfg.Channel == "" {
		cfg.Channel = testChannel
	}
	n, err := New(cfg, books)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// texts returns every "text" string in the blocks, and whether each mrkdwn
// text object is verbatim.
func texts(t testing.TB, blocks []map[string]any) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if s, ok := v["text"].(string); ok {
				out = append(out, s)
				if v["type"] == "mrkdwn" && v["verbatim"] != true {
					t.Errorf("mrkdwn text object not verbatim: %q", s)
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	for _, b := range blocks {
		walk(b)
	}
	return out
}

func TestNotify(t *testing.T) {
	tests := []struct {
		name     string
		baseURL  string
		books    bool
		want     []string
		dontWant []string
	}{
		{
			name:    "runbook linked",
			baseURL: baseURL,
			books:   true,
			want: []string{
				":large_orange_circle: HIGH: Exec into pod",
				"alice@example.com opened a shell in payments/api-7d9f",
				"identity: `alice@example.com`", "source IP: `203.0.113.7`", "user agent: `kubectl/v1.31.0`",
				"action: `create`", "resource: `pods/exec`", "object: `payments/api-7d9f`", "outcome: `allowed`",
				"cluster: `prod-eu`", "namespace: `payments`", "pod: `api-7d9f`",
				"2025-03-04T04:06:07Z", "tags: `T1609` `T1610`",
				"*Runbook:* <" + baseURL + runbookPath + "|Exec into a pod>",
				"1. Confirm who ran the exec: check `user.username` in the audit event &amp; the source IP.",
				"2. Check whether the pod runs a *privileged* workload",
				"3. Look for follow-up activity from the same identity, see <https://example.com/guide?a=1&amp;b=2|audit guide>.",
				"rule `k8s.exec_into_pod`", "dedup `d3d0p`", "alert `a1b2c3`",
			},
			dontWant: []string{"4. Fourth step"},
		},
		{
			name:  "no base URL shows the path",
			books: true,
			want:  []string{"*Runbook:* Exec into a pod `" + runbookPath + "`", "1. Confirm who"},
		},
		{
			name:     "runbook not loaded",
			baseURL:  baseURL,
			want:     []string{"*Runbook:* <" + baseURL + runbookPath + "|Exec into a pod>"},
			dontWant: []string{"1. Confirm"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := slackfake.New(t, testToken)
			var books *runbook.Library
			if tt.books {
				books = library(t)
			}
			n := newNotifier(t, Config{APIURL: srv.URL(), RunbookBaseURL: tt.baseURL}, books)
			if retry, err := n.Notify(t.Context(), testAlert()); err != nil {
				t.Fatalf("Notify: retry=%v err=%v", retry, err)
			}
			msgs := srv.WaitMessages(t, 1, 5*time.Second)
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.Channel != testChannel {
				t.Errorf("channel %q, want %q", m.Channel, testChannel)
			}
			if want := "[HIGH] Exec into pod: alice@example.com opened a shell in payments/api-7d9f"; m.Text != want {
				t.Errorf("fallback text %q, want %q", m.Text, want)
			}
			if m.Params["unfurl_links"] != "false" || m.Params["unfurl_media"] != "false" {
				t.Errorf("unfurling not disabled: %v", m.Params)
			}
			all := strings.Join(texts(t, m.Blocks), "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("blocks lack %q; texts:\n%s", w, all)
				}
			}
			for _, w := range tt.dontWant {
				if strings.Contains(all, w) {
					t.Errorf("blocks contain %q", w)
				}
			}
			if m.Blocks[0]["type"] != "header" {
				t.Errorf("first block %v, want header", m.Blocks[0]["type"])
			}
		})
	}
}

func TestNotifyNeutralizesInjection(t *testing.T) {
	a := testAlert()
	a.Entity.Identity = "<!channel> *boss* `x` <@U0123ABCD>"
	a.Summary = "<!here> click <https://evil.example|here> `code` *bold* <#C0123ABCD>\n> quoted"
	a.Entity.Pod = "<!everyone>"
	a.Context.Name = "a<https://evil.example>b"
	a.Context.UserAgent = "curl\n<!channel>\u202Egnp.exe"
	a.Rule.Title = "Title <!subteam^S123>"
	a.Rule.Tags = []string{"<!channel>"}

	srv := slackfake.New(t, testToken)
	n := newNotifier(t, Config{APIURL: srv.URL(), RunbookBaseURL: baseURL}, library(t))
	if _, err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	m := srv.WaitMessages(t, 1, 5*time.Second)[0]
	for _, s := range append(texts(t, m.Blocks), m.Text) {
		if strings.ContainsAny(withoutTrustedLinks(s), "<>") {
			t.Errorf("unescaped < or > in %q", s)
		}
		if strings.Contains(s, "\u202E") {
			t.Errorf("bidi override kept in %q", s)
		}
	}
	all := strings.Join(texts(t, m.Blocks), "\n")
	for _, want := range []string{
		"identity: `&lt;!channel&gt; *boss* 'x' &lt;@U0123ABCD&gt;`",
		"&lt;!here&gt; click &lt;https://evil.example|here&gt; 'code' *bold* &lt;#C0123ABCD&gt; &gt; quoted",
		"pod: `&lt;!everyone&gt;`",
		"user agent: `curl &lt;!channel&gt;gnp.exe`",
		"tags: `&lt;!channel&gt;`",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("blocks lack %q; texts:\n%s", want, all)
		}
	}
	if strings.Contains(m.RawBlocks, "<!") || strings.Contains(m.RawBlocks, "<@") || strings.Contains(m.RawBlocks, "<https://evil") {
		t.Errorf("raw blocks carry an unescaped mention or link: %s", m.RawBlocks)
	}
}

func TestNotifyLimits(t *testing.T) {
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	manySteps := "# Big\n\n## Triage\n\n" + long("1. "+long("passo ção ", 100)+"\n", 20)
	tests := []struct {
		name       string
		edit       func(*alert.Alert)
		runbook    string // markdown replacing the fixture
		firstSteps int
		want       string // a text that must be present
	}{
		{"summary of 10000 multi-byte runes", func(a *alert.Alert) { a.Summary = long("ção", 3334) }, "", 0, "çã…"},
		{"title of 500 multi-byte runes", func(a *alert.Alert) { a.Rule.Title = long("ção", 167) }, "", 0, "HIGH: çãoção"},
		{"title of 500 emoji", func(a *alert.Alert) { a.Rule.Title = long("🚨", 500) }, "", 0, "🚨…"},
		{"summary of escapes", func(a *alert.Alert) { a.Summary = long("<&>", 2000) }, "", 0, "&lt;&amp;&gt;"},
		{"identity of 5000 ampersands", func(a *alert.Alert) { a.Entity.Identity = long("&", 5000) }, "", 0, "&amp;…`"},
		{"every field long", func(a *alert.Alert) {
			a.Entity.Identity, a.Context.SourceIP, a.Context.UserAgent = long("ú", 3000), long("1", 3000), long("🚀", 3000)
			a.Context.Action, a.Context.Resource, a.Context.Name, a.Context.Outcome = long("a", 3000), long("r", 3000), long("n", 3000), long("o", 3000)
			a.Context.Cluster, a.Entity.Namespace, a.Entity.Pod, a.Context.Source = long("c", 3000), long("n", 3000), long("p", 3000), long("s", 3000)
			a.ID, a.DedupKey, a.Rule.ID = long("i", 3000), long("d", 3000), long("r", 3000)
		}, "", 0, "…`"},
		{"2000 tags", func(a *alert.Alert) { a.Rule.Tags = strings.Fields(long("T1234.001 ", 2000)) }, "", 0, "`T1234.001` …"},
		{"invalid UTF-8", func(a *alert.Alert) { a.Entity.Identity = "al\xffice\xc3"; a.Summary = "\xe2\x82" }, "", 0, "al\uFFFDice\uFFFD"},
		{"empty values", func(a *alert.Alert) { *a = alert.Alert{} }, "", 0, "identity: —"},
		{"20 long runbook steps", nil, manySteps, 20, "passo ção"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			books := library(t)
			a := testAlert()
			if tt.runbook != "" {
				rb, err := runbook.Parse(runbookPath, []byte(tt.runbook))
				if err != nil {
					t.Fatal(err)
				}
				books = runbook.NewLibrary()
				books.Add(rb)
			}
			if tt.edit != nil {
				tt.edit(a)
			}
			srv := slackfake.New(t, testToken)
			n := newNotifier(t, Config{APIURL: srv.URL(), RunbookBaseURL: baseURL, FirstSteps: tt.firstSteps}, books)
			if retry, err := n.Notify(t.Context(), a); err != nil {
				t.Fatalf("Notify: retry=%v err=%v (calls %+v)", retry, err, srv.Calls())
			}
			m := srv.WaitMessages(t, 1, 5*time.Second)[0]
			ts := texts(t, m.Blocks)
			for _, s := range append(ts, m.Text) {
				if !utf8.ValidString(s) {
					t.Errorf("invalid UTF-8: %q", s)
				}
			}
			if !strings.Contains(strings.Join(ts, "\n"), tt.want) {
				t.Errorf("blocks lack %q", tt.want)
			}
			if n := utf8.RuneCountInString(m.Text); n > maxFallback {
				t.Errorf("fallback text has %d runes", n)
			}
		})
	}
}

func TestNotifyErrors(t *testing.T) {
	type check struct {
		retry      bool
		retryAfter time.Duration // 0: no RetryAfterError
		contains   string
	}
	tests := []struct {
		name  string
		setup func(*slackfake.Server)
		cfg   func(*Config)
		opts  []slackfake.Option
		want  check
	}{
		{"rate limited", func(s *slackfake.Server) { s.RateLimitNext(1, 3*time.Second) }, nil, nil, check{true, 3 * time.Second, "rate limit"}},
		{"rate limited sub-second", func(s *slackfake.Server) { s.RateLimitNext(1, 200*time.Millisecond) }, nil, nil, check{true, time.Second, "rate limit"}},
		{"500", func(s *slackfake.Server) { s.FailNext(1, 500) }, nil, nil, check{true, 0, "500"}},
		{"503", func(s *slackfake.Server) { s.FailNext(1, 503) }, nil, nil, check{true, 0, "503"}},
		{"408", func(s *slackfake.Server) { s.FailNext(1, 408) }, nil, nil, check{true, 0, "408"}},
		{"429 without Retry-After", func(s *slackfake.Server) { s.FailNext(1, 429) }, nil, nil, check{true, 0, "429"}},
		{"400", func(s *slackfake.Server) { s.FailNext(1, 400) }, nil, nil, check{false, 0, "400"}},
		{"invalid token", nil, func(c *Config) { c.Token = "xoxb-revoked" }, nil, check{false, 0, "invalid_auth"}},
		{"channel not found", nil, func(c *Config) { c.Channel = "#nope" }, []slackfake.Option{slackfake.WithChannels("#security-alerts")}, check{false, 0, "channel_not_found"}},
		{"wrong API path", nil, func(c *Config) { c.APIURL += "v2/" }, nil, check{false, 0, "404"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := slackfake.New(t, testToken, tt.opts...)
			if tt.setup != nil {
				tt.setup(srv)
			}
			cfg := Config{APIURL: srv.URL()}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			n := newNotifier(t, cfg, nil)
			retry, err := n.Notify(t.Context(), testAlert())
			checkErr(t, retry, err, tt.want.retry, tt.want.retryAfter, tt.want.contains)
			if len(srv.Messages()) != 0 {
				t.Errorf("message recorded despite failure")
			}
		})
	}

	t.Run("server down", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		n := newNotifier(t, Config{APIURL: srv.URL + "/"}, nil)
		retry, err := n.Notify(t.Context(), testAlert())
		checkErr(t, retry, err, true, 0, "connect")
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
			select {                           // hang until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		n := newNotifier(t, Config{APIURL: srv.URL + "/", Timeout: 50 * time.Millisecond}, nil)
		retry, err := n.Notify(t.Context(), testAlert())
		checkErr(t, retry, err, true, 0, "Timeout")
	})
	t.Run("cancelled context", func(t *testing.T) {
		srv := slackfake.New(t, testToken)
		n := newNotifier(t, Config{APIURL: srv.URL()}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		retry, err := n.Notify(ctx, testAlert())
		checkErr(t, retry, err, true, 0, "canceled")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v is not context.Canceled", err)
		}
	})
}

// withoutTrustedLinks removes the links the message is meant to carry: the
// runbook and the link in its third step.
func withoutTrustedLinks(s string) string {
	s = strings.ReplaceAll(s, "<"+baseURL+runbookPath+"|Exec into a pod>", "")
	return strings.ReplaceAll(s, "<https://example.com/guide?a=1&amp;b=2|audit guide>", "")
}

func checkErr(t *testing.T, retry bool, err error, wantRetry bool, wantAfter time.Duration, contains string) {
	t.Helper()
	if err == nil {
		t.Fatal("Notify succeeded, want an error")
	}
	if retry != wantRetry {
		t.Errorf("retry = %v, want %v (err %v)", retry, wantRetry, err)
	}
	after, ok := notify.RetryAfter(err)
	if ok != (wantAfter != 0) || after != wantAfter {
		t.Errorf("RetryAfter = %v, %v; want %v (err %v)", after, ok, wantAfter, err)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q does not mention %q", err, contains)
	}
}

// TestNotifyStopsAtFirstFailure: with three alerts and the second refused,
// Notify posts the first, returns the second's error and does not try the
// third.
func TestNotifyStopsAtFirstFailure(t *testing.T) {
	fake := slackfake.New(t, testToken)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()

	n := newNotifier(t, Config{APIURL: srv.URL}, nil) // no trailing "/": New adds it
	a1, a2, a3 := testAlert(), testAlert(), testAlert()
	a1.ID, a2.ID, a3.ID = "first", "second", "third"
	retry, err := n.Notify(t.Context(), a1, nil, a2, a3)
	checkErr(t, retry, err, true, 0, "alert second (3 of 4)")
	if got := calls.Load(); got != 2 {
		t.Errorf("%d calls, want 2", got)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].RawBlocks, "`first`") {
		t.Errorf("messages %+v, want only the first alert", msgs)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Token: testToken, Channel: testChannel}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // "" for valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"everything set", func(c *Config) {
			c.APIURL, c.RunbookBaseURL, c.FirstSteps, c.Timeout = "http://localhost:1/api/", baseURL, 5, time.Second
		}, ""},
		{"no token", func(c *Config) { c.Token = "" }, "token"},
		{"token with newline", func(c *Config) { c.Token += "\n" }, "token"},
		{"no channel", func(c *Config) { c.Channel = "" }, "channel"},
		{"blank channel", func(c *Config) { c.Channel = "  " }, "channel"},
		{"relative api url", func(c *Config) { c.APIURL = "slack.com/api" }, "api_url"},
		{"ftp api url", func(c *Config) { c.APIURL = "ftp://slack.com/api/" }, "api_url"},
		{"bad runbook url", func(c *Config) { c.RunbookBaseURL = "::" }, "runbook_base_url"},
		{"negative steps", func(c *Config) { c.FirstSteps = -1 }, "first_steps"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			fe, isField := errors.AsType[*FieldError](err)
			if !isField || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want a FieldError for %q", err, tt.field)
			}
			if !strings.HasPrefix(err.Error(), "slack: "+tt.field+" ") {
				t.Errorf("error %q does not start with the field name", err)
			}
			if _, err := New(c, nil); err == nil {
				t.Error("New accepted the invalid config")
			}
		})
	}
	if got := (Config{}).Validate().Error(); got != "slack: token is required\nslack: channel is required" {
		t.Errorf("empty config: %q", got)
	}
}

func TestDefaults(t *testing.T) {
	n := newNotifier(t, Config{}, nil)
	if n.cfg.APIURL != DefaultAPIURL || n.cfg.FirstSteps != DefaultFirstSteps || n.cfg.Timeout != DefaultTimeout {
		t.Errorf("defaults not applied: %+v", n.cfg)
	}
}

// FuzzBlocks checks that whatever an event carries, the message passes
// Slack's Block Kit validation and carries no unescaped < or >.
func FuzzBlocks(f *testing.F) {
	f.Add("alice", "summary", "Title", "pod")
	f.Add("<!channel>", "<https://x|y>", "ção", "\xff")
	f.Add(strings.Repeat("&", 200), strings.Repeat("🚨", 200), strings.Repeat("<", 60), "`")
	rb, err := runbook.Load("testdata", runbookPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, identity, summary, title, pod string) {
		a := testAlert()
		a.Entity.Identity, a.Summary, a.Rule.Title, a.Entity.Pod = identity, summary, title, pod
		a.Context.UserAgent, a.Rule.Tags = summary, []string{identity, pod}
		raw, err := json.Marshal(Blocks(a, rb, "", 3))
		if err != nil {
			t.Fatal(err)
		}
		blocks, problems := slackfake.ValidateBlocks(string(raw))
		if len(problems) > 0 {
			t.Fatalf("invalid blocks: %v", problems)
		}
		for _, s := range append(texts(t, blocks), FallbackText(a)) {
			if strings.ContainsAny(withoutTrustedLinks(s), "<>") {
				t.Errorf("unescaped < or > in %q", s)
			}
			if !utf8.ValidString(s) {
				t.Errorf("invalid UTF-8 in %q", s)
			}
		}
	})
}
