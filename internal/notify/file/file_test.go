package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/webhook"
)

const bearer = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"

func notification(id string, alerts int) *notify.Notification {
	n := &notify.Notification{
		ID: id, Receiver: "audit-file", GroupKey: "0123456789abcdef0123456789abcdef",
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod"}, Status: notify.StatusFiring, Total: alerts,
	}
	for i := range alerts {
		a := &alert.Alert{
			ID: fmt.Sprintf("%s-a%d", id, i), Rule: alert.Rule{ID: "k8s.exec_into_pod", Title: "Exec into pod", Severity: alert.SeverityHigh},
			Time: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), Summary: "alice opened a shell in payments/api",
			Entity: alert.Entity{Identity: "alice", Namespace: "payments", Pod: "api"},
			Events: []event.Ref{{Source: "k8s_audit", ID: "e1"}},
		}
		n.Alerts = append(n.Alerts, a)
	}
	return n
}

// lines reads path's JSON lines as webhook bodies.
func lines(t *testing.T, path string) []webhook.Body {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []webhook.Body
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var b webhook.Body
		if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
			t.Fatalf("line %d is not a body: %v: %q", len(out)+1, err, sc.Text())
		}
		out = append(out, b)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("file does not end with a newline")
	}
	return out
}

func newReceiver(t *testing.T, cfg Config) *Receiver {
	t.Helper()
	r, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	for _, fsync := range []bool{false, true} {
		r := newReceiver(t, Config{Path: path, Fsync: fsync, RunbookBaseURL: "https://git.example/vigia/"})
		st, err := r.Deliver(t.Context(), notification("n1", 2), notify.State{"k": "v"})
		if err != nil || st["k"] != "v" {
			t.Fatalf("Deliver: %v %v", st, err)
		}
		res := notification("n2", 0)
		res.Status = notify.StatusResolved
		if _, err := r.Deliver(t.Context(), res, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := r.Deliver(t.Context(), res, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Deliver after Close: %v", err)
		}
	}
	got := lines(t, path)
	if len(got) != 4 {
		t.Fatalf("%d lines, want 4 (two receivers appending)", len(got))
	}
	if b := got[0]; b.Version != "1" || b.ID != "n1" || len(b.Alerts) != 2 || b.Alerts[1].ID != "n1-a1" || b.DedupKey != "vigia-0123456789abcdef0123456789abcdef" {
		t.Errorf("first line %+v", b)
	}
	if b := got[3]; b.Status != "resolved" || len(b.Alerts) != 0 {
		t.Errorf("last line %+v", b)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != Mode {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), os.FileMode(Mode))
	}
}

func TestExistingFileKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	if err := os.WriteFile(path, []byte(`{"version":"1","id":"old"}`+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t, Config{Path: path})
	if _, err := r.Deliver(t.Context(), notification("n1", 1), nil); err != nil {
		t.Fatal(err)
	}
	got := lines(t, path)
	if len(got) != 2 || got[0].ID != "old" || got[1].ID != "n1" {
		t.Errorf("lines %+v", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode changed to %v", fi.Mode().Perm())
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	r := newReceiver(t, Config{Path: path})
	deliver := func(id string) {
		t.Helper()
		if _, err := r.Deliver(t.Context(), notification(id, 1), nil); err != nil {
			t.Fatal(err)
		}
	}
	deliver("n1")
	if err := os.Rename(path, path+".1"); err != nil { // logrotate's move
		t.Fatal(err)
	}
	deliver("n2")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	deliver("n3")
	if got := lines(t, path+".1"); len(got) != 1 || got[0].ID != "n1" {
		t.Errorf("rotated file %+v", got)
	}
	if got := lines(t, path); len(got) != 1 || got[0].ID != "n3" {
		t.Errorf("current file %+v", got)
	}
}

func TestConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	r := newReceiver(t, Config{Path: path})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				if _, err := r.Deliver(context.Background(), notification(fmt.Sprintf("g%d-%d", g, i), 3), nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := lines(t, path)
	seen := map[string]bool{}
	for _, b := range got {
		seen[b.ID] = true
	}
	if len(got) != 200 || len(seen) != 200 {
		t.Errorf("%d lines, %d distinct, want 200", len(got), len(seen))
	}
}

func TestPartialWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	r := newReceiver(t, Config{Path: path})
	r.write = func(f *os.File, b []byte) (int, error) {
		n, _ := f.Write(b[:len(b)/2])
		return n, errors.New("disk full")
	}
	if _, err := r.Deliver(t.Context(), notification("n1", 1), nil); err == nil || notify.IsPermanent(err) {
		t.Fatalf("err %v, want a retryable error", err)
	}
	r.write = (*os.File).Write
	if _, err := r.Deliver(t.Context(), notification("n1", 1), nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	parts := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(parts) != 2 || json.Valid([]byte(parts[0])) || !json.Valid([]byte(parts[1])) {
		t.Errorf("file %q: want a broken line, then the retried one whole", data)
	}
}

func TestWriteError(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	r, err := New(Config{Path: "/dev/full"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Deliver(t.Context(), notification("n1", 1), nil); err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "/dev/full") {
		t.Errorf("err %v, want a retryable write error", err)
	}
}

func TestNoSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	r := newReceiver(t, Config{Path: path})
	n := notification("n1", 1)
	n.Alerts[0].Summary = "Authorization: Bearer " + bearer
	n.Alerts[0].Context.UserAgent = "password=hunter2hunter2"
	if _, err := r.Deliver(t.Context(), n, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte(bearer)) || bytes.Contains(data, []byte("hunter2hunter2")) || !bytes.Contains(data, []byte("[REDACTED]")) {
		t.Errorf("file %s", data)
	}
}

func TestConfig(t *testing.T) {
	for name, c := range map[string]Config{
		"no path":         {},
		"negative steps":  {Path: "x", FirstSteps: -1},
		"bad runbook url": {Path: "x", RunbookBaseURL: "git.example"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
	if _, err := New(Config{Path: filepath.Join(t.TempDir(), "missing-dir", "a.jsonl")}, nil); err == nil {
		t.Error("New succeeded without the directory")
	} else if fe, ok := errors.AsType[*FieldError](err); !ok || fe.Field != "path" {
		t.Errorf("err %v, want a path FieldError", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := newReceiver(t, Config{Path: filepath.Join(t.TempDir(), "a.jsonl")})
	if _, err := r.Deliver(ctx, notification("n1", 1), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func BenchmarkDeliver(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		b.Run(fmt.Sprintf("fsync=%v", fsync), func(b *testing.B) {
			r, err := New(Config{Path: filepath.Join(b.TempDir(), "a.jsonl"), Fsync: fsync}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			n := notification("n1", 5)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := r.Deliver(b.Context(), n, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
