package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildVigia builds the binary once per test run.
func buildVigia(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigia")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/vigia")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryRunAndSIGTERM runs `vigia run` on the embedded broker as a
// user would, produces the attack story into it over TCP, reads the alerts
// from stdout, then sends SIGTERM: the process drains and exits 0.
func TestBinaryRunAndSIGTERM(t *testing.T) {
	bin := buildVigia(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigia.yaml")
	os.WriteFile(cfg, []byte(`
kafka:
  embedded: true
  embedded_listen: 127.0.0.1:0
  topics: [{name: `+topic+`, cluster: bin}]
rules: {paths: [detections]}
receivers: [{name: console, console: {}}]
route: {group_wait: 0s}
telemetry: {listen: "off"}
data_dir: `+filepath.Join(dir, "data")+`
`), 0o644)
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Dir = ".." // the project root, where detections/ and runbooks/ are
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// The embedded broker's address, from the log.
	addrRe := regexp.MustCompile(`addrs=\[([0-9.:]+)\]`)
	logLines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logLines <- sc.Text()
		}
		close(logLines)
	}()
	var addr string
	var logs []string
	deadline := time.After(30 * time.Second)
	for addr == "" {
		select {
		case l, ok := <-logLines:
			if !ok {
				t.Fatalf("vigia exited early:\n%s", strings.Join(logs, "\n"))
			}
			logs = append(logs, l)
			if m := addrRe.FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
		case <-deadline:
			t.Fatalf("no broker address logged:\n%s", strings.Join(logs, "\n"))
		}
	}

	lines := readLines(t, samples)
	want := expectedFallbacks(t, lines)
	produce(t, []string{addr}, lines...)

	alerts := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			alerts <- sc.Text()
		}
		close(alerts)
	}()
	var got []string
	for len(got) < want.Count() {
		select {
		case a := <-alerts:
			got = append(got, a)
		case <-deadline:
			t.Fatalf("got %d of %d alerts on stdout", len(got), want.Count())
		}
	}
	for _, a := range got {
		if !strings.HasPrefix(a, `{"id":"`) || !strings.Contains(a, `"dedup_key":"`) {
			t.Errorf("not an alert JSON line: %s", a)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("vigia exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("vigia did not stop within 20s of SIGTERM")
	}
	for l := range logLines {
		logs = append(logs, l)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "vigia stopped") {
		t.Errorf("no clean-stop log line:\n%s", strings.Join(logs, "\n"))
	}
}

// TestBinaryDemo runs the README's demo command on a free port.
func TestBinaryDemo(t *testing.T) {
	bin := buildVigia(t)
	cfg := filepath.Join(t.TempDir(), "demo.yaml")
	data, err := os.ReadFile("../deploy/local/vigia.yaml")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(data), "embedded_listen: 127.0.0.1:9092", "embedded_listen: 127.0.0.1:0", 1)
	conf = strings.Replace(conf, "listen: 127.0.0.1:9464", `listen: "off"`, 1) + "api:\n  listen: \"off\"\n"
	os.WriteFile(cfg, []byte(conf), 0o644)
	cmd := exec.Command(bin, "demo", "--config", cfg)
	cmd.Dir = ".."
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\n%s", err, errb.String())
	}
	// Every bundled sample is processed, and the cross-source story comes
	// out with one identity: the pod's service account, from its exec to
	// its log line to its cloud role's API calls.
	var samples int
	files, _ := filepath.Glob("../deploy/local/samples/*.jsonl")
	for _, f := range files {
		samples += len(readLines(t, f))
	}
	if !strings.Contains(errb.String(), fmt.Sprintf("%d messages processed", samples)) || !strings.Contains(errb.String(), "k8s-cluster-admin-binding") {
		t.Fatalf("demo summary (want %d messages processed); stderr:\n%s", samples, errb.String())
	}
	byRule := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var a struct {
			Rule   struct{ ID string }
			Entity struct{ Identity string }
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("stdout line is not an alert: %q", l)
		}
		byRule[a.Rule.ID] = a.Entity.Identity
	}
	// The correlations chain the story's steps under the same identity:
	// exec then the pod's cloud role, exec then a miner in that pod,
	// administrator access then the trail deleted.
	for _, r := range []string{"container-reverse-shell", "aws-cloudtrail-logging-stopped", "aws-s3-bucket-made-public",
		"corr-exec-then-irsa-cloud-activity", "corr-exec-then-crypto-miner", "corr-privilege-change-then-logging-stopped"} {
		if byRule[r] != "system:serviceaccount:payments:ledger" {
			t.Errorf("%s: identity %q, want the pod's service account resolved across sources", r, byRule[r])
		}
	}
}
