package deploy_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/rule"
)

// scaledObject is the part of KEDA's ScaledObject (keda.sh/v1alpha1) these
// manifests use. KEDA's types are not in k8s.io/api; decoding strictly into
// this struct catches a misspelled field as the API server would not (it
// prunes unknown fields of custom resources silently).
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		Fallback        *struct {
			FailureThreshold int32 `json:"failureThreshold"`
			Replicas         int32 `json:"replicas"`
		} `json:"fallback"`
		Advanced *struct {
			HorizontalPodAutoscalerConfig *struct {
				Behavior map[string]any `json:"behavior"`
			} `json:"horizontalPodAutoscalerConfig"`
		} `json:"advanced"`
		Triggers []struct {
			Type              string            `json:"type"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
			} `json:"authenticationRef"`
		} `json:"triggers"`
	} `json:"spec"`
}

// manifests is one rendered kustomization, decoded into typed objects.
type manifests struct {
	name          string
	namespaces    []*corev1.Namespace
	accounts      []*corev1.ServiceAccount
	configMaps    []*corev1.ConfigMap
	services      []*corev1.Service
	deployments   []*appsv1.Deployment
	pdbs          []*policyv1.PodDisruptionBudget
	policies      []*networkingv1.NetworkPolicy
	scaledObjects []*scaledObject
}

// decode strict-decodes one object by apiVersion and kind. Anything else —
// a Secret with values in it, a kind nobody reviewed — fails.
func (m *manifests) decode(apiVersion, kind string, data []byte) error {
	var obj any
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		o := &corev1.Namespace{}
		m.namespaces, obj = append(m.namespaces, o), o
	case "v1 ServiceAccount":
		o := &corev1.ServiceAccount{}
		m.accounts, obj = append(m.accounts, o), o
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		m.configMaps, obj = append(m.configMaps, o), o
	case "v1 Service":
		o := &corev1.Service{}
		m.services, obj = append(m.services, o), o
	case "apps/v1 Deployment":
		o := &appsv1.Deployment{}
		m.deployments, obj = append(m.deployments, o), o
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		m.pdbs, obj = append(m.pdbs, o), o
	case "networking.k8s.io/v1 NetworkPolicy":
		o := &networkingv1.NetworkPolicy{}
		m.policies, obj = append(m.policies, o), o
	case "keda.sh/v1alpha1 ScaledObject":
		o := &scaledObject{}
		m.scaledObjects, obj = append(m.scaledObjects, o), o
	default:
		return fmt.Errorf("unexpected kind %s %s: review it and teach this test its type", apiVersion, kind)
	}
	return decodeStrict(data, obj)
}

func (m *manifests) configMap(name string) *corev1.ConfigMap {
	for _, c := range m.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// render builds a kustomization directory of fsys and decodes the result.
func render(t *testing.T, fsys filesys.FileSystem, dir string) *manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifests{name: dir}
	for _, r := range rm.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := m.decode(r.GetApiVersion(), r.GetKind(), data); err != nil {
			t.Errorf("%s: %s %s/%s: %v", dir, r.GetKind(), r.GetNamespace(), r.GetName(), err)
		}
	}
	return m
}

// kubernetesFS copies deploy/kubernetes into an in-memory file system under
// /k, adding a kustomization that combines the production overlay with the
// ingest component, as docs/deploy.md tells users to.
func kubernetesFS(t *testing.T) filesys.FileSystem {
	t.Helper()
	src := filepath.Join(root(t), "deploy", "kubernetes")
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return mem.WriteFile(filepath.Join("/k", rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	combo := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
		"resources: [../production]\ncomponents: [../../components/ingest]\n"
	if err := mem.WriteFile("/k/overlays/production-with-ingest/kustomization.yaml", []byte(combo)); err != nil {
		t.Fatal(err)
	}
	return mem
}

// Egress a Vigia pod may be allowed: DNS, Kafka, Redis, HTTPS receivers.
var allowedEgress = map[string]bool{
	"UDP/53": true, "TCP/53": true, "TCP/9092": true, "TCP/9093": true, "TCP/6379": true, "TCP/443": true,
}

func TestKustomizeOverlays(t *testing.T) {
	fsys := kubernetesFS(t)
	for _, tc := range []struct {
		dir         string
		deployments []string
		keda        bool
	}{
		{"/k/base", []string{"vigia"}, false},
		{"/k/overlays/production", []string{"vigia"}, true},
		{"/k/overlays/ingest", []string{"vigia", "vigia-ingest"}, false},
		{"/k/overlays/production-with-ingest", []string{"vigia", "vigia-ingest"}, true},
	} {
		t.Run(strings.TrimPrefix(tc.dir, "/k/"), func(t *testing.T) {
			m := render(t, fsys, tc.dir)
			var names []string
			for _, d := range m.deployments {
				names = append(names, d.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.deployments) {
				t.Fatalf("deployments = %v, want %v", names, tc.deployments)
			}
			checkNamespace(t, m)
			checkNetworkPolicies(t, m)
			for _, d := range m.deployments {
				t.Run(d.Name, func(t *testing.T) {
					checkPodSecurity(t, m, d)
					checkSelectors(t, m, d)
					checkConfig(t, m, d)
				})
			}
			if got := len(m.scaledObjects) > 0; got != tc.keda {
				t.Errorf("KEDA ScaledObject present = %v, want %v", got, tc.keda)
			}
			for _, so := range m.scaledObjects {
				checkScaledObject(t, m, so)
			}
		})
	}
}

func checkNamespace(t *testing.T, m *manifests) {
	t.Helper()
	if len(m.namespaces) != 1 {
		t.Fatalf("want one Namespace, got %d", len(m.namespaces))
	}
	ns := m.namespaces[0]
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace %s: pod-security.kubernetes.io/enforce = %q, want restricted", ns.Name, got)
	}
	objects := []metav1.Object{}
	for _, o := range m.accounts {
		objects = append(objects, o)
	}
	for _, o := range m.configMaps {
		objects = append(objects, o)
	}
	for _, o := range m.services {
		objects = append(objects, o)
	}
	for _, o := range m.deployments {
		objects = append(objects, o)
	}
	for _, o := range m.pdbs {
		objects = append(objects, o)
	}
	for _, o := range m.policies {
		objects = append(objects, o)
	}
	for _, o := range m.scaledObjects {
		objects = append(objects, o)
	}
	for _, o := range objects {
		if o.GetNamespace() != ns.Name {
			t.Errorf("%s is in namespace %q, want %q (the restricted one)", o.GetName(), o.GetNamespace(), ns.Name)
		}
	}
}

// checkPodSecurity asserts the restricted Pod Security profile and the rest
// of the hardening on one Deployment's pod template.
func checkPodSecurity(t *testing.T, m *manifests, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("host namespaces shared (hostNetwork/hostPID/hostIPC)")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext.seccompProfile is not RuntimeDefault")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("pod automountServiceAccountToken is not false: Vigia never calls the Kubernetes API")
	}
	var sa *corev1.ServiceAccount
	for _, a := range m.accounts {
		if a.Name == pod.ServiceAccountName {
			sa = a
		}
	}
	if sa == nil {
		t.Errorf("serviceAccountName %q is not among the manifests (never run as default)", pod.ServiceAccountName)
	} else if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %s: automountServiceAccountToken is not false", sa.Name)
	}
	for _, other := range m.deployments {
		if other != d && other.Spec.Template.Spec.ServiceAccountName == pod.ServiceAccountName {
			t.Errorf("ServiceAccount %s shared with Deployment %s", pod.ServiceAccountName, other.Name)
		}
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}
	seen := map[string]bool{}
	for _, sc := range pod.TopologySpreadConstraints {
		if seen[sc.TopologyKey] {
			t.Errorf("two topologySpreadConstraints on %s (a patch appended instead of replacing)", sc.TopologyKey)
		}
		seen[sc.TopologyKey] = true
	}

	containers := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
	for _, c := range containers {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("container %s: no securityContext", c.Name)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s: privileged", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s: capabilities must drop ALL and add none, got %+v", c.Name, sc.Capabilities)
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		uid := sc.RunAsUser
		if uid == nil && psc != nil {
			uid = psc.RunAsUser
		}
		if !nonRoot || uid == nil || *uid != 65532 {
			t.Errorf("container %s: want runAsNonRoot and runAsUser 65532 (the image's user)", c.Name)
		}
		if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container %s: seccompProfile %s", c.Name, sc.SeccompProfile.Type)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okReq := c.Resources.Requests[res]
			lim, okLim := c.Resources.Limits[res]
			if !okReq || !okLim {
				t.Errorf("container %s: %s request and limit must both be set", c.Name, res)
			} else if req.Cmp(lim) > 0 {
				t.Errorf("container %s: %s request %s above limit %s", c.Name, res, req.String(), lim.String())
			}
		}
		if why := parseImage(c.Image).pinned(); why != "" {
			t.Errorf("container %s: image %s: %s", c.Name, c.Image, why)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("container %s: liveness and readiness probes are required", c.Name)
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil && secretLike(e.Name, e.Value) {
				t.Errorf("container %s: env %s has an inline value; take it from a Secret (valueFrom.secretKeyRef)", c.Name, e.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				t.Errorf("container %s: envFrom a ConfigMap: credentials belong in a Secret, settings in the config file", c.Name)
			}
		}
		for _, vm := range c.VolumeMounts {
			v, ok := volumes[vm.Name]
			if !ok {
				t.Errorf("container %s: mount of unknown volume %s", c.Name, vm.Name)
				continue
			}
			if (v.ConfigMap != nil || v.Secret != nil) && !vm.ReadOnly {
				t.Errorf("container %s: %s mounted writable", c.Name, vm.Name)
			}
			if v.ConfigMap != nil && m.configMap(v.ConfigMap.Name) == nil {
				t.Errorf("volume %s: ConfigMap %s is not among the manifests", v.Name, v.ConfigMap.Name)
			}
		}
	}
}

// checkSelectors asserts one PDB and at least one NetworkPolicy select the
// Deployment's pods, and that neither PDBs nor Services pick up another
// Deployment's pods.
func checkSelectors(t *testing.T, m *manifests, d *appsv1.Deployment) {
	t.Helper()
	podLabels := labels.Set(d.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Fatalf("the Deployment's selector does not match its own pod template: %v", err)
	}
	selects := func(ls *metav1.LabelSelector, set labels.Set) bool {
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			t.Fatal(err)
		}
		return s.Matches(set)
	}
	var pdbs []string
	for _, p := range m.pdbs {
		if p.Spec.Selector == nil || p.Spec.Selector.Size() == 0 {
			t.Errorf("PDB %s has an empty selector", p.Name)
			continue
		}
		if selects(p.Spec.Selector, podLabels) {
			pdbs = append(pdbs, p.Name)
			if p.Spec.MinAvailable == nil && p.Spec.MaxUnavailable == nil {
				t.Errorf("PDB %s sets neither minAvailable nor maxUnavailable", p.Name)
			}
			if min := p.Spec.MinAvailable; min != nil && d.Spec.Replicas != nil && min.IntValue() >= int(*d.Spec.Replicas) {
				t.Errorf("PDB %s: minAvailable %s with %d replicas blocks every drain", p.Name, min.String(), *d.Spec.Replicas)
			}
		}
	}
	if len(pdbs) != 1 {
		t.Errorf("want exactly one PodDisruptionBudget selecting the pods, got %v", pdbs)
	}
	ports := map[string]int32{}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
			ports[strconv.Itoa(int(p.ContainerPort))] = p.ContainerPort
		}
	}
	for _, s := range m.services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if _, ok := ports[p.TargetPort.String()]; !ok {
				t.Errorf("Service %s port %s: targetPort %s is not a port of the pods", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	var policies []string
	for _, np := range m.policies {
		if np.Spec.PodSelector.Size() > 0 && selects(&np.Spec.PodSelector, podLabels) {
			policies = append(policies, np.Name)
			for _, rule := range np.Spec.Ingress {
				for _, p := range rule.Ports {
					if p.Port == nil {
						t.Errorf("NetworkPolicy %s: ingress rule without a port", np.Name)
					} else if _, ok := ports[p.Port.String()]; !ok {
						t.Errorf("NetworkPolicy %s: ingress to port %s the pods do not serve", np.Name, p.Port.String())
					}
				}
				if len(rule.Ports) == 0 {
					t.Errorf("NetworkPolicy %s: an ingress rule open on every port", np.Name)
				}
			}
			for _, rule := range np.Spec.Egress {
				if len(rule.Ports) == 0 {
					t.Errorf("NetworkPolicy %s: an egress rule open on every port", np.Name)
				}
				for _, p := range rule.Ports {
					proto := "TCP"
					if p.Protocol != nil {
						proto = string(*p.Protocol)
					}
					if p.Port == nil || !allowedEgress[proto+"/"+p.Port.String()] {
						t.Errorf("NetworkPolicy %s: egress to %s/%v is not among what Vigia needs (DNS, Kafka, Redis, HTTPS)", np.Name, proto, p.Port)
					}
				}
			}
		}
	}
	if len(policies) == 0 {
		t.Error("no NetworkPolicy allows this Deployment's traffic: under default-deny it could not reach Kafka")
	}
	// Each Service selects exactly one Deployment.
	for _, s := range m.services {
		n := 0
		for _, other := range m.deployments {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(other.Spec.Template.Labels)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("Service %s selects the pods of %d Deployments, want 1", s.Name, n)
		}
	}
}

func checkNetworkPolicies(t *testing.T, m *manifests) {
	t.Helper()
	deny := false
	for _, np := range m.policies {
		s := np.Spec
		if s.PodSelector.Size() == 0 && len(s.Ingress) == 0 && len(s.Egress) == 0 &&
			slices.Contains(s.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(s.PolicyTypes, networkingv1.PolicyTypeEgress) {
			deny = true
		} else if s.PodSelector.Size() == 0 {
			t.Errorf("NetworkPolicy %s selects every pod and allows traffic", np.Name)
		}
	}
	if !deny {
		t.Error("no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)")
	}
}

// checkConfig parses the config file the container is started with, as
// vigia would, and ties it to the manifests: ports, secrets, file paths,
// the rules in the image, the shutdown budget.
func checkConfig(t *testing.T, m *manifests, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("container %s: args %q lack --config FILE", c.Name, c.Args)
	}
	cfgPath := c.Args[i+1]
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	var data string
	var mounts []string
	for _, vm := range c.VolumeMounts {
		mounts = append(mounts, vm.MountPath)
		v := volumes[vm.Name]
		if v.ConfigMap == nil || !pathUnder(cfgPath, vm.MountPath) {
			continue
		}
		cm := m.configMap(v.ConfigMap.Name)
		if cm == nil {
			t.Fatalf("ConfigMap %s is missing", v.ConfigMap.Name)
		}
		key, _ := filepath.Rel(vm.MountPath, cfgPath)
		var ok bool
		if data, ok = cm.Data[key]; !ok {
			t.Fatalf("ConfigMap %s has no key %s (for --config %s)", cm.Name, key, cfgPath)
		}
	}
	if data == "" {
		t.Fatalf("--config %s is not in a mounted ConfigMap", cfgPath)
	}
	if len(c.Args) == 0 || (c.Args[0] != "run" && c.Args[0] != "ingest") {
		t.Fatalf("container %s: args %q: want vigia run or vigia ingest", c.Name, c.Args)
	}
	command := c.Args[0]
	cfg := parseVigiaConfig(t, d.Name+" "+cfgPath, command, []byte(data))

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if got := portOf(cfg.Telemetry.Listen); got != strconv.Itoa(int(ports["metrics"])) {
		t.Errorf("telemetry.listen %q does not serve the container's metrics port %d", cfg.Telemetry.Listen, ports["metrics"])
	}
	if host := strings.TrimSuffix(cfg.Telemetry.Listen, ":"+portOf(cfg.Telemetry.Listen)); host == "127.0.0.1" || host == "localhost" {
		t.Errorf("telemetry.listen %q: loopback is out of reach of the kubelet's probes and Prometheus", cfg.Telemetry.Listen)
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			continue
		}
		if p.HTTPGet.Port.String() != "metrics" && p.HTTPGet.Port.IntValue() != int(ports["metrics"]) {
			t.Errorf("probe %s on port %s, not telemetry.listen's", p.HTTPGet.Path, p.HTTPGet.Port.String())
		}
		if p.HTTPGet.Path != "/healthz" && p.HTTPGet.Path != "/readyz" {
			t.Errorf("probe path %s: Vigia serves /healthz and /readyz", p.HTTPGet.Path)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe on %s, want /readyz", c.ReadinessProbe.HTTPGet.Path)
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe on %s, want /healthz", c.LivenessProbe.HTTPGet.Path)
	}
	if l := cfg.listen("ingest"); l != "" {
		if _, ok := ports["https"]; !ok || portOf(l) != strconv.Itoa(int(ports["https"])) {
			t.Errorf("ingest.listen %q is not the container's https port %d", l, ports["https"])
		}
	}

	// Credentials named by the config come from Secrets.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for field, name := range cfg.fields("_env") {
		e, ok := env[name]
		switch {
		case !ok:
			t.Errorf("%s names $%s, which the container does not set", field, name)
		case e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
			t.Errorf("%s names $%s, which is not taken from a Secret", field, name)
		}
	}
	// Files named by the config are on a mounted volume.
	for field, path := range cfg.fields("_file") {
		if !slices.ContainsFunc(mounts, func(mp string) bool { return pathUnder(path, mp) }) {
			t.Errorf("%s = %s is on no mounted volume", field, path)
		}
	}

	// The rules and runbooks the config points at are in the image.
	if command == "run" {
		dirs := imageDirs(t, parseDockerfile(t, readFile(t, filepath.Join(root(t), "Dockerfile"))), root(t))
		local := func(p string) string {
			for img, repo := range dirs {
				if pathUnder(p, img) {
					rel, _ := filepath.Rel(img, p)
					return filepath.Join(repo, rel)
				}
			}
			if p == "/etc/vigia" { // runbook_root: its runbooks/ is copied
				return root(t)
			}
			t.Errorf("%s is not a path the image provides", p)
			return p
		}
		var paths []string
		for _, p := range cfg.Rules.Paths {
			paths = append(paths, local(p))
		}
		if err := loadRules(paths, local(cfg.Rules.RunbookRoot)); err != nil {
			t.Errorf("rules %v with runbook_root %s, as laid out in the image, do not load:\n%v", cfg.Rules.Paths, cfg.Rules.RunbookRoot, err)
		}
	}

	// SIGTERM drains for shutdown_timeout; the kubelet kills after the grace period.
	grace := 30 * time.Second
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if cfg.ShutdownTimeout >= grace {
		t.Errorf("shutdown_timeout %v is not below terminationGracePeriodSeconds %v: the drain would be killed", cfg.ShutdownTimeout, grace)
	}
}

// loadRules loads a rule set once per (paths, root): compiling every rule
// is the slow part of these tests, and the overlays share one layout.
func loadRules(paths []string, root string) error {
	key := strings.Join(append([]string{root}, paths...), "\x00")
	rulesMu.Lock()
	defer rulesMu.Unlock()
	if err, ok := rulesLoaded[key]; ok {
		return err
	}
	_, err := rule.Load(paths, rule.Options{Root: root})
	rulesLoaded[key] = err
	return err
}

var (
	rulesMu     sync.Mutex
	rulesLoaded = map[string]error{}
)

func checkScaledObject(t *testing.T, m *manifests, so *scaledObject) {
	t.Helper()
	ref := so.Spec.ScaleTargetRef
	var target *appsv1.Deployment
	for _, d := range m.deployments {
		if d.Name == ref.Name {
			target = d
		}
	}
	if target == nil || ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" {
		t.Fatalf("ScaledObject %s targets %s %s %s, not a Deployment of the manifests", so.Name, ref.APIVersion, ref.Kind, ref.Name)
	}
	if target.Spec.Replicas != nil {
		t.Errorf("Deployment %s sets replicas while KEDA scales it: every apply would reset the count", target.Name)
	}
	min, max := so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount
	if min == nil || max == nil || *min < 1 || *min > *max {
		t.Errorf("ScaledObject %s: want 1 <= minReplicaCount <= maxReplicaCount", so.Name)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		t.Fatalf("ScaledObject %s: want one kafka trigger, got %+v", so.Name, so.Spec.Triggers)
	}
	md := so.Spec.Triggers[0].Metadata
	for k := range md {
		known := []string{"bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold",
			"offsetResetPolicy", "allowIdleConsumers", "scaleToZeroOnInvalidOffset", "excludePersistentLag",
			"limitToPartitionsWithLag", "partitionLimitation", "sasl", "tls", "version"}
		if !slices.Contains(known, k) {
			t.Errorf("kafka trigger: unknown metadata %q", k)
		}
	}
	if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n <= 0 {
		t.Errorf("kafka trigger: lagThreshold %q is not a positive integer", md["lagThreshold"])
	}
	if md["allowIdleConsumers"] != "false" {
		t.Errorf("kafka trigger: allowIdleConsumers %q: replicas beyond the partition count only sit idle", md["allowIdleConsumers"])
	}
	// The trigger watches the group and brokers Vigia uses.
	var cfg vigiaConfig
	for _, vm := range target.Spec.Template.Spec.Containers[0].VolumeMounts {
		for _, v := range target.Spec.Template.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				cfg = parseVigiaConfig(t, v.ConfigMap.Name, "run", []byte(m.configMap(v.ConfigMap.Name).Data["vigia.yaml"]))
			}
		}
	}
	if cfg.Config == nil {
		t.Fatal("no config found for the scaled Deployment")
	}
	if md["consumerGroup"] != cfg.Kafka.GroupID {
		t.Errorf("kafka trigger consumerGroup %q, but Vigia's kafka.group_id is %q", md["consumerGroup"], cfg.Kafka.GroupID)
	}
	if md["bootstrapServers"] != strings.Join(cfg.Kafka.Brokers, ",") {
		t.Errorf("kafka trigger bootstrapServers %q, but Vigia's kafka.brokers are %q", md["bootstrapServers"], cfg.Kafka.Brokers)
	}
	if topic := md["topic"]; topic != "" && !slices.ContainsFunc(cfg.Kafka.Topics, func(tp config.Topic) bool { return tp.Name == topic }) {
		t.Errorf("kafka trigger topic %q is not consumed by Vigia", topic)
	}
}
