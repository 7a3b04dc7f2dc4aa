package normalize

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
)

const privilegedPod = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete",
"requestURI":"/api/v1/namespaces/payments/pods","verb":"create",
"user":{"username":"alice@example.com","uid":"u-1","groups":["devs","system:authenticated"]},
"impersonatedUser":null,"sourceIPs":["198.51.100.7","10.0.0.1"],"userAgent":"kubectl/v1.31.0",
"objectRef":{"resource":"pods","namespace":"payments","apiVersion":"v1"},
"responseStatus":{"metadata":{},"code":201},
"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"dbg","namespace":"payments","labels":{"app":"dbg"}},
 "spec":{"hostPID":true,"serviceAccountName":"builder","securityContext":{"runAsNonRoot":true},
  "initContainers":[{"name":"init","image":"busybox@sha256:abc","securityContext":{"runAsUser":0}}],
  "containers":[{"name":"app","image":"alpine:3","securityContext":{"privileged":true,"allowPrivilegeEscalation":false,"capabilities":{"add":["SYS_ADMIN","cap_net_admin"]}},"ports":[{"containerPort":80,"hostPort":8080}]}],
  "volumes":[{"name":"h","hostPath":{"path":"/var/run/docker.sock"}},{"name":"e","emptyDir":{}}]}},
"requestReceivedTimestamp":"2026-11-20T14:00:00.123456Z","stageTimestamp":"2026-11-20T14:00:00.2Z",
"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed"}}`

func TestK8sAuditPod(t *testing.T) {
	evs, errs := (&K8sAudit{Cluster: "prod"}).Normalize([]byte(privilegedPod), Meta{})
	if len(errs) != 0 || len(evs) != 1 {
		t.Fatalf("got %d events, errors %v", len(evs), errs)
	}
	ev := evs[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"source", ev.Source, event.SourceK8sAudit},
		{"id", ev.ID, "a1"},
		{"time", ev.Time, time.Date(2026, 11, 20, 14, 0, 0, 123456000, time.UTC)},
		{"action", ev.Action, "create"},
		{"outcome", ev.Outcome, event.OutcomeSuccess},
		{"actor.name", ev.Actor.Name, "alice@example.com"},
		{"actor.type", ev.Actor.Type, "user"},
		{"actor.source_ip", ev.Actor.SourceIP, "198.51.100.7"},
		{"target.type", ev.Target.Type, "pods"},
		{"target.name (from the request object)", ev.Target.Name, "dbg"},
		{"k8s.pod", ev.K8s.Pod, "dbg"},
		{"k8s.namespace", ev.K8s.Namespace, "payments"},
		{"k8s.cluster", ev.K8s.Cluster, "prod"},
		{"k8s.kind", ev.K8s.Kind, "Pod"},
		{"k8s.decision", ev.K8s.Decision, "allow"},
		{"k8s.response_code", ev.K8s.ResponseCode, 201},
		{"workload.host_pid", ev.K8s.Workload.HostPID, true},
		{"workload.service_account", ev.K8s.Workload.ServiceAccount, "builder"},
		{"workload.host_paths", strings.Join(ev.K8s.Workload.HostPaths, ","), "/var/run/docker.sock"},
		{"workload.images", strings.Join(ev.K8s.Workload.Images, ","), "busybox@sha256:abc,alpine:3"},
		{"init kind", ev.K8s.Workload.Containers[0].Kind, "init"},
		{"init runs as root (runAsUser 0 beats pod runAsNonRoot)", ev.K8s.Workload.Containers[0].RunAsRoot, true},
		{"app privileged", ev.K8s.Workload.Containers[1].Privileged, true},
		{"app not root (pod runAsNonRoot)", ev.K8s.Workload.Containers[1].RunAsRoot, false},
		{"app no escalation", ev.K8s.Workload.Containers[1].AllowPrivilegeEscalation, false},
		{"app caps", strings.Join(ev.K8s.Workload.Containers[1].AddedCapabilities, ","), "SYS_ADMIN,NET_ADMIN"},
		{"app host ports", len(ev.K8s.Workload.Containers[1].HostPorts), 1},
		{"labels", ev.K8s.Labels["app"], "dbg"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestK8sAuditShapes(t *testing.T) {
	one := `{"auditID":"x1","verb":"get","user":{"username":"system:serviceaccount:ns1:sa1"},"objectRef":{"resource":"secrets","namespace":"ns1","name":"s"},"timestamp":"2018-10-25T13:58:49Z"}`
	cases := []struct {
		name    string
		in      string
		events  int
		errs    int
		errKind error
	}{
		{"v1beta1 without apiVersion and kind", one, 1, 0, nil},
		{"EventList", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + one + `,` + strings.Replace(one, "x1", "x2", 1) + `]}`, 2, 0, nil},
		{"EventList with one bad item keeps the good one", `{"kind":"EventList","items":[` + one + `,{"auditID":"x3","verb":"get","timestamp":"yesterday"},42]}`, 1, 2, ErrInvalidEvent},
		{"JSON array", `[` + one + `]`, 1, 0, nil},
		{"wrapped in event (Splunk HEC)", `{"time":1,"event":` + one + `}`, 1, 0, nil},
		{"not JSON", `this is not json`, 0, 1, ErrNotJSON},
		{"trailing garbage", one + ` x`, 0, 1, ErrNotJSON},
		{"other apiVersion", `{"apiVersion":"v1","kind":"Event","auditID":"a","verb":"get"}`, 0, 1, ErrUnknownFormat},
		{"not an audit event", `{"hello":"world"}`, 0, 1, ErrUnknownFormat},
		{"missing auditID", `{"verb":"get","timestamp":"2018-10-25T13:58:49Z"}`, 0, 1, ErrInvalidEvent},
		{"missing time", `{"auditID":"a","verb":"get"}`, 0, 1, ErrInvalidEvent},
		{"a string", `"hello"`, 0, 1, ErrUnknownFormat},
		{"malformed sample (kind is a number)", `{"kind": 0}`, 0, 1, ErrUnknownFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, errs := (&K8sAudit{}).Normalize([]byte(c.in), Meta{})
			if len(evs) != c.events || len(errs) != c.errs {
				t.Fatalf("got %d events and errors %v; want %d and %d", len(evs), errs, c.events, c.errs)
			}
			if c.errKind != nil && !errors.Is(errs[0], c.errKind) {
				t.Fatalf("error %v is not %v", errs[0], c.errKind)
			}
		})
	}
}

func TestK8sAuditActors(t *testing.T) {
	cases := []struct {
		user, impersonated string
		groups             string
		wantType, wantName string
		wantSA, wantImp    string
	}{
		{"system:serviceaccount:kube-system:replicaset-controller", "", `[]`, "service_account", "system:serviceaccount:kube-system:replicaset-controller", "kube-system/replicaset-controller", ""},
		{"system:anonymous", "", `["system:unauthenticated"]`, "anonymous", "system:anonymous", "", ""},
		{"system:node:ip-10-0-0-1", "", `["system:nodes"]`, "node", "system:node:ip-10-0-0-1", "", ""},
		{"system:kube-scheduler", "", `[]`, "system", "system:kube-scheduler", "", ""},
		{"admin", "bob", `[]`, "user", "bob", "", "admin"},
	}
	for _, c := range cases {
		imp := ""
		if c.impersonated != "" {
			imp = `,"impersonatedUser":{"username":"` + c.impersonated + `"}`
		}
		in := `{"auditID":"a","verb":"get","timestamp":"2018-10-25T13:58:49Z","user":{"username":"` + c.user + `","groups":` + c.groups + `}` + imp + `}`
		evs, errs := (&K8sAudit{}).Normalize([]byte(in), Meta{})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		a := evs[0].Actor
		if a.Type != c.wantType || a.Name != c.wantName || evs[0].K8s.ServiceAccount != c.wantSA || a.Impersonator != c.wantImp {
			t.Errorf("%s: got type=%s name=%s sa=%s imp=%s", c.user, a.Type, a.Name, evs[0].K8s.ServiceAccount, a.Impersonator)
		}
	}
}

func TestK8sAuditExecAndRBAC(t *testing.T) {
	exec := `{"auditID":"e","verb":"create","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/d/pods/p/exec?command=sh&command=-c&command=id&container=c1&stdin=true","objectRef":{"resource":"pods","namespace":"d","name":"p","subresource":"exec"},"responseStatus":{"code":101},"timestamp":"2018-10-25T13:58:49Z","user":{"username":"u"}}`
	evs, _ := (&K8sAudit{}).Normalize([]byte(exec), Meta{})
	if got := strings.Join(evs[0].K8s.Command, " "); got != "sh -c id" || evs[0].K8s.Container != "c1" || evs[0].Target.Subresource != "exec" {
		t.Errorf("exec: command %q container %q", got, evs[0].K8s.Container)
	}
	crb := `{"auditID":"r","verb":"create","objectRef":{"resource":"clusterrolebindings","apiGroup":"rbac.authorization.k8s.io"},"timestamp":"2018-10-25T13:58:49Z","user":{"username":"u"},
	"requestObject":{"kind":"ClusterRoleBinding","metadata":{"name":"b"},"roleRef":{"kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"User","name":"eve"}]}}`
	evs, _ = (&K8sAudit{}).Normalize([]byte(crb), Meta{})
	if r := evs[0].K8s.RBAC; r.RoleRef.Name != "cluster-admin" || len(r.Subjects) != 1 || r.Subjects[0].Name != "eve" || evs[0].Target.Name != "b" {
		t.Errorf("binding: %+v", r)
	}
	role := `{"auditID":"r","verb":"create","objectRef":{"resource":"roles","namespace":"x"},"timestamp":"2018-10-25T13:58:49Z","user":{"username":"u"},
	"requestObject":{"rules":[{"verbs":["*"],"resources":["pods"],"apiGroups":[""]}]}}`
	evs, _ = (&K8sAudit{}).Normalize([]byte(role), Meta{})
	if r := evs[0].K8s.RBAC; len(r.Rules) != 1 || r.Rules[0].Verbs[0] != "*" || evs[0].K8s.Kind != "Role" {
		t.Errorf("role without kind: %+v kind %q", r, evs[0].K8s.Kind)
	}
}

func TestK8sAuditRedactsSecrets(t *testing.T) {
	in := `{"auditID":"s","verb":"create","objectRef":{"resource":"secrets","namespace":"n","name":"db"},"timestamp":"2018-10-25T13:58:49Z","user":{"username":"u"},
	"requestObject":{"kind":"Secret","metadata":{"name":"db","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"c3VwZXJzZWNyZXQ=\"}}"}},"data":{"password":"c3VwZXJzZWNyZXQ="},"stringData":{"token":"plain-token-value"}},
	"responseObject":{"kind":"SecretList","items":[{"kind":"Secret","data":{"k":"c3VwZXJzZWNyZXQ="}}]}}`
	evs, errs := (&K8sAudit{}).Normalize([]byte(in), Meta{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := strings.Join(evs[0].K8s.DataKeys, ","); got != "password,token" {
		t.Errorf("data keys %q", got)
	}
	dump := fmtAny(evs[0].Raw)
	for _, secret := range []string{"c3VwZXJzZWNyZXQ=", "plain-token-value"} {
		if strings.Contains(dump, secret) {
			t.Errorf("secret value %q survived normalization: %s", secret, dump)
		}
	}
	tr := `{"auditID":"t","verb":"create","objectRef":{"resource":"tokenreviews"},"timestamp":"2018-10-25T13:58:49Z","user":{"username":"u"},"requestObject":{"kind":"TokenReview","spec":{"token":"eyJhbGciOi.secret.jwt"}}}`
	evs, _ = (&K8sAudit{}).Normalize([]byte(tr), Meta{})
	if strings.Contains(fmtAny(evs[0].Raw), "eyJhbGciOi") {
		t.Error("TokenReview token survived normalization")
	}
}

// TestK8sAuditCorpus normalizes every Kubernetes audit event of the public
// samples: each must yield a source, time, id, action and actor, except
// the documented, deliberately malformed fal_01_003.json.
func TestK8sAuditCorpus(t *testing.T) {
	dir := corpus.Dir(t)
	malformed := map[string]string{
		"falco-k8s-audit-traces/fal_01_003.json": "deliberately malformed upstream: {\"kind\": 0}",
	}
	var files []string
	for _, pattern := range []string{"falco-k8s-audit-traces/*.json", "falco-k8s-audit-traces/*.jsonl", "audit2rbac-demo/*.log"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		files = append(files, m...)
	}
	total := 0
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		if strings.HasSuffix(f, "expected_detections_by_trace.json") || strings.HasSuffix(f, "SOURCE.json") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 16<<20)
		line := 0
		for sc.Scan() {
			line++
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			evs, errs := (&K8sAudit{}).Normalize(sc.Bytes(), Meta{})
			if why, ok := malformed[rel]; ok {
				if len(errs) == 0 {
					t.Errorf("%s:%d: expected an error (%s)", rel, line, why)
				}
				continue
			}
			for _, err := range errs {
				t.Errorf("%s:%d: %v", rel, line, err)
			}
			for _, ev := range evs {
				total++
				if ev.Source == "" || ev.Time.IsZero() || ev.ID == "" || ev.Action == "" || ev.Actor.Name == "" {
					t.Errorf("%s:%d: incomplete event: source=%q time=%v id=%q action=%q actor=%q", rel, line, ev.Source, ev.Time, ev.ID, ev.Action, ev.Actor.Name)
				}
			}
		}
	}
	if total < 80 {
		t.Fatalf("normalized only %d events from %d files", total, len(files))
	}
	t.Logf("normalized %d events from %d files", total, len(files))
}

func fmtAny(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				b.WriteString(k + "=")
				walk(x)
				b.WriteString(" ")
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		case string:
			b.WriteString(t)
		}
	}
	walk(v)
	return b.String()
}

func BenchmarkK8sAudit(b *testing.B) {
	n := &K8sAudit{}
	msg := []byte(privilegedPod)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if evs, errs := n.Normalize(msg, Meta{}); len(evs) != 1 || len(errs) != 0 {
			b.Fatal("bad normalize")
		}
	}
}

func FuzzK8sAudit(f *testing.F) {
	f.Add([]byte(privilegedPod))
	f.Add([]byte(`{"kind":"EventList","items":[{"auditID":"a","verb":"get","timestamp":"2018-10-25T13:58:49Z"}]}`))
	f.Add([]byte(`[1,"x",{"kind":0}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, _ := (&K8sAudit{}).Normalize(data, Meta{})
		for _, ev := range evs {
			if ev.ID == "" || ev.Action == "" || ev.Time.IsZero() {
				t.Fatalf("event without id, action or time: %+v", ev)
			}
		}
	})
}
