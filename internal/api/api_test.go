package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/outbox"
	"github.com/vigia-dev/vigia/internal/silence"
)

const secretToken = "abcdef0123456789abcdef0123456789abcdef01"

type fixture struct {
	srv      *httptest.Server
	silencer *silence.Silencer
	queue    *outbox.File
	logs     *bytes.Buffer
}

func newFixture(t *testing.T, token string) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := silence.OpenFile(filepath.Join(dir, "silences"), silence.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sil := silence.New(st, silence.Options{})
	if err := sil.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sil.Close)
	q, err := outbox.NewFile(filepath.Join(dir, "outbox"), outbox.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	logs := &bytes.Buffer{}
	h := Handler(Config{Silences: sil, Dead: q, Token: token, Version: "v-test", MaxBody: 4096,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, silencer: sil, queue: q, logs: logs}
}

// call sends a request and decodes the JSON answer into out (when not nil).
func (f *fixture) call(t *testing.T, method, path, token, body string, out any) (int, string) {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rb)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if !json.Valid(b) {
		t.Errorf("%s %s: answer is not JSON: %s", method, path, b)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func TestSilencesCreateListExpire(t *testing.T) {
	f := newFixture(t, "")
	var created Silence
	code, body := f.call(t, "POST", "/api/v1/silences", "",
		`{"matchers":["rule=\"k8s-pod-exec-attach\"","namespace=\"dev\""],"duration":"2h","created_by":"ana","comment":"maintenance window"}`, &created)
	if code != http.StatusCreated || created.ID == "" || created.Status != silence.StateActive {
		t.Fatalf("create: %d %s", code, body)
	}
	if d := created.EndsAt.Sub(created.StartsAt); d > 2*time.Hour || d < 2*time.Hour-time.Second {
		t.Fatalf("duration %s, want 2h", d)
	}
	lbls := map[string]string{"rule": "k8s-pod-exec-attach", "namespace": "dev"}
	if got := f.silencer.Muted(lbls, time.Now()); !slices.Equal(got, []string{created.ID}) {
		t.Fatalf("Muted after the API created it = %v", got)
	}

	start := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	end := start.Add(30 * time.Minute)
	var pending Silence
	req, _ := json.Marshal(SilenceRequest{Matchers: []string{`identity=~"system:serviceaccount:ci:.*"`}, StartsAt: &start, EndsAt: &end, CreatedBy: "bia", Comment: "deploy"})
	if code, body := f.call(t, "POST", "/api/v1/silences", "", string(req), &pending); code != 201 || pending.Status != silence.StatePending || !pending.StartsAt.Equal(start) || !pending.EndsAt.Equal(end) {
		t.Fatalf("create pending: %d %s", code, body)
	}

	var list []Silence
	if code, body := f.call(t, "GET", "/api/v1/silences", "", "", &list); code != 200 || len(list) != 2 || list[0].ID != created.ID || list[1].ID != pending.ID {
		t.Fatalf("list: %d %s", code, body)
	}
	if !slices.Equal(list[0].Matchers, []string{`rule="k8s-pod-exec-attach"`, `namespace="dev"`}) || list[0].CreatedBy != "ana" || list[0].Comment != "maintenance window" {
		t.Fatalf("listed %+v", list[0])
	}

	var expired Silence
	if code, body := f.call(t, "DELETE", "/api/v1/silences/"+created.ID, "", "", &expired); code != 200 || expired.Status != silence.StateExpired {
		t.Fatalf("expire: %d %s", code, body)
	}
	if got := f.silencer.Muted(lbls, time.Now()); got != nil {
		t.Fatalf("Muted after expire = %v", got)
	}
	if code, body := f.call(t, "DELETE", "/api/v1/silences/"+created.ID, "", "", nil); code != http.StatusConflict || !strings.Contains(body, "already expired") {
		t.Fatalf("expire twice: %d %s", code, body)
	}
	if code, body := f.call(t, "DELETE", "/api/v1/silences/no-such-id", "", "", nil); code != http.StatusNotFound || !strings.Contains(body, "no-such-id") {
		t.Fatalf("expire unknown: %d %s", code, body)
	}
	if code, _ := f.call(t, "GET", "/api/v1/silences", "", "", &list); code != 200 || len(list) != 1 || list[0].ID != pending.ID {
		t.Fatalf("list after expire: %+v", list)
	}
	if code, _ := f.call(t, "GET", "/api/v1/silences?expired=true", "", "", &list); code != 200 || len(list) != 2 || list[1].Status != silence.StateExpired {
		t.Fatalf("list with expired: %+v", list)
	}
	if !strings.Contains(f.logs.String(), "silence created") || !strings.Contains(f.logs.String(), "silence expired") {
		t.Errorf("changes not logged:\n%s", f.logs)
	}
}

func TestSilenceDefaultsAndRedaction(t *testing.T) {
	f := newFixture(t, "")
	var s Silence
	code, body := f.call(t, "POST", "/api/v1/silences", "",
		`{"matchers":["rule=\"x\""],"created_by":"ana","comment":"noisy; curl -H 'Authorization: Bearer `+secretToken+`'"}`, &s)
	if code != 201 {
		t.Fatalf("%d %s", code, body)
	}
	if d := s.EndsAt.Sub(s.StartsAt); d > time.Hour || d < time.Hour-time.Second {
		t.Fatalf("default duration %s, want 1h", d)
	}
	if strings.Contains(body, secretToken) || strings.Contains(f.logs.String(), secretToken) {
		t.Fatalf("credential from the comment survived: %s\n%s", body, f.logs)
	}
}

func TestTokenRequired(t *testing.T) {
	f := newFixture(t, secretToken)
	endpoints := []struct{ method, path, body string }{
		{"GET", "/api/v1/silences", ""},
		{"POST", "/api/v1/silences", `{"matchers":["rule=\"x\""],"created_by":"a","comment":"c"}`},
		{"DELETE", "/api/v1/silences/x", ""},
		{"GET", "/api/v1/deliveries/dead", ""},
		{"POST", "/api/v1/deliveries/dead/replay", `{"all":true}`},
		{"GET", "/api/v1/status", ""},
		{"GET", "/nope", ""},
	}
	for _, e := range endpoints {
		for _, tok := range []string{"", "wrong", secretToken[:len(secretToken)-1], secretToken + "x"} {
			code, body := f.call(t, e.method, e.path, tok, e.body, nil)
			if code != http.StatusUnauthorized || !strings.Contains(body, "bearer token") {
				t.Errorf("%s %s with token %q: %d %s", e.method, e.path, tok, code, body)
			}
		}
	}
	// A wrong scheme is refused too.
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Basic "+secretToken)
	if resp, err := f.srv.Client().Do(req); err != nil || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("basic auth: %v %v", resp, err)
	}
	if code, body := f.call(t, "GET", "/api/v1/status", secretToken, "", nil); code != 200 {
		t.Fatalf("with the token: %d %s", code, body)
	}
	if code, body := f.call(t, "POST", "/api/v1/silences", secretToken, endpoints[1].body, nil); code != 201 {
		t.Fatalf("create with the token: %d %s", code, body)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, "")
	valid := `"created_by":"ana","comment":"c"`
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"bad matcher", "POST", "/api/v1/silences", `{"matchers":["rule=~\"(\""],` + valid + `}`, 400, `matchers[0] "rule=~\"(\""`},
		{"no matcher", "POST", "/api/v1/silences", `{"matchers":[],` + valid + `}`, 400, "at least one matcher"},
		{"matchers match empty", "POST", "/api/v1/silences", `{"matchers":["namespace=~\".*\""],` + valid + `}`, 400, "every matcher matches the empty string"},
		{"no author", "POST", "/api/v1/silences", `{"matchers":["rule=\"x\""],"comment":"c"}`, 400, "created_by: the author is required"},
		{"no comment", "POST", "/api/v1/silences", `{"matchers":["rule=\"x\""],"created_by":"a"}`, 400, "comment: the reason is required"},
		{"ends before start", "POST", "/api/v1/silences", `{"matchers":["rule=\"x\""],"ends_at":"2020-01-01T00:00:00Z",` + valid + `}`, 400, "ends_at:"},
		{"ends and duration", "POST", "/api/v1/silences", `{"matchers":["rule=\"x\""],"ends_at":"2099-01-01T00:00:00Z","duration":"1h",` + valid + `}`, 400, "not both"},
		{"bad duration", "POST", "/api/v1/silences", `{"matchers":["rule=\"x\""],"duration":"2 hours",` + valid + `}`, 400, `duration "2 hours"`},
		{"negative duration", "POST", "/api/v1/silences", `{"matchers":["rule=\"x\""],"duration":"-1h",` + valid + `}`, 400, "positive"},
		{"unknown field", "POST", "/api/v1/silences", `{"matchers":["rule=\"x\""],"author":"a",` + valid + `}`, 400, `unknown field "author"`},
		{"not json", "POST", "/api/v1/silences", `matchers=rule`, 400, "request body"},
		{"empty body", "POST", "/api/v1/silences", ``, 400, "a JSON object is required"},
		{"trailing data", "POST", "/api/v1/silences", `{"matchers":["rule=\"x\""],` + valid + `} {}`, 400, "after the JSON object"},
		{"too large", "POST", "/api/v1/silences", `{"matchers":["rule=\"x\""],"comment":"` + strings.Repeat("a", 5000) + `"}`, 413, "over 4096 bytes"},
		{"bad expired", "GET", "/api/v1/silences?expired=maybe", "", 400, `expired="maybe"`},
		{"bad limit", "GET", "/api/v1/deliveries/dead?limit=-1", "", 400, `limit="-1"`},
		{"replay nothing", "POST", "/api/v1/deliveries/dead/replay", `{}`, 400, "give the dead letters"},
		{"replay both", "POST", "/api/v1/deliveries/dead/replay", `{"ids":["1"],"all":true}`, 400, "not both"},
		{"method", "PUT", "/api/v1/silences", `{}`, 405, "method not allowed"},
		{"delete collection", "DELETE", "/api/v1/silences", ``, 405, "allowed: "},
		{"unknown path", "GET", "/api/v2/silences", "", 404, "no such endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.call(t, tc.method, tc.path, "", tc.body, nil)
			var e Error
			json.Unmarshal([]byte(body), &e)
			if code != tc.code || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("%d %s, want %d with %q", code, body, tc.code, tc.msg)
			}
		})
	}
	if list, _ := f.silencer.List(context.Background(), true); len(list) != 0 {
		t.Fatalf("bad requests stored silences: %d", len(list))
	}
}

func bury(t *testing.T, q *outbox.File, reason string, alerts ...*alert.Alert) {
	t.Helper()
	ctx := context.Background()
	for _, a := range alerts {
		if err := q.Enqueue(ctx, &outbox.Entry{Receiver: "jira-sec", Route: "0.1", GroupKey: "g-" + a.ID, Alert: a, Enqueued: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := q.Claim(ctx, "jira-sec", 100, 0)
	if err != nil || len(es) != len(alerts) {
		t.Fatalf("claim %d, %v", len(es), err)
	}
	if err := q.Bury(ctx, reason, es...); err != nil {
		t.Fatal(err)
	}
}

func TestDeadLettersListAndReplay(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	mk := func(id, summary string) *alert.Alert {
		return &alert.Alert{ID: id, Summary: summary, Rule: alert.Rule{ID: "k8s-secret-read", Severity: "high"}}
	}
	bury(t, f.queue, "HTTP 400: field customfield_1 is required; sent Authorization: Bearer "+secretToken,
		mk("a1", "secret read by ci; token="+secretToken), mk("a2", "secret read by ana"))
	bury(t, f.queue, "HTTP 404: project SEC not found", mk("a3", "third"))

	var dead []DeadLetter
	code, body := f.call(t, "GET", "/api/v1/deliveries/dead", "", "", &dead)
	if code != 200 || len(dead) != 3 {
		t.Fatalf("dead: %d %s", code, body)
	}
	if strings.Contains(body, secretToken) {
		t.Fatalf("credential in the dead letter listing: %s", body)
	}
	d := dead[0]
	if d.Receiver != "jira-sec" || d.Rule != "k8s-secret-read" || d.Severity != "high" || d.AlertID != "a1" || d.Route != "0.1" ||
		d.GroupKey != "g-a1" || !strings.HasPrefix(d.Reason, "HTTP 400: field customfield_1 is required") || d.Time.IsZero() || d.DeadID == "" {
		t.Fatalf("dead[0] = %+v", d)
	}
	if code, _ := f.call(t, "GET", "/api/v1/deliveries/dead?limit=2", "", "", &dead); code != 200 || len(dead) != 2 {
		t.Fatalf("limit=2 gave %d", len(dead))
	}

	var res ReplayResult
	if code, body := f.call(t, "POST", "/api/v1/deliveries/dead/replay", "", `{"ids":["`+d.DeadID+`","unknown"]}`, &res); code != 200 || res.Requested != 2 || res.Revived != 1 {
		t.Fatalf("replay one: %d %s", code, body)
	}
	if back, _ := f.queue.Claim(ctx, "jira-sec", 10, 0); len(back) != 1 || back[0].Alert.ID != "a1" {
		t.Fatalf("revived entry not queued: %v", back)
	}
	if code, body := f.call(t, "POST", "/api/v1/deliveries/dead/replay", "", `{"all":true}`, &res); code != 200 || res.Requested != 2 || res.Revived != 2 {
		t.Fatalf("replay all: %d %s", code, body)
	}
	if code, _ := f.call(t, "GET", "/api/v1/deliveries/dead?limit=0", "", "", &dead); code != 200 || len(dead) != 0 {
		t.Fatalf("dead after replay all: %+v", dead)
	}
	if code, body := f.call(t, "POST", "/api/v1/deliveries/dead/replay", "", `{"all":true}`, &res); code != 200 || res.Requested != 0 || res.Revived != 0 {
		t.Fatalf("replay all of none: %d %s", code, body)
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t, "")
	f.call(t, "POST", "/api/v1/silences", "", `{"matchers":["rule=\"x\""],"created_by":"a","comment":"c"}`, nil)
	var st struct {
		Version  string
		Silences struct{ Active, Pending int }
	}
	if code, body := f.call(t, "GET", "/api/v1/status", "", "", &st); code != 200 || st.Version != "v-test" || st.Silences.Active != 1 || st.Silences.Pending != 0 {
		t.Fatalf("status: %d %s", code, body)
	}
}

func TestUnavailable(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{Status: func(context.Context) map[string]any { return map[string]any{"outbox": "file", "version": "spoofed"} }}))
	defer srv.Close()
	f := &fixture{srv: srv}
	for _, p := range []string{"/api/v1/silences", "/api/v1/deliveries/dead"} {
		if code, body := f.call(t, "GET", p, "", "", nil); code != 503 || !strings.Contains(body, "not available") {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	var st map[string]any
	if code, _ := f.call(t, "GET", "/api/v1/status", "", "", &st); code != 200 || st["outbox"] != "file" || st["version"] != "" {
		t.Fatalf("status %v", st)
	}
}

// failingDead is a dead letter store that is down.
type failingDead struct{}

func (failingDead) Dead(context.Context, int) ([]*outbox.Dead, error) {
	return nil, errors.New("redis: connection refused")
}
func (failingDead) Revive(context.Context, ...string) (int, error) { return 0, errors.New("down") }

func TestInternalErrorIsJSON(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{Dead: failingDead{}, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	f := &fixture{srv: srv}
	if code, body := f.call(t, "GET", "/api/v1/deliveries/dead", "", "", nil); code != 500 || !strings.Contains(body, "connection refused") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(Config{Version: "v1"})) }()
	c, err := NewClient("http://"+ln.Addr().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(context.Background())
	if err != nil || st["version"] != "v1" {
		t.Fatalf("status %v, %v", st, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after its context ended", err)
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "token")
	os.WriteFile(p, []byte("  "+secretToken+"\n"), 0o600)
	if tok, err := LoadToken(p); err != nil || tok != secretToken {
		t.Fatalf("LoadToken = %q, %v", tok, err)
	}
	if tok, err := LoadToken(""); err != nil || tok != "" {
		t.Fatalf("LoadToken(\"\") = %q, %v", tok, err)
	}
	os.WriteFile(p, []byte("\n"), 0o600)
	if _, err := LoadToken(p); err == nil {
		t.Fatal("empty token file accepted")
	}
	if _, err := LoadToken(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing token file accepted")
	}
}

func TestNewClientURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:9465", "ftp://x", "http://", ":"} {
		if _, err := NewClient(u, ""); err == nil {
			t.Errorf("NewClient(%q) accepted", u)
		}
	}
}
