package cloudtrail_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/rule"
)

// root is the project root, where detections/ and runbooks/ live.
const root = "../../.."

func loadAWSRules(t *testing.T) *rule.Set {
	t.Helper()
	set, err := rule.Load([]string{filepath.Join(root, "detections", "lists"), filepath.Join(root, "detections", "aws")}, rule.Options{Root: root, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestAWSRules runs the tests written inside every AWS rule.
func TestAWSRules(t *testing.T) {
	set := loadAWSRules(t)
	if len(set.Rules) < 6 {
		t.Errorf("%d AWS rules, want at least 6", len(set.Rules))
	}
	for _, r := range set.Rules {
		if r.Source != event.SourceCloudTrail {
			t.Errorf("%s: source %q", r.ID, r.Source)
		}
	}
	for _, res := range set.RunTests(nil) {
		if res.Err != nil {
			t.Errorf("%s: %s: %v", res.Rule.ID, res.Test.Name, res.Err)
		}
	}
}

// The Stratus Red Team detonations are checked against every shipped rule
// by TestStratusDetonations in test/stratus_test.go.

// TestCorpusAlertCounts checks how many alerts each AWS rule raises on the
// other CloudTrail samples: the OTRF lab capture (reconnaissance and S3
// reads with stolen instance credentials, which no single-event rule
// covers) and the synthetic Cribl records.
func TestCorpusAlertCounts(t *testing.T) {
	set := loadAWSRules(t)
	dir := corpus.Dir(t)
	files := map[string]map[string]int{
		filepath.Join("cribl-aws-cloudtrail-sample", "cloudtrail_records.jsonl"): {
			"aws-console-login-without-mfa":  1, // Bob, MFAUsed No
			"aws-root-account-activity":      4, // RunInstances, TerminateInstances, CreateStack, AttachUserPolicy
			"aws-iam-admin-policy-attached":  1, // root attaches AdministratorAccess
			"aws-iam-user-created":           1, // Alice creates NewIAMUser
			"aws-ssm-send-command-by-user":   1, // Bob runs AWS-RunShellScript
			"aws-iam-role-passed-to-compute": 1, // Alice creates a Lambda function with lambda-role
		},
		filepath.Join("falco-k8s-audit-traces", "cloudtrail", "alice_start_instances.json"): {},
	}
	otrf, _ := filepath.Glob(filepath.Join(dir, "otrf-security-datasets", "ec2_proxy_s3_exfiltration_*.json"))
	for _, f := range otrf {
		rel, _ := filepath.Rel(dir, f)
		files[rel] = map[string]int{}
	}
	n, _ := detect.New(event.SourceCloudTrail, normalize.Options{Raw: set.UsesRaw()})
	ev := set.NewEvaluator()
	for rel, want := range files {
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := n.Normalize(data, normalize.Meta{})
		got := map[string]int{}
		for _, e := range evs {
			for _, a := range ev.Eval(nil, e) {
				if set.Rule(a.Rule.ID).SignalOnly {
					continue // feeds correlations, alerts nobody
				}
				got[a.Rule.ID]++
			}
		}
		for id, c := range want {
			if got[id] != c {
				t.Errorf("%s: %s fired %d times, want %d", rel, id, got[id], c)
			}
		}
		for id, c := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("%s: %s fired %d times, want none", rel, id, c)
			}
		}
	}
}
