package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/redistest"
)

// TestScaleOutTwoProcesses runs two `vigia run` processes in one consumer
// group, sharing one Redis, over a topic of three partitions: the way
// Vigia scales out (docs/deploy.md). Each identity's refused requests are
// spread over every partition, so both processes count into the same
// correlation windows, and several may see the threshold crossed at once.
// The alerts must be exactly those of one process alone: one burst
// correlation per identity (not one per process), each exec alert once.
func TestScaleOutTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs the binary three times")
	}
	bin := buildVigia(t)
	dir := t.TempDir()
	bk := &crashBroker{t: t, dir: filepath.Join(dir, "broker")}
	bk.open("127.0.0.1:0")
	defer bk.close()
	rs := redistest.StartPersistent(t)

	const identities, refusals, execs = 60, 24, 40
	var stream []kafka.Message
	for j := range refusals {
		for i := range identities {
			stream = append(stream, kafka.Message{Value: []byte(fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"deny-%03d-%03d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ns1/pods","verb":"list","user":{"username":"prober%03d@example.com","groups":["system:authenticated"]},"sourceIPs":["198.51.100.7"],"userAgent":"kubectl/v1.31.2","objectRef":{"resource":"pods","namespace":"ns1","apiVersion":"v1"},"responseStatus":{"metadata":{},"status":"Failure","reason":"Forbidden","code":403},"requestReceivedTimestamp":"2026-11-20T15:%02d:%02d.000000Z","stageTimestamp":"2026-11-20T15:%02d:%02d.000000Z","annotations":{"authorization.k8s.io/decision":"forbid","authorization.k8s.io/reason":""}}`,
				i, j, i, j*5/60, j*5%60, j*5/60, j*5%60))})
		}
	}
	for i := range execs {
		stream = append(stream, kafka.Message{Value: []byte(fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"exec-%03d","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/ns2/pods/pod-%d/exec?command=sh&container=app&stdin=true&stdout=true&tty=true","verb":"create","user":{"username":"operator%03d@example.com","groups":["system:authenticated"]},"sourceIPs":["198.51.100.9"],"userAgent":"kubectl/v1.31.2","objectRef":{"resource":"pods","namespace":"ns2","name":"pod-%d","subresource":"exec","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"2026-11-20T15:05:%02d.000000Z","stageTimestamp":"2026-11-20T15:05:%02d.000000Z"}`,
			i, i, i, i, i%60, i%60))})
	}

	run := func(name string, procs int) map[string][]string {
		sink := newAlertSink(t)
		cfg := crashConfig(t, dir, name, bk.addr, sink.url, rs)
		var ps []*vigiaProc
		for i := range procs {
			ps = append(ps, startVigia(t, bin, cfg, filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, i))))
		}
		for _, p := range ps {
			select {
			case p.addr = <-p.metrics:
			case err := <-p.exited:
				t.Fatalf("%s: vigia exited early: %v", name, err)
			case <-time.After(60 * time.Second):
				t.Fatalf("%s: vigia logged no metrics address", name)
			}
		}
		// Once every process has its partitions, the stream; round robin,
		// so one identity's events land on every partition.
		waitMembers(t, bk.addr, name, procs)
		produceRoundRobin(t, bk.addr, name+"-audit", stream)
		deadline := time.Now().Add(2 * time.Minute)
		quiet, last := 0, -1
		for {
			time.Sleep(250 * time.Millisecond)
			why := ""
			for _, p := range ps {
				if why = doneYet(bk.addr, name, name+"-audit", p.addr); why != "" {
					break
				}
			}
			n := sink.count()
			if why == "" && n == last {
				if quiet++; quiet >= 8 {
					break
				}
			} else {
				quiet = 0
			}
			last = n
			if time.Now().After(deadline) {
				t.Fatalf("%s: not done in 2 minutes: %s", name, why)
			}
		}
		if procs > 1 {
			// Both processes took part: each consumed some partitions.
			for i, p := range ps {
				c := consumed(t, p.addr)
				if c == 0 {
					t.Errorf("%s: process %d consumed nothing: the group did not spread the partitions", name, i)
				}
				t.Logf("%s: process %d consumed %d of %d messages", name, i, c, len(stream))
			}
		}
		for _, p := range ps {
			p.term(t)
		}
		return sink.byRule()
	}
	one := run("clean", 1)
	two := run("crash", 2)

	if got := len(one["corr-permission-denied-burst"]); got != identities {
		t.Fatalf("one process: %d burst correlations, want one per identity (%d)", got, identities)
	}
	if got := len(one["k8s-pod-exec-attach"]); got != execs {
		t.Fatalf("one process: %d exec alerts, want %d", got, execs)
	}
	for rule, keys := range one {
		if !slices.Equal(two[rule], keys) {
			t.Errorf("rule %s: two processes raised %d %v, one process %d %v", rule, len(two[rule]), head(two[rule]), len(keys), head(keys))
		}
	}
	for rule, keys := range two {
		if one[rule] == nil {
			t.Errorf("rule %s: raised by two processes (%d), not by one", rule, len(keys))
		}
	}
}

// waitMembers waits until the consumer group is stable with n members,
// each assigned partitions.
func waitMembers(t *testing.T, addr, group string, n int) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	state := ""
	for time.Now().Before(deadline) {
		resp, err := c.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(resp.Groups) == 1 {
			g := resp.Groups[0]
			assigned := 0
			for _, m := range g.Members {
				for _, tp := range m.MemberAssignments.Topics {
					if len(tp.Partitions) > 0 {
						assigned++
						break
					}
				}
			}
			state = fmt.Sprintf("state %s, %d members, %d assigned", g.GroupState, len(g.Members), assigned)
			if g.GroupState == "Stable" && len(g.Members) == n && assigned == n {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s: not stable with %d members each assigned partitions within 60s: %s", group, n, state)
}

func head(s []string) []string { return s[:min(len(s), 5)] }

func produceRoundRobin(t *testing.T, addr, topic string, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Balancer: &kafka.RoundRobin{}, BatchSize: 100}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// consumed reads vigia_messages_consumed_total from a process's metrics.
func consumed(t *testing.T, metricsAddr string) int {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	n := 0
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "vigia_messages_consumed_total{") {
			var v float64
			f := strings.Fields(l)
			fmt.Sscan(f[len(f)-1], &v)
			n += int(v)
		}
	}
	return n
}

// alertSink is a webhook receiver that keeps, per rule, the alerts it got
// once each: single-event alerts by id, correlation alerts by group (their
// id names the event that crossed the threshold, which depends on
// consumption order).
type alertSink struct {
	url string
	mu  sync.Mutex
	// keys[rule][key] = the distinct alert ids under key
	keys map[string]map[string]map[string]bool
	n    int
}

func newAlertSink(t *testing.T) *alertSink {
	s := &alertSink{keys: map[string]map[string]map[string]bool{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *alertSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/enqueue" { // the config's PagerDuty receiver
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"k"}`)
		return
	}
	if r.URL.Path != "/hook/hook" {
		return // the other webhook: alerts are counted through hook only
	}
	var doc struct {
		Status string `json:"status"`
		Alerts []struct {
			ID   string `json:"id"`
			Rule struct {
				ID string `json:"id"`
			} `json:"rule"`
			Correlation *struct {
				Group map[string]string `json:"group"`
			} `json:"correlation"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if doc.Status == "resolved" {
		return
	}
	for _, a := range doc.Alerts {
		key := a.ID
		if a.Correlation != nil {
			key = fmt.Sprint(a.Correlation.Group)
		}
		if s.keys[a.Rule.ID] == nil {
			s.keys[a.Rule.ID] = map[string]map[string]bool{}
		}
		if s.keys[a.Rule.ID][key] == nil {
			s.keys[a.Rule.ID][key] = map[string]bool{}
		}
		if !s.keys[a.Rule.ID][key][a.ID] {
			s.n++
		}
		s.keys[a.Rule.ID][key][a.ID] = true
	}
}

func (s *alertSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// byRule returns each rule's alert keys, sorted; a key raised under two
// alert ids (a correlation fired by both processes) appears twice.
func (s *alertSink) byRule() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for rule, keys := range s.keys {
		for k, ids := range keys {
			for range ids {
				out[rule] = append(out[rule], k)
			}
		}
		slices.Sort(out[rule])
	}
	return out
}
