package cloudtrail_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// stratusExpected lists, for each Stratus Red Team detonation file, the
// AWS rules that must fire on it; every other file must fire none.
var stratusExpected = map[string][]string{
	"aws.defense-evasion.cloudtrail-stop.json":                    {"aws-cloudtrail-logging-stopped"},
	"aws.defense-evasion.cloudtrail-delete.json":                  {"aws-cloudtrail-logging-stopped"},
	"aws.defense-evasion.cloudtrail-event-selectors.json":         {"aws-cloudtrail-logging-stopped"},
	"aws.initial-access.console-login-without-mfa.json":           {"aws-console-login-without-mfa"},
	"aws.persistence.iam-backdoor-user.json":                      {"aws-iam-credentials-for-other-user"},
	"aws.persistence.iam-create-admin-user.json":                  {"aws-iam-admin-policy-attached", "aws-iam-credentials-for-other-user"},
	"aws.persistence.iam-create-backdoor-role.json":               {"aws-iam-admin-policy-attached"},
	"aws.persistence.iam-create-user-login-profile.json":          {"aws-iam-credentials-for-other-user"},
	"aws.privilege-escalation.iam-update-user-login-profile.json": {"aws-iam-credentials-for-other-user"},
	"aws.exfiltration.ec2-share-ami.json":                         {"aws-snapshot-shared-externally"},
	"aws.exfiltration.ec2-share-ebs-snapshot.json":                {"aws-snapshot-shared-externally"},
	"aws.exfiltration.rds-share-snapshot.json":                    {"aws-snapshot-shared-externally"},
}

// TestStratusDetonations replays every Stratus Red Team detonation and
// checks which AWS rules fire on each file.
func TestStratusDetonations(t *testing.T) {
	set := loadAWSRules(t)
	dir := filepath.Join(corpus.Dir(t), "stratus-red-team-detonation-logs")
	files, err := filepath.Glob(filepath.Join(dir, "aws.*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no detonation files: %v", err)
	}
	n, _ := detect.New(event.SourceCloudTrail, normalize.Options{Raw: set.UsesRaw()})
	ev := set.NewEvaluator()
	ev.OnError = func(r *rule.Rule, e *event.Event, err error) {
		t.Errorf("%s on %s %s: %v", r.ID, e.Action, e.ID, err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		evs, errs := n.Normalize(data, normalize.Meta{File: name})
		if len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
		var got []string
		for _, e := range evs {
			for _, a := range ev.Eval(nil, e) {
				t.Logf("%s: %s: %s", name, a.Rule.ID, a.Summary)
				if !slices.Contains(got, a.Rule.ID) {
					got = append(got, a.Rule.ID)
				}
			}
		}
		slices.Sort(got)
		want := stratusExpected[name]
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: fired %v, want %v", name, got, want)
		}
	}
}

// TestCorpusAlertCounts checks how many alerts each AWS rule raises on the
// other CloudTrail samples: the OTRF lab capture (reconnaissance and S3
// reads with stolen instance credentials, which no single-event rule
// covers) and the synthetic Cribl records.
func TestCorpusAlertCounts(t *testing.T) {
	set := loadAWSRules(t)
	dir := corpus.Dir(t)
	files := map[string]map[string]int{
		filepath.Join("cribl-aws-cloudtrail-sample", "cloudtrail_records.jsonl"): {
			"aws-console-login-without-mfa": 1, // Bob, MFAUsed No
			"aws-root-account-activity":     4, // RunInstances, TerminateInstances, CreateStack, AttachUserPolicy
			"aws-iam-admin-policy-attached": 1, // root attaches AdministratorAccess
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
