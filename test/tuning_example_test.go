package test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/rule"
)

// TestTuningExample loads the shipped rules with the worked example of
// detections/README.md (docs/examples/rules) after them, and checks that
// the example does what the README says and that the README quotes it.
func TestTuningExample(t *testing.T) {
	example, err := os.ReadFile("../docs/examples/rules/tuning.yaml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../detections/README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), string(example)) {
		t.Error("detections/README.md does not quote docs/examples/rules/tuning.yaml verbatim")
	}
	set, err := rule.Load([]string{"../detections", "../docs/examples/rules"}, rule.Options{Root: ".."})
	if err != nil {
		t.Fatal(err)
	}
	if regs, _ := set.List("allowed_registries"); !slices.Contains(regs, any("registry.example.com/")) {
		t.Errorf("allowed_registries = %v", regs)
	}
	if groups, _ := set.List("admin_groups"); !slices.Equal(groups, []any{"system:masters", "oidc:platform-admins"}) {
		t.Errorf("admin_groups = %v, want the shipped group and the appended one", groups)
	}
	if r := set.Rule("k8s-pod-exec-attach"); r == nil || !r.Disabled {
		t.Error("k8s-pod-exec-attach (attack.t1609) is not disabled")
	}
	// The shipped tests still pass with the example's tuning.
	for _, res := range set.RunTests(nil) {
		if res.Err != nil {
			t.Errorf("%s: %s: %v", res.Rule.ID, res.Test.Name, res.Err)
		}
	}
	n, err := detect.New(event.SourceK8sAudit, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]int{"staging": 0, "dev": 0, "prod": 1} {
		evs, errs := n.Normalize([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"ex-`+ns+`","stage":"ResponseComplete",
			"verb":"create","requestReceivedTimestamp":"2024-05-14T09:41:03Z",
			"user":{"username":"system:serviceaccount:ci:deployer","groups":["system:serviceaccounts","system:authenticated"]},
			"objectRef":{"resource":"daemonsets","namespace":"`+ns+`","name":"node-agent","apiGroup":"apps"},
			"responseStatus":{"code":201},
			"requestObject":{"kind":"DaemonSet","apiVersion":"apps/v1","metadata":{"name":"node-agent"},
			  "spec":{"template":{"spec":{"containers":[{"name":"agent","image":"registry.example.com/agent:1","securityContext":{"privileged":true}}]}}}},
			"annotations":{"authorization.k8s.io/decision":"allow"}}`), normalize.Meta{})
		if len(errs) > 0 || len(evs) != 1 {
			t.Fatal(errs)
		}
		got := 0
		for _, a := range set.NewEvaluator().Eval(nil, evs[0]) {
			if a.Rule.ID == "k8s-privileged-container" {
				got++
			}
		}
		if got != want {
			t.Errorf("privileged DaemonSet by ci/deployer in %s: %d alerts, want %d", ns, got, want)
		}
	}
}
