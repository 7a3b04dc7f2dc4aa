package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/api"
	"github.com/vigia-dev/vigia/internal/outbox"
	"github.com/vigia-dev/vigia/internal/silence"
)

// apiServer runs the admin API over real silence and outbox stores, and
// counts the requests that reach it.
type apiServer struct {
	url      string
	silencer *silence.Silencer
	queue    *outbox.File
	requests atomic.Int64
}

func startAPI(t *testing.T, token string) *apiServer {
	t.Helper()
	dir := t.TempDir()
	st, err := silence.OpenFile(filepath.Join(dir, "silences"), silence.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := &apiServer{silencer: silence.New(st, silence.Options{})}
	if err := s.silencer.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.silencer.Close)
	if s.queue, err = outbox.NewFile(filepath.Join(dir, "outbox"), outbox.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.queue.Close() })
	h := api.Handler(api.Config{Silences: s.silencer, Dead: s.queue, Token: token})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// column returns the offset of name in the table's header line.
func column(t *testing.T, out, name string) int {
	t.Helper()
	header, _, _ := strings.Cut(out, "\n")
	i := strings.Index(header, name)
	if i < 0 {
		t.Fatalf("no column %s in:\n%s", name, out)
	}
	return i
}

func TestSilenceCLI(t *testing.T) {
	srv := startAPI(t, "")
	t.Setenv("VIGIA_API", srv.url)
	t.Setenv("USER", "ana")

	code, out, errOut := vigia(t, "silence", "add", "--matcher", `rule="k8s-pod-exec-attach"`, "--matcher", `namespace=~"dev|qa"`,
		"--duration", "2h", "--comment", "maintenance window")
	if code != 0 {
		t.Fatalf("add: exit %d: %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	got, err := srv.silencer.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("add printed %q, not a stored silence id: %v", out, err)
	}
	if got.CreatedBy != "ana" || got.Comment != "maintenance window" || len(got.Matchers) != 2 {
		t.Fatalf("stored %+v", got)
	}
	if d := got.EndsAt.Sub(got.StartsAt); d > 2*time.Hour || d < 2*time.Hour-time.Second {
		t.Fatalf("length %s, want 2h", d)
	}
	lbls := map[string]string{"rule": "k8s-pod-exec-attach", "namespace": "qa"}
	if m := srv.silencer.Muted(lbls, time.Now()); len(m) != 1 || m[0] != id {
		t.Fatalf("Muted = %v", m)
	}

	// A second one, with a positional matcher, an explicit end and author.
	end := time.Now().Add(3 * time.Hour).Format(time.RFC3339)
	code, out, errOut = vigia(t, "silence", "add", `identity="system:serviceaccount:ci:deployer"`, "--end", end, "--author", "bia", "--comment", "CI rollout\nticket SEC-12", "--json")
	if code != 0 {
		t.Fatalf("add --json: exit %d: %s", code, errOut)
	}
	var second api.Silence
	if err := json.Unmarshal([]byte(out), &second); err != nil || second.CreatedBy != "bia" || second.Status != "active" {
		t.Fatalf("add --json printed %s (%v)", out, err)
	}

	code, out, errOut = vigia(t, "silence", "list")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("list: want header and 2 rows:\n%s", out)
	}
	// Aligned: every row's status starts under STATUS, its comment under COMMENT.
	st, cm := column(t, out, "STATUS"), column(t, out, "COMMENT")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[st:], "active") {
			t.Errorf("row not aligned under STATUS:\n%s", out)
		}
	}
	if !strings.HasPrefix(lines[1], id) || !strings.Contains(lines[1], `rule="k8s-pod-exec-attach", namespace=~"dev|qa"`) || !strings.HasPrefix(lines[1][cm:], "maintenance window") {
		t.Errorf("first row:\n%s", out)
	}
	if !strings.Contains(lines[2], "CI rollout ticket SEC-12") {
		t.Errorf("newline in a comment not flattened:\n%s", out)
	}

	code, out, errOut = vigia(t, "silence", "expire", id)
	if code != 0 || strings.TrimSpace(out) != "expired "+id {
		t.Fatalf("expire: exit %d: %s %s", code, out, errOut)
	}
	if m := srv.silencer.Muted(lbls, time.Now()); m != nil {
		t.Fatalf("Muted after expire = %v", m)
	}
	code, out, errOut = vigia(t, "silence", "expire", id, "--json")
	if code != 1 || !strings.Contains(errOut, "409") || !strings.Contains(errOut, "already expired") {
		t.Fatalf("expire twice: exit %d: %s %s", code, out, errOut)
	}

	code, out, _ = vigia(t, "silence", "list", "--json")
	var list []api.Silence
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].ID != second.ID {
		t.Fatalf("list --json: %s", out)
	}
	code, out, _ = vigia(t, "silence", "list", "--expired")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "expired") {
		t.Fatalf("list --expired:\n%s", out)
	}
}

func TestSilenceCLIUsageErrors(t *testing.T) {
	srv := startAPI(t, "")
	t.Setenv("VIGIA_API", srv.url)
	t.Setenv("USER", "")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"silence"}, "want a subcommand"},
		{[]string{"silence", "mute"}, `unknown subcommand "mute"`},
		{[]string{"silence", "add", "--comment", "c", "--author", "a"}, "at least one --matcher"},
		{[]string{"silence", "add", "--matcher", `rule=~"("`, "--comment", "c", "--author", "a"}, `matchers[0] "rule=~\"(\""`},
		{[]string{"silence", "add", "--matcher", `rule="x"`, "--comment", "c"}, "--author is required"},
		{[]string{"silence", "add", "--matcher", `rule="x"`, "--author", "a"}, "--comment is required"},
		{[]string{"silence", "add", "--matcher", `rule="x"`, "--author", "a", "--comment", "c", "--duration", "1h", "--end", "2030-01-01T00:00:00Z"}, "not both"},
		{[]string{"silence", "add", "--matcher", `rule="x"`, "--author", "a", "--comment", "c", "--end", "tomorrow"}, "--end \"tomorrow\""},
		{[]string{"silence", "add", "--matcher", `rule="x"`, "--author", "a", "--comment", "c", "--duration", "-1h"}, "must be positive"},
		{[]string{"silence", "list", "extra"}, "unexpected argument"},
		{[]string{"silence", "expire"}, "give the ids"},
		{[]string{"silence", "list", "--api", "localhost:9465"}, "--api"},
		{[]string{"deliveries", "replay"}, "or --all"},
		{[]string{"deliveries", "replay", "1", "--all"}, "not both"},
		{[]string{"deliveries", "dead", "--limit", "-1"}, "must not be negative"},
		{[]string{"deliveries", "bury"}, "unknown subcommand"},
	} {
		code, _, errOut := vigia(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.msg)
		}
	}
	if n := srv.requests.Load(); n != 0 {
		t.Fatalf("usage errors sent %d requests", n)
	}
	// A matcher set the server refuses (all match empty) fails with its message.
	code, _, errOut := vigia(t, "silence", "add", "--matcher", `namespace=~".*"`, "--author", "a", "--comment", "c")
	if code != 1 || !strings.Contains(errOut, "400") || !strings.Contains(errOut, "every matcher matches the empty string") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestSilenceCLIToken(t *testing.T) {
	const token = "s3cr3t-admin-token-for-tests"
	srv := startAPI(t, token)
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte(token+"\n"), 0o600)

	code, _, errOut := vigia(t, "silence", "list", "--api", srv.url)
	if code != 1 || !strings.Contains(errOut, "401") || !strings.Contains(errOut, "--token-file") {
		t.Fatalf("without token: exit %d: %s", code, errOut)
	}
	code, out, errOut := vigia(t, "silence", "list", "--api", srv.url, "--token-file", file)
	if code != 0 || !strings.Contains(out, "no active or pending silences") {
		t.Fatalf("with token: exit %d: %s %s", code, out, errOut)
	}
	t.Setenv("VIGIA_API_TOKEN_FILE", file)
	if code, _, errOut := vigia(t, "silence", "list", "--api", srv.url); code != 0 {
		t.Fatalf("token file from the environment: exit %d: %s", code, errOut)
	}
	if code, _, errOut := vigia(t, "silence", "list", "--api", srv.url, "--token-file", file+".missing"); code != 1 || !strings.Contains(errOut, "api token") {
		t.Fatalf("missing token file: exit %d: %s", code, errOut)
	}
}

func TestSilenceCLIUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	code, _, errOut := vigia(t, "silence", "list", "--api", "http://"+addr)
	if code != 1 || !strings.Contains(errOut, "is vigia run serving its API at http://"+addr) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestDeliveriesCLI(t *testing.T) {
	srv := startAPI(t, "")
	t.Setenv("VIGIA_API", srv.url)
	ctx := context.Background()
	for _, id := range []string{"a1", "a2"} {
		a := &alert.Alert{ID: id, Summary: "s", Rule: alert.Rule{ID: "k8s-secret-read", Severity: "high"}}
		if err := srv.queue.Enqueue(ctx, &outbox.Entry{Receiver: "github-sec", Route: "0", GroupKey: "g" + id, Alert: a}); err != nil {
			t.Fatal(err)
		}
	}
	es, _ := srv.queue.Claim(ctx, "github-sec", 10, 0)
	if err := srv.queue.Bury(ctx, "HTTP 422: Validation Failed\nlabel too long", es...); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := vigia(t, "deliveries", "dead")
	if code != 0 {
		t.Fatalf("dead: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "DEAD ID") {
		t.Fatalf("dead:\n%s", out)
	}
	rc, rs := column(t, out, "RECEIVER"), column(t, out, "REASON")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[rc:], "github-sec") || !strings.Contains(l, "k8s-secret-read") || !strings.HasPrefix(l[rs:], "HTTP 422: Validation Failed label too long") {
			t.Errorf("row %q not aligned or incomplete:\n%s", l, out)
		}
	}
	code, out, _ = vigia(t, "deliveries", "dead", "--limit", "1", "--json")
	var dead []api.DeadLetter
	if code != 0 || json.Unmarshal([]byte(out), &dead) != nil || len(dead) != 1 || dead[0].AlertID != "a1" {
		t.Fatalf("dead --json: %s", out)
	}

	code, out, errOut = vigia(t, "deliveries", "replay", dead[0].DeadID)
	if code != 0 || strings.TrimSpace(out) != "revived 1 of 1 dead letters" {
		t.Fatalf("replay: exit %d: %s %s", code, out, errOut)
	}
	if back, _ := srv.queue.Claim(ctx, "github-sec", 10, 0); len(back) != 1 || back[0].Alert.ID != "a1" {
		t.Fatalf("replayed entry not back in the outbox: %v", back)
	}
	code, out, errOut = vigia(t, "deliveries", "replay", dead[0].DeadID)
	if code != 1 || !strings.Contains(out, "revived 0 of 1") || !strings.Contains(errOut, "not dead letters") {
		t.Fatalf("replay again: exit %d: %s %s", code, out, errOut)
	}
	code, out, _ = vigia(t, "deliveries", "replay", "--all", "--json")
	var res api.ReplayResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Revived != 1 {
		t.Fatalf("replay --all: %s", out)
	}
	if code, out, _ := vigia(t, "deliveries", "dead"); code != 0 || strings.TrimSpace(out) != "no dead letters" {
		t.Fatalf("dead after replay: %s", out)
	}
}
