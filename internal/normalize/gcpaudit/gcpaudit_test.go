package gcpaudit

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// decodeFile parses a fixture and decodes it with Raw kept.
func decodeFile(t *testing.T, name string) (*event.Event, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if !Detect(v) {
		return nil, false
	}
	evs, errs := Decode(v, normalize.Options{Raw: true}, normalize.Meta{})
	if len(errs) != 0 || len(evs) != 1 {
		t.Fatalf("%s: got %d events, errors %v", name, len(evs), errs)
	}
	return evs[0], true
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

type check struct {
	field     string
	got, want any
}

func TestDecodeFixtures(t *testing.T) {
	tests := []struct {
		file   string
		checks func(ev *event.Event) []check
	}{
		{"activity-setiampolicy-owner.json", func(ev *event.Event) []check {
			return []check{
				{"source", ev.Source, event.SourceGCPAudit},
				{"time", ev.Time, ts("2024-06-03T14:21:07.098512Z")},
				{"id", ev.ID, "projects/shop-prod-4411/1x9k2pe3a7vb"},
				{"action", ev.Action, "SetIamPolicy"},
				{"outcome", ev.Outcome, event.OutcomeSuccess},
				{"actor.name", ev.Actor.Name, "carla.mendes@example.com"},
				{"actor.id", ev.Actor.ID, "user:carla.mendes@example.com"},
				{"actor.type", ev.Actor.Type, "user"},
				{"actor.source_ip", ev.Actor.SourceIP, "198.51.100.23"},
				{"actor.source_ips", ev.Actor.SourceIPs, []string{"198.51.100.23"}},
				{"actor.user_agent", ev.Actor.UserAgent, "google-cloud-sdk gcloud/468.0.0 command/gcloud.projects.add-iam-policy-binding,gzip(gfe)"},
				{"actor.impersonator", ev.Actor.Impersonator, ""},
				{"target.id", ev.Target.ID, "projects/shop-prod-4411"},
				{"target.name", ev.Target.Name, "shop-prod-4411"},
				{"target.type", ev.Target.Type, "project"},
				{"cloud", ev.Cloud, event.Cloud{Provider: "gcp", Account: "shop-prod-4411", Service: "cloudresourcemanager.googleapis.com"}},
				{"raw member", rawPath(ev.RawMap(), "protoPayload", "serviceData", "policyDelta", "bindingDeltas", 0, "member"), "user:carla.backup.2019@gmail.com"},
			}
		}},
		{"activity-sa-key-impersonated.json", func(ev *event.Event) []check {
			return []check{
				{"action", ev.Action, "google.iam.admin.v1.CreateServiceAccountKey"},
				{"outcome", ev.Outcome, event.OutcomeSuccess},
				{"actor.name", ev.Actor.Name, "deployer@shop-prod-4411.iam.gserviceaccount.com"},
				{"actor.type", ev.Actor.Type, "service_account"},
				{"actor.impersonator", ev.Actor.Impersonator, "rafael.costa@example.com"},
				{"actor.session_id", ev.Actor.SessionID, ""},
				{"target.id", ev.Target.ID, "projects/-/serviceAccounts/108233740526521498761"},
				{"target.name", ev.Target.Name, "108233740526521498761"},
				{"target.type", ev.Target.Type, "service_account"},
				{"cloud.service", ev.Cloud.Service, "iam.googleapis.com"},
				{"issued (the new key)", ev.Issued, event.Issued{Principal: "ci-runner@shop-prod-4411.iam.gserviceaccount.com", SessionID: "projects/shop-prod-4411/serviceAccounts/ci-runner@shop-prod-4411.iam.gserviceaccount.com/keys/5d2c0e7a9b1f43c6a8e2d4b6f0a1c3e5"}},
				{"raw privateKeyData", rawPath(ev.RawMap(), "protoPayload", "response", "privateKeyData"), Redacted},
				{"raw key name kept", rawPath(ev.RawMap(), "protoPayload", "response", "name"), "projects/shop-prod-4411/serviceAccounts/ci-runner@shop-prod-4411.iam.gserviceaccount.com/keys/5d2c0e7a9b1f43c6a8e2d4b6f0a1c3e5"},
				{"raw private_key_type kept", rawPath(ev.RawMap(), "protoPayload", "response", "private_key_type"), 2.0},
			}
		}},
		{"data-access-workload-identity-token.json", func(ev *event.Event) []check {
			return []check{
				{"id", ev.ID, "projects/shop-prod-4411/1b4fqw7e2kd1"},
				{"action", ev.Action, "GenerateAccessToken"},
				{"actor.name", ev.Actor.Name, "serviceAccount:shop-prod-4411.svc.id.goog[payments/ledger-api]"},
				{"actor.type", ev.Actor.Type, "service_account"},
				{"actor.source_ip", ev.Actor.SourceIP, "10.12.3.41"},
				{"k8s.service_account", ev.K8s.ServiceAccount, "payments/ledger-api"},
				{"issued", ev.Issued, event.Issued{Subject: "system:serviceaccount:payments:ledger-api", Principal: "ledger-api@shop-prod-4411.iam.gserviceaccount.com"}},
				{"cloud.service", ev.Cloud.Service, "iamcredentials.googleapis.com"},
			}
		}},
		{"system-event-no-principal.json", func(ev *event.Event) []check {
			return []check{
				{"action", ev.Action, "compute.instances.migrateOnHostMaintenance"},
				{"outcome (message without code)", ev.Outcome, event.OutcomeSuccess},
				{"actor.name", ev.Actor.Name, "compute.googleapis.com"},
				{"actor.type", ev.Actor.Type, "service"},
				{"actor.source_ips", ev.Actor.SourceIPs, []string(nil)},
				{"target.name", ev.Target.Name, "gke-prod-pool-1-8f2a77c1-x9q2"},
				{"target.type", ev.Target.Type, "gce_instance"},
				{"cloud.region (zone)", ev.Cloud.Region, "southamerica-east1-b"},
			}
		}},
		{"policy-denied-vpcsc.json", func(ev *event.Event) []check {
			return []check{
				{"outcome", ev.Outcome, event.OutcomeFailure},
				{"cloud.error_code", ev.Cloud.ErrorCode, "PERMISSION_DENIED"},
				{"actor.name", ev.Actor.Name, "exfil-test@shop-dev-2201.iam.gserviceaccount.com"},
				{"actor.type", ev.Actor.Type, "service_account"},
				{"target.name (object)", ev.Target.Name, "2024/06/ledger.csv"},
				{"target.type", ev.Target.Type, "audited_resource"},
				{"cloud.account", ev.Cloud.Account, "shop-prod-4411"},
			}
		}},
		{"bigquery-export-setiampolicy.json", func(ev *event.Event) []check {
			return []check{
				{"time (BigQuery UTC form)", ev.Time, ts("2024-06-06T09:15:02.441Z")},
				{"id", ev.ID, "projects/shop-prod-4411/k2m9s8e1q0c"},
				{"action", ev.Action, "storage.setIamPermissions"},
				{"outcome (null status)", ev.Outcome, event.OutcomeSuccess},
				{"actor.name", ev.Actor.Name, "joao.lima@example.com"},
				{"actor.type", ev.Actor.Type, "user"},
				{"actor.impersonator (empty delegation)", ev.Actor.Impersonator, ""},
				{"actor.session_id (null)", ev.Actor.SessionID, ""},
				{"target.name", ev.Target.Name, "shop-public-assets"},
				{"target.type", ev.Target.Type, "gcs_bucket"},
				{"cloud.region", ev.Cloud.Region, "southamerica-east1"},
				{"raw in LogEntry shape: bindingDeltas", rawPath(ev.RawMap(), "protoPayload", "serviceData", "policyDelta", "bindingDeltas", 0, "member"), "allUsers"},
				{"raw serviceData @type", rawPath(ev.RawMap(), "protoPayload", "serviceData", "@type"), "type.googleapis.com/google.iam.v1.logging.AuditData"},
				{"raw requestJson parsed", rawPath(ev.RawMap(), "protoPayload", "request", "policy", "bindings", 0, "members", 0), "allUsers"},
				{"raw requestJson secret", rawPath(ev.RawMap(), "protoPayload", "request", "hmacSecret"), Redacted},
				{"raw unparsable responseJson", rawPath(ev.RawMap(), "protoPayload", "response"), Redacted},
				{"raw @type", rawPath(ev.RawMap(), "protoPayload", "@type"), AuditLogType},
				{"raw BigQuery column gone", rawPath(ev.RawMap(), "protopayload_auditlog"), nil},
				{"raw nulls dropped", hasKey(ev.RawMap(), "textPayload"), false},
			}
		}},
		{"activity-firewall-insert-first.json", func(ev *event.Event) []check {
			return []check{
				{"action", ev.Action, "v1.compute.firewalls.insert"},
				{"outcome (operation started)", ev.Outcome, event.OutcomeUnknown},
				{"actor.type", ev.Actor.Type, "service_account"},
				{"actor.session_id (key used)", ev.Actor.SessionID, "//iam.googleapis.com/projects/shop-ops-1187/serviceAccounts/terraform@shop-ops-1187.iam.gserviceaccount.com/keys/9f1e2d3c4b5a69788796a5b4c3d2e1f0"},
				{"target.name", ev.Target.Name, "allow-ssh-debug"},
				{"target.type", ev.Target.Type, "gce_firewall_rule"},
				{"cloud.account (resource, not the caller's project)", ev.Cloud.Account, "shop-prod-4411"},
				{"cloud.region (resourceLocation)", ev.Cloud.Region, "global"},
			}
		}},
		{"activity-secret-version-denied.json", func(ev *event.Event) []check {
			return []check{
				{"outcome", ev.Outcome, event.OutcomeFailure},
				{"cloud.error_code", ev.Cloud.ErrorCode, "PERMISSION_DENIED"},
				{"actor.source_ip (IPv6)", ev.Actor.SourceIP, "2001:db8:4f2::1c"},
				{"target.name", ev.Target.Name, "ledger-db-password"},
				{"raw payload.data", rawPath(ev.RawMap(), "protoPayload", "request", "payload", "data"), Redacted},
				{"raw payload.dataCrc32c kept", rawPath(ev.RawMap(), "protoPayload", "request", "payload", "dataCrc32c"), "2841920317"},
				{"raw dbPassword", rawPath(ev.RawMap(), "protoPayload", "request", "dbPassword"), Redacted},
				{"raw authorization header", rawPath(ev.RawMap(), "protoPayload", "requestMetadata", "requestAttributes", "headers", "authorization"), Redacted},
				{"raw authorizationInfo kept", rawPath(ev.RawMap(), "protoPayload", "authorizationInfo", 0, "permission"), "secretmanager.versions.add"},
			}
		}},
		{"data-access-anonymous-object-read.json", func(ev *event.Event) []check {
			return []check{
				{"outcome", ev.Outcome, event.OutcomeSuccess},
				{"actor.name", ev.Actor.Name, "anonymous"},
				{"actor.type", ev.Actor.Type, "anonymous"},
				{"actor.id", ev.Actor.ID, ""},
				{"target.name (object with slashes)", ev.Target.Name, "exports/customers.csv"},
			}
		}},
		{"activity-set-metadata-startup-script.json", func(ev *event.Event) []check {
			return []check{
				{"action", ev.Action, "v1.compute.instances.setMetadata"},
				{"outcome (operation first and last)", ev.Outcome, event.OutcomeSuccess},
				{"cloud.region", ev.Cloud.Region, "southamerica-east1-a"},
				{"raw metadata key kept", rawPath(ev.RawMap(), "protoPayload", "request", "items", 0, "key"), "startup-script"},
				{"raw script scrubbed", strings.Contains(rawPath(ev.RawMap(), "protoPayload", "request", "items", 0, "value").(string), "curl -H"), true},
			}
		}},
		{"org-no-insertid-no-type.json", func(ev *event.Event) []check {
			return []check{
				{"id (hash fallback, organization parent)", strings.HasPrefix(ev.ID, "organizations/402117/sha256:") && len(ev.ID) == len("organizations/402117/sha256:")+24, true},
				{"outcome (code as a name)", ev.Outcome, event.OutcomeFailure},
				{"cloud.error_code", ev.Cloud.ErrorCode, "FAILED_PRECONDITION"},
				{"cloud.account (organization log)", ev.Cloud.Account, ""},
				{"actor.type (service agent)", ev.Actor.Type, "service"},
				{"target.type", ev.Target.Type, "logging_sink"},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ev, ok := decodeFile(t, tt.file)
			if !ok {
				t.Fatal("Detect rejected the fixture")
			}
			if ev.Source != event.SourceGCPAudit || ev.Cloud.Provider != "gcp" {
				t.Errorf("source %q provider %q", ev.Source, ev.Cloud.Provider)
			}
			for _, c := range tt.checks(ev) {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
				}
			}
		})
	}
}

// TestIDStable checks the hash fallback id does not change between decodes.
func TestIDStable(t *testing.T) {
	a, _ := decodeFile(t, "org-no-insertid-no-type.json")
	b, _ := decodeFile(t, "org-no-insertid-no-type.json")
	if a.ID != b.ID {
		t.Fatalf("ids differ: %s, %s", a.ID, b.ID)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		json string
		want bool
	}{
		{"audit log", `{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"x"}}`, true},
		{"no @type, audit log name", `{"logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","protoPayload":{"methodName":"x"}}`, true},
		{"no @type, other log", `{"logName":"projects/p/logs/appengine.googleapis.com%2Frequest_log","protoPayload":{"methodName":"x"}}`, false},
		{"other proto payload", `{"protoPayload":{"@type":"type.googleapis.com/google.appengine.logging.v1.RequestLog"}}`, false},
		{"GKE Kubernetes audit", `{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","serviceName":"k8s.io"}}`, false},
		{"BigQuery GKE Kubernetes audit", `{"protopayload_auditlog":{"serviceName":"k8s.io"}}`, false},
		{"BigQuery shape", `{"protopayload_auditlog":{"serviceName":"iam.googleapis.com"}}`, true},
		{"protoPayload not an object", `{"protoPayload":"x","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity"}`, false},
		{"VPC flow log", `{"jsonPayload":{"connection":{}},"logName":"projects/p/logs/compute.googleapis.com%2Fvpc_flows"}`, false},
		{"Kubernetes audit event", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a"}`, false},
		{"CloudTrail", `{"eventVersion":"1.08","eventSource":"iam.amazonaws.com"}`, false},
	}
	for _, tt := range tests {
		v := fastjson.MustParse(tt.json)
		if got := Detect(v); got != tt.want {
			t.Errorf("%s: Detect = %v, want %v", tt.name, got, tt.want)
		}
	}
	if ok := func() bool { _, ok := decodeFile(t, "gke-k8s-io-entry.json"); return ok }(); ok {
		t.Error("GKE k8s.io fixture detected as gcp_audit")
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, json string
		sentinel   error
		reason     string
	}{
		{"no time", `{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"x"},"insertId":"a"}`, normalize.ErrInvalidEvent, "timestamp"},
		{"bad time", `{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"x"},"timestamp":"yesterday"}`, normalize.ErrInvalidEvent, "timestamp"},
		{"no method", `{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog"},"timestamp":"2024-01-01T00:00:00Z"}`, normalize.ErrInvalidEvent, "methodName"},
		{"no payload", `{"timestamp":"2024-01-01T00:00:00Z"}`, normalize.ErrUnknownFormat, "protoPayload"},
	}
	for _, tt := range tests {
		evs, errs := Decode(fastjson.MustParse(tt.json), normalize.Options{}, normalize.Meta{})
		if len(evs) != 0 || len(errs) != 1 {
			t.Errorf("%s: got %d events, %d errors", tt.name, len(evs), len(errs))
			continue
		}
		if !errors.Is(errs[0], tt.sentinel) || !strings.Contains(errs[0].Error(), tt.reason) {
			t.Errorf("%s: error %q, want %v mentioning %q", tt.name, errs[0], tt.sentinel, tt.reason)
		}
	}
}

// TestMethodFallbackAndCluster covers resource.labels.method, a GKE
// cluster operation and receiveTimestamp.
func TestMethodFallbackAndCluster(t *testing.T) {
	v := fastjson.MustParse(`{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",
		"authenticationInfo":{"principalEmail":"service-889911@container-engine-robot.iam.gserviceaccount.com"}},
		"resource":{"type":"gke_cluster","labels":{"cluster_name":"prod-sa-east1","location":"southamerica-east1","project_id":"shop-prod-4411","method":"google.container.internal.ClusterManagerInternal.UpdateClusterInternal"}},
		"receiveTimestamp":"2024-06-10T10:00:00.5Z","insertId":"q1","logName":"projects/shop-prod-4411/logs/cloudaudit.googleapis.com%2Factivity",
		"operation":{"first":false,"last":true}}`)
	evs, errs := Decode(v, normalize.Options{}, normalize.Meta{})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	ev := evs[0]
	for _, c := range []check{
		{"action", ev.Action, "google.container.internal.ClusterManagerInternal.UpdateClusterInternal"},
		{"time", ev.Time, ts("2024-06-10T10:00:00.5Z")},
		{"k8s.cluster", ev.K8s.Cluster, "prod-sa-east1"},
		{"cloud.region", ev.Cloud.Region, "southamerica-east1"},
		{"actor.type", ev.Actor.Type, "service"},
		{"outcome (operation end)", ev.Outcome, event.OutcomeSuccess},
		{"raw not kept", ev.RawMap() == nil, true},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
		}
	}
}

// TestWorkloadIdentityDelegation: a Google service account used by a GKE
// pod through Workload Identity names the Kubernetes service account in
// its delegation chain.
func TestWorkloadIdentityDelegation(t *testing.T) {
	v := fastjson.MustParse(`{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",
		"authenticationInfo":{"principalEmail":"ledger-api@shop-prod-4411.iam.gserviceaccount.com",
			"serviceAccountDelegationInfo":[{"principalSubject":"serviceAccount:shop-prod-4411.svc.id.goog[payments/ledger-api]"}],
			"principalSubject":"serviceAccount:ledger-api@shop-prod-4411.iam.gserviceaccount.com"},
		"serviceName":"storage.googleapis.com","methodName":"storage.objects.get","resourceName":"projects/_/buckets/ledger/objects/a.csv"},
		"timestamp":"2024-06-10T10:00:00Z","insertId":"w1","logName":"projects/shop-prod-4411/logs/cloudaudit.googleapis.com%2Fdata_access"}`)
	evs, _ := Decode(v, normalize.Options{}, normalize.Meta{})
	ev := evs[0]
	if ev.K8s.ServiceAccount != "payments/ledger-api" || ev.Actor.Impersonator != "serviceAccount:shop-prod-4411.svc.id.goog[payments/ledger-api]" || ev.Actor.Type != "service_account" {
		t.Errorf("k8s.service_account %q impersonator %q type %q", ev.K8s.ServiceAccount, ev.Actor.Impersonator, ev.Actor.Type)
	}
}

func TestPrincipalType(t *testing.T) {
	tests := map[string]string{
		"maria@example.com":                                                                 "user",
		"someone.personal@gmail.com":                                                        "user",
		"user:maria@example.com":                                                            "user",
		"app@shop-prod-4411.iam.gserviceaccount.com":                                        "service_account",
		"123456789012-compute@developer.gserviceaccount.com":                                "service_account",
		"shop-prod-4411@appspot.gserviceaccount.com":                                        "service_account",
		"123456789012@cloudbuild.gserviceaccount.com":                                       "service_account",
		"serviceAccount:app@shop-prod-4411.iam.gserviceaccount.com":                         "service_account",
		"serviceAccount:shop-prod-4411.svc.id.goog[payments/ledger-api]":                    "service_account",
		"service-123456789012@compute-system.iam.gserviceaccount.com":                       "service",
		"service-123456789012@gcp-sa-logging.iam.gserviceaccount.com":                       "service",
		"123456789012@cloudservices.gserviceaccount.com":                                    "service",
		"service-abc@shop.iam.gserviceaccount.com":                                          "service_account",
		"system@google.com":                                                                 "service",
		"principal://iam.googleapis.com/locations/global/workforcePools/corp/subject/maria": "user",
		"principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gh/subject/repo:shop/app:ref:main":       "service_account",
		"principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p.svc.id.goog/subject/ns/payments/sa/ci": "service_account",
	}
	for p, want := range tests {
		if got := PrincipalType(p); got != want {
			t.Errorf("PrincipalType(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestWorkloadIdentity(t *testing.T) {
	tests := map[string]string{
		"serviceAccount:shop-prod-4411.svc.id.goog[payments/ledger-api]":                                                                         "payments/ledger-api",
		"shop-prod-4411.svc.id.goog[payments/ledger-api]":                                                                                        "payments/ledger-api",
		"principal://iam.googleapis.com/projects/88/locations/global/workloadIdentityPools/shop-prod-4411.svc.id.goog/subject/ns/payments/sa/ci": "payments/ci",
		"serviceAccount:shop-prod-4411.svc.id.goog[payments]":                                                                                    "",
		"serviceAccount:shop-prod-4411.svc.id.goog[a/b/c]":                                                                                       "",
		"principal://iam.googleapis.com/projects/88/locations/global/workloadIdentityPools/gh/subject/ns/x/sa/y":                                 "",
		"ledger-api@shop-prod-4411.iam.gserviceaccount.com":                                                                                      "",
		"": "",
	}
	for p, want := range tests {
		if got := WorkloadIdentity(p); got != want {
			t.Errorf("WorkloadIdentity(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestCodeName(t *testing.T) {
	for code, want := range map[int]string{0: "", 3: "INVALID_ARGUMENT", 7: "PERMISSION_DENIED", 16: "UNAUTHENTICATED", 17: "CODE_17", -1: "CODE_-1"} {
		if got := codeName(code); got != want {
			t.Errorf("codeName(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestSecretKey(t *testing.T) {
	for k, want := range map[string]bool{
		"privateKeyData": true, "password": true, "dbPassword": true, "client_secret": true, "hmacSecret": true,
		"accessToken": true, "keyString": true, "Authorization": true, "cookie": true, "credentials": true,
		"secretId": false, "secret_id": false, "tokenType": false, "privateKeyType": false, "private_key_type": false,
		"authorizationInfo": false, "serviceAccountKeyName": false, "name": false, "resourceName": false,
	} {
		if got := SecretKey(k); got != want {
			t.Errorf("SecretKey(%q) = %v, want %v", k, got, want)
		}
	}
}

// TestNoSecretLeaks decodes every fixture and checks that no secret value
// reaches the event, Raw included.
func TestNoSecretLeaks(t *testing.T) {
	secrets := []string{
		"ewogICJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCIs", // privateKeyData
		"aHVudGVyMi1zdXBlci1zZWNyZXQ=",             // Secret Manager payload
		"hunter2", "ya29.fake-access-token", "do-not-keep-this",
		"Tr0ub4dorX3", "ya29.a0AfB_metadata-token", // inside a startup script
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, f := range files {
		ev, ok := decodeFile(t, filepath.Base(f))
		if !ok {
			continue
		}
		out, err := json.Marshal(struct {
			*event.Event
			Raw map[string]any
		}{ev, ev.RawMap()})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(out), s) {
				t.Errorf("%s: secret %q reached the event", f, s)
			}
		}
	}
}

// TestNoAliasing checks that events do not share memory with the parser
// buffer: reusing the parser must not change a decoded event.
func TestNoAliasing(t *testing.T) {
	data, _ := os.ReadFile(filepath.Join("testdata", "activity-setiampolicy-owner.json"))
	var p fastjson.Parser
	v, _ := p.ParseBytes(data)
	evs, _ := Decode(v, normalize.Options{Raw: true}, normalize.Meta{})
	before, _ := json.Marshal(evs[0])
	other, _ := os.ReadFile(filepath.Join("testdata", "activity-firewall-insert-first.json"))
	if _, err := p.ParseBytes(other); err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(evs[0])
	if string(before) != string(after) {
		t.Fatal("event changed after the parser was reused")
	}
}

// rawPath walks a Raw map by keys and indexes; nil when missing.
func rawPath(m map[string]any, path ...any) any {
	var cur any = m
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mm, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = mm[k]
		case int:
			a, ok := cur.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			cur = a[k]
		}
	}
	return cur
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}
