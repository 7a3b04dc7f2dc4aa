package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/redistest"
)

// The crash test: the vigia binary consumes a deterministic stream from
// the in-process broker (over TCP) and notifies two webhooks and
// PagerDuty, all fakes in this process that record every notification. A
// clean run gives the expected notifications. Then the same stream is
// consumed again by a new consumer group while the process is SIGKILLed at
// random points (seeded: VIGIA_CRASH_SEED repeats a run) and restarted,
// while the receivers are down for a while, the broker restarts, and (in
// the Redis variant) Redis restarts. Every alert the clean run notified
// must be notified again, none twice.
//
// A duplicate is one alert (its id) accepted by one receiver in two
// notifications with different notification ids. A notification sent
// again with the same id (Idempotency-Key) after a crash is not one: the
// webhook contract tells endpoints to deduplicate on it, as PagerDuty does
// on the dedup key; such repeats are counted and printed as "resent". For
// PagerDuty, which keeps one alert per dedup key and appends later
// triggers of a group to it, the check is per group: every group of the
// clean run paged, and no group opened twice (resolve_timeout is off).

const (
	crashDLQ      = "crash-dead-letter"
	crashRoutKey  = "0123456789abcdef0123456789abcdef"
	crashCluster  = "crash"
	crashExecRule = "k8s-pod-exec-attach"
)

// TestCrashRecovery runs the file-outbox variant (kills, a receiver
// outage, a broker restart) and the Redis variant (kills, a Redis restart).
func TestCrashRecovery(t *testing.T) {
	bin := buildVigia(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VIGIA_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("VIGIA_CRASH_SEED: %v", err)
		}
	}
	t.Logf("seed %d (VIGIA_CRASH_SEED=%d go test ./test -run TestCrashRecovery repeats it)", seed, seed)
	messages, kills := 2400, 8
	if testing.Short() {
		messages, kills = 900, 4
	}
	t.Run("file", func(t *testing.T) {
		crashVariant(t, bin, crashPlan{seed: seed, messages: messages, kills: kills, outage: true, brokerRestart: true})
	})
	t.Run("redis", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: the Redis variant runs without -short")
		}
		crashVariant(t, bin, crashPlan{seed: seed + 1, messages: messages, kills: kills * 3 / 4, redis: true})
	})
}

type crashPlan struct {
	seed                  uint64
	messages, kills       int
	outage, brokerRestart bool
	redis                 bool
}

func crashVariant(t *testing.T, bin string, plan crashPlan) {
	rng := rand.New(rand.NewPCG(plan.seed, plan.seed>>1|1))
	dir := t.TempDir()

	// The broker, with its data on disk so that it can restart.
	bk := &crashBroker{t: t, dir: filepath.Join(dir, "broker")}
	bk.open("127.0.0.1:0")
	defer bk.close()

	var rs *redistest.PersistentServer
	var diagnose func() string // the Redis outbox's state, for failure messages
	if plan.redis {
		rs = redistest.StartPersistent(t)
		diagnose = func() string {
			c := goredis.NewClient(&goredis.Options{Addr: rs.Addr})
			defer c.Close()
			ctx := context.Background()
			out := ""
			for _, st := range []string{"crash:outbox:hook", "crash:outbox:hook-by-rule", "crash:outbox:pager"} {
				g, err := c.XInfoGroups(ctx, st).Result()
				out += fmt.Sprintf("groups %+v %v\n", g, err)
				cs, err := c.XInfoConsumers(ctx, st, "vigia").Result()
				out += fmt.Sprintf("consumers %+v %v\n", cs, err)
				p, err := c.XPending(ctx, st, "vigia").Result()
				out += fmt.Sprintf("pending %+v %v\n", p, err)
				r, err := c.XRange(ctx, st, "-", "+").Result()
				for _, m := range r[:min(len(r), 20)] {
					v := fmt.Sprint(m.Values["e"])
					out += m.ID + " " + v[:min(len(v), 300)] + "\n"
				}
				out += fmt.Sprint(err)
			}
			return out
		}
	}

	stream := crashStream(plan.messages)

	// Clean run: everything up front, no faults.
	produceTo(t, bk.addr, "clean-audit", stream...)
	clean := newCrashReceivers(t)
	cleanCfg := crashConfig(t, dir, "clean", bk.addr, clean.url, rs)
	clean.logPath = filepath.Join(dir, "clean.log")
	p := startVigia(t, bin, cleanCfg, clean.logPath)
	waitDone(t, p, bk.addr, "clean", "clean-audit", clean, time.Duration(plan.messages)*20*time.Millisecond+60*time.Second)
	p.term(t)
	want := clean.snapshot()
	if want.duplicated() != 0 || len(want.alerts["hook"]) < plan.messages/3 || len(want.pages) == 0 {
		t.Fatalf("clean run: %d duplicated, hook got %d alerts, pager %d groups: the stream should raise at least %d alerts, each once",
			want.duplicated(), len(want.alerts["hook"]), len(want.pages), plan.messages/3)
	}

	// Faulty run: the stream is produced while the process is killed and
	// restarted.
	got := newCrashReceivers(t)
	cfg := crashConfig(t, dir, "crash", bk.addr, got.url, rs)
	logPath := filepath.Join(dir, "crash.log")
	got.logPath, got.diagnose = logPath, diagnose
	produced := make(chan error, 1)
	var brokerDown sync.RWMutex // held for writing while the broker restarts
	go func() { produced <- producePaced(bk, &brokerDown, "crash-audit", stream) }()

	runs, killed := 0, 0
	outageAt, brokerAt, redisAt := -1, -1, -1
	if plan.outage {
		outageAt = 1 + rng.IntN(max(plan.kills-3, 1))
	}
	if plan.brokerRestart {
		brokerAt = 2 + rng.IntN(max(plan.kills-2, 1))
	}
	if plan.redis {
		redisAt = 1 + rng.IntN(max(plan.kills-1, 1))
	}
	var events []string
	for i := 0; i < plan.kills; i++ {
		p := startVigia(t, bin, cfg, logPath)
		runs++
		if i == outageAt {
			got.down.Store(true)
			events = append(events, fmt.Sprintf("receivers down before kill %d", i+1))
		}
		if plan.outage && i == outageAt+2 {
			got.down.Store(false)
			events = append(events, fmt.Sprintf("receivers up before kill %d", i+1))
		}
		sleepRand(rng, 300*time.Millisecond, 2500*time.Millisecond)
		if i == brokerAt {
			brokerDown.Lock()
			bk.close()
			time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
			bk.open(bk.addr)
			brokerDown.Unlock()
			events = append(events, fmt.Sprintf("broker restarted before kill %d", i+1))
			sleepRand(rng, 200*time.Millisecond, 1500*time.Millisecond)
		}
		if i == redisAt {
			rs.Kill()
			time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
			rs.Restart()
			events = append(events, fmt.Sprintf("redis restarted before kill %d", i+1))
			sleepRand(rng, 200*time.Millisecond, 1500*time.Millisecond)
		}
		p.kill(t)
		killed++
	}
	got.down.Store(false)
	if err := <-produced; err != nil {
		t.Fatalf("producing the stream: %v", err)
	}
	p = startVigia(t, bin, cfg, logPath)
	runs++
	waitDone(t, p, bk.addr, "crash", "crash-audit", got, time.Duration(plan.messages)*20*time.Millisecond+90*time.Second)
	p.term(t)
	have := got.snapshot()

	// Compare.
	var expected, delivered, duplicated, lost, extra int
	for _, rcv := range []string{"hook", "hook-by-rule"} {
		for id := range want.alerts[rcv] {
			expected++
			if n := len(have.alerts[rcv][id]); n == 0 {
				lost++
				if lost <= 5 {
					t.Errorf("%s: alert %s lost", rcv, id)
				}
			} else {
				delivered++
			}
		}
		for id, notes := range have.alerts[rcv] {
			if len(notes) > 1 {
				duplicated++
				if duplicated <= 5 {
					t.Errorf("%s: alert %s notified %d times, in notifications %v", rcv, id, len(notes), notes)
				}
			}
			if _, ok := want.alerts[rcv][id]; !ok {
				extra++
				t.Errorf("%s: alert %s was not notified in the clean run", rcv, id)
			}
		}
	}
	pagesLost, pagesTwice := 0, 0
	for key := range want.pages {
		if have.pages[key] == 0 {
			pagesLost++
		}
	}
	for key, n := range have.pages {
		if n > 1 {
			pagesTwice++
			t.Errorf("pager: group %s opened %d times", key, n)
		}
	}
	if pagesLost > 0 {
		t.Errorf("pager: %d of %d groups never paged", pagesLost, len(want.pages))
	}
	line := fmt.Sprintf("crash test (%s, seed %d): runs=%d kills=%d alerts expected=%d delivered=%d duplicated=%d lost=%d "+
		"(resent with the same notification id=%d; pager groups expected=%d paged=%d paged twice=%d; faults: %s)",
		t.Name(), plan.seed, runs, killed, expected, delivered, duplicated, lost,
		have.resent, len(want.pages), len(want.pages)-pagesLost, pagesTwice, strings.Join(events, ", "))
	fmt.Println(line)
	t.Log(line)
	if lost+duplicated+extra > 0 && os.Getenv("VIGIA_CRASH_KEEP_LOG") != "" {
		if b, err := os.ReadFile(logPath); err == nil {
			t.Logf("process log:\n%s", b)
		}
	}
}

// crashStream is the deterministic stream: exec sessions (one alert each)
// by 9 users into 7 namespaces and 13 pods, benign reads in between (no
// alert), and a malformed line now and then (dead-lettered).
func crashStream(n int) []kafka.Message {
	out := make([]kafka.Message, 0, n)
	for i := range n {
		id := fmt.Sprintf("crash-%06d", i)
		var v string
		switch {
		case i%50 == 49:
			v = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":` // truncated: not JSON
		case i%3 == 2:
			v = fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":%q,"stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ns%d/pods","verb":"list","user":{"username":"reader%d@example.com","groups":["system:authenticated"]},"sourceIPs":["10.0.0.%d"],"objectRef":{"resource":"pods","namespace":"ns%d","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-20T14:%02d:%02d.000000Z","stageTimestamp":"2026-11-20T14:%02d:%02d.000000Z"}`,
				id, i%7, i%5, i%250, i%7, i/60%60, i%60, i/60%60, i%60)
		default:
			v = fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":%q,"stage":"ResponseStarted","requestURI":"/api/v1/namespaces/ns%d/pods/pod-%d/exec?command=sh&container=app&stdin=true&stdout=true&tty=true","verb":"create","user":{"username":"user%d@example.com","groups":["system:authenticated"]},"sourceIPs":["198.51.100.%d"],"userAgent":"kubectl/v1.31.2","objectRef":{"resource":"pods","namespace":"ns%d","name":"pod-%d","subresource":"exec","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"2026-11-20T14:%02d:%02d.000000Z","stageTimestamp":"2026-11-20T14:%02d:%02d.000000Z"}`,
				id, i%7, i%13, i%9, i%250, i%7, i%13, i/60%60, i%60, i/60%60, i%60)
		}
		out = append(out, kafka.Message{Key: []byte(id), Value: []byte(v)})
	}
	return out
}

func crashConfig(t *testing.T, dir, name, brokerAddr, hookURL string, rs *redistest.PersistentServer) string {
	t.Helper()
	keyFile := filepath.Join(dir, "pd-key")
	if err := os.WriteFile(keyFile, []byte(crashRoutKey), 0o600); err != nil {
		t.Fatal(err)
	}
	redis := ""
	if rs != nil {
		redis = fmt.Sprintf("redis: {addr: %q, key_prefix: %q}\n", rs.Addr, name+":")
	}
	cfg := fmt.Sprintf(`kafka:
  brokers: [%q]
  group_id: %s
  topics: [{name: %s-audit, format: k8s_audit, cluster: %s}]
  dead_letter_topic: %s
  max_wait: 50ms
  session_timeout: 2s
%srules: {paths: [detections]}
receivers:
  - {name: hook, webhook: {url: %q, max_body_bytes: 16777216, timeout: 5s}}
  - {name: hook-by-rule, webhook: {url: %q, max_body_bytes: 16777216, timeout: 5s}}
  - {name: pager, pagerduty: {routing_key_file: %q, url: %q, timeout: 5s}}
route:
  receivers: [hook]
  group_by: [rule, identity, namespace, pod]
  group_wait: 0s
  group_interval: 20ms
  repeat_interval: 0s
  resolve_timeout: 0s
  routes:
    - {matchers: ['rule=~".+"'], receivers: [hook], continue: true}
    - {matchers: ['rule=~".+"'], receivers: [hook-by-rule], group_by: [rule], continue: true}
    - {matchers: ['rule=~".+"'], receivers: [pager], group_by: [rule, identity]}
delivery: {state_ttl: 24h}
telemetry: {listen: "127.0.0.1:0"}
api: {listen: "off"}
workers: 2
shutdown_timeout: 5s
data_dir: %s
`, brokerAddr, name, name, crashCluster, crashDLQ, redis, hookURL+"/hook/hook", hookURL+"/hook/hook-by-rule", keyFile, hookURL+"/v2/enqueue",
		filepath.Join(dir, name+"-data"))
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// crashBroker is the in-process broker, restartable on its address.
type crashBroker struct {
	t    *testing.T
	dir  string
	addr string
	b    *broker.Broker
}

func (c *crashBroker) open(addr string) {
	c.t.Helper()
	var err error
	for range 50 { // the old listener's port may take a moment to free
		c.b, err = broker.Open(broker.Config{Addr: addr, Partitions: 3, Topics: []string{"clean-audit", "crash-audit", crashDLQ},
			DataDir: c.dir, MinSessionTimeout: time.Second})
		if err == nil {
			c.addr = c.b.Addrs()[0]
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("broker: %v", err)
}

func (c *crashBroker) close() { c.b.Close() }

func produceTo(t *testing.T, addr, topic string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{}, BatchSize: 200}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// producePaced produces the stream in small batches over about 12 seconds,
// retrying a batch until the broker takes it (a batch retried after an
// ambiguous failure may be written twice: Kafka's at-least-once, which
// Vigia must absorb too).
func producePaced(bk *crashBroker, down *sync.RWMutex, topic string, msgs []kafka.Message) error {
	const batch = 40
	pause := 12 * time.Second / time.Duration(max(len(msgs)/batch, 1))
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; i < len(msgs); i += batch {
		part := msgs[i:min(i+batch, len(msgs))]
		for {
			down.RLock()
			w := &kafka.Writer{Addr: kafka.TCP(bk.addr), Topic: topic, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{}, MaxAttempts: 1}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := w.WriteMessages(ctx, part...)
			cancel()
			w.Close()
			down.RUnlock()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return err
			}
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(pause)
	}
	return nil
}

func sleepRand(rng *rand.Rand, lo, hi time.Duration) {
	time.Sleep(lo + time.Duration(rng.Int64N(int64(hi-lo))))
}

// vigiaProc is one `vigia run` process.
type vigiaProc struct {
	cmd     *exec.Cmd
	exited  chan error
	metrics chan string // the metrics address, once logged
	addr    string
}

var metricsAddrRe = regexp.MustCompile(`metrics=([0-9.:]+)`)

func startVigia(t *testing.T, bin, cfg, logPath string) *vigiaProc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "---- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Dir = ".." // detections/ and runbooks/
	cmd.Stdout = logf
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &vigiaProc{cmd: cmd, exited: make(chan error, 1), metrics: make(chan string, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		found := false
		for sc.Scan() {
			l := sc.Text()
			fmt.Fprintln(logf, l)
			if m := metricsAddrRe.FindStringSubmatch(l); m != nil && !found {
				found = true
				p.metrics <- m[1]
			}
		}
		p.exited <- cmd.Wait()
		logf.Close()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

func (p *vigiaProc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("vigia did not die of SIGKILL within 20s")
	}
}

func (p *vigiaProc) term(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("vigia exited with %v after SIGTERM", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("vigia did not stop within 60s of SIGTERM")
	}
}

// waitDone waits until the group has committed the end of every partition
// of topic, the outbox is empty, nothing is in flight, and the receivers
// got nothing new for a while.
func waitDone(t *testing.T, p *vigiaProc, brokerAddr, group, topic string, rc *crashReceivers, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	select {
	case p.addr = <-p.metrics:
	case err := <-p.exited:
		t.Fatalf("vigia exited early: %v", err)
	case <-time.After(time.Until(deadline)):
		t.Fatal("vigia logged no metrics address")
	}
	quiet := 0
	last := -1
	var why string
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		n := rc.count()
		why = doneYet(brokerAddr, group, topic, p.addr)
		if why == "" && n == last {
			quiet++
			if quiet >= 6 {
				return
			}
		} else {
			quiet = 0
		}
		last = n
	}
	msg := fmt.Sprintf("%s run not done within %s: %s", group, timeout, why)
	if rc.diagnose != nil {
		msg += "\n" + rc.diagnose()
	}
	if b, err := os.ReadFile(rc.logPath); err == nil {
		var warn []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.HasPrefix(l, "---- start") {
				warn = append(warn, l)
			}
		}
		msg += "\nwarnings and errors of the process log:\n" + strings.Join(warn[max(len(warn)-60, 0):], "\n")
	}
	t.Fatal(msg)
}

// doneYet returns what is still pending, or "".
func doneYet(brokerAddr, group, topic, metricsAddr string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokerAddr), Timeout: 5 * time.Second}
	parts := []int{0, 1, 2}
	ends, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2)}}})
	if err != nil {
		return "list offsets: " + err.Error()
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return "offset fetch: " + err.Error()
	}
	for _, e := range ends.Topics[topic] {
		for _, cp := range committed.Topics[topic] {
			if cp.Partition == e.Partition && cp.CommittedOffset < e.LastOffset {
				return fmt.Sprintf("partition %d committed %d of %d", e.Partition, cp.CommittedOffset, e.LastOffset)
			}
		}
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return "metrics: " + err.Error()
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	backlog := 0
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "vigia_outbox_backlog{") || strings.HasPrefix(l, "vigia_messages_in_flight") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			backlog += int(v)
			if v > 0 {
				return l
			}
		}
	}
	if !strings.Contains(string(body), "vigia_outbox_backlog{") {
		return "no backlog metric yet"
	}
	return ""
}

// crashReceivers fakes the webhooks and PagerDuty and records what they
// accepted. down makes every request answer 503 (an outage).
type crashReceivers struct {
	url      string
	logPath  string        // the process log, for failure messages
	diagnose func() string // more state for failure messages; may be nil
	down     atomic.Bool

	mu sync.Mutex
	// notes[receiver][notification id] = alert ids
	notes map[string]map[string][]string
	// pages[dedup key] = PagerDuty alerts opened; open[dedup key]
	pages map[string]int
	open  map[string]bool
	n     int
	// resent counts notifications accepted again with an id already
	// accepted (idempotent repeats).
	resent int
}

func newCrashReceivers(t *testing.T) *crashReceivers {
	rc := &crashReceivers{notes: map[string]map[string][]string{}, pages: map[string]int{}, open: map[string]bool{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

func (rc *crashReceivers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if rc.down.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.n++
	switch {
	case strings.HasPrefix(r.URL.Path, "/hook/"):
		name := strings.TrimPrefix(r.URL.Path, "/hook/")
		var doc struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Alerts []struct {
				ID string `json:"id"`
			} `json:"alerts"`
			Omitted int `json:"omitted_alerts"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || doc.ID == "" || doc.ID != r.Header.Get("Idempotency-Key") || doc.Omitted != 0 {
			http.Error(w, fmt.Sprintf("bad notification (omitted %d): %v", doc.Omitted, err), http.StatusBadRequest)
			return
		}
		if rc.notes[name] == nil {
			rc.notes[name] = map[string][]string{}
		}
		if _, ok := rc.notes[name][doc.ID]; ok {
			rc.resent++ // the endpoint deduplicates on the id
		} else {
			ids := []string{}
			for _, a := range doc.Alerts {
				ids = append(ids, a.ID)
			}
			rc.notes[name][doc.ID] = ids
		}
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/v2/enqueue":
		var ev struct {
			RoutingKey string `json:"routing_key"`
			Action     string `json:"event_action"`
			DedupKey   string `json:"dedup_key"`
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.RoutingKey != crashRoutKey || ev.DedupKey == "" {
			http.Error(w, `{"status":"invalid event"}`, http.StatusBadRequest)
			return
		}
		switch ev.Action {
		case "trigger":
			if !rc.open[ev.DedupKey] {
				rc.open[ev.DedupKey] = true
				rc.pages[ev.DedupKey]++
			}
		case "resolve":
			rc.open[ev.DedupKey] = false
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, ev.DedupKey)
	default:
		http.NotFound(w, r)
	}
}

func (rc *crashReceivers) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n
}

// crashResult is what the receivers got: per receiver, alert id → the
// ids of the notifications that carried it.
type crashResult struct {
	alerts map[string]map[string][]string
	pages  map[string]int
	resent int
}

func (rc *crashReceivers) snapshot() crashResult {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	res := crashResult{alerts: map[string]map[string][]string{}, pages: map[string]int{}, resent: rc.resent}
	for name, notes := range rc.notes {
		m := map[string][]string{}
		for nid, ids := range notes {
			for _, id := range ids {
				m[id] = append(m[id], nid)
			}
		}
		for _, v := range m {
			slices.Sort(v)
		}
		res.alerts[name] = m
	}
	for k, v := range rc.pages {
		res.pages[k] = v
	}
	return res
}

func (r crashResult) duplicated() int {
	n := 0
	for _, m := range r.alerts {
		for _, notes := range m {
			if len(notes) > 1 {
				n++
			}
		}
	}
	return n
}
