package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/broker"
)

// The soak benchmark: the vigia binary consumes a fixed rate of events
// from the in-process broker (its own process, so the broker's memory is
// not counted) and notifies a webhook, for a long time, while its resident
// memory, Go heap and goroutines are sampled from its /metrics. It fails
// when the last third's median exceeds the first third's (after warm-up)
// by more than -soak.growth. Not run in CI:
//
//	VIGIA_SOAK=1 go test -run TestSoak -v -timeout 0 ./bench/ [-soak.duration 30m -soak.rate 200 -soak.every 10s]
var (
	soakDuration = flag.Duration("soak.duration", 30*time.Minute, "how long the soak runs")
	soakRate     = flag.Int("soak.rate", 200, "events per second produced")
	soakEvery    = flag.Duration("soak.every", 10*time.Second, "sampling period")
	soakGrowth   = flag.Float64("soak.growth", 0.25, "largest growth allowed, last third's median over the first third's")
)

func TestSoak(t *testing.T) {
	if os.Getenv("VIGIA_SOAK") == "" {
		t.Skip("soak benchmark: set VIGIA_SOAK=1 (see the comment in soak_test.go)")
	}
	bin := filepath.Join(t.TempDir(), "vigia")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/vigia").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	br, err := broker.Open(broker.Config{Addr: "127.0.0.1:0", Partitions: 3, Topics: []string{"soak"}})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	var notified atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notified.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "soak.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`kafka: {brokers: [%q], group_id: soak, topics: [{name: soak, format: k8s_audit}], max_wait: 50ms}
rules: {paths: [detections]}
receivers: [{name: hook, webhook: {url: %q}}]
route: {receivers: [hook], group_by: [rule, identity, namespace, pod], group_wait: 0s, group_interval: 1s, resolve_timeout: 1m, repeat_interval: 0s}
telemetry: {listen: "127.0.0.1:0"}
api: {listen: "off"}
data_dir: %s
`, br.Addrs()[0], hook.URL, filepath.Join(dir, "data"))), 0o600)
	cmd := exec.Command(bin, "run", "--config", cfg, "--log-level", "warn")
	cmd.Dir = ".."
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// --log-level warn hides the start line: ask the kernel for the port.
	metrics := waitListen(t, cmd.Process.Pid, stderr)

	ctx, cancel := context.WithTimeout(context.Background(), *soakDuration)
	defer cancel()
	var produced atomic.Int64
	go produceAtRate(ctx, br.Addrs()[0], *soakRate, &produced)

	type sample struct {
		at                    time.Duration
		rss, heap, goroutines float64
		produced, notified    int64
	}
	var samples []sample
	start := time.Now()
	t.Logf("%8s %10s %10s %10s %10s %10s", "time", "rss MiB", "heap MiB", "goroutines", "produced", "notified")
	tick := time.NewTicker(*soakEvery)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			m, err := scrape(metrics)
			if err != nil {
				t.Fatalf("scrape: %v", err)
			}
			s := sample{at: time.Since(start).Round(time.Second), rss: m["process_resident_memory_bytes"] / (1 << 20),
				heap: m["go_memstats_heap_inuse_bytes"] / (1 << 20), goroutines: m["go_goroutines"], produced: produced.Load(), notified: notified.Load()}
			samples = append(samples, s)
			t.Logf("%8s %10.1f %10.1f %10.0f %10d %10d", s.at, s.rss, s.heap, s.goroutines, s.produced, s.notified)
		}
	}
	if len(samples) < 6 {
		t.Fatalf("only %d samples: run longer or sample more often", len(samples))
	}
	third := len(samples) / 3
	median := func(ss []sample, f func(sample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		for i := range v { // insertion sort: a few hundred values
			for j := i; j > 0 && v[j] < v[j-1]; j-- {
				v[j], v[j-1] = v[j-1], v[j]
			}
		}
		return v[len(v)/2]
	}
	for _, c := range []struct {
		name  string
		f     func(sample) float64
		slack float64 // absolute growth tolerated on top of the ratio
	}{
		{"rss MiB", func(s sample) float64 { return s.rss }, 8},
		{"heap MiB", func(s sample) float64 { return s.heap }, 4},
		{"goroutines", func(s sample) float64 { return s.goroutines }, 4},
	} {
		first := median(samples[1:third+1], c.f) // the first sample is warm-up
		last := median(samples[len(samples)-third:], c.f)
		t.Logf("%s: first third median %.1f, last third median %.1f", c.name, first, last)
		if last > first*(1+*soakGrowth)+c.slack {
			t.Errorf("%s grew from %.1f to %.1f (more than %.0f%% + %.0f)", c.name, first, last, *soakGrowth*100, c.slack)
		}
	}
	if samples[len(samples)-1].notified == 0 {
		t.Error("nothing was notified")
	}
}

// produceAtRate produces exec events (each raising an alert) at rate per
// second until ctx ends.
func produceAtRate(ctx context.Context, addr string, rate int, produced *atomic.Int64) {
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "soak", Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	const tick = 100 * time.Millisecond
	per := max(rate/10, 1)
	t := time.NewTicker(tick)
	defer t.Stop()
	i := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		batch := make([]kafka.Message, per)
		for j := range batch {
			batch[j] = kafka.Message{Key: []byte(strconv.Itoa(i)), Value: fmt.Appendf(nil,
				`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"soak-%d","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/ns%d/pods/p%d/exec","verb":"create","user":{"username":"u%d@example.com"},"objectRef":{"resource":"pods","namespace":"ns%d","name":"p%d","subresource":"exec"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2026-11-20T14:00:00Z","stageTimestamp":"2026-11-20T14:00:00Z"}`,
				i, i%5, i%40, i%9, i%5, i%40)}
			i++
		}
		if err := w.WriteMessages(ctx, batch...); err == nil {
			produced.Add(int64(len(batch)))
		}
	}
}

var listenRe = regexp.MustCompile(`metrics=([0-9.:]+)`)

// waitListen finds the metrics address: from the start line when logged,
// else the process's listening sockets.
func waitListen(t *testing.T, pid int, stderr interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case a := <-found:
			return a
		default:
		}
		if a := listeningPort(pid); a != "" {
			if _, err := scrape(a); err == nil {
				return a
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("no metrics address")
	return ""
}

// listeningPort returns 127.0.0.1:PORT of a socket the process listens on
// (Linux /proc), "" when unknown.
func listeningPort(pid int) string {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	inodes := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	data, _ := os.ReadFile("/proc/net/tcp")
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[3] == "0A" && inodes[f[9]] { // LISTEN
			_, port, _ := strings.Cut(f[1], ":")
			p, _ := strconv.ParseInt(port, 16, 32)
			return fmt.Sprintf("127.0.0.1:%d", p)
		}
	}
	return ""
}

// scrape reads the unlabelled gauges of /metrics.
func scrape(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") && !strings.Contains(f[0], "{") {
			v, _ := strconv.ParseFloat(f[1], 64)
			out[f[0]] = v
		}
	}
	return out, sc.Err()
}
