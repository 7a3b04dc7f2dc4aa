package test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/config"
)

// TestOwnershipRouting: the labels of a Namespace object seen in the audit
// stream route a later alert in that namespace to the owning team's
// receiver, without a route per namespace; other alerts go to the root's.
func TestOwnershipRouting(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", 1, topic, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
kafka:
  brokers: [` + strings.Join(b.Addrs(), ",") + `]
  group_id: owners
  topics: [{name: ` + topic + `, cluster: it}]
  dead_letter_topic: ` + dlqTopic + `
  commit_interval: 100ms
  max_wait: 50ms
rules: {paths: [../detections], runbook_root: ..}
receivers:
  - {name: soc, console: {path: ` + filepath.Join(dir, "soc.jsonl") + `}}
  - {name: payments-team, console: {path: ` + filepath.Join(dir, "payments.jsonl") + `}}
route:
  receivers: [soc]
  group_wait: 0s
  routes:
    - matchers: ['ns_team="payments"']
      receivers: [payments-team]
telemetry: {listen: "off"}
api: {listen: "off"}
data_dir: ` + filepath.Join(dir, "data") + `
`))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg)
	defer r.stop(t)
	lines := readLines(t, samples)
	namespace := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"0a0a0a0a-0000-4000-8000-000000000001","stage":"ResponseComplete","requestURI":"/api/v1/namespaces","verb":"create","user":{"username":"system:serviceaccount:argocd:argocd-application-controller"},"objectRef":{"resource":"namespaces","name":"payments","apiVersion":"v1"},"responseStatus":{"code":201},"requestObject":{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"payments","labels":{"team":"payments","environment":"prod"}}},"requestReceivedTimestamp":"2026-11-20T13:59:00.000000Z","stageTimestamp":"2026-11-20T13:59:00.000000Z","annotations":{"authorization.k8s.io/decision":"allow"}}`
	produce(t, b.Addrs(), append([]string{namespace}, lines...)...)
	waitFor(t, "every message", func() bool { return r.running.Consumer.Handled() == uint64(len(lines)+1) })
	waitFor(t, "an empty outbox", func() bool { n, _ := r.running.Pending(context.Background()); return n == 0 })

	read := func(name string) map[string]string {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		out := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if l == "" {
				continue
			}
			var a struct {
				Rule   struct{ ID string }
				Entity struct{ Namespace string }
			}
			if err := json.Unmarshal([]byte(l), &a); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[a.Rule.ID] = a.Entity.Namespace
		}
		return out
	}
	team, soc := read("payments.jsonl"), read("soc.jsonl")
	if len(team) == 0 {
		t.Fatal("the payments team's receiver got nothing")
	}
	for rule, ns := range team {
		if ns != "payments" {
			t.Errorf("%s (namespace %q) reached the payments team", rule, ns)
		}
	}
	for rule, ns := range soc {
		if ns == "payments" {
			t.Errorf("%s in payments went to the SOC instead of its owners", rule)
		}
	}
	// The exec alert, or the correlation that explains it (a receiver
	// that gets both before notifying the exec mutes it).
	_, exec := team["k8s-pod-exec-attach"]
	_, corr := team["corr-exec-then-pod-sa-secret-read"]
	if !exec && !corr {
		t.Errorf("the exec into payments/debug-tools did not reach its owners: %v", team)
	}
	if _, ok := soc["k8s-anonymous-request-allowed"]; !ok {
		t.Errorf("a cluster-wide alert did not reach the SOC: %v", soc)
	}
}
