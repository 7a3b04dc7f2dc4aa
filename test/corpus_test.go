package test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/pipeline"
	"github.com/vigia-dev/vigia/internal/replay"
	"github.com/vigia-dev/vigia/internal/rule"
)

// falcoToVigia maps the classic Falco Kubernetes audit rules to the Vigia
// rules that cover the same behaviour.
var falcoToVigia = map[string]string{
	"Create Privileged Pod":                            "k8s-privileged-container",
	"Create HostNetwork Pod":                           "k8s-host-namespaces",
	"Create Sensitive Mount Pod":                       "k8s-sensitive-hostpath-mount",
	"Anonymous Request Allowed":                        "k8s-anonymous-request-allowed",
	"Attach/Exec Pod":                                  "k8s-pod-exec-attach",
	"Attach to cluster-admin Role":                     "k8s-cluster-admin-binding",
	"ClusterRole With Wildcard Created":                "k8s-wildcard-role",
	"Create NodePort Service":                          "k8s-nodeport-service",
	"Create/Modify Configmap With Private Credentials": "k8s-configmap-credentials",
	"Service Account Created in Kube Namespace":        "k8s-sa-created-in-system-namespace",
	"ClusterRole With Pod Exec Created":                "k8s-role-grants-pod-exec",
	"System ClusterRole Modified/Deleted":              "k8s-system-rbac-modified",
}

// falcoNotMapped gives, for each classic Falco rule that fires somewhere in
// the traces but has no entry in falcoToVigia, why Vigia deliberately
// behaves differently. Every Falco rule of the traces is in one table or
// the other.
var falcoNotMapped = map[string]string{
	"Pod Created in Kube Namespace": "Falco alerts on every pod in kube-system/kube-public, including the " +
		"replicas the replicaset controller stamps out (the only events in its traces); " +
		"k8s-workload-created-in-system-namespace alerts on the workload a person or a non-system " +
		"service account writes there and skips the controllers' replicas",
	"Create Disallowed Pod": "Falco's test configures an image allowlist for that one trace only; " +
		"k8s-image-unapproved-registry uses a fixed registry list and so fires on every trace whose " +
		"pod a person creates from Docker Hub",
	"Create Disallowed Namespace": "allowlist of namespace names configured per Falco test; Vigia does not " +
		"alert on namespace creation",
	"Disallowed K8s User": "allowlist of user names configured per Falco test; the closest Vigia rule, " +
		"k8s-system-masters-group-used, alerts on the system:masters group instead of a user list",
	"ClusterRole With Write Privileges Created": "any write verb in a ClusterRole is routine; Vigia alerts " +
		"on the dangerous grants (wildcards, escalate/bind/impersonate, exec, sensitive aggregation)",
	"K8s ConfigMap Created":               "activity record, not a detection: Vigia does not alert on it",
	"K8s ConfigMap Deleted":               "activity record, not a detection: Vigia does not alert on it",
	"K8s Deployment Created":              "activity record, not a detection: Vigia does not alert on it",
	"K8s Deployment Deleted":              "activity record, not a detection: Vigia does not alert on it",
	"K8s Namespace Created":               "activity record, not a detection: Vigia does not alert on it",
	"K8s Namespace Deleted":               "activity record, not a detection: Vigia does not alert on it",
	"K8s Role/Clusterrole Created":        "activity record, not a detection: Vigia does not alert on it",
	"K8s Role/Clusterrole Deleted":        "activity record, not a detection: Vigia does not alert on it",
	"K8s Role/Clusterrolebinding Created": "activity record, not a detection: Vigia does not alert on it",
	"K8s Role/Clusterrolebinding Deleted": "activity record, not a detection: Vigia does not alert on it",
	"K8s Secret Created":                  "activity record, not a detection: Vigia does not alert on it",
	"K8s Secret Deleted":                  "activity record, not a detection: Vigia does not alert on it",
	"K8s Service Created":                 "activity record, not a detection: Vigia does not alert on it",
	"K8s Service Deleted":                 "activity record, not a detection: Vigia does not alert on it",
	"K8s Serviceaccount Created":          "activity record, not a detection: Vigia does not alert on it",
	"K8s Serviceaccount Deleted":          "activity record, not a detection: Vigia does not alert on it",
	"json_pointer_example":                "a test of Falco's field syntax, not a detection",
}

// TestFalcoTraceRegression replays every Falco audit trace and checks that
// each mapped Vigia rule fires on a trace exactly when Falco's rule did in
// Falco's own test suite (expected_detections_by_trace.json), as many times
// as Falco's expected count, and that every Falco rule of the traces is
// either mapped or listed in falcoNotMapped with the reason.
func TestFalcoTraceRegression(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "falco-k8s-audit-traces")
	raw, err := os.ReadFile(filepath.Join(dir, "expected_detections_by_trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string][]struct {
		Detect bool           `json:"detect"`
		Rules  map[string]int `json:"rules"`
	}
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
	rules, err := rule.Load([]string{"../detections"}, rule.Options{Root: ".."})
	if err != nil {
		t.Fatal(err)
	}
	// Only the mappings whose Vigia rule ships are checked.
	shipped := map[string]string{}
	for falco, vigia := range falcoToVigia {
		if rules.Rule(vigia) != nil {
			shipped[falco] = vigia
		}
	}
	if len(shipped) < 7 {
		t.Fatalf("only %d of the classic detections ship", len(shipped))
	}
	proc := &pipeline.Processor{Rules: rules}
	norm, err := detect.New(event.SourceK8sAudit, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for file, tests := range expected {
		// Falco's tests of one trace differ in the rule files they load; a
		// rule's expected count is the one of the tests that detect it.
		want := map[string]int{}
		for _, tc := range tests {
			if !tc.Detect {
				continue
			}
			for falco, n := range tc.Rules {
				_, mapped := falcoToVigia[falco]
				if _, why := falcoNotMapped[falco]; !mapped && !why {
					t.Errorf("%s: Falco rule %q is neither mapped in falcoToVigia nor explained in falcoNotMapped", file, falco)
				}
				if v, ok := shipped[falco]; ok {
					want[v] = max(want[v], n)
				}
			}
		}
		got := map[string]int{}
		err := replay.Read(filepath.Join(dir, file), func(rec replay.Record) error {
			as, _, _ := proc.Process(context.Background(), norm, rec.Data, normalize.Meta{File: rec.File})
			for _, a := range as {
				got[a.Rule.ID]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range shipped {
			checked++
			if want[v] != got[v] {
				t.Errorf("%s: %s fired %d times, Falco's rule %d", file, v, got[v], want[v])
			}
		}
	}
	t.Logf("checked %d (trace, rule) pairs over %d traces", checked, len(expected))
}

// TestReplayAcceptsKubernetesCorpus replays every Kubernetes audit file of
// the corpus: every record normalizes except the documented malformed one.
func TestReplayAcceptsKubernetesCorpus(t *testing.T) {
	dir := corpus.Dir(t)
	files, err := replay.Files([]string{
		filepath.Join(dir, "falco-k8s-audit-traces"),
		filepath.Join(dir, "audit2rbac-demo"),
	})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := rule.Load([]string{"../detections"}, rule.Options{Root: ".."})
	if err != nil {
		t.Fatal(err)
	}
	proc := &pipeline.Processor{Rules: rules}
	norm, err := detect.New(event.SourceK8sAudit, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	for _, f := range files {
		base := filepath.Base(f)
		if base == "SOURCE.json" || base == "expected_detections_by_trace.json" || strings.Contains(f, "cloudtrail") {
			continue
		}
		err := replay.Read(f, func(rec replay.Record) error {
			_, n, errs := proc.Process(context.Background(), norm, rec.Data, normalize.Meta{File: rec.File})
			events += n
			if len(errs) > 0 && base != "fal_01_003.json" {
				t.Errorf("%s: %v", rec.Origin, errs)
			}
			if base == "fal_01_003.json" && len(errs) == 0 {
				t.Errorf("%s: the deliberately malformed file was accepted", rec.Origin)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if events < 130 {
		t.Fatalf("only %d events", events)
	}
}
