package k8saudit

import (
	"errors"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

func TestGKE(t *testing.T) {
	gcp := event.Cloud{Provider: event.ProviderGCP, Account: "loja-prod-4821", Region: "southamerica-east1", Service: "k8s.io"}

	exec := decodeOne(t, fixture(t, "gke-exec.json"), normalize.Options{Cluster: "ignored"})
	run(t, []check{
		{"exec.source", exec.Source, event.SourceK8sAudit},
		{"exec.id (insertId)", exec.ID, "8f2b6d4a-1c3e-4a5f-9b7d-0e2c4a6b8d1f"},
		{"exec.time", exec.Time, time.Date(2026, 3, 3, 14, 2, 51, 660154000, time.UTC)},
		{"exec.action", exec.Action, "create"},
		{"exec.k8s.verb", exec.K8s.Verb, "create"},
		{"exec.outcome", exec.Outcome, event.OutcomeSuccess},
		{"exec.k8s.response_code (status OK)", exec.K8s.ResponseCode, 200},
		{"exec.actor", exec.Actor, event.Actor{Name: "ana.souza@example.com.br", Type: "user", SourceIP: "198.51.100.23",
			SourceIPs: []string{"198.51.100.23"}, UserAgent: "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350"}},
		{"exec.target", exec.Target, event.Target{Type: "pods", Subresource: "exec", Namespace: "checkout", Name: "cart-6d9f7b8c5-x2kqp"}},
		{"exec.k8s.pod", exec.K8s.Pod, "cart-6d9f7b8c5-x2kqp"},
		{"exec.k8s.namespace", exec.K8s.Namespace, "checkout"},
		{"exec.k8s.cluster (resource label wins)", exec.K8s.Cluster, "loja-prod"},
		{"exec.k8s.decision", exec.K8s.Decision, "allow"},
		{"exec.k8s.reason", exec.K8s.Reason, "access granted by IAM permissions."},
		{"exec.cloud", exec.Cloud, gcp},
		{"exec.k8s.stage", exec.K8s.Stage, ""},
	})

	pod := decodeOne(t, fixture(t, "gke-create-pod.json"), normalize.Options{Raw: true})
	w := pod.K8s.Workload
	run(t, []check{
		{"pod.actor.type", pod.Actor.Type, "service_account"},
		{"pod.k8s.service_account", pod.K8s.ServiceAccount, "ci/deployer"},
		{"pod.target", pod.Target, event.Target{Type: "pods", Namespace: "checkout", Name: "debug-node"}},
		{"pod.k8s.kind", pod.K8s.Kind, "Pod"},
		{"pod.k8s.node", pod.K8s.Node, "gke-loja-prod-default-pool-5e7d9c1b-q2w3"},
		{"pod.workload.host_pid", w.HostPID, true},
		{"pod.workload.host_network", w.HostNetwork, true},
		{"pod.workload.host_paths", w.HostPaths, []string{"/"}},
		{"pod.workload.containers", w.Containers, []event.Container{{Name: "debug", Image: "busybox:1.36", Kind: "container", Privileged: true, AllowPrivilegeEscalation: true, RunAsRoot: true}}},
		{"pod.k8s.labels", pod.K8s.Labels, map[string]string{"run": "debug-node"}},
		{"pod.k8s.object_annotations", pod.K8s.ObjectAnnotations, map[string]string{"iam.gke.io/gcp-service-account": "ci-deployer@loja-prod-4821.iam.gserviceaccount.com"}},
		{"pod.k8s.annotations", pod.K8s.Annotations["pod-security.kubernetes.io/enforce-policy"], "privileged:latest"},
		{"pod.outcome", pod.Outcome, event.OutcomeSuccess},
		{"pod.cloud", pod.Cloud, gcp},
	})
	if pod.RawMap() == nil {
		t.Fatal("no raw")
	}
	// The bodies are reachable as in a plain audit event.
	req, _ := pod.RawMap()["requestObject"].(map[string]any)
	if spec, _ := req["spec"].(map[string]any); spec["hostPID"] != true {
		t.Errorf("raw.requestObject.spec = %v", spec)
	}
	if pp, _ := pod.RawMap()["protoPayload"].(map[string]any); pp["methodName"] != "io.k8s.core.v1.pods.create" {
		t.Errorf("raw.protoPayload = %v", pp)
	}

	denied := decodeOne(t, fixture(t, "gke-denied.json"), normalize.Options{})
	run(t, []check{
		{"denied.actor", denied.Actor.Name, "reporting@loja-prod-4821.iam.gserviceaccount.com"},
		{"denied.actor.type (Google service account)", denied.Actor.Type, "service_account"},
		{"denied.k8s.service_account (not a Kubernetes one)", denied.K8s.ServiceAccount, ""},
		{"denied.action", denied.Action, "list"},
		{"denied.target", denied.Target, event.Target{Type: "secrets", Namespace: "kube-system"}},
		{"denied.outcome", denied.Outcome, event.OutcomeFailure},
		{"denied.k8s.response_code", denied.K8s.ResponseCode, 403},
		{"denied.k8s.decision", denied.K8s.Decision, "forbid"},
		{"denied.cloud.error_code", denied.Cloud.ErrorCode, "PERMISSION_DENIED"},
	})
}

func TestGKEShapes(t *testing.T) {
	const res = `"resource":{"type":"k8s_cluster","labels":{"cluster_name":"c","project_id":"p","location":"l"}}`
	cases := []struct {
		name    string
		in      string
		errKind error
		check   func(*event.Event) []check
	}{
		{"Status response carries the HTTP code", `{"insertId":"i","timestamp":"2024-05-12T05:13:08.760303Z",` + res + `,"protoPayload":{"serviceName":"k8s.io",
			"methodName":"io.k8s.core.v1.pods.create","resourceName":"core/v1/namespaces/default/pods/nginx","authenticationInfo":{"principalEmail":"student@example.com"},
			"request":{"@type":"core.k8s.io/v1.Pod","metadata":{"name":"nginx"},"spec":{"containers":[{"name":"nginx","image":"nginx"}]}},
			"response":{"@type":"core.k8s.io/v1.Status","kind":"Status","code":400,"reason":"VIOLATES_POLICY"},"status":{"code":3,"message":"denied"}}}`, nil,
			func(ev *event.Event) []check {
				return []check{{"code", ev.K8s.ResponseCode, 400}, {"outcome", ev.Outcome, event.OutcomeFailure}, {"error", ev.Cloud.ErrorCode, "INVALID_ARGUMENT"},
					{"kind (request, not the Status)", ev.K8s.Kind, "Pod"}, {"images", ev.K8s.Workload.Images, []string{"nginx"}}}
			}},
		{"RBAC group with dots, cluster scoped", `{"insertId":"i","timestamp":"2024-05-12T05:13:08Z",` + res + `,"protoPayload":{"serviceName":"k8s.io",
			"methodName":"io.k8s.authorization.rbac.v1.clusterrolebindings.create","resourceName":"rbac.authorization.k8s.io/v1/clusterrolebindings/dev-admin",
			"authenticationInfo":{"principalEmail":"dev@example.com"},"status":{},
			"request":{"@type":"rbac.authorization.k8s.io/v1.ClusterRoleBinding","metadata":{"name":"dev-admin"},"roleRef":{"kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"User","name":"dev@example.com"}]}}}`, nil,
			func(ev *event.Event) []check {
				return []check{{"target", ev.Target, event.Target{Type: "clusterrolebindings", Group: "rbac.authorization.k8s.io", Name: "dev-admin"}},
					{"kind from @type", ev.K8s.Kind, "ClusterRoleBinding"}, {"role", ev.K8s.RBAC.RoleRef.Name, "cluster-admin"}}
			}},
		{"namespace itself", `{"insertId":"i","timestamp":"2024-05-12T05:13:08Z",` + res + `,"protoPayload":{"serviceName":"k8s.io",
			"methodName":"io.k8s.core.v1.namespaces.finalize.update","resourceName":"core/v1/namespaces/old/finalize","status":{}}}`, nil,
			func(ev *event.Event) []check {
				return []check{{"target", ev.Target, event.Target{Type: "namespaces", Subresource: "finalize", Name: "old"}},
					{"actor type", ev.Actor.Type, "unknown"}}
			}},
		{"exec options body and operation id", `{"operation":{"id":"op-1"},"timestamp":"2024-02-13 12:45:06.073905000",` + res + `,"protoPayload":{"serviceName":"k8s.io",
			"methodName":"io.k8s.core.v1.pods.exec.create","resourceName":"core/v1/namespaces/n/pods/p/exec",
			"request":{"@type":"core.k8s.io/v1.PodExecOptions","command":["sh","-c","id"],"container":"c"}}}`, nil,
			func(ev *event.Event) []check {
				return []check{{"id", ev.ID, "op-1"}, {"command", ev.K8s.Command, []string{"sh", "-c", "id"}}, {"container", ev.K8s.Container, "c"},
					{"kind", ev.K8s.Kind, "PodExecOptions"}, {"outcome without status", ev.Outcome, event.OutcomeUnknown},
					{"time", ev.Time, time.Date(2024, 2, 13, 12, 45, 6, 73905000, time.UTC)}}
			}},
		{"anonymous", `{"insertId":"i","timestamp":"2024-05-12T05:13:08Z",` + res + `,"protoPayload":{"serviceName":"k8s.io",
			"methodName":"io.k8s.core.v1.namespaces.list","resourceName":"core/v1/namespaces","authenticationInfo":{"principalEmail":"system:anonymous"},"status":{"code":16}}}`, nil,
			func(ev *event.Event) []check {
				return []check{{"type", ev.Actor.Type, "anonymous"}, {"code", ev.K8s.ResponseCode, 401}, {"error", ev.Cloud.ErrorCode, "UNAUTHENTICATED"}}
			}},
		{"unknown rpc code", `{"insertId":"i","timestamp":"2024-05-12T05:13:08Z",` + res + `,"protoPayload":{"serviceName":"k8s.io",
			"methodName":"io.k8s.core.v1.pods.get","resourceName":"core/v1/namespaces/n/pods/p","status":{"code":99}}}`, nil,
			func(ev *event.Event) []check {
				return []check{{"code", ev.K8s.ResponseCode, 500}, {"outcome", ev.Outcome, event.OutcomeFailure}}
			}},
		{"no insertId", `{"timestamp":"2024-05-12T05:13:08Z","protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.get"}}`, normalize.ErrInvalidEvent, nil},
		{"bad method", `{"insertId":"i","timestamp":"2024-05-12T05:13:08Z","protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.core.pods.get"}}`, normalize.ErrInvalidEvent, nil},
		{"no timestamp", `{"insertId":"i","protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.get"}}`, normalize.ErrInvalidEvent, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, errs := decode(t, c.in, normalize.Options{})
			if c.errKind != nil {
				if len(errs) != 1 || !errors.Is(errs[0], c.errKind) || len(evs) != 0 {
					t.Fatalf("got %d events and errors %v; want %v", len(evs), errs, c.errKind)
				}
				return
			}
			if len(errs) != 0 || len(evs) != 1 {
				t.Fatalf("got %d events and errors %v", len(evs), errs)
			}
			run(t, c.check(evs[0]))
		})
	}
}

func TestParseMethod(t *testing.T) {
	cases := []struct {
		in                  string
		resource, sub, verb string
		ok                  bool
	}{
		{"io.k8s.core.v1.pods.create", "pods", "", "create", true},
		{"io.k8s.core.v1.pods.exec.create", "pods", "exec", "create", true},
		{"io.k8s.apps.v1.deployments.scale.update", "deployments", "scale", "update", true},
		{"io.k8s.authorization.rbac.v1.clusterroles.escalate", "clusterroles", "", "escalate", true},
		{"io.k8s.networking.gke.v1beta1.frontendconfigs.get", "frontendconfigs", "", "get", true},
		{"io.k8s.example.widgets.v2alpha3.gadgets.status.patch", "gadgets", "status", "patch", true},
		{"io.k8s.core.pods.create", "", "", "", false},
		{"io.k8s.core.v1.create", "", "", "", false},
		{"io.k8s.core.v1.a.b.c.d", "", "", "", false},
		{"google.container.v1.ClusterManager.CreateCluster", "", "", "", false},
		{"io.k8s.core.v1..create", "", "", "", false},
		{"", "", "", "", false},
	}
	for _, c := range cases {
		r, s, v, ok := parseMethod(c.in)
		if r != c.resource || s != c.sub || v != c.verb || ok != c.ok {
			t.Errorf("parseMethod(%q) = %q %q %q %v", c.in, r, s, v, ok)
		}
	}
	for _, c := range []struct {
		in, resource    string
		group, ns, name string
	}{
		{"core/v1/namespaces/shop/pods/api-1/exec", "pods", "", "shop", "api-1"},
		{"core/v1/namespaces/shop/pods", "pods", "", "shop", ""},
		{"core/v1/namespaces/shop", "namespaces", "", "", "shop"},
		{"core/v1/namespaces", "namespaces", "", "", ""},
		{"apps/v1/namespaces/shop/deployments/web", "deployments", "apps", "shop", "web"},
		{"rbac.authorization.k8s.io/v1/clusterroles/view", "clusterroles", "rbac.authorization.k8s.io", "", "view"},
		{"core/v1/nodes/gke-a/proxy/metrics", "nodes", "", "", "gke-a"},
		{"core", "pods", "", "", ""},
		{"", "pods", "", "", ""},
	} {
		g, ns, n := parseResourceName(c.in, c.resource)
		if g != c.group || ns != c.ns || n != c.name {
			t.Errorf("parseResourceName(%q) = %q %q %q", c.in, g, ns, n)
		}
	}
}
