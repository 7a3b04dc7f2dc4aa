package cloudtrail

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// decodeFile parses a fixture and decodes it as the dispatcher would.
func decodeFile(t *testing.T, name string, o normalize.Options) ([]*event.Event, []error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !Detect(v) {
		t.Fatalf("%s: Detect = false", name)
	}
	evs, errs := Decode(v, o, normalize.Meta{File: name})
	// The parser's buffer is reused by the next parse: events must not
	// alias it. Scribble over it to catch any string that does.
	for i := range data {
		data[i] = 'X'
	}
	p.Parse(`{"clobber":"` + strings.Repeat("Z", len(data)) + `"}`)
	return evs, errs
}

type check struct {
	name      string
	got, want any
}

func runChecks(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		gj, _ := json.Marshal(c.got)
		wj, _ := json.Marshal(c.want)
		if string(gj) != string(wj) {
			t.Errorf("%s = %s, want %s", c.name, gj, wj)
		}
	}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestS3LogFile(t *testing.T) {
	evs, errs := decodeFile(t, "s3_log_file.json", normalize.Options{Raw: true})
	if len(evs) != 7 {
		t.Fatalf("got %d events, want 7 (errors: %v)", len(evs), errs)
	}
	// Two bad items: one without eventName (invalid), one not an object.
	if len(errs) != 2 {
		t.Fatalf("got errors %v, want 2", errs)
	}
	var ie *normalize.ItemError
	if !errors.As(errs[0], &ie) || ie.Index != 7 || !errors.Is(errs[0], normalize.ErrInvalidEvent) || !strings.Contains(errs[0].Error(), "eventName") {
		t.Errorf("errs[0] = %v, want item 7 invalid: no eventName", errs[0])
	}
	if !errors.As(errs[1], &ie) || ie.Index != 8 || !errors.Is(errs[1], normalize.ErrUnknownFormat) {
		t.Errorf("errs[1] = %v, want item 8 unknown format", errs[1])
	}

	key, policy, denied, svc, irsa, root, anon := evs[0], evs[1], evs[2], evs[3], evs[4], evs[5], evs[6]
	runChecks(t, []check{
		// IAM user creates an access key for another user.
		{"key.source", key.Source, event.SourceCloudTrail},
		{"key.time", key.Time, ts("2025-03-04T10:00:01Z")},
		{"key.id", key.ID, "0f1e2d3c-4b5a-4978-8a1b-2c3d4e5f6001"},
		{"key.action", key.Action, "CreateAccessKey"},
		{"key.outcome", key.Outcome, event.OutcomeSuccess},
		{"key.actor", key.Actor, event.Actor{
			ID: "AIDAQEXAMPLEUSER0001", Name: "arn:aws:iam::111122223333:user/ops/marina", Type: "user",
			SourceIP: "198.51.100.23", SourceIPs: []string{"198.51.100.23"},
			UserAgent: "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe command/iam.create-access-key",
			SessionID: "AKIAQEXAMPLEKEY00001",
		}},
		{"key.target", key.Target, event.Target{Type: "AWS::IAM::User", Name: "ci-deployer"}},
		{"key.issued", key.Issued, event.Issued{Subject: "ci-deployer", SessionID: "AKIAQEXAMPLENEWKEY01"}},
		{"key.cloud", key.Cloud, event.Cloud{Provider: "aws", Account: "111122223333", Region: "us-east-1", Service: "iam.amazonaws.com"}},
		{"key.raw secret", key.RawMap()["responseElements"].(map[string]any)["accessKey"].(map[string]any)["secretAccessKey"], normalize.Redacted},
		{"key.raw access key id kept", key.RawMap()["responseElements"].(map[string]any)["accessKey"].(map[string]any)["accessKeyId"], "AKIAQEXAMPLENEWKEY01"},

		// SSO session with MFA makes a bucket public; resource from resources[].
		{"policy.actor", policy.Actor, event.Actor{
			ID: "AROAQEXAMPLEROLE0002:marina@example.com", Name: "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_PlatformAdmin_0123456789abcdef/marina@example.com",
			Type: "role", SourceIP: "2001:db8:4f1::23", SourceIPs: []string{"2001:db8:4f1::23"}, UserAgent: "[aws-cli/2.15.30]",
			SessionID: "ASIAQEXAMPLESESS0002", MFA: true,
		}},
		{"policy.target", policy.Target, event.Target{Type: "AWS::S3::Bucket", Name: "exports-prod-sa", ID: "arn:aws:s3:::exports-prod-sa"}},
		{"policy.cloud.region", policy.Cloud.Region, "sa-east-1"},
		{"policy.raw principal", policy.RawMap()["requestParameters"].(map[string]any)["bucketPolicy"].(map[string]any)["Statement"].([]any)[0].(map[string]any)["Principal"], "*"},

		// Denied call.
		{"denied.outcome", denied.Outcome, event.OutcomeFailure},
		{"denied.cloud.error_code", denied.Cloud.ErrorCode, "AccessDenied"},
		{"denied.target", denied.Target, event.Target{}},

		// AWS service: named by invokedBy, its host name is not a source IP.
		{"svc.actor", svc.Actor, event.Actor{Name: "autoscaling.amazonaws.com", Type: "service", UserAgent: "autoscaling.amazonaws.com"}},
		{"svc.target", svc.Target, event.Target{Type: "AWS::IAM::Role", Name: "AWSServiceRoleForAutoScaling", ID: "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"}},
		{"svc.issued (not a web identity)", svc.Issued, event.Issued{}},
		{"svc.raw session token", svc.RawMap()["responseElements"].(map[string]any)["credentials"].(map[string]any)["sessionToken"], normalize.Redacted},

		// IRSA: a Kubernetes service account federated to a role.
		{"irsa.actor.name", irsa.Actor.Name, "system:serviceaccount:payments:billing-api"},
		{"irsa.actor.type", irsa.Actor.Type, "service_account"},
		{"irsa.actor.id", irsa.Actor.ID, "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sts.amazonaws.com:system:serviceaccount:payments:billing-api"},
		{"irsa.issued", irsa.Issued, event.Issued{
			Subject:   "system:serviceaccount:payments:billing-api",
			Principal: "arn:aws:sts::111122223333:assumed-role/billing-api-irsa/1709546405123456789",
			SessionID: "ASIAQEXAMPLEIRSA0005",
		}},
		{"irsa.target", irsa.Target, event.Target{Type: "AWS::IAM::Role", Name: "billing-api-irsa", ID: "arn:aws:iam::111122223333:role/billing-api-irsa"}},
		{"irsa.raw session token", irsa.RawMap()["responseElements"].(map[string]any)["credentials"].(map[string]any)["sessionToken"], normalize.Redacted},

		// Root launches an instance with user data.
		{"root.actor", root.Actor, event.Actor{
			ID: "111122223333", Name: "arn:aws:iam::111122223333:root", Type: "root",
			SourceIP: "198.51.100.61", SourceIPs: []string{"198.51.100.61"}, UserAgent: "AWS Internal", SessionID: "ASIAQEXAMPLEROOT0006",
		}},
		{"root.target", root.Target, event.Target{Type: "AWS::EC2::Instance", Name: "i-0a1b2c3d4e5f60006"}},
		{"root.raw user data", root.RawMap()["requestParameters"].(map[string]any)["userData"], normalize.Redacted},

		// Anonymous S3 read: the bucket, not the object, is the target.
		{"anon.actor", anon.Actor, event.Actor{Name: "anonymous", Type: "anonymous", SourceIP: "192.0.2.200", SourceIPs: []string{"192.0.2.200"}, UserAgent: "curl/8.5.0"}},
		{"anon.target", anon.Target, event.Target{Type: "AWS::S3::Bucket", Name: "exports-prod-sa", ID: "arn:aws:s3:::exports-prod-sa"}},
	})
}

func TestEventBridge(t *testing.T) {
	tests := []struct {
		file   string
		checks func(ev *event.Event) []check
	}{
		{"eventbridge_api_call.json", func(ev *event.Event) []check {
			return []check{
				{"id is the CloudTrail eventID, not the EventBridge id", ev.ID, "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d0010"},
				{"time is eventTime, not the envelope time", ev.Time, ts("2025-03-04T11:20:30Z")},
				{"action", ev.Action, "DeleteDetector"},
				{"outcome", ev.Outcome, event.OutcomeSuccess},
				{"actor.name", ev.Actor.Name, "arn:aws:sts::111122223333:assumed-role/build-runner/i-0f9e8d7c6b5a40010"},
				{"actor.type", ev.Actor.Type, "role"},
				{"actor.mfa", ev.Actor.MFA, false},
				{"target", ev.Target, event.Target{Type: "AWS::GuardDuty::Detector", Name: "12abc34d567e8fa901bc2d34e56789f0"}},
				{"cloud", ev.Cloud, event.Cloud{Provider: "aws", Account: "111122223333", Region: "us-east-1", Service: "guardduty.amazonaws.com"}},
				{"raw is the record, not the envelope", ev.RawMap()["eventName"], "DeleteDetector"},
				{"raw has no envelope keys", ev.RawMap()["detail-type"], nil},
				{"raw keeps the role ARN", ev.RawMap()["userIdentity"].(map[string]any)["sessionContext"].(map[string]any)["sessionIssuer"].(map[string]any)["arn"], "arn:aws:iam::111122223333:role/build-runner"},
			}
		}},
		{"eventbridge_console_signin.json", func(ev *event.Event) []check {
			return []check{
				{"id", ev.ID, "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c0020"},
				{"action", ev.Action, "ConsoleLogin"},
				{"outcome from responseElements.ConsoleLogin", ev.Outcome, event.OutcomeFailure},
				{"error_code (none logged)", ev.Cloud.ErrorCode, ""},
				{"actor: IAM user without an ARN", ev.Actor, event.Actor{
					ID: "AIDAQEXAMPLEUSER0020", Name: "joao.lima", Type: "user", SourceIP: "203.0.113.140", SourceIPs: []string{"203.0.113.140"},
					UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
				}},
				{"target", ev.Target, event.Target{}},
			}
		}},
		{"eventbridge_insight.json", func(ev *event.Event) []check {
			return []check{
				{"id", ev.ID, "9f8e7d6c-5b4a-4392-8170-6f5e4d3c0030"},
				{"action", ev.Action, "CreateAccessKey"},
				{"outcome", ev.Outcome, event.OutcomeUnknown},
				{"actor", ev.Actor, event.Actor{Name: "cloudtrail.amazonaws.com", Type: "service"}},
				{"cloud.service", ev.Cloud.Service, "cloudtrail.amazonaws.com"},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			evs, errs := decodeFile(t, tt.file, normalize.Options{Raw: true})
			if len(errs) != 0 || len(evs) != 1 {
				t.Fatalf("got %d events, errors %v", len(evs), errs)
			}
			runChecks(t, tt.checks(evs[0]))
		})
	}
}

func TestSingleRecord(t *testing.T) {
	evs, errs := decodeFile(t, "single_record.json", normalize.Options{})
	if len(errs) != 0 || len(evs) != 1 {
		t.Fatalf("got %d events, errors %v", len(evs), errs)
	}
	ev := evs[0]
	runChecks(t, []check{
		{"time", ev.Time, ts("2025-03-04T14:30:45Z")},
		{"id", ev.ID, "2c1b0a9f-8e7d-4c6b-9a5f-4e3d2c1b0040"},
		{"outcome", ev.Outcome, event.OutcomeSuccess},
		{"actor.name", ev.Actor.Name, "arn:aws:iam::111122223333:user/ana.souza"},
		{"actor.mfa from MFAUsed", ev.Actor.MFA, true},
		{"actor.session_id (console login: none)", ev.Actor.SessionID, ""},
		{"raw without Options.RawMap()", ev.RawMap() == nil, true},
	})
}

func TestLogstashRecordWithoutEventID(t *testing.T) {
	evs, errs := decodeFile(t, "logstash_no_event_id.json", normalize.Options{Raw: true})
	if len(errs) != 0 || len(evs) != 1 {
		t.Fatalf("got %d events, errors %v", len(evs), errs)
	}
	ev := evs[0]
	runChecks(t, []check{
		{"time from @timestamp", ev.Time, ts("2025-03-04T15:10:00Z")},
		{"actor", ev.Actor, event.Actor{
			ID: "111122223333:vendor-support", Name: "arn:aws:sts::111122223333:federated-user/vendor-support", Type: "user",
			UserAgent: "aws-cli/1.32.60", SessionID: "ASIAQEXAMPLEFEDU0050",
		}},
		{"target from an ARN parameter", ev.Target, event.Target{
			Type: "AWS::SecretsManager::Secret", Name: "prod/payments/db-AbCdEf",
			ID: "arn:aws:secretsmanager:us-east-2:111122223333:secret:prod/payments/db-AbCdEf",
		}},
		{"raw secretString", ev.RawMap()["requestParameters"].(map[string]any)["secretString"], normalize.Redacted},
	})
	if !strings.HasPrefix(ev.ID, "sha256:") || len(ev.ID) != len("sha256:")+32 {
		t.Errorf("id = %q, want sha256:<32 hex>", ev.ID)
	}
	// Deterministic: the same record gets the same id.
	again, _ := decodeFile(t, "logstash_no_event_id.json", normalize.Options{})
	if again[0].ID != ev.ID {
		t.Errorf("id not deterministic: %q then %q", ev.ID, again[0].ID)
	}
	// A different record gets a different one.
	var p fastjson.Parser
	v := mustParse(t, &p, strings.Replace(mustRead(t, "logstash_no_event_id.json"), "15:10:00", "15:10:01", 1))
	other, _ := Decode(v, normalize.Options{}, normalize.Meta{})
	if other[0].ID == ev.ID {
		t.Errorf("two different records share id %q", ev.ID)
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		json string
		want bool
	}{
		{"log file", mustRead(t, "s3_log_file.json"), true},
		{"empty log file", `{"Records":[]}`, true},
		{"S3 event notification", mustRead(t, "s3_notification.json"), false},
		{"Records not an array", `{"Records":{"eventName":"x"}}`, false},
		{"EventBridge API call", mustRead(t, "eventbridge_api_call.json"), true},
		{"EventBridge without detail", `{"detail-type":"AWS API Call via CloudTrail","detail":"x"}`, false},
		{"EventBridge event of another kind", `{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"instance-id":"i-1","state":"running"}}`, false},
		{"single record", mustRead(t, "single_record.json"), true},
		{"minimal record", `{"eventName":"ListBuckets","eventSource":"s3.amazonaws.com","eventTime":"2025-01-01T00:00:00Z"}`, true},
		{"eventName without eventSource", `{"eventName":"x","eventTime":"2025-01-01T00:00:00Z"}`, false},
		{"non-AWS event source without userIdentity", `{"eventName":"EndRequest","eventSource":"Microsoft.Compute","eventTime":"2025-01-01T00:00:00Z"}`, false},
		{"record with userIdentity, any event source", `{"eventName":"PutAuditEvents","eventSource":"cloudtrail-data.amazonaws.com.example","userIdentity":{"type":"IAMUser"}}`, true},
		{"userIdentity not an object", `{"eventName":"x","eventSource":"partner","userIdentity":"u"}`, false},
		{"S3 notification record alone", `{"eventName":"ObjectCreated:Put","eventSource":"aws:s3","eventTime":"2025-01-01T00:00:00Z"}`, false},
		{"Kubernetes audit event", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","verb":"get","stage":"ResponseComplete"}`, false},
		{"GCP audit log entry", `{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","serviceName":"iam.googleapis.com","methodName":"x"},"logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","timestamp":"2025-01-01T00:00:00Z"}`, false},
		{"Azure activity record", `{"time":"2025-01-01T00:00:00Z","resourceId":"/SUBSCRIPTIONS/x","operationName":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE","category":"Administrative"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p fastjson.Parser
			v, err := p.Parse(tt.json)
			if err != nil {
				t.Fatal(err)
			}
			if got := Detect(v); got != tt.want {
				t.Errorf("Detect = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name     string
		json     string
		sentinel error
		contains string
	}{
		{"no time", `{"eventName":"ListBuckets","eventSource":"s3.amazonaws.com","eventID":"e1","userIdentity":{"type":"Root"}}`, normalize.ErrInvalidEvent, "without eventTime"},
		{"bad time", `{"eventName":"ListBuckets","eventSource":"s3.amazonaws.com","eventTime":"yesterday"}`, normalize.ErrInvalidEvent, `eventTime "yesterday" is not a time`},
		{"time not a string", `{"eventName":"ListBuckets","eventSource":"s3.amazonaws.com","eventTime":{"a":1}}`, normalize.ErrInvalidEvent, `eventTime an object is not a time`},
		{"EventBridge detail without eventName", `{"detail-type":"AWS API Call via CloudTrail","time":"2025-01-01T00:00:00Z","detail":{"eventSource":"s3.amazonaws.com"}}`, normalize.ErrInvalidEvent, "without eventName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p fastjson.Parser
			v := mustParse(t, &p, tt.json)
			evs, errs := Decode(v, normalize.Options{}, normalize.Meta{})
			if len(evs) != 0 || len(errs) != 1 {
				t.Fatalf("got %d events, errors %v", len(evs), errs)
			}
			if !errors.Is(errs[0], tt.sentinel) || !strings.Contains(errs[0].Error(), tt.contains) {
				t.Errorf("error %q, want %v containing %q", errs[0], tt.sentinel, tt.contains)
			}
		})
	}
}

func TestEventBridgeFallbacks(t *testing.T) {
	// A detail without time, region or account takes the envelope's.
	var p fastjson.Parser
	v := mustParse(t, &p, `{"detail-type":"AWS Service Event via CloudTrail","account":"444455556666","region":"eu-west-1","time":"2025-02-01T08:00:00Z",
		"detail":{"eventName":"RotateKey","eventSource":"kms.amazonaws.com","eventID":"e-9","eventType":"AwsServiceEvent","userIdentity":{"type":"AWSService","invokedBy":"kms.amazonaws.com"},"requestParameters":{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}}}`)
	evs, errs := Decode(v, normalize.Options{}, normalize.Meta{})
	if len(errs) != 0 || len(evs) != 1 {
		t.Fatalf("got %d events, errors %v", len(evs), errs)
	}
	ev := evs[0]
	runChecks(t, []check{
		{"time", ev.Time, ts("2025-02-01T08:00:00Z")},
		{"cloud", ev.Cloud, event.Cloud{Provider: "aws", Account: "444455556666", Region: "eu-west-1", Service: "kms.amazonaws.com"}},
		{"target", ev.Target, event.Target{Type: "AWS::KMS::Key", Name: "1234abcd-12ab-34cd-56ef-1234567890ab"}},
	})
}

func TestActorTypes(t *testing.T) {
	tests := []struct {
		ui   string
		want event.Actor
	}{
		{`{"type":"Root","principalId":"111122223333","accountId":"111122223333"}`, event.Actor{ID: "111122223333", Name: "arn:aws:iam::111122223333:root", Type: "root"}},
		{`{"type":"IdentityCenterUser","accountId":"111122223333","onBehalfOf":{"userId":"94482488-3041-7026-18f3-be45837cd0e4","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-9067230000"},"credentialId":"EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE"}`,
			event.Actor{Name: "94482488-3041-7026-18f3-be45837cd0e4", Type: "user"}},
		{`{"type":"AWSAccount","principalId":"AROAQEXAMPLEROLE0070:partner-sync","accountId":"999988887777"}`, event.Actor{ID: "AROAQEXAMPLEROLE0070:partner-sync", Name: "AROAQEXAMPLEROLE0070:partner-sync", Type: "role"}},
		{`{"type":"AWSAccount","principalId":"AIDAQEXAMPLEUSER0071","accountId":"999988887777"}`, event.Actor{ID: "AIDAQEXAMPLEUSER0071", Name: "AIDAQEXAMPLEUSER0071", Type: "user"}},
		{`{"type":"WebIdentityUser","principalId":"accounts.google.com:123.apps.googleusercontent.com:1077","userName":"1077","identityProvider":"accounts.google.com"}`, event.Actor{ID: "accounts.google.com:123.apps.googleusercontent.com:1077", Name: "1077", Type: "user"}},
		{`{"type":"SAMLUser","principalId":"SAMPLE:alice","userName":"alice","identityProvider":"arn:aws:iam::111122223333:saml-provider/okta"}`, event.Actor{ID: "SAMPLE:alice", Name: "alice", Type: "user"}},
		{`{"type":"Unknown","principalId":"111122223333","accountId":"111122223333","userName":"carla"}`, event.Actor{ID: "111122223333", Name: "carla", Type: "user"}},
		{`{"type":"Directory","principalId":"x-1"}`, event.Actor{ID: "x-1", Name: "x-1", Type: "unknown"}},
		{`"not an object"`, event.Actor{Type: "unknown"}},
	}
	for _, tt := range tests {
		var p fastjson.Parser
		v := mustParse(t, &p, `{"eventName":"GetCallerIdentity","eventSource":"sts.amazonaws.com","eventTime":"2025-01-01T00:00:00Z","userIdentity":`+tt.ui+`}`)
		evs, errs := Decode(v, normalize.Options{}, normalize.Meta{})
		if len(errs) != 0 {
			t.Fatalf("%s: %v", tt.ui, errs)
		}
		runChecks(t, []check{{tt.ui, evs[0].Actor, tt.want}})
	}
}

func TestArnName(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::111122223333:role/path/to/deploy":          "deploy",
		"arn:aws:iam::aws:policy/AdministratorAccess":            "AdministratorAccess",
		"arn:aws:s3:::bucket-a":                                  "bucket-a",
		"arn:aws:s3:::bucket-a/dir/key.txt":                      "bucket-a",
		"arn:aws:lambda:us-east-1:111122223333:function:fn-a:3":  "fn-a",
		"arn:aws:sns:us-east-1:111122223333:alerts":              "alerts",
		"arn:aws:cloudtrail:us-east-1:111122223333:trail/org":    "org",
		"arn:aws-cn:ec2:cn-north-1:111122223333:instance/i-0abc": "i-0abc",
		"arn:short": "arn:short",
	} {
		if got := arnName(arn); got != want {
			t.Errorf("arnName(%q) = %q, want %q", arn, got, want)
		}
	}
}

func TestIsAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"198.51.100.7": true, "2001:db8::1": true, "075.050.255.67": true, "08.1.250.216": true,
		"ec2.amazonaws.com": false, "AWS Internal": false, "": false, "1.2.3": false, "1.2.3.4.5": false, "1234.1.1.1": false, "1..2.3": false,
	} {
		if got := isAddr([]byte(s)); got != want {
			t.Errorf("isAddr(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	var p fastjson.Parser
	v := mustParse(t, &p, `{"eventName":"X","eventSource":"x.amazonaws.com","eventTime":"2025-01-01T00:00:00Z",
		"requestParameters":{"Password":"p1","newPassword":"p2","masterUserPassword":"p3","privateKey":"-----BEGIN","launchTemplateData":{"UserData":"c2VjcmV0"},
		  "list":[{"clientSecret":"cs"},{"name":"keep"}],"secretId":"keep-id","nullPassword":null,"password2":"keep"},
		"responseElements":{"roleCredentials":{"accessKeyId":"ASIAKEEP","secretAccessKey":"sak","sessionToken":"st"},"authorizationData":[{"authorizationToken":"QVdTOnRva2Vu"}],
		  "accessToken":"at","refreshToken":"rt","idToken":"it","credentials":{"secretKey":"sk"}},
		"additionalEventData":{"sAMLAssertion":"PHNhbWw+","webIdentityToken":"eyJ"},
		"serviceEventDetails":{"function":{"environment":{"variables":{"DB_URL":"postgres://u:pw1@db"}}},
		  "containerDefinitions":[{"name":"app","environment":[{"name":"API_KEY","value":"ak-123"}]}],"tokenValue":"tv"},
		"userIdentity":{"type":"Root","accountId":"1"}}`)
	evs, _ := Decode(v, normalize.Options{Raw: true}, normalize.Meta{})
	raw, _ := json.Marshal(evs[0].RawMap())
	for _, secret := range []string{`"p1"`, `"p2"`, `"p3"`, "BEGIN", "c2VjcmV0", `"cs"`, `"sak"`, `"st"`, "QVdTOnRva2Vu", `"at"`, `"rt"`, `"it"`, `"sk"`, "PHNhbWw+", "eyJ", "pw1", "ak-123", `"tv"`} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("raw still holds %s: %s", secret, raw)
		}
	}
	for _, keep := range []string{`"keep"`, "keep-id", "ASIAKEEP", `"password2":"keep"`, "DB_URL", "API_KEY"} {
		if !strings.Contains(string(raw), keep) {
			t.Errorf("raw lost %s: %s", keep, raw)
		}
	}
}

func mustParse(t *testing.T, p *fastjson.Parser, s string) *fastjson.Value {
	t.Helper()
	v, err := p.Parse(s)
	if err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return v
}

func TestArena(t *testing.T) {
	// More values than the arena holds: the extra ones are copied one by
	// one, and every value lands in its own destination.
	var a arena
	dst := make([]string, maxStrings+5)
	src := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	for i := range dst {
		a.add(&dst[i], src[i:i+2])
	}
	var empty string
	a.add(&empty, nil)
	a.flush()
	copy(src, strings.Repeat("X", len(src))) // the values must be copies
	for i, got := range dst {
		if want := "0123456789abcdefghijklmnopqrstuvwxyz"[i : i+2]; got != want {
			t.Errorf("dst[%d] = %q, want %q", i, got, want)
		}
	}
	if empty != "" {
		t.Errorf("empty value became %q", empty)
	}
}
