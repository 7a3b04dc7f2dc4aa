package k8saudit

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// decode parses data, checks that Detect accepts it and decodes it.
func decode(t testing.TB, data string, o normalize.Options) ([]*event.Event, []error) {
	t.Helper()
	var p fastjson.Parser
	v, err := p.Parse(data)
	if err != nil {
		t.Fatalf("fixture is not JSON: %v", err)
	}
	if !Detect(v) {
		t.Fatalf("Detect rejects %.120s", data)
	}
	return Decode(v, o, normalize.Meta{})
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decodeOne decodes a fixture or literal holding exactly one event.
func decodeOne(t testing.TB, data string, o normalize.Options) *event.Event {
	t.Helper()
	evs, errs := decode(t, data, o)
	if len(errs) != 0 || len(evs) != 1 {
		t.Fatalf("got %d events, errors %v; want 1 event", len(evs), errs)
	}
	return evs[0]
}

type check struct {
	name      string
	got, want any
}

func run(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestPodCreateFixture(t *testing.T) {
	ev := decodeOne(t, fixture(t, "pod-create.json"), normalize.Options{Cluster: "prod-sa"})
	w := ev.K8s.Workload
	run(t, []check{
		{"source", ev.Source, event.SourceK8sAudit},
		{"id", ev.ID, "7f3c2a91-5d4e-4b8a-9c61-2e0f8d7b1a43"},
		{"time", ev.Time, time.Date(2026, 3, 2, 9, 14, 7, 418226000, time.UTC)},
		{"action", ev.Action, "create"},
		{"outcome", ev.Outcome, event.OutcomeSuccess},
		{"actor.name", ev.Actor.Name, "system:serviceaccount:kube-system:replicaset-controller"},
		{"actor.id", ev.Actor.ID, "5c1d9e2a-8f47-4d1b-a3e6-0b9c7d2f4e18"},
		{"actor.type", ev.Actor.Type, "service_account"},
		{"actor.groups", ev.Actor.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}},
		{"actor.session_id", ev.Actor.SessionID, "JTI=4b7e2c9a-13f5-4d8e-9a60-7c1b3e5f2d84"},
		{"actor.source_ips", ev.Actor.SourceIPs, []string{"10.0.12.4"}},
		{"actor.source_ip", ev.Actor.SourceIP, "10.0.12.4"},
		{"actor.user_agent", ev.Actor.UserAgent, "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:serviceaccount:kube-system:replicaset-controller"},
		{"target", ev.Target, event.Target{Type: "pods", Namespace: "payments"}},
		{"k8s.cluster", ev.K8s.Cluster, "prod-sa"},
		{"k8s.namespace", ev.K8s.Namespace, "payments"},
		{"k8s.pod (generated name not known at Request level)", ev.K8s.Pod, ""},
		{"k8s.service_account", ev.K8s.ServiceAccount, "kube-system/replicaset-controller"},
		{"k8s.verb", ev.K8s.Verb, "create"},
		{"k8s.stage", ev.K8s.Stage, "ResponseComplete"},
		{"k8s.level", ev.K8s.Level, "Request"},
		{"k8s.request_uri", ev.K8s.RequestURI, "/api/v1/namespaces/payments/pods"},
		{"k8s.response_code", ev.K8s.ResponseCode, 201},
		{"k8s.decision", ev.K8s.Decision, "allow"},
		{"k8s.reason", ev.K8s.Reason, `RBAC: allowed by ClusterRoleBinding "system:controller:replicaset-controller" of ClusterRole "system:controller:replicaset-controller"`},
		{"k8s.annotations", len(ev.K8s.Annotations), 2},
		{"k8s.kind", ev.K8s.Kind, "Pod"},
		{"k8s.owner", ev.K8s.Owner, "ReplicaSet/ledger-7c6d5e4f3"},
		{"k8s.labels", ev.K8s.Labels, map[string]string{"app.kubernetes.io/name": "ledger", "pod-template-hash": "7c6d5e4f3", "data-classification": "lgpd-personal"}},
		{"k8s.object_annotations", ev.K8s.ObjectAnnotations, map[string]string{"prometheus.io/scrape": "true"}},
		{"k8s.node", ev.K8s.Node, ""},
		{"workload.present", w.Present, true},
		{"workload.service_account", w.ServiceAccount, "ledger"},
		{"workload.images", w.Images, []string{"registry.example.com/payments/ledger:2.14.1"}},
		{"workload.host_paths", w.HostPaths, []string(nil)},
		{"workload.containers", w.Containers, []event.Container{{Name: "ledger", Image: "registry.example.com/payments/ledger:2.14.1", Kind: "container"}}},
		{"raw without Options.RawMap()", ev.RawMap(), map[string]any(nil)},
		{"cloud", ev.Cloud, event.Cloud{}},
		{"issued", ev.Issued, event.Issued{}},
	})
}

// privilegedPod is the map-based decoder's main test event.
const privilegedPod = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete",
"requestURI":"/api/v1/namespaces/payments/pods","verb":"create",
"user":{"username":"alice@example.com","uid":"u-1","groups":["devs","system:authenticated"]},
"impersonatedUser":null,"sourceIPs":["198.51.100.7","10.0.0.1"],"userAgent":"kubectl/v1.31.0",
"objectRef":{"resource":"pods","namespace":"payments","apiVersion":"v1"},
"responseStatus":{"metadata":{},"code":201},
"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"dbg","namespace":"payments","labels":{"app":"dbg"}},
 "spec":{"hostPID":true,"serviceAccountName":"builder","nodeName":"node-7","securityContext":{"runAsNonRoot":true},
  "initContainers":[{"name":"init","image":"busybox@sha256:abc","securityContext":{"runAsUser":0}}],
  "containers":[{"name":"app","image":"alpine:3","securityContext":{"privileged":true,"allowPrivilegeEscalation":false,"capabilities":{"add":["SYS_ADMIN","cap_net_admin"]}},"ports":[{"containerPort":80,"hostPort":8080}]}],
  "volumes":[{"name":"h","hostPath":{"path":"/var/run/docker.sock"}},{"name":"e","emptyDir":{}}]}},
"requestReceivedTimestamp":"2026-11-20T14:00:00.123456Z","stageTimestamp":"2026-11-20T14:00:00.2Z",
"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed"}}`

func TestPrivilegedPod(t *testing.T) {
	ev := decodeOne(t, privilegedPod, normalize.Options{Cluster: "prod"})
	w := ev.K8s.Workload
	run(t, []check{
		{"id", ev.ID, "a1"},
		{"time", ev.Time, time.Date(2026, 11, 20, 14, 0, 0, 123456000, time.UTC)},
		{"actor.name", ev.Actor.Name, "alice@example.com"},
		{"actor.type", ev.Actor.Type, "user"},
		{"actor.impersonator (impersonatedUser null)", ev.Actor.Impersonator, ""},
		{"actor.source_ip", ev.Actor.SourceIP, "198.51.100.7"},
		{"actor.source_ips", ev.Actor.SourceIPs, []string{"198.51.100.7", "10.0.0.1"}},
		{"target.name (from the request object)", ev.Target.Name, "dbg"},
		{"k8s.pod", ev.K8s.Pod, "dbg"},
		{"k8s.node (spec.nodeName)", ev.K8s.Node, "node-7"},
		{"k8s.cluster", ev.K8s.Cluster, "prod"},
		{"k8s.labels", ev.K8s.Labels, map[string]string{"app": "dbg"}},
		{"k8s.object_annotations", ev.K8s.ObjectAnnotations, map[string]string(nil)},
		{"workload.host_pid", w.HostPID, true},
		{"workload.host_network", w.HostNetwork, false},
		{"workload.host_paths", w.HostPaths, []string{"/var/run/docker.sock"}},
		{"workload.images", w.Images, []string{"busybox@sha256:abc", "alpine:3"}},
		{"workload.containers", w.Containers, []event.Container{
			// runAsUser 0 beats the pod's runAsNonRoot.
			{Name: "init", Image: "busybox@sha256:abc", Kind: "init", AllowPrivilegeEscalation: true, RunAsRoot: true},
			{Name: "app", Image: "alpine:3", Kind: "container", Privileged: true, AllowPrivilegeEscalation: false, RunAsRoot: false,
				AddedCapabilities: []string{"SYS_ADMIN", "NET_ADMIN"}, HostPorts: []int{8080}},
		}},
	})
}

func TestEventList(t *testing.T) {
	evs, errs := decode(t, fixture(t, "eventlist.json"), normalize.Options{Cluster: "prod-sa", Raw: true})
	if len(errs) != 0 || len(evs) != 3 {
		t.Fatalf("got %d events, errors %v", len(evs), errs)
	}
	exec, binding, token := evs[0], evs[1], evs[2]
	run(t, []check{
		{"exec.action", exec.Action, "create"},
		{"exec.outcome (101)", exec.Outcome, event.OutcomeSuccess},
		{"exec.target", exec.Target, event.Target{Type: "pods", Subresource: "exec", Namespace: "payments", Name: "ledger-7c6d5e4f3-x8k2m"}},
		{"exec.k8s.pod", exec.K8s.Pod, "ledger-7c6d5e4f3-x8k2m"},
		{"exec.k8s.command (unescaped)", exec.K8s.Command, []string{"/bin/sh", "-c", "cat /etc/shadow"}},
		{"exec.k8s.container", exec.K8s.Container, "ledger"},
		{"exec.actor.session_id (client certificate)", exec.Actor.SessionID, "X509SHA256=6f1d2c3b4a59687746352413f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281"},
		{"exec.k8s.stage", exec.K8s.Stage, "ResponseStarted"},
		{"exec.k8s.kind", exec.K8s.Kind, ""},

		{"binding.actor.type", binding.Actor.Type, "system"},
		{"binding.k8s.node", binding.K8s.Node, "ip-10-0-12-4.sa-east-1.compute.internal"},
		{"binding.k8s.pod", binding.K8s.Pod, "ledger-7c6d5e4f3-x8k2m"},
		{"binding.k8s.kind", binding.K8s.Kind, "Binding"},
		{"binding.workload", binding.K8s.Workload.Present, false},
		{"binding.target.id", binding.Target.ID, "e2c4a6b8-1d3f-4a5b-8c7d-9e0f1a2b3c4d"},

		{"token.actor.type", token.Actor.Type, "node"},
		{"token.target", token.Target, event.Target{Type: "serviceaccounts", Subresource: "token", Namespace: "payments", Name: "ledger"}},
		{"token.issued", token.Issued, event.Issued{Subject: "system:serviceaccount:payments:ledger", SessionID: "JTI=4b7e2c9a-13f5-4d8e-9a60-7c1b3e5f2d84"}},
		{"token.k8s.kind", token.K8s.Kind, "TokenRequest"},
		{"token raw status.token", token.RawMap()["responseObject"].(map[string]any)["status"].(map[string]any)["token"], normalize.Redacted},
	})
	if s := dump(token); strings.Contains(s, "eyJhbGciOiJSUzI1NiIs") {
		t.Errorf("the issued token survived normalization: %s", s)
	}
}

func TestShapes(t *testing.T) {
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
		{"EventList without kind", `{"items":[` + one + `]}`, 1, 0, nil},
		{"empty EventList", `{"kind":"EventList","items":[]}`, 0, 0, nil},
		{"EventList with one bad item keeps the good one", `{"kind":"EventList","items":[` + one + `,{"auditID":"x3","verb":"get","timestamp":"yesterday"},42]}`, 1, 2, normalize.ErrInvalidEvent},
		{"wrapped in event (Splunk HEC)", `{"time":1,"event":` + one + `}`, 1, 0, nil},
		{"other apiVersion", `{"apiVersion":"v1","kind":"Event","auditID":"a","verb":"get"}`, 0, 1, normalize.ErrUnknownFormat},
		{"other kind", `{"apiVersion":"audit.k8s.io/v1","kind":"Policy","auditID":"a","verb":"get"}`, 0, 1, normalize.ErrUnknownFormat},
		{"no auditID and no verb", `{"kind":"Event"}`, 0, 1, normalize.ErrUnknownFormat},
		{"missing auditID", `{"verb":"get","objectRef":{},"timestamp":"2018-10-25T13:58:49Z"}`, 0, 1, normalize.ErrInvalidEvent},
		{"missing verb", `{"auditID":"a","timestamp":"2018-10-25T13:58:49Z"}`, 0, 1, normalize.ErrInvalidEvent},
		{"missing time", `{"auditID":"a","verb":"get"}`, 0, 1, normalize.ErrInvalidEvent},
		{"creationTimestamp fallback", `{"auditID":"a","verb":"get","metadata":{"creationTimestamp":"2018-10-25T13:58:49Z"}}`, 1, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, errs := decode(t, c.in, normalize.Options{})
			if len(evs) != c.events || len(errs) != c.errs {
				t.Fatalf("got %d events and errors %v; want %d and %d", len(evs), errs, c.events, c.errs)
			}
			if c.errKind != nil && !errors.Is(errs[0], c.errKind) {
				t.Fatalf("error %v is not %v", errs[0], c.errKind)
			}
			for _, ev := range evs {
				if ev.ID == "" || ev.Action == "" || ev.Time.IsZero() || ev.Source != event.SourceK8sAudit {
					t.Errorf("incomplete event %+v", ev)
				}
			}
		})
	}
}

func TestBatchItemErrors(t *testing.T) {
	in := `{"kind":"EventList","items":[{"auditID":"a","verb":"get","timestamp":"2018-10-25T13:58:49Z"},{"auditID":"b","verb":"get","timestamp":"yesterday"},"text"]}`
	_, errs := decode(t, in, normalize.Options{})
	if len(errs) != 2 {
		t.Fatalf("errors %v", errs)
	}
	for i, want := range []struct {
		index    int
		sentinel error
	}{{1, normalize.ErrInvalidEvent}, {2, normalize.ErrUnknownFormat}} {
		var ie *normalize.ItemError
		if !errors.As(errs[i], &ie) || ie.Index != want.index || !errors.Is(errs[i], want.sentinel) {
			t.Errorf("error %d = %v, want item %d wrapping %v", i, errs[i], want.index, want.sentinel)
		}
	}
}

func TestActors(t *testing.T) {
	cases := []struct {
		user, impersonated string
		groups             string
		extra              string
		wantType, wantName string
		wantSA, wantImp    string
		wantSession        string
	}{
		{"system:serviceaccount:kube-system:replicaset-controller", "", `[]`, ``, "service_account", "system:serviceaccount:kube-system:replicaset-controller", "kube-system/replicaset-controller", "", ""},
		{"system:anonymous", "", `["system:unauthenticated"]`, ``, "anonymous", "system:anonymous", "", "", ""},
		{"weird", "", `["system:unauthenticated"]`, ``, "anonymous", "weird", "", "", ""},
		{"system:node:ip-10-0-0-1", "", `["system:nodes"]`, ``, "node", "system:node:ip-10-0-0-1", "", "", ""},
		{"system:kube-scheduler", "", `[]`, ``, "system", "system:kube-scheduler", "", "", ""},
		{"", "", `[]`, ``, "unknown", "", "", "", ""},
		{"admin", "bob", `[]`, ``, "user", "bob", "", "admin", ""},
		// The session is the authenticated user's credential, even when it
		// impersonates: impersonation cannot forge it.
		{"admin", "system:serviceaccount:ci:deployer", `[]`, `{"authentication.kubernetes.io/credential-id":["X509SHA256=ab"]}`, "service_account", "system:serviceaccount:ci:deployer", "ci/deployer", "admin", "X509SHA256=ab"},
		{"arn:aws:sts::1:assumed-role/r/s", "", `["system:authenticated"]`, `{"accessKeyId":["ASIAX"],"sessionName":["s"]}`, "user", "arn:aws:sts::1:assumed-role/r/s", "", "", "ASIAX"},
	}
	for _, c := range cases {
		imp := ""
		if c.impersonated != "" {
			imp = `,"impersonatedUser":{"username":"` + c.impersonated + `","extra":{"authentication.kubernetes.io/credential-id":["forged"]}}`
		}
		extra := ""
		if c.extra != "" {
			extra = `,"extra":` + c.extra
		}
		in := `{"auditID":"a","verb":"get","timestamp":"2018-10-25T13:58:49Z","user":{"username":"` + c.user + `","groups":` + c.groups + extra + `}` + imp + `}`
		ev := decodeOne(t, in, normalize.Options{})
		a := ev.Actor
		if a.Type != c.wantType || a.Name != c.wantName || ev.K8s.ServiceAccount != c.wantSA || a.Impersonator != c.wantImp || a.SessionID != c.wantSession {
			t.Errorf("%s as %q: got type=%s name=%s sa=%s imp=%s session=%s", c.user, c.impersonated, a.Type, a.Name, ev.K8s.ServiceAccount, a.Impersonator, a.SessionID)
		}
	}
}

func TestExecQuery(t *testing.T) {
	cases := []struct {
		uri       string
		command   []string
		container string
	}{
		{"/api/v1/namespaces/d/pods/p/exec?command=sh&command=-c&command=id&container=c1&stdin=true", []string{"sh", "-c", "id"}, "c1"},
		{"/api/v1/namespaces/d/pods/p/exec?command=%2Fbin%2Fsh&command=echo+hi&container=a&container=b", []string{"/bin/sh", "echo hi"}, "a"},
		{"/api/v1/namespaces/d/pods/p/exec?command=bad%zz&command=ok", []string{"ok"}, ""},
		{"/api/v1/namespaces/d/pods/p/exec?command=a;b&command=c", []string{"c"}, ""},
		{"/api/v1/namespaces/d/pods/p/exec?stdin=true#command=x", nil, ""},
		{"/api/v1/namespaces/d/pods/p/attach?container=main", nil, "main"},
		{"/api/v1/namespaces/d/pods/p/exec", nil, ""},
	}
	for _, c := range cases {
		_, a := newEvent()
		cmd, ctr := execQuery(a, c.uri)
		if !reflect.DeepEqual(cmd, c.command) || ctr != c.container {
			t.Errorf("%s: command %q container %q; want %q %q", c.uri, cmd, ctr, c.command, c.container)
		}
	}
}

func TestRBAC(t *testing.T) {
	crb := `{"auditID":"r","verb":"create","objectRef":{"resource":"clusterrolebindings","apiGroup":"rbac.authorization.k8s.io"},"timestamp":"2018-10-25T13:58:49Z","user":{"username":"u"},
	"requestObject":{"kind":"ClusterRoleBinding","metadata":{"name":"b"},"roleRef":{"kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"User","name":"eve"},{"kind":"ServiceAccount","name":"x","namespace":"ns"}]}}`
	ev := decodeOne(t, crb, normalize.Options{})
	run(t, []check{
		{"binding rbac", ev.K8s.RBAC, event.RBAC{RoleRef: event.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []event.Subject{{Kind: "User", Name: "eve"}, {Kind: "ServiceAccount", Name: "x", Namespace: "ns"}}}},
		{"binding target.name", ev.Target.Name, "b"},
		{"binding target.group", ev.Target.Group, "rbac.authorization.k8s.io"},
	})
	role := `{"auditID":"r","verb":"create","objectRef":{"resource":"roles","namespace":"x"},"timestamp":"2018-10-25T13:58:49Z","user":{"username":"u"},
	"requestObject":{"rules":[{"verbs":["*"],"resources":["pods"],"apiGroups":[""]},{"nonResourceURLs":["/metrics"],"verbs":["get"]},"junk"]}}`
	ev = decodeOne(t, role, normalize.Options{})
	run(t, []check{
		{"role without kind", ev.K8s.Kind, "Role"},
		{"role rules", ev.K8s.RBAC.Rules, []event.PolicyRule{
			{Verbs: []string{"*"}, Resources: []string{"pods"}, APIGroups: []string{""}},
			{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
			{},
		}},
	})
}

func TestObjects(t *testing.T) {
	const head = `{"auditID":"o","timestamp":"2018-10-25T13:58:49Z","user":{"username":"u"},`
	cases := []struct {
		name  string
		in    string
		check func(*event.Event) []check
	}{
		{"patch reads the response object", head + `"verb":"patch","objectRef":{"resource":"deployments","namespace":"n","name":"d"},
			"requestObject":{"spec":{"replicas":2}},
			"responseObject":{"kind":"Deployment","metadata":{"name":"d","ownerReferences":[{"kind":"A","name":"a"},{"kind":"B","name":"b","controller":true},{"kind":"C","name":"c"}]},"spec":{"template":{"spec":{"hostNetwork":true,"serviceAccount":"old-field","containers":[{"name":"c","image":"i"}]}}}}}`,
			func(ev *event.Event) []check {
				return []check{{"kind", ev.K8s.Kind, "Deployment"}, {"host network", ev.K8s.Workload.HostNetwork, true},
					{"service account (deprecated field)", ev.K8s.Workload.ServiceAccount, "old-field"}, {"owner (controller)", ev.K8s.Owner, "B/b"}}
			}},
		{"a Status response is not an object", head + `"verb":"delete","objectRef":{"resource":"pods","namespace":"n","name":"p"},
			"responseObject":{"kind":"Status","status":"Success","code":200}}`,
			func(ev *event.Event) []check {
				return []check{{"kind", ev.K8s.Kind, ""}, {"workload", ev.K8s.Workload.Present, false}}
			}},
		{"CronJob", head + `"verb":"create","objectRef":{"resource":"cronjobs","namespace":"n"},
			"requestObject":{"kind":"CronJob","metadata":{"name":"cj"},"spec":{"jobTemplate":{"spec":{"template":{"spec":{"hostIPC":true,"containers":[{"name":"c","image":"i","securityContext":{"runAsNonRoot":true}}]}}}}}}}`,
			func(ev *event.Event) []check {
				return []check{{"target name", ev.Target.Name, "cj"}, {"host ipc", ev.K8s.Workload.HostIPC, true},
					{"containers", ev.K8s.Workload.Containers, []event.Container{{Name: "c", Image: "i", Kind: "container", AllowPrivilegeEscalation: true}}}}
			}},
		{"ConfigMap data keys", head + `"verb":"create","objectRef":{"resource":"configmaps","namespace":"n"},
			"requestObject":{"kind":"ConfigMap","metadata":{"name":"cm"},"data":{"b":"1","a":"2"},"binaryData":{"a":"AA==","c":"AA=="}}}`,
			func(ev *event.Event) []check {
				return []check{{"data keys", ev.K8s.DataKeys, []string{"a", "b", "c"}}}
			}},
		{"Service type", head + `"verb":"create","objectRef":{"resource":"services","namespace":"n"},
			"requestObject":{"metadata":{"name":"s"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}}}`,
			func(ev *event.Event) []check {
				return []check{{"kind", ev.K8s.Kind, "Service"}, {"type", ev.K8s.ServiceType, "NodePort"}}
			}},
		{"ServiceAccount annotations for workload identity", head + `"verb":"create","objectRef":{"resource":"serviceaccounts","namespace":"n"},
			"requestObject":{"kind":"ServiceAccount","metadata":{"name":"sa","annotations":{"eks.amazonaws.com/role-arn":"arn:aws:iam::1:role/r","kubectl.kubernetes.io/last-applied-configuration":"{}","n":5}}}}`,
			func(ev *event.Event) []check {
				return []check{{"object annotations", ev.K8s.ObjectAnnotations, map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r"}}}
			}},
		{"only the last-applied annotation", head + `"verb":"create","objectRef":{"resource":"configmaps","namespace":"n"},
			"requestObject":{"kind":"ConfigMap","metadata":{"name":"c","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}}}}`,
			func(ev *event.Event) []check {
				return []check{{"object annotations", ev.K8s.ObjectAnnotations, map[string]string(nil)}}
			}},
		{"numbers out of range and odd types", head + `"verb":"create","objectRef":{"resource":"pods","namespace":"n"},"responseStatus":{"code":1e300},
			"requestObject":{"kind":"Pod","metadata":{"name":"p","labels":"nope"},"spec":{"hostPID":"true","containers":[{"name":"c","securityContext":{"runAsUser":-1e99,"capabilities":{"add":[7,"cap_chown"]}},"ports":[{"hostPort":"80"},{"hostPort":0},{"hostPort":443}]}],"volumes":[{"hostPath":{}}]}}}`,
			func(ev *event.Event) []check {
				c := ev.K8s.Workload.Containers[0]
				return []check{{"response code", ev.K8s.ResponseCode, 0}, {"outcome", ev.Outcome, event.OutcomeUnknown},
					{"labels", ev.K8s.Labels, map[string]string(nil)}, {"host pid is a boolean", ev.K8s.Workload.HostPID, false},
					{"run as root (uid read as 0)", c.RunAsRoot, true}, {"caps", c.AddedCapabilities, []string{"CHOWN"}},
					{"host ports", c.HostPorts, []int{443}}, {"host paths", ev.K8s.Workload.HostPaths, []string{""}}}
			}},
		{"forbid without a code", head + `"verb":"get","objectRef":{"resource":"secrets"},"annotations":{"authorization.k8s.io/decision":"forbid"}}`,
			func(ev *event.Event) []check {
				return []check{{"outcome", ev.Outcome, event.OutcomeFailure}}
			}},
		{"namespaces keep their own name", head + `"verb":"create","objectRef":{"resource":"namespaces"},"requestObject":{"kind":"Namespace","metadata":{"name":"foo","namespace":"bar"}}}`,
			func(ev *event.Event) []check {
				return []check{{"name", ev.Target.Name, "foo"}, {"namespace", ev.Target.Namespace, ""}}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run(t, c.check(decodeOne(t, c.in, normalize.Options{})))
		})
	}
}

func TestRedactsSecrets(t *testing.T) {
	secrets := []string{
		"aHVudGVyMg==", "hunter2", "ledger-svc-plaintext", "bGVkZ2VyLXN2Yy1wbGFpbnRleHQ=", "bmV3LXBhc3N3b3Jk",
		"LS0tLS1CRUdJTi1DRVJULXRlc3Q=", "LS0tLS1CRUdJTi1LRVktdGVzdA==", "eyJhbGciOi",
	}
	cases := []struct {
		file     string
		dataKeys []string
	}{
		{"secret-create.json", []string{"password", "username"}},
		{"secret-list.json", nil},
		{"secret-patch.json", []string{"password", "username"}},
		{"eventlist.json", nil},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			for _, raw := range []bool{false, true} {
				evs, errs := decode(t, fixture(t, c.file), normalize.Options{Raw: raw})
				if len(errs) > 0 || len(evs) == 0 {
					t.Fatalf("errors %v", errs)
				}
				for _, ev := range evs {
					if raw && ev.RawMap() == nil {
						t.Fatal("no raw event")
					}
					s := dump(ev)
					for _, secret := range secrets {
						if strings.Contains(s, secret) {
							t.Errorf("raw=%v: secret %q survived normalization: %s", raw, secret, s)
						}
					}
				}
				if len(evs) == 1 && !reflect.DeepEqual(evs[0].K8s.DataKeys, c.dataKeys) {
					t.Errorf("data keys %q, want %q", evs[0].K8s.DataKeys, c.dataKeys)
				}
			}
		})
	}
	// The non-secret parts stay readable.
	ev := decodeOne(t, fixture(t, "secret-create.json"), normalize.Options{Raw: true})
	meta := ev.RawMap()["requestObject"].(map[string]any)["metadata"].(map[string]any)
	if got := meta["annotations"].(map[string]any)["owner"]; got != "payments-team" {
		t.Errorf("owner annotation = %v", got)
	}
	if got := ev.K8s.ObjectAnnotations; !reflect.DeepEqual(got, map[string]string{"owner": "payments-team"}) {
		t.Errorf("object annotations %v", got)
	}
	for _, body := range []string{`{"kind":"TokenReview","spec":{"token":"eyJhbGciOi.secret.jwt"}}`, `{"spec":{"token":"eyJhbGciOi.secret.jwt"}}`} {
		tr := `{"auditID":"t","verb":"create","objectRef":{"resource":"tokenreviews","apiGroup":"authentication.k8s.io"},"timestamp":"2018-10-25T13:58:49Z","user":{"username":"u"},"requestObject":` + body + `}`
		if s := dump(decodeOne(t, tr, normalize.Options{Raw: true})); strings.Contains(s, "eyJhbGciOi") {
			t.Errorf("TokenReview token survived normalization: %s", s)
		}
	}
	gke := `{"insertId":"g","timestamp":"2026-03-03T14:10:03Z","resource":{"labels":{"cluster_name":"c"}},"protoPayload":{"serviceName":"k8s.io",
		"methodName":"io.k8s.core.v1.secrets.create","resourceName":"core/v1/namespaces/n/secrets/db","status":{},
		"request":{"@type":"core.k8s.io/v1.Secret","metadata":{"name":"db"},"stringData":{"password":"hunter2"}},
		"response":{"@type":"core.k8s.io/v1.Secret","metadata":{"name":"db"},"data":{"password":"aHVudGVyMg=="}}}}`
	gev := decodeOne(t, gke, normalize.Options{Raw: true})
	if s := dump(gev); strings.Contains(s, "hunter2") || strings.Contains(s, "aHVudGVyMg==") {
		t.Errorf("a GKE Secret body survived normalization: %s", s)
	}
	if !reflect.DeepEqual(gev.K8s.DataKeys, []string{"password"}) {
		t.Errorf("GKE data keys %q", gev.K8s.DataKeys)
	}
	odd := `{"auditID":"t","verb":"update","objectRef":{"resource":"secrets","name":"s"},"timestamp":"2018-10-25T13:58:49Z","user":{"username":"u"},"requestObject":"c2VjcmV0LWJvZHk="}`
	if s := dump(decodeOne(t, odd, normalize.Options{Raw: true})); strings.Contains(s, "c2VjcmV0LWJvZHk=") {
		t.Errorf("a string Secret body survived normalization: %s", s)
	}
}

// dump renders an event, Raw included, for leak checks.
func dump(ev *event.Event) string {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	r, err := json.Marshal(ev.RawMap())
	if err != nil {
		panic(err)
	}
	return string(b) + string(r)
}

func TestDetect(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{`{"auditID":"a"}`, true},
		{`{"verb":"get","objectRef":{}}`, true},
		{`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`, true},
		{`{"kind":"Event"}`, true},
		{`{"event":{"auditID":"a"}}`, true},
		{`{"protoPayload":{"serviceName":"k8s.io"}}`, true},
		{`{"protoPayload":{"serviceName":"iam.googleapis.com"},"resource":{"type":"project"}}`, false},
		{`{"kind":"Event","apiVersion":"v1","involvedObject":{}}`, false},
		{`{"verb":"get"}`, false},
		{`{"eventVersion":"1.08","eventSource":"iam.amazonaws.com"}`, false},
		{`{"event":{"verb":"get"}}`, false},
		{`{"kind":0}`, false},
		{`[{"auditID":"a"}]`, false},
		{`"auditID"`, false},
	}
	for _, c := range cases {
		var p fastjson.Parser
		v, err := p.Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Detect(v); got != c.want {
			t.Errorf("Detect(%s) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestStringsAreCopies(t *testing.T) {
	// A fastjson value aliases its parser's buffer: after the parser is
	// reused, the event must still hold its own strings.
	var p fastjson.Parser
	v, err := p.Parse(fixture(t, "pod-create.json"))
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := Decode(v, normalize.Options{}, normalize.Meta{})
	want := *evs[0]
	wantJSON, _ := json.Marshal(want)
	if _, err := p.Parse(strings.Repeat(`{"x":"`+strings.Repeat("z", 64)+`"}`, 1)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		_, _ = p.Parse(fixture(t, "gke-create-pod.json"))
	}
	gotJSON, _ := json.Marshal(evs[0])
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("event changed after the parser was reused:\n%s\n%s", gotJSON, wantJSON)
	}
	// Appending to a slice of the event never writes into another field.
	groups := evs[0].Actor.Groups
	_ = append(groups, "intruder")
	if got := evs[0].Actor.SourceIPs; !reflect.DeepEqual(got, []string{"10.0.12.4"}) {
		t.Errorf("source IPs changed to %q", got)
	}
}

// TestRawMatchesAny checks that the arena-backed Raw conversion yields
// exactly what normalize.Any does.
func TestRawMatchesAny(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	inputs := []string{privilegedPod, `{"a":[1,2.5,-3e2,true,false,null,"",{"b":{}}],"c":"\u00e9t\u00e9 \"quoted\"","get":"get"}`}
	for _, f := range files {
		inputs = append(inputs, fixture(t, filepath.Base(f)))
	}
	for i, in := range inputs {
		var p fastjson.Parser
		v, err := p.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		_, a := newEvent()
		if got, want := a.any(v), normalize.Any(v); !reflect.DeepEqual(got, want) {
			t.Errorf("input %d: raw differs from normalize.Any:\n%v\n%v", i, got, want)
		}
	}
}
