package test

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/pipeline"
	"github.com/vigia-dev/vigia/internal/replay"
	"github.com/vigia-dev/vigia/internal/rule"
)

// fixtureDetections is, for single files of the public corpus, every rule
// that must fire on the file and how many times; no other rule may fire.
// Files that must stay quiet (near misses of a rule) map to an empty set.
var fixtureDetections = map[string]map[string]int{
	// GCP Cloud Audit Logs (Google's security analytics fixtures)
	"gcp-security-analytics-fixtures/google.admin.AdminService.addGroupMember.json": {
		"gcp-workspace-privileged-group-member-added": 1},
	"gcp-security-analytics-fixtures/google.login.LoginService.loginSuccess-isSuspicious.json": {
		"gcp-workspace-suspicious-login": 1},
	"gcp-security-analytics-fixtures/google.login.LoginService.loginSuccess.json": {},
	"gcp-security-analytics-fixtures/google.login.LoginService.loginFailure.json": {},
	"gcp-security-analytics-fixtures/google.cloud.audit.AuditLog.setIamPolicy.json": {
		"gcp-iam-admin-role-granted": 1},
	"gcp-security-analytics-fixtures/google.cloud.iap.v1.IdentityAwareProxyAdminService.SetIamPolicy.json": {
		"gcp-iap-access-granted": 1},
	"gcp-security-analytics-fixtures/google.iam.admin.v1.SetIamPolicy-keyAdmin.json": {
		"gcp-service-account-access-granted": 1},
	"gcp-security-analytics-fixtures/google.iam.admin.v1.SetIamPolicy-tokenCreator.json": {
		"gcp-service-account-access-granted": 1},
	"gcp-security-analytics-fixtures/google.v1.compute.subnetworks.patch-disableFlowLogs.json": {
		"gcp-vpc-flow-logs-disabled": 1},
	"gcp-security-analytics-fixtures/google.iam.admin.v1.CreateServiceAccountRequest.json": {},
	"gcp-security-analytics-fixtures/google.storage.objects.get-notInSameVPC.json":         {},
	"gcp-security-analytics-fixtures/google.cloud.audit.AuditLog.GetProject.json":          {},
	// Entra ID audit (OTRF Security Datasets, Log Analytics AuditLogs rows)
	"otrf-security-datasets/AADAuditEvents.json": {
		"azure-entra-app-credential-added":      2,
		"azure-entra-consent-risky-permissions": 1},
	// AKS control plane through Event Hubs: Kubernetes audit only
	"sysdig-aks-audit-log/sample_EventHubs_event.json": {},
}

// quietFolders hold real application output: no container rule may fire
// on any of it (the noise the container rules would make in production).
var quietFolders = []string{"cribl-k8s-container-logs", "fluent-bit-k8s-container-logs"}

// replayFired replays path through the shipped rules and counts the
// alerts per rule id.
func replayFired(t *testing.T, proc *pipeline.Processor, norm normalize.Normalizer, path string) map[string]int {
	t.Helper()
	ctx := context.Background()
	fired := map[string]int{}
	err := replay.Read(path, func(r replay.Record) error {
		if r.Err != nil {
			return nil // documented in TestCorpusAll
		}
		alerts, _, _ := proc.Process(ctx, norm, r.Data, normalize.Meta{File: r.File})
		for _, a := range alerts {
			fired[a.Rule.ID]++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	alerts, _ := proc.FlushAlerts(ctx)
	for _, a := range alerts {
		fired[a.Rule.ID]++
	}
	return fired
}

func formatFired(m map[string]int) string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", id, m[id]))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " ")
}

// TestCloudFixtureDetections proves the cloud rules on public fixtures:
// each listed file fires exactly its rules, and the public container log
// samples (ordinary application output) fire none.
func TestCloudFixtureDetections(t *testing.T) {
	dir := corpus.Dir(t)
	rules, err := rule.Load([]string{"../detections"}, rule.Options{Root: ".."})
	if err != nil {
		t.Fatal(err)
	}
	norm, err := detect.New(detect.Auto, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	proc := &pipeline.Processor{Rules: rules}
	detect.Flush() // nothing left over from other tests

	for _, rel := range slices.Sorted(maps.Keys(fixtureDetections)) {
		want := fixtureDetections[rel]
		got := replayFired(t, proc, norm, filepath.Join(dir, filepath.FromSlash(rel)))
		if !maps.Equal(got, want) {
			t.Errorf("%s: fired %s, want %s", rel, formatFired(got), formatFired(want))
		}
	}

	for _, folder := range quietFolders {
		root := filepath.Join(dir, folder)
		fired := map[string]int{}
		files := 0
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			files++
			for id, n := range replayFired(t, proc, norm, path) {
				fired[id] += n
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files == 0 {
			t.Errorf("%s: no files", folder)
		}
		if len(fired) > 0 {
			t.Errorf("%s (ordinary application output): fired %s, want nothing", folder, formatFired(fired))
		}
	}
}
