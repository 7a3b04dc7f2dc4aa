package gcpaudit_test

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/normalize/gcpaudit"
	"github.com/vigia-dev/vigia/internal/rule"
)

// notAudit are the corpus files that are Cloud Logging entries but not
// Cloud Audit Logs (jsonPayload records): out of this source's scope, so
// the dispatcher reports them as an unknown format.
var notAudit = map[string]string{
	"google.cloud.loadbalancing.type.LoadBalancerLogEntry-handledbyIAP.json": "HTTP load balancer request log",
	"google.cloud.loadbalancing.type.LoadBalancerLogEntry-Spring4Shell.json": "HTTP load balancer request log",
	"google.compute.googleapis.com.vpc_flows.json":                           "VPC flow log",
}

// TestCorpus decodes every GCP sample through the dispatcher, as the
// pipeline does: every audit entry normalizes with the fields every event
// must carry.
func TestCorpus(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "gcp-security-analytics-fixtures")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s: %v", dir, err)
	}
	n, err := detect.New(detect.Auto, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	byAction := map[string]*event.Event{}
	events, skipped := 0, 0
	for _, f := range files {
		name := filepath.Base(f)
		if name == "SOURCE.json" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		evs, errs := n.Normalize(data, normalize.Meta{File: name})
		if reason, ok := notAudit[name]; ok {
			skipped++
			if len(evs) != 0 || len(errs) != 1 || !errors.Is(errs[0], normalize.ErrUnknownFormat) {
				t.Errorf("%s (%s): want one unknown-format error, got %d events, errors %v", name, reason, len(evs), errs)
			}
			continue
		}
		if len(errs) != 0 || len(evs) != 1 {
			t.Errorf("%s: got %d events, errors %v", name, len(evs), errs)
			continue
		}
		ev := evs[0]
		events++
		if ev.Source != event.SourceGCPAudit || ev.Time.IsZero() || ev.ID == "" || ev.Action == "" ||
			ev.Actor.Name == "" || ev.Actor.Type == "" || ev.Outcome == "" || ev.Cloud.Provider != "gcp" || ev.Cloud.Service == "" {
			t.Errorf("%s: incomplete event: source %q time %v id %q action %q actor %q/%q outcome %q cloud %+v",
				name, ev.Source, ev.Time, ev.ID, ev.Action, ev.Actor.Name, ev.Actor.Type, ev.Outcome, ev.Cloud)
		}
		if ev.RawMap() == nil {
			t.Errorf("%s: Raw not kept", name)
		}
		byAction[name] = ev
	}
	if events != 15 || skipped != len(notAudit) {
		t.Errorf("decoded %d audit entries and skipped %d, want 15 and %d", events, skipped, len(notAudit))
	}

	// Exact values of a few entries that matter to the detections.
	want := []struct {
		file, field, got, want string
	}{
		{"google.storage.objects.get-notInSameVPC.json", "outcome", outcome(byAction, "google.storage.objects.get-notInSameVPC.json"), "failure"},
		{"google.login.LoginService.loginFailure.json", "outcome (sign-in failure)", outcome(byAction, "google.login.LoginService.loginFailure.json"), "failure"},
		{"google.login.LoginService.loginSuccess.json", "outcome", outcome(byAction, "google.login.LoginService.loginSuccess.json"), "success"},
		{"google.storage.objects.get-notInSameVPC.json", "actor.type (identity absent)", actorType(byAction, "google.storage.objects.get-notInSameVPC.json"), "anonymous"},
		{"google.cloud.bigquery.v2.JobService.InsertJob-dataRead.json", "action (BigQuery export)", action(byAction, "google.cloud.bigquery.v2.JobService.InsertJob-dataRead.json"), "google.cloud.bigquery.v2.JobService.InsertJob"},
		{"google.v1.compute.subnetworks.patch-disableFlowLogs.json", "cloud.region", region(byAction, "google.v1.compute.subnetworks.patch-disableFlowLogs.json"), "us-central1"},
		{"google.iam.admin.v1.CreateServiceAccountRequest.json", "target.type", targetType(byAction, "google.iam.admin.v1.CreateServiceAccountRequest.json"), "service_account"},
		{"google.admin.AdminService.addGroupMember.json", "id (organization log)", id(byAction, "google.admin.AdminService.addGroupMember.json"), "organizations/123/285djodxlmu"},
	}
	for _, w := range want {
		if w.got != w.want {
			t.Errorf("%s: %s = %q, want %q", w.file, w.field, w.got, w.want)
		}
	}
}

func pick(m map[string]*event.Event, f string) *event.Event {
	if ev := m[f]; ev != nil {
		return ev
	}
	return &event.Event{}
}
func outcome(m map[string]*event.Event, f string) string    { return pick(m, f).Outcome }
func actorType(m map[string]*event.Event, f string) string  { return pick(m, f).Actor.Type }
func action(m map[string]*event.Event, f string) string     { return pick(m, f).Action }
func region(m map[string]*event.Event, f string) string     { return pick(m, f).Cloud.Region }
func targetType(m map[string]*event.Event, f string) string { return pick(m, f).Target.Type }
func id(m map[string]*event.Event, f string) string         { return pick(m, f).ID }

// TestCorpusOtherSourcesNotDetected runs Detect over every JSON record of
// the other sources' samples: none is a GCP audit entry.
func TestCorpusOtherSourcesNotDetected(t *testing.T) {
	root := corpus.Dir(t)
	checked := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "gcp-security-analytics-fixtures") {
			return err
		}
		if ext := filepath.Ext(p); ext != ".json" && ext != ".jsonl" && ext != ".log" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, v := range records(data) {
			checked++
			if gcpaudit.Detect(v) {
				t.Errorf("%s: a record of another source detected as gcp_audit", p)
			}
		}
		return nil
	})
	if checked == 0 {
		t.Fatal("no records checked")
	}
}

// records returns the JSON objects of a file: one value, an array's
// items, or JSON lines.
func records(data []byte) []*fastjson.Value {
	var out []*fastjson.Value
	add := func(v *fastjson.Value) {
		if v.Type() == fastjson.TypeArray {
			for _, it := range v.GetArray() {
				out = append(out, it)
			}
			return
		}
		out = append(out, v)
	}
	if v, err := fastjson.ParseBytes(data); err == nil {
		add(v)
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, err := fastjson.ParseBytes(sc.Bytes()); err == nil {
			add(v)
		}
	}
	return out
}

// TestDetectionsOnSamples evaluates the GCP rules over the public corpus
// and this package's fixtures, as the pipeline would: no rule fails at run
// time, and each fires exactly where expected.
func TestDetectionsOnSamples(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	set, err := rule.Load([]string{filepath.Join(root, "detections", "lists"), filepath.Join(root, "detections", "gcp")}, rule.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	n, err := detect.New(event.SourceGCPAudit, normalize.Options{Raw: set.UsesRaw()})
	if err != nil {
		t.Fatal(err)
	}
	ev := set.NewEvaluator()
	ev.OnError = func(r *rule.Rule, e *event.Event, err error) { t.Errorf("%s on %s: %v", r.ID, e.ID, err) }
	fired := func(files []string) map[string][]string {
		got := map[string][]string{}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			evs, _ := n.Normalize(data, normalize.Meta{File: f})
			for _, e := range evs {
				for _, a := range ev.Eval(nil, e) {
					if set.Rule(a.Rule.ID).SignalOnly {
						continue // feeds correlations, alerts nobody
					}
					got[filepath.Base(f)] = append(got[filepath.Base(f)], a.Rule.ID)
				}
			}
		}
		return got
	}

	fixtures, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	want := map[string][]string{
		"activity-setiampolicy-owner.json":    {"gcp-owner-editor-granted-outside-org"},
		"activity-sa-key-impersonated.json":   {"gcp-service-account-key-created"},
		"activity-firewall-insert-first.json": {"gcp-firewall-open-to-internet"},
		"bigquery-export-setiampolicy.json":   {"gcp-gcs-bucket-public"},
	}
	if got := fired(fixtures); !reflect.DeepEqual(got, want) {
		t.Errorf("fixtures: rules fired %v, want %v", got, want)
	}

	dir := filepath.Join(corpus.Dir(t), "gcp-security-analytics-fixtures")
	files, _ := filepath.Glob(filepath.Join(dir, "google.*.json"))
	want = map[string][]string{
		"google.v1.compute.subnetworks.patch-disableFlowLogs.json":             {"gcp-vpc-flow-logs-disabled"},
		"google.iam.admin.v1.SetIamPolicy-keyAdmin.json":                       {"gcp-service-account-access-granted"},
		"google.iam.admin.v1.SetIamPolicy-tokenCreator.json":                   {"gcp-service-account-access-granted"},
		"google.admin.AdminService.addGroupMember.json":                        {"gcp-workspace-privileged-group-member-added"},
		"google.login.LoginService.loginSuccess-isSuspicious.json":             {"gcp-workspace-suspicious-login"},
		"google.cloud.audit.AuditLog.setIamPolicy.json":                        {"gcp-iam-admin-role-granted"},
		"google.cloud.iap.v1.IdentityAwareProxyAdminService.SetIamPolicy.json": {"gcp-iap-access-granted"},
	}
	if got := fired(files); !reflect.DeepEqual(got, want) {
		t.Errorf("corpus: rules fired %v, want %v", got, want)
	}
}

// TestEnvelopes decodes the exports audit entries travel in through the
// dispatcher: a Pub/Sub push message and a Cloud Storage sink file (JSON
// lines, where a GKE Kubernetes audit entry sits beside the cloud ones).
func TestEnvelopes(t *testing.T) {
	n, err := detect.New(detect.Auto, normalize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want []string // source:id of each event, in order
	}{
		{"pubsub-push.json", []string{"gcp_audit:projects/shop-prod-4411/1b4fqw7e2kd1"}},
		{"gcs-sink-activity_S0.json", []string{
			"gcp_audit:projects/shop-prod-4411/1x9k2pe3a7vb",
			"k8s_audit:",
			"gcp_audit:projects/shop-prod-4411/-5k2d1we9q8m",
		}},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join("testdata", "envelopes", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		evs, errs := n.Normalize(data, normalize.Meta{File: tt.file})
		if len(errs) != 0 {
			t.Errorf("%s: errors %v", tt.file, errs)
		}
		var got []string
		for _, ev := range evs {
			id := ev.ID
			if ev.Source != event.SourceGCPAudit {
				id = "" // another decoder's id scheme
			}
			got = append(got, ev.Source+":"+id)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: events %v, want %v", tt.file, got, tt.want)
		}
		if tt.file == "pubsub-push.json" && len(evs) == 1 && evs[0].K8s.ServiceAccount != "payments/ledger-api" {
			t.Errorf("%s: k8s.service_account %q", tt.file, evs[0].K8s.ServiceAccount)
		}
	}
}
