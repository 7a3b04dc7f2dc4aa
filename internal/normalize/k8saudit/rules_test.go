package k8saudit_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/rule"
)

// root is the project root, where detections/ and runbooks/ live.
const root = "../../.."

func loadK8sRules(t *testing.T) *rule.Set {
	t.Helper()
	set, err := rule.Load([]string{filepath.Join(root, "detections", "lists"), filepath.Join(root, "detections", "k8s")}, rule.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestK8sRuleTests runs the tests written inside every Kubernetes rule,
// decoded by this package through the dispatcher.
func TestK8sRuleTests(t *testing.T) {
	set := loadK8sRules(t)
	for _, res := range set.RunTests(nil) {
		if res.Err != nil {
			t.Errorf("%s: %s: %v", res.Rule.ID, res.Test.Name, res.Err)
		}
	}
}

// TestK8sRulesAcrossClouds checks that the Kubernetes rules fire the same
// way whichever envelope the audit event came in: GKE LogEntries, EKS
// CloudWatch payloads, AKS Event Hubs records.
func TestK8sRulesAcrossClouds(t *testing.T) {
	set := loadK8sRules(t)
	n, err := detect.New(detect.Auto, normalize.Options{Raw: set.UsesRaw()})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		msg  []byte
		want []string
	}{
		{"GKE exec", fixture(t, "gke-exec.json"), []string{"k8s-pod-exec-attach"}},
		{"GKE privileged host pod", fixture(t, "gke-create-pod.json"), []string{"k8s-host-namespaces", "k8s-image-not-pinned-by-digest",
			"k8s-image-unapproved-registry", "k8s-privileged-container", "k8s-sensitive-hostpath-mount"}},
		{"GKE denied secret list", fixture(t, "gke-denied.json"), nil},
		{"EKS cluster-admin binding", gzipped(t, fixture(t, "eks-cloudwatch.json")), []string{"k8s-cluster-admin-binding"}},
		// a user's patch adds SYS_PTRACE to a Deployment's container
		{"AKS records", fixture(t, "aks-records.json"), []string{"k8s-escape-capability-added"}},
		{"exec, binding and token request", fixture(t, "eventlist.json"), []string{"k8s-pod-exec-attach"}},
	}
	ev := set.NewEvaluator()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, errs := n.Normalize(c.msg, normalize.Meta{})
			if len(errs) > 0 || len(evs) == 0 {
				t.Fatalf("%d events, errors %v", len(evs), errs)
			}
			var got []string
			for _, e := range evs {
				for _, a := range ev.Eval(nil, e) {
					if set.Rule(a.Rule.ID).SignalOnly {
						continue // feeds correlations, alerts nobody
					}
					got = append(got, a.Rule.ID)
				}
			}
			slices.Sort(got)
			got = slices.Compact(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("fired %v, want %v", got, c.want)
			}
		})
	}
}
