package test

import (
	"fmt"
	"maps"
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

// stratusExpected lists, for every Stratus Red Team detonation log
// (stratus-red-team-detonation-logs/aws.*.json), the rules that fire on it
// and how many alerts each raises. It is exact both ways: a rule missing
// from a file's entry or firing a different number of times fails the
// test, so a rule change that adds noise or loses a technique is seen.
// Counts above one are single-event signals of volume behaviour (many
// secrets, many instances): grouping and correlation handle the count.
var stratusExpected = map[string]map[string]int{
	// credential access
	"aws.credential-access.ec2-get-password-data.json":                 {"aws-ec2-password-data-retrieved": 30}, // 30 instances, every attempt denied
	"aws.credential-access.ec2-steal-instance-credentials.json":        {"aws-ssm-send-command-by-user": 1},     // the SendCommand step; the stolen role's use from outside needs correlation
	"aws.credential-access.secretsmanager-batch-retrieve-secrets.json": {"aws-secretsmanager-batch-retrieval": 5},
	"aws.credential-access.secretsmanager-retrieve-secrets.json":       {"aws-secretsmanager-secret-read-by-user": 20}, // single reads; the burst is for correlation
	"aws.credential-access.ssm-retrieve-securestring-parameters.json":  {"aws-ssm-securestring-read-by-user": 5},       // 5 calls of 10 names each
	// defense evasion
	"aws.defense-evasion.cloudtrail-delete.json":          {"aws-cloudtrail-logging-stopped": 1},
	"aws.defense-evasion.cloudtrail-event-selectors.json": {"aws-cloudtrail-logging-stopped": 1},
	"aws.defense-evasion.cloudtrail-stop.json":            {"aws-cloudtrail-logging-stopped": 1},
	"aws.defense-evasion.dns-delete-logs.json":            {"aws-route53-query-logging-deleted": 1},
	"aws.defense-evasion.organizations-leave.json":        {"aws-organizations-leave": 1}, // the attempt is denied
	"aws.defense-evasion.vpc-remove-flow-logs.json":       {"aws-vpc-flow-logs-deleted": 1},
	// discovery and execution
	"aws.discovery.ec2-download-user-data.json":       {"aws-ec2-user-data-read": 15},                // every attempt denied
	"aws.execution.ec2-launch-unusual-instances.json": {"aws-ec2-unusual-instance-type-launched": 1}, // denied
	"aws.execution.ec2-user-data.json":                {"aws-ec2-user-data-modified": 1},
	"aws.execution.ssm-send-command.json":             {"aws-ssm-send-command-by-user": 1},
	"aws.execution.ssm-start-session.json":            {"aws-ssm-session-started-by-user": 3},
	// exfiltration and impact
	"aws.exfiltration.ec2-security-group-open-port-22-ingress.json": {"aws-ec2-security-group-open-admin-port": 1},
	"aws.exfiltration.ec2-share-ami.json":                           {"aws-snapshot-shared-externally": 1},
	"aws.exfiltration.ec2-share-ebs-snapshot.json":                  {"aws-snapshot-shared-externally": 1},
	"aws.exfiltration.rds-share-snapshot.json":                      {"aws-snapshot-shared-externally": 1},
	"aws.impact.bedrock-invoke-model.json":                          {"aws-bedrock-model-access-enabled": 3}, // agreement, entitlement, use-case form
	// initial access and lateral movement
	"aws.initial-access.console-login-without-mfa.json":                {"aws-console-login-without-mfa": 1},
	"aws.lateral-movement.ec2-instance-connect.json":                   {"aws-ec2-instance-connect-key-pushed": 3},
	"aws.lateral-movement.ec2-serial-console-send-ssh-public-key.json": {"aws-ec2-instance-connect-key-pushed": 3, "aws-ec2-serial-console-access-enabled": 1},
	// persistence and privilege escalation
	"aws.persistence.iam-backdoor-role.json":                      {"aws-iam-role-trust-cross-account": 1},
	"aws.persistence.iam-backdoor-user.json":                      {"aws-iam-credentials-for-other-user": 1},
	"aws.persistence.iam-create-admin-user.json":                  {"aws-iam-admin-policy-attached": 1, "aws-iam-credentials-for-other-user": 1, "aws-iam-user-created": 1},
	"aws.persistence.iam-create-backdoor-role.json":               {"aws-iam-admin-policy-attached": 1, "aws-iam-role-trust-cross-account": 1},
	"aws.persistence.iam-create-user-login-profile.json":          {"aws-iam-credentials-for-other-user": 1},
	"aws.persistence.lambda-backdoor-function.json":               {"aws-lambda-function-exposed": 1},
	"aws.persistence.lambda-layer-extension.json":                 {"aws-lambda-layer-attached": 1},
	"aws.persistence.lambda-overwrite-code.json":                  {"aws-lambda-code-updated-by-user": 1},
	"aws.persistence.rolesanywhere-create-trust-anchor.json":      {"aws-rolesanywhere-trust-anchor-created": 1},
	"aws.persistence.sts-federation-token.json":                   {"aws-sts-federation-token-issued": 1},
	"aws.privilege-escalation.iam-update-user-login-profile.json": {"aws-iam-credentials-for-other-user": 1},
}

// stratusUncovered lists detonation files no rule can cover, with the
// reason. A listed file that some rule starts to fire on fails the test:
// move it to stratusExpected.
var stratusUncovered = map[string]string{}

// TestStratusDetonations replays every Stratus Red Team detonation log
// through the shipped rules (every source's, so a rule of another source
// firing on CloudTrail is caught too) and checks the alerts per file
// against stratusExpected. A detonation file that is in neither table
// fails the test, so new upstream techniques are noticed.
func TestStratusDetonations(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "stratus-red-team-detonation-logs")
	files, err := filepath.Glob(filepath.Join(dir, "aws.*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("corpus: no Stratus Red Team detonation logs (aws.*.json) in %s", dir)
	}
	set, err := rule.Load([]string{"../detections"}, rule.Options{Root: "..", Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	norm, err := detect.New(event.SourceCloudTrail, normalize.Options{Raw: set.UsesRaw()})
	if err != nil {
		t.Fatal(err)
	}
	ev := set.NewEvaluator()
	ev.OnError = func(r *rule.Rule, e *event.Event, err error) {
		t.Errorf("%s on %s %s: %v", r.ID, e.Action, e.ID, err)
	}

	seen := map[string]bool{}
	covered := 0
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		evs, errs := norm.Normalize(data, normalize.Meta{File: name})
		if len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
		got := map[string]int{}
		for _, e := range evs {
			for _, a := range ev.Eval(nil, e) {
				if set.Rule(a.Rule.ID).SignalOnly {
					continue // feeds correlations, alerts nobody
				}
				if got[a.Rule.ID] == 0 {
					t.Logf("%s: %s: %s", name, a.Rule.ID, a.Summary)
				}
				got[a.Rule.ID]++
			}
		}
		want, expected := stratusExpected[name]
		why, uncovered := stratusUncovered[name]
		switch {
		case expected && uncovered:
			t.Errorf("%s is in both stratusExpected and stratusUncovered", name)
		case uncovered:
			if len(got) > 0 {
				t.Errorf("%s is listed as uncovered (%s) but %s fire on it: move it to stratusExpected", name, why, counts(got))
			}
		case !expected:
			t.Errorf("%s: new detonation file, in neither stratusExpected nor stratusUncovered (fired: %s)", name, counts(got))
		case len(want) == 0:
			t.Errorf("%s: stratusExpected lists no rule; a file no rule covers goes to stratusUncovered with the reason", name)
		case !maps.Equal(got, want):
			t.Errorf("%s: fired %s, want %s", name, counts(got), counts(want))
		default:
			covered++
		}
	}
	for _, table := range []map[string]bool{keys(stratusExpected), keys(stratusUncovered)} {
		for name := range table {
			if !seen[name] {
				t.Errorf("%s is listed but not in %s", name, dir)
			}
		}
	}
	t.Logf("%d detonation files, %d covered as expected, %d documented as uncovered", len(files), covered, len(stratusUncovered))
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "nothing"
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", id, m[id]))
	}
	return strings.Join(parts, " ")
}

func keys[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}
