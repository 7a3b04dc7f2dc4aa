// Package audit_test checks the API server side of `vigia ingest`: the audit
// policy decodes as an audit.k8s.io/v1 Policy and gives the levels its
// comments promise, and the webhook kubeconfig points at the endpoint the
// default ingest configuration serves.
package audit_test

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/config"
)

// The audit.k8s.io/v1 Policy fields (k8s.io/apiserver/pkg/apis/audit/v1),
// decoded strictly: a misspelt field fails.
type policy struct {
	APIVersion        string       `yaml:"apiVersion"`
	Kind              string       `yaml:"kind"`
	Metadata          any          `yaml:"metadata"`
	Rules             []policyRule `yaml:"rules"`
	OmitStages        []string     `yaml:"omitStages"`
	OmitManagedFields bool         `yaml:"omitManagedFields"`
}

type policyRule struct {
	Level             string           `yaml:"level"`
	Users             []string         `yaml:"users"`
	UserGroups        []string         `yaml:"userGroups"`
	Verbs             []string         `yaml:"verbs"`
	Resources         []groupResources `yaml:"resources"`
	Namespaces        []string         `yaml:"namespaces"`
	NonResourceURLs   []string         `yaml:"nonResourceURLs"`
	OmitStages        []string         `yaml:"omitStages"`
	OmitManagedFields *bool            `yaml:"omitManagedFields"`
}

type groupResources struct {
	Group         string   `yaml:"group"`
	Resources     []string `yaml:"resources"`
	ResourceNames []string `yaml:"resourceNames"`
}

// request is what the policy is evaluated on.
type request struct {
	user        string
	groups      []string
	verb        string
	group       string // API group; "" is core
	resource    string // "" for a non-resource request
	subresource string
	namespace   string
	name        string
	path        string // non-resource URL
}

// level follows the API server's policy evaluation: the first rule whose
// every set selector matches decides; no match is None.
func (p *policy) level(r request) string {
	for _, rule := range p.Rules {
		if matches(rule, r) {
			return rule.Level
		}
	}
	return "None"
}

func matches(rule policyRule, r request) bool {
	if len(rule.Users) > 0 && !slices.Contains(rule.Users, r.user) {
		return false
	}
	if len(rule.UserGroups) > 0 && !slices.ContainsFunc(r.groups, func(g string) bool { return slices.Contains(rule.UserGroups, g) }) {
		return false
	}
	if len(rule.Verbs) > 0 && !slices.Contains(rule.Verbs, r.verb) {
		return false
	}
	if len(rule.Namespaces) > 0 || len(rule.Resources) > 0 {
		if r.resource == "" {
			return false
		}
		if len(rule.Namespaces) > 0 && !slices.Contains(rule.Namespaces, r.namespace) {
			return false
		}
		if len(rule.Resources) == 0 {
			return true
		}
		combined := r.resource
		if r.subresource != "" {
			combined += "/" + r.subresource
		}
		for _, gr := range rule.Resources {
			if gr.Group != r.group {
				continue
			}
			if len(gr.Resources) == 0 {
				return true
			}
			for _, res := range gr.Resources {
				if len(gr.ResourceNames) > 0 && !slices.Contains(gr.ResourceNames, r.name) {
					continue
				}
				if res == combined || res == "*" ||
					(r.subresource != "" && strings.HasPrefix(res, "*/") && r.subresource == strings.TrimPrefix(res, "*/")) ||
					(strings.HasSuffix(res, "/*") && r.resource == strings.TrimSuffix(res, "/*")) {
					return true
				}
			}
		}
		return false
	}
	if len(rule.NonResourceURLs) > 0 {
		if r.resource != "" {
			return false
		}
		for _, u := range rule.NonResourceURLs {
			if u == "*" || u == r.path || (strings.HasSuffix(u, "*") && strings.HasPrefix(r.path, strings.TrimSuffix(u, "*"))) {
				return true
			}
		}
		return false
	}
	return true
}

func loadPolicy(t *testing.T) *policy {
	t.Helper()
	data, err := os.ReadFile("audit-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("audit-policy.yaml: %v", err)
	}
	if p.APIVersion != "audit.k8s.io/v1" || p.Kind != "Policy" {
		t.Fatalf("apiVersion %q kind %q", p.APIVersion, p.Kind)
	}
	levels := []string{"None", "Metadata", "Request", "RequestResponse"}
	for i, r := range p.Rules {
		if !slices.Contains(levels, r.Level) {
			t.Errorf("rule %d: level %q", i, r.Level)
		}
		if len(r.NonResourceURLs) > 0 && (len(r.Resources) > 0 || len(r.Namespaces) > 0) {
			t.Errorf("rule %d mixes nonResourceURLs with resources or namespaces: it can never match", i)
		}
	}
	return &p
}

var (
	alice   = request{user: "alice@example.com", groups: []string{"developers", "system:authenticated"}}
	kubelet = request{user: "system:node:worker-1", groups: []string{"system:nodes", "system:authenticated"}}
	anon    = request{user: "system:anonymous", groups: []string{"system:unauthenticated"}}
	ctrl    = request{user: "system:kube-controller-manager", groups: []string{"system:authenticated"}}
	saUser  = request{user: "system:serviceaccount:shop:web", groups: []string{"system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"}}
)

func (r request) do(verb, group, resource, sub, ns string) request {
	r.verb, r.group, r.resource, r.subresource, r.namespace = verb, group, resource, sub, ns
	return r
}

func (r request) get(path string) request {
	r.verb, r.path = "get", path
	return r
}

func TestPolicyLevels(t *testing.T) {
	p := loadPolicy(t)
	if !slices.Contains(p.OmitStages, "RequestReceived") || !p.OmitManagedFields {
		t.Errorf("policy-wide omitStages %v, omitManagedFields %v", p.OmitStages, p.OmitManagedFields)
	}
	cases := []struct {
		name string
		req  request
		want string
	}{
		{"a person reads a Secret", alice.do("get", "", "secrets", "", "shop"), "Metadata"},
		{"a service account lists Secrets", saUser.do("list", "", "secrets", "", "shop"), "Metadata"},
		{"a person writes a Secret", alice.do("create", "", "secrets", "", "shop"), "Metadata"},
		{"the controller manager updates a Secret", ctrl.do("update", "", "secrets", "", "kube-system"), "Metadata"},
		{"token review", saUser.do("create", "authentication.k8s.io", "tokenreviews", "", ""), "Metadata"},
		{"kubelet token request", kubelet.do("create", "", "serviceaccounts", "token", "shop"), "Metadata"},
		{"a person requests a token", alice.do("create", "", "serviceaccounts", "token", "kube-system"), "Request"},
		{"exec over SPDY", alice.do("create", "", "pods", "exec", "shop"), "RequestResponse"},
		{"exec over WebSocket", alice.do("get", "", "pods", "exec", "shop"), "RequestResponse"},
		{"attach", alice.do("create", "", "pods", "attach", "shop"), "RequestResponse"},
		{"port-forward", alice.do("create", "", "pods", "portforward", "shop"), "RequestResponse"},
		{"proxy responses stay out", alice.do("get", "", "pods", "proxy", "shop"), "Metadata"},
		{"ClusterRoleBinding created", alice.do("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""), "RequestResponse"},
		{"Role patched", saUser.do("patch", "rbac.authorization.k8s.io", "roles", "", "shop"), "RequestResponse"},
		{"RBAC read by a controller", ctrl.do("list", "rbac.authorization.k8s.io", "roles", "", ""), "Metadata"},
		{"webhook configuration deleted", alice.do("delete", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", ""), "RequestResponse"},
		{"CSR approved", alice.do("update", "certificates.k8s.io", "certificatesigningrequests", "approval", ""), "RequestResponse"},
		{"pod created", alice.do("create", "", "pods", "", "shop"), "Request"},
		{"ephemeral container added", alice.do("patch", "", "pods", "ephemeralcontainers", "shop"), "Request"},
		{"pod status by the kubelet", kubelet.do("patch", "", "pods", "status", "shop"), "Metadata"},
		{"deployment patched", saUser.do("patch", "apps", "deployments", "", "shop"), "Request"},
		{"daemonset created", alice.do("create", "apps", "daemonsets", "", "kube-system"), "Request"},
		{"cronjob created", alice.do("create", "batch", "cronjobs", "", "shop"), "Request"},
		{"service created", alice.do("create", "", "services", "", "shop"), "Request"},
		{"configmap updated", alice.do("update", "", "configmaps", "", "shop"), "Request"},
		{"configmap read", saUser.do("get", "", "configmaps", "", "shop"), "Metadata"},
		{"namespace labels changed", alice.do("patch", "", "namespaces", "", ""), "Request"},
		{"network policy deleted", alice.do("delete", "networking.k8s.io", "networkpolicies", "", "shop"), "Metadata"},
		{"events written by the kubelet", kubelet.do("create", "", "events", "", "shop"), "None"},
		{"events.k8s.io watched", alice.do("watch", "events.k8s.io", "events", "", "shop"), "None"},
		{"events deleted", alice.do("deletecollection", "", "events", "", "shop"), "Metadata"},
		{"node lease heartbeat", kubelet.do("update", "coordination.k8s.io", "leases", "", "kube-node-lease"), "None"},
		{"leader election", ctrl.do("update", "coordination.k8s.io", "leases", "", "kube-system"), "None"},
		{"a person updates a lease", alice.do("update", "coordination.k8s.io", "leases", "", "kube-node-lease"), "Metadata"},
		{"a node updates a lease elsewhere", kubelet.do("update", "coordination.k8s.io", "leases", "", "shop"), "Metadata"},
		{"kube-proxy watches endpoint slices", request{user: "system:kube-proxy"}.do("watch", "discovery.k8s.io", "endpointslices", "", ""), "None"},
		{"a node reads its Node", kubelet.do("get", "", "nodes", "", ""), "None"},
		{"a node patches its Node", kubelet.do("patch", "", "nodes", "status", ""), "Metadata"},
		{"health probe", alice.get("/healthz"), "None"},
		{"readiness detail", alice.get("/readyz/etcd"), "None"},
		{"discovery", alice.get("/apis/apps/v1"), "None"},
		{"anonymous probe", anon.get("/version"), "Metadata"},
		{"anonymous discovery", anon.get("/api"), "Metadata"},
		{"metrics scrape", saUser.get("/metrics"), "Metadata"},
		{"a custom resource", alice.do("create", "example.com", "widgets", "", "shop"), "Metadata"},
	}
	for _, c := range cases {
		if got := p.level(c.req); got != c.want {
			t.Errorf("%s: level %s, want %s", c.name, got, c.want)
		}
	}
}

// TestPolicyNeverLogsCredentials: whatever the user and verb, Secret and
// TokenReview bodies and token request responses are never logged.
func TestPolicyNeverLogsCredentials(t *testing.T) {
	p := loadPolicy(t)
	users := []request{alice, kubelet, anon, ctrl, saUser, {user: "system:apiserver", groups: []string{"system:masters"}}}
	verbs := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	for _, u := range users {
		for _, v := range verbs {
			for _, r := range []request{u.do(v, "", "secrets", "", "kube-system"), u.do(v, "authentication.k8s.io", "tokenreviews", "", "")} {
				if l := p.level(r); l == "Request" || l == "RequestResponse" {
					t.Errorf("%s %s %s is logged at %s", u.user, v, r.resource, l)
				}
			}
			if l := p.level(u.do(v, "", "serviceaccounts", "token", "shop")); l == "RequestResponse" {
				t.Errorf("%s %s serviceaccounts/token logs the issued token", u.user, v)
			}
		}
	}
}

// TestWebhookKubeconfig: the kubeconfig is complete and names the path and
// port vigia ingest serves by default.
func TestWebhookKubeconfig(t *testing.T) {
	data, err := os.ReadFile("webhook-kubeconfig.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Clusters   []struct {
			Name    string `yaml:"name"`
			Cluster struct {
				Server               string `yaml:"server"`
				CertificateAuthority string `yaml:"certificate-authority"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			Name string `yaml:"name"`
			User struct {
				ClientCertificate string `yaml:"client-certificate"`
				ClientKey         string `yaml:"client-key"`
			} `yaml:"user"`
		} `yaml:"users"`
		Contexts []struct {
			Name    string `yaml:"name"`
			Context struct {
				Cluster string `yaml:"cluster"`
				User    string `yaml:"user"`
			} `yaml:"context"`
		} `yaml:"contexts"`
		CurrentContext string `yaml:"current-context"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&kc); err != nil {
		t.Fatal(err)
	}
	if kc.APIVersion != "v1" || kc.Kind != "Config" || len(kc.Clusters) != 1 || len(kc.Users) != 1 || len(kc.Contexts) != 1 {
		t.Fatalf("kubeconfig shape: %+v", kc)
	}
	ctx := kc.Contexts[0]
	if kc.CurrentContext != ctx.Name || ctx.Context.Cluster != kc.Clusters[0].Name || ctx.Context.User != kc.Users[0].Name {
		t.Fatalf("current context does not tie the cluster and the user: %+v", kc)
	}
	c, u := kc.Clusters[0].Cluster, kc.Users[0].User
	if c.CertificateAuthority == "" || u.ClientCertificate == "" || u.ClientKey == "" {
		t.Fatalf("the CA, client certificate and key are required for mutual TLS: %+v %+v", c, u)
	}
	srv, err := url.Parse(c.Server)
	if err != nil {
		t.Fatal(err)
	}
	var cfg config.Config
	cfg.Defaults()
	_, port, _ := net.SplitHostPort(cfg.Ingest.Listen)
	if srv.Scheme != "https" || srv.Hostname() != "vigia-ingest.vigia.svc" || srv.Port() != port || srv.Path != cfg.Ingest.Path {
		t.Fatalf("server %s: want https://vigia-ingest.vigia.svc:%s%s (ingest's defaults)", c.Server, port, cfg.Ingest.Path)
	}
}
