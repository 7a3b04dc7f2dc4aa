package k8saudit_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compact(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// aksRecord returns record i of the AKS fixture on its own.
func aksRecord(t testing.TB, i int) []byte {
	t.Helper()
	var batch struct{ Records []json.RawMessage }
	if err := json.Unmarshal(fixture(t, "aks-records.json"), &batch); err != nil {
		t.Fatal(err)
	}
	return batch.Records[i]
}

func normalizer(t testing.TB, format string, o normalize.Options) *detect.Normalizer {
	t.Helper()
	n, err := detect.New(format, o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEnvelopes decodes every envelope an audit event travels in through
// the dispatcher, as the pipeline does, both auto-detected and with the
// format forced to k8s_audit.
func TestEnvelopes(t *testing.T) {
	type want struct {
		id, action, actor, cluster string
	}
	cases := []struct {
		name string
		msg  []byte
		want []want
	}{
		{"plain Event", fixture(t, "pod-create.json"), []want{{"7f3c2a91-5d4e-4b8a-9c61-2e0f8d7b1a43", "create", "system:serviceaccount:kube-system:replicaset-controller", "default-cluster"}}},
		{"EventList", fixture(t, "eventlist.json"), []want{
			{"c41e8b27-0d9a-4f35-b6e2-19a7d3c5f804", "create", "ana.souza@example.com.br", "default-cluster"},
			{"0b5d7e19-6c2a-4f83-a9d4-5e1f3b7c2a60", "create", "system:kube-scheduler", "default-cluster"},
			{"5a9c1e3f-7b2d-4c6e-8f0a-2d4b6c8e0f13", "create", "system:node:ip-10-0-12-4.sa-east-1.compute.internal", "default-cluster"},
		}},
		{"Splunk HEC wrapper", fixture(t, "hec.json"), []want{{"9e2f4a6c-8b1d-4e3f-a5c7-0d2e4f6a8b1c", "get", "system:serviceaccount:ci:deployer", "default-cluster"}}},
		{"GKE LogEntry", fixture(t, "gke-create-pod.json"), []want{{"3e5a7c9b-1d2f-4b6e-8a0c-5d7f9b1e3a6c", "create", "system:serviceaccount:ci:deployer", "loja-prod"}}},
		{"GKE LogEntries as JSON lines", append(append(compact(t, fixture(t, "gke-exec.json")), '\n'), compact(t, fixture(t, "gke-denied.json"))...), []want{
			{"8f2b6d4a-1c3e-4a5f-9b7d-0e2c4a6b8d1f", "create", "ana.souza@example.com.br", "loja-prod"},
			{"c7e9a1b3-5d2f-4c6e-8a0b-9d1f3b5d7e2a", "list", "reporting@loja-prod-4821.iam.gserviceaccount.com", "loja-prod"},
		}},
		{"EKS CloudWatch subscription, gzip'd", gzipped(t, fixture(t, "eks-cloudwatch.json")), []want{
			{"4d6f8a0c-2e1b-4c3d-9f5a-6b8d0f2a4c6e", "create", "arn:aws:sts::111122223333:assumed-role/platform-admin/joao", "prod-sa"},
			{"8b0d2f4a-6c1e-4a3b-9d5f-7e9a1c3e5b7d", "get", "system:serviceaccount:payments:ledger", "prod-sa"},
		}},
		{"AKS Event Hubs records, string and object log", fixture(t, "aks-records.json"), []want{
			{"6e8a0c2d-4f1b-4d3e-8a5c-7b9d1f3a5c7e", "list", "masterclient", "aks-loja-br"},
			{"0f2b4d6a-8c1e-4f3a-9b5d-1c3e5a7b9d0f", "patch", "maria.oliveira@contoso.com.br", "aks-loja-br"},
		}},
		{"a lone AKS record", aksRecord(t, 0), []want{{"6e8a0c2d-4f1b-4d3e-8a5c-7b9d1f3a5c7e", "list", "masterclient", "aks-loja-br"}}},
		{"a lone AKS record with an object log", aksRecord(t, 1), []want{{"0f2b4d6a-8c1e-4f3a-9b5d-1c3e5a7b9d0f", "patch", "maria.oliveira@contoso.com.br", "aks-loja-br"}}},
		{"JSON array", []byte(`[` + string(bytes.TrimSpace(fixture(t, "pod-create.json"))) + `]`), []want{{"7f3c2a91-5d4e-4b8a-9c61-2e0f8d7b1a43", "create", "system:serviceaccount:kube-system:replicaset-controller", "default-cluster"}}},
	}
	for _, format := range []string{detect.Auto, event.SourceK8sAudit} {
		n := normalizer(t, format, normalize.Options{Cluster: "default-cluster", Raw: true})
		for _, c := range cases {
			t.Run(format+"/"+c.name, func(t *testing.T) {
				evs, errs := n.Normalize(c.msg, normalize.Meta{})
				if len(errs) != 0 || len(evs) != len(c.want) {
					t.Fatalf("got %d events, errors %v; want %d events", len(evs), errs, len(c.want))
				}
				for i, w := range c.want {
					ev := evs[i]
					got := want{ev.ID, ev.Action, ev.Actor.Name, ev.K8s.Cluster}
					if got != w {
						t.Errorf("event %d = %+v, want %+v", i, got, w)
					}
					if ev.Source != event.SourceK8sAudit || ev.Time.IsZero() || ev.RawMap() == nil {
						t.Errorf("event %d: source %q time %v raw %v", i, ev.Source, ev.Time, ev.RawMap() != nil)
					}
				}
			})
		}
	}
}

func TestEnvelopeDetails(t *testing.T) {
	n := normalizer(t, detect.Auto, normalize.Options{})
	evs, errs := n.Normalize(gzipped(t, fixture(t, "eks-cloudwatch.json")), normalize.Meta{})
	if len(errs) != 0 || len(evs) != 2 {
		t.Fatalf("EKS: %d events, errors %v", len(evs), errs)
	}
	crb, sa := evs[0], evs[1]
	if crb.Actor.SessionID != "ASIAEXAMPLEKEY123456" || crb.K8s.RBAC.RoleRef.Name != "cluster-admin" || crb.Target.Name != "joao-admin" {
		t.Errorf("EKS binding: session %q role %+v target %q", crb.Actor.SessionID, crb.K8s.RBAC.RoleRef, crb.Target.Name)
	}
	if sa.Actor.SessionID != "JTI=4b7e2c9a-13f5-4d8e-9a60-7c1b3e5f2d84" || sa.K8s.ServiceAccount != "payments/ledger" {
		t.Errorf("EKS service account: session %q sa %q", sa.Actor.SessionID, sa.K8s.ServiceAccount)
	}

	evs, errs = n.Normalize(fixture(t, "aks-records.json"), normalize.Meta{})
	if len(errs) != 0 || len(evs) != 2 {
		t.Fatalf("AKS: %d events, errors %v", len(evs), errs)
	}
	patch := evs[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"kind (from the response of a patch)", patch.K8s.Kind, "Deployment"},
		{"caps", patch.K8s.Workload.Containers[0].AddedCapabilities, []string{"SYS_PTRACE"}},
		{"run as root", patch.K8s.Workload.Containers[0].RunAsRoot, false},
		{"labels", patch.K8s.Labels, map[string]string{"app": "checkout", "data-classification": "lgpd-personal"}},
		{"object annotations", patch.K8s.ObjectAnnotations["azure.workload.identity/client-id"], "2f4a6c8e-0b1d-4e3f-a5c7-9d1f3b5e7a0c"},
		{"service account", patch.K8s.Workload.ServiceAccount, "checkout"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("AKS patch %s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestDispatcherErrors(t *testing.T) {
	one := `{"auditID":"x1","verb":"get","user":{"username":"u"},"objectRef":{"resource":"secrets"},"timestamp":"2018-10-25T13:58:49Z"}`
	cases := []struct {
		name    string
		in      string
		events  int
		errKind error
	}{
		{"not JSON", `this is not json`, 0, normalize.ErrNotJSON},
		{"trailing garbage", one + ` x`, 0, normalize.ErrNotJSON},
		// The dispatcher reads what does not start with { or [ as a text
		// line, which a k8s_audit input refuses.
		{"a string", `"hello"`, 0, normalize.ErrNotJSON},
		{"not an audit event", `{"hello":"world"}`, 0, normalize.ErrUnknownFormat},
		{"malformed sample (kind is a number)", `{"kind": 0}`, 0, normalize.ErrUnknownFormat},
		{"another source on a k8s_audit input", `{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventTime":"2024-01-01T00:00:00Z","eventID":"e"}`, 0, normalize.ErrUnknownFormat},
	}
	n := normalizer(t, event.SourceK8sAudit, normalize.Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, errs := n.Normalize([]byte(c.in), normalize.Meta{})
			if len(evs) != c.events || len(errs) == 0 || !errors.Is(errs[0], c.errKind) {
				t.Fatalf("got %d events, errors %v; want %d and %v", len(evs), errs, c.events, c.errKind)
			}
		})
	}
}

func TestGKEBeforeGCPAudit(t *testing.T) {
	// k8s_audit is first in the dispatcher's list: a GKE Kubernetes entry
	// is ours, a GCP audit entry of another service is not.
	n := normalizer(t, detect.Auto, normalize.Options{})
	evs, errs := n.Normalize(fixture(t, "gke-exec.json"), normalize.Meta{})
	if len(errs) != 0 || len(evs) != 1 || evs[0].Source != event.SourceK8sAudit {
		t.Fatalf("GKE exec: %v %v", evs, errs)
	}
	other := strings.Replace(string(fixture(t, "gke-exec.json")), `"serviceName": "k8s.io"`, `"serviceName": "iam.googleapis.com"`, 1)
	evs, _ = n.Normalize([]byte(other), normalize.Meta{})
	for _, ev := range evs {
		if ev.Source == event.SourceK8sAudit {
			t.Errorf("a non-Kubernetes GCP entry decoded as k8s_audit")
		}
	}
}
