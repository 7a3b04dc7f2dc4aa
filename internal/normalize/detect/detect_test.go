package detect

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// Hand-written records, one per source, small but complete enough for
// their decoders.
const (
	k8sEvent = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"k8s-1","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/default/pods/web/exec?command=sh","verb":"create",` +
		`"user":{"username":"alice","groups":["system:authenticated"]},"sourceIPs":["10.0.0.1"],` +
		`"objectRef":{"resource":"pods","namespace":"default","name":"web","subresource":"exec","apiVersion":"v1"},` +
		`"responseStatus":{"code":101},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.200000Z"}`
	k8sEvent2 = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"k8s-2","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/kube-system/secrets","verb":"list",` +
		`"user":{"username":"system:serviceaccount:ci:deployer","groups":["system:serviceaccounts"]},"sourceIPs":["10.0.0.2"],` +
		`"objectRef":{"resource":"secrets","namespace":"kube-system","apiVersion":"v1"},` +
		`"responseStatus":{"code":200},"requestReceivedTimestamp":"2024-05-01T10:00:01Z","stageTimestamp":"2024-05-01T10:00:01Z"}`
	cloudTrailRecord = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/bob",` +
		`"accountId":"111122223333","userName":"bob"},"eventTime":"2024-05-01T10:00:02Z","eventSource":"iam.amazonaws.com",` +
		`"eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15",` +
		`"requestParameters":{"userName":"eve"},"responseElements":null,"eventID":"ct-1","eventType":"AwsApiCall",` +
		`"recipientAccountId":"111122223333"}`
	cloudTrailRecord2 = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/bob",` +
		`"accountId":"111122223333","userName":"bob"},"eventTime":"2024-05-01T10:00:03Z","eventSource":"cloudtrail.amazonaws.com",` +
		`"eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15",` +
		`"requestParameters":{"name":"main"},"responseElements":null,"eventID":"ct-2","eventType":"AwsApiCall",` +
		`"recipientAccountId":"111122223333"}`
	gcpEntry = `{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","status":{},` +
		`"authenticationInfo":{"principalEmail":"carol@example.com"},"requestMetadata":{"callerIp":"203.0.113.9","callerSuppliedUserAgent":"gcloud"},` +
		`"serviceName":"iam.googleapis.com","methodName":"google.iam.admin.v1.CreateServiceAccountKey",` +
		`"resourceName":"projects/-/serviceAccounts/sa@p1.iam.gserviceaccount.com"},` +
		`"insertId":"gcp-1","resource":{"type":"service_account","labels":{"project_id":"p1"}},` +
		`"timestamp":"2024-05-01T10:00:04Z","severity":"NOTICE","logName":"projects/p1/logs/cloudaudit.googleapis.com%2Factivity"}`
	azureAdministrative = `{"time":"2024-05-01T10:00:05Z",` +
		`"resourceId":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/RA1",` +
		`"operationName":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE","category":"Administrative","resultType":"Success",` +
		`"callerIpAddress":"192.0.2.1","correlationId":"corr-1","level":"Information",` +
		`"identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"dave@example.com"}},` +
		`"properties":{"eventDataId":"az-1","eventCategory":"Administrative"}}`
	// dockerLine and criLine are the same line of the same container as
	// docker json-file and CRI write it.
	dockerLine = `{"log":"listening on :8080\n","stream":"stdout","time":"2024-05-01T10:00:06.123456789Z"}`
	criLine    = `2024-05-01T10:00:06.123456789Z stdout F listening on :8080`
	// logFile is a kubelet log file name: pod web-1, namespace shop,
	// container app.
	logFile = "/var/log/containers/web-1_shop_app-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log"
	// aksResourceID names the AKS cluster "aks-prod".
	aksResourceID = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-PROD"
)

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cloudWatch returns a CloudWatch Logs subscription payload of messages.
func cloudWatch(t testing.TB, group string, messages ...string) []byte {
	t.Helper()
	evs := make([]map[string]any, len(messages))
	for i, m := range messages {
		evs[i] = map[string]any{"id": fmt.Sprint(3850000000 + i), "timestamp": 1714557600000 + i, "message": m}
	}
	return mustJSON(t, map[string]any{
		"messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": group,
		"logStream": "kube-apiserver-audit-0a1b2c", "subscriptionFilters": []string{"vigia"}, "logEvents": evs,
	})
}

// pubSubPush returns a Pub/Sub push request carrying data.
func pubSubPush(t testing.TB, data []byte) []byte {
	t.Helper()
	return mustJSON(t, map[string]any{
		"message": map[string]any{
			"data": base64.StdEncoding.EncodeToString(data), "messageId": "9001",
			"publishTime": "2024-05-01T10:00:09Z", "attributes": map[string]string{"logging.googleapis.com/timestamp": "2024-05-01T10:00:04Z"},
		},
		"subscription": "projects/p1/subscriptions/vigia",
	})
}

// pubSubPulled returns a pulled Pub/Sub message carrying data.
func pubSubPulled(t testing.TB, data []byte) []byte {
	t.Helper()
	return mustJSON(t, map[string]any{
		"data": base64.StdEncoding.EncodeToString(data), "messageId": "9002",
		"attributes": map[string]string{"logging.googleapis.com/timestamp": "2024-05-01T10:00:04Z"},
	})
}

// aksRecord returns an AKS diagnostic record of category with log as
// properties.log (a string or an object).
func aksRecord(category string, log any) map[string]any {
	return map[string]any{
		"operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
		"category":      category, "resourceId": aksResourceID, "time": "2024-05-01T10:00:07Z",
		"properties": map[string]any{"log": log, "stream": "stdout", "pod": "kube-apiserver-5d4f"},
	}
}

func eventHubs(t testing.TB, records ...any) []byte {
	t.Helper()
	return mustJSON(t, map[string]any{"records": records})
}

func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// want describes one expected event.
type want struct {
	source, id, cluster string
}

func got(evs []*event.Event) []want {
	out := make([]want, len(evs))
	for i, ev := range evs {
		out[i] = want{ev.Source, ev.ID, ev.K8s.Cluster}
	}
	return out
}

func TestEnvelopes(t *testing.T) {
	eks := cloudWatch(t, "/aws/eks/prod-eu/cluster", k8sEvent, k8sEvent2)
	tests := []struct {
		name string
		msg  []byte
		opts normalize.Options
		want []want
	}{
		{"k8s audit event", []byte(k8sEvent), normalize.Options{}, []want{{event.SourceK8sAudit, "k8s-1", ""}}},
		{"k8s audit event with a configured cluster", []byte(k8sEvent), normalize.Options{Cluster: "dev"}, []want{{event.SourceK8sAudit, "k8s-1", "dev"}}},
		{"k8s EventList", mustJSON(t, map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": []any{raw(k8sEvent), raw(k8sEvent2)}}),
			normalize.Options{}, []want{{event.SourceK8sAudit, "k8s-1", ""}, {event.SourceK8sAudit, "k8s-2", ""}}},
		{"CloudTrail record", []byte(cloudTrailRecord), normalize.Options{}, []want{{event.SourceCloudTrail, "ct-1", ""}}},
		{"CloudTrail log file", mustJSON(t, map[string]any{"Records": []any{raw(cloudTrailRecord), raw(cloudTrailRecord2)}}),
			normalize.Options{}, []want{{event.SourceCloudTrail, "ct-1", ""}, {event.SourceCloudTrail, "ct-2", ""}}},
		{"GCP audit LogEntry", []byte(gcpEntry), normalize.Options{}, []want{{event.SourceGCPAudit, "projects/p1/gcp-1", ""}}},
		{"Azure Administrative record", []byte(azureAdministrative), normalize.Options{}, []want{{event.SourceAzureActivity, "az-1", ""}}},
		{"JSON array of three sources", []byte("[" + k8sEvent + "," + cloudTrailRecord + "," + gcpEntry + "]"), normalize.Options{},
			[]want{{event.SourceK8sAudit, "k8s-1", ""}, {event.SourceCloudTrail, "ct-1", ""}, {event.SourceGCPAudit, "projects/p1/gcp-1", ""}}},
		{"JSON lines of three sources", lines(k8sEvent, "", cloudTrailRecord, azureAdministrative), normalize.Options{},
			[]want{{event.SourceK8sAudit, "k8s-1", ""}, {event.SourceCloudTrail, "ct-1", ""}, {event.SourceAzureActivity, "az-1", ""}}},
		{"JSON lines with CRLF", []byte(k8sEvent + "\r\n" + cloudTrailRecord + "\r\n"), normalize.Options{},
			[]want{{event.SourceK8sAudit, "k8s-1", ""}, {event.SourceCloudTrail, "ct-1", ""}}},
		{"byte-order mark", []byte("\ufeff" + k8sEvent), normalize.Options{}, []want{{event.SourceK8sAudit, "k8s-1", ""}}},
		{"gzip'd JSON lines", gz(t, lines(k8sEvent, gcpEntry)), normalize.Options{},
			[]want{{event.SourceK8sAudit, "k8s-1", ""}, {event.SourceGCPAudit, "projects/p1/gcp-1", ""}}},
		{"EKS CloudWatch payload names the cluster", eks, normalize.Options{Cluster: "dev"},
			[]want{{event.SourceK8sAudit, "k8s-1", "prod-eu"}, {event.SourceK8sAudit, "k8s-2", "prod-eu"}}},
		{"gzip'd EKS CloudWatch payload", gz(t, eks), normalize.Options{},
			[]want{{event.SourceK8sAudit, "k8s-1", "prod-eu"}, {event.SourceK8sAudit, "k8s-2", "prod-eu"}}},
		{"CloudWatch payload of another log group", cloudWatch(t, "aws-cloudtrail-logs-111122223333", cloudTrailRecord, cloudTrailRecord2), normalize.Options{Cluster: "dev"},
			[]want{{event.SourceCloudTrail, "ct-1", ""}, {event.SourceCloudTrail, "ct-2", ""}}},
		{"CloudWatch log group not an EKS cluster group", cloudWatch(t, "/aws/eks/prod-eu/other", k8sEvent), normalize.Options{Cluster: "dev"},
			[]want{{event.SourceK8sAudit, "k8s-1", "dev"}}},
		{"CloudWatch CONTROL_MESSAGE", mustJSON(t, map[string]any{"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
			"subscriptionFilters": []string{}, "logEvents": []any{map[string]any{"id": "", "timestamp": 1714557600000, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}}}),
			normalize.Options{}, nil},
		{"Pub/Sub push of a GCP LogEntry", pubSubPush(t, []byte(gcpEntry)), normalize.Options{}, []want{{event.SourceGCPAudit, "projects/p1/gcp-1", ""}}},
		{"pulled Pub/Sub message of a GCP LogEntry", pubSubPulled(t, []byte(gcpEntry)), normalize.Options{}, []want{{event.SourceGCPAudit, "projects/p1/gcp-1", ""}}},
		{"Pub/Sub push of gzip'd JSON lines", pubSubPush(t, gz(t, lines(gcpEntry, k8sEvent))), normalize.Options{},
			[]want{{event.SourceGCPAudit, "projects/p1/gcp-1", ""}, {event.SourceK8sAudit, "k8s-1", ""}}},
		{"Event Hubs: kube-audit (string), kube-audit-admin (object), Administrative",
			eventHubs(t, aksRecord("kube-audit", k8sEvent), aksRecord("kube-audit-admin", raw(k8sEvent2)), raw(azureAdministrative)),
			normalize.Options{Cluster: "dev"},
			[]want{{event.SourceK8sAudit, "k8s-1", "aks-prod"}, {event.SourceK8sAudit, "k8s-2", "aks-prod"}, {event.SourceAzureActivity, "az-1", ""}}},
		{"Event Hubs category in upper case", eventHubs(t, aksRecord("KUBE-AUDIT", k8sEvent)), normalize.Options{},
			[]want{{event.SourceK8sAudit, "k8s-1", "aks-prod"}}},
		{"one AKS record outside its batch", mustJSON(t, aksRecord("kube-audit", k8sEvent)), normalize.Options{},
			[]want{{event.SourceK8sAudit, "k8s-1", "aks-prod"}}},
		{"gzip'd Event Hubs batch in a Pub/Sub push", pubSubPush(t, gz(t, eventHubs(t, raw(azureAdministrative), aksRecord("kube-audit", k8sEvent)))), normalize.Options{},
			[]want{{event.SourceAzureActivity, "az-1", ""}, {event.SourceK8sAudit, "k8s-1", "aks-prod"}}},
		{"gzip'd EKS CloudWatch payload in a pulled Pub/Sub message", pubSubPulled(t, gz(t, eks)), normalize.Options{},
			[]want{{event.SourceK8sAudit, "k8s-1", "prod-eu"}, {event.SourceK8sAudit, "k8s-2", "prod-eu"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(Auto, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			evs, errs := n.Normalize(tc.msg, normalize.Meta{})
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if g := got(evs); !slices.Equal(g, tc.want) {
				t.Fatalf("events\n got %v\nwant %v", g, tc.want)
			}
			for _, ev := range evs {
				if ev.Time.IsZero() || ev.Action == "" || ev.Actor.Name == "" {
					t.Errorf("%s %s: time %v, action %q, actor %q", ev.Source, ev.ID, ev.Time, ev.Action, ev.Actor.Name)
				}
			}
		})
	}
}

// TestContainerLogs: a docker json-file line and the same line in CRI
// text, alone, in JSON lines and in a CloudWatch payload (Fluent Bit on
// EKS), all decode to the same event.
func TestContainerLogs(t *testing.T) {
	t.Cleanup(func() { Flush() })
	tests := []struct {
		name string
		msg  []byte
		n    int
	}{
		{"docker json-file line", []byte(dockerLine), 1},
		{"CRI line", []byte(criLine), 1},
		{"CRI line with its newline", []byte(criLine + "\n"), 1},
		{"CRI lines", lines(criLine, criLine), 2},
		{"docker lines", lines(dockerLine, dockerLine), 2},
		{"gzip'd CRI line", gz(t, []byte(criLine)), 1},
		{"CloudWatch payload of docker lines", cloudWatch(t, "/aws/containerinsights/prod-eu/application", dockerLine), 1},
		{"Pub/Sub push of a CRI line", pubSubPush(t, []byte(criLine)), 1},
	}
	var id string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(Auto, normalize.Options{Cluster: "dev"})
			if err != nil {
				t.Fatal(err)
			}
			evs, errs := n.Normalize(tc.msg, normalize.Meta{File: logFile})
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if len(evs) != tc.n {
				t.Fatalf("%d events, want %d", len(evs), tc.n)
			}
			for _, ev := range evs {
				if ev.Source != event.SourceContainerLog || ev.Message != "listening on :8080" || ev.K8s.Pod != "web-1" ||
					ev.K8s.Namespace != "shop" || ev.K8s.Container != "app" || ev.K8s.Cluster != "dev" || ev.Log.Stream != "stdout" {
					t.Errorf("event %+v", ev)
				}
				if len(ev.ID) != 32 {
					t.Errorf("id %q", ev.ID)
				}
				if id == "" {
					id = ev.ID
				} else if ev.ID != id {
					t.Errorf("id %s, want %s (the same line)", ev.ID, id)
				}
			}
		})
	}
	if evs := Flush(); len(evs) > 0 {
		t.Errorf("%d events left pending", len(evs))
	}
}

// itemIndex returns the index of err's outermost ItemError, or -1.
func itemIndex(err error) int {
	var ie *normalize.ItemError
	if errors.As(err, &ie) {
		return ie.Index
	}
	return -1
}

// TestBatchErrors: one bad item of a batch is reported with its index
// and the good items still yield their events.
func TestBatchErrors(t *testing.T) {
	const (
		unknown    = `{"foo":1,"bar":"x"}`
		noAuditID  = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get","objectRef":{"resource":"pods"},"requestReceivedTimestamp":"2024-05-01T10:00:00Z"}`
		ctNoTime   = `{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventID":"ct-bad","userIdentity":{"type":"Root"}}`
		notAnEvent = `"just a string"`
	)
	tests := []struct {
		name     string
		msg      []byte
		ids      []string
		index    int
		sentinel error
		contains string
	}{
		{"array: unknown object in the middle", []byte("[" + k8sEvent + "," + unknown + "," + cloudTrailRecord + "]"), []string{"k8s-1", "ct-1"}, 1, normalize.ErrUnknownFormat, "foo"},
		{"array: invalid first item", []byte("[" + noAuditID + "," + k8sEvent + "]"), []string{"k8s-1"}, 0, normalize.ErrInvalidEvent, "auditID"},
		{"array: invalid last item", []byte("[" + k8sEvent + "," + cloudTrailRecord + "," + ctNoTime + "]"), []string{"k8s-1", "ct-1"}, 2, normalize.ErrInvalidEvent, "eventTime"},
		{"array: a string item", []byte("[" + k8sEvent + "," + notAnEvent + "]"), []string{"k8s-1"}, 1, normalize.ErrUnknownFormat, "a string"},
		{"JSON lines: bad first line", lines(unknown, k8sEvent), []string{"k8s-1"}, 0, normalize.ErrUnknownFormat, "bar"},
		{"JSON lines: broken line", lines(k8sEvent, "", `{"auditID": tru`, cloudTrailRecord), []string{"k8s-1", "ct-1"}, 1, normalize.ErrNotJSON, ""},
		{"JSON lines: after a line holding an array", lines("["+k8sEvent+","+k8sEvent2+"]", cloudTrailRecord, unknown), []string{"k8s-1", "k8s-2", "ct-1"}, 2, normalize.ErrUnknownFormat, "foo"},
		{"CloudWatch: event without a message", mustJSON(t, map[string]any{"messageType": "DATA_MESSAGE", "logGroup": "/aws/eks/c/cluster",
			"logEvents": []any{map[string]any{"id": "1", "message": k8sEvent}, map[string]any{"id": "2"}}}), []string{"k8s-1"}, 1, normalize.ErrInvalidEvent, "message"},
		{"CloudWatch: invalid audit event", cloudWatch(t, "/aws/eks/c/cluster", noAuditID, k8sEvent2), []string{"k8s-2"}, 0, normalize.ErrInvalidEvent, "auditID"},
		{"Event Hubs: kube-audit record without its log", eventHubs(t, raw(azureAdministrative), map[string]any{"category": "kube-audit", "resourceId": aksResourceID, "properties": map[string]any{}},
			aksRecord("kube-audit", k8sEvent)), []string{"az-1", "k8s-1"}, 1, normalize.ErrInvalidEvent, "properties.log"},
		{"Event Hubs: kube-audit log not JSON", eventHubs(t, aksRecord("kube-audit", "I0501 10:00:00 something"), aksRecord("kube-audit", k8sEvent)),
			[]string{"k8s-1"}, 0, normalize.ErrNotJSON, ""},
		{"Event Hubs: a number record", eventHubs(t, 42, raw(azureAdministrative)), []string{"az-1"}, 0, normalize.ErrUnknownFormat, "a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(Auto, normalize.Options{})
			if err != nil {
				t.Fatal(err)
			}
			evs, errs := n.Normalize(tc.msg, normalize.Meta{})
			var ids []string
			for _, ev := range evs {
				ids = append(ids, ev.ID)
			}
			if !slices.Equal(ids, tc.ids) {
				t.Errorf("ids %v, want %v", ids, tc.ids)
			}
			if len(errs) != 1 {
				t.Fatalf("%d errors, want 1: %v", len(errs), errs)
			}
			err = errs[0]
			if i := itemIndex(err); i != tc.index {
				t.Errorf("item index %d, want %d: %v", i, tc.index, err)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("%v is not %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("%q does not name %q", err, tc.contains)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error of %d bytes: %.400s", len(err.Error()), err)
			}
		})
	}
}

// TestNestedBatchIndex: an error inside a batch inside a batch names both
// indices, the outermost first.
func TestNestedBatchIndex(t *testing.T) {
	n, _ := New(Auto, normalize.Options{})
	msg := lines(k8sEvent, string(eventHubs(t, raw(azureAdministrative), raw(`{"category":"Administrative"}`))))
	evs, errs := n.Normalize(msg, normalize.Meta{})
	if len(evs) != 2 || len(errs) != 1 {
		t.Fatalf("%d events, errors %v", len(evs), errs)
	}
	outer := itemIndex(errs[0])
	var ie *normalize.ItemError
	errors.As(errs[0], &ie)
	inner := itemIndex(ie.Err)
	if outer != 1 || inner != 1 {
		t.Errorf("indices %d, %d, want 1, 1: %v", outer, inner, errs[0])
	}
}

func TestForcedFormat(t *testing.T) {
	tests := []struct {
		format   string
		msg      []byte
		ids      []string
		sentinel error // of the one error, nil for none
		contains string
	}{
		{event.SourceCloudTrail, []byte(cloudTrailRecord), []string{"ct-1"}, nil, ""},
		{event.SourceCloudTrail, []byte(k8sEvent), nil, normalize.ErrUnknownFormat, "k8s_audit"},
		{event.SourceCloudTrail, []byte(criLine), nil, normalize.ErrNotJSON, "text line"},
		{event.SourceCloudTrail, cloudWatch(t, "aws-cloudtrail-logs", cloudTrailRecord), []string{"ct-1"}, nil, ""},
		{event.SourceCloudTrail, []byte("[" + cloudTrailRecord + "," + gcpEntry + "]"), []string{"ct-1"}, normalize.ErrUnknownFormat, "gcp_audit"},
		{event.SourceK8sAudit, eventHubs(t, aksRecord("kube-audit", k8sEvent)), []string{"k8s-1"}, nil, ""},
		{event.SourceK8sAudit, eventHubs(t, raw(azureAdministrative)), nil, normalize.ErrUnknownFormat, "azure_activity"},
		{event.SourceAzureActivity, eventHubs(t, aksRecord("kube-audit", k8sEvent), raw(azureAdministrative)), []string{"az-1"}, normalize.ErrUnknownFormat, "k8s_audit"},
		{event.SourceGCPAudit, pubSubPush(t, []byte(gcpEntry)), []string{"projects/p1/gcp-1"}, nil, ""},
		{event.SourceGCPAudit, []byte(dockerLine), nil, normalize.ErrUnknownFormat, "container_log"},
		{event.SourceContainerLog, []byte(criLine), []string{"*"}, nil, ""},
		{event.SourceContainerLog, []byte(k8sEvent), nil, normalize.ErrUnknownFormat, "k8s_audit"},
	}
	t.Cleanup(func() { Flush() })
	for _, tc := range tests {
		t.Run(tc.format+" "+string(tc.msg[:min(len(tc.msg), 40)]), func(t *testing.T) {
			n, err := New(tc.format, normalize.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if n.Source() != tc.format {
				t.Errorf("Source %q", n.Source())
			}
			evs, errs := n.Normalize(tc.msg, normalize.Meta{File: logFile})
			var ids []string
			for _, ev := range evs {
				if ev.Source != tc.format {
					t.Errorf("a %s event from a %s normalizer", ev.Source, tc.format)
				}
				if tc.format == event.SourceContainerLog {
					ids = append(ids, "*")
				} else {
					ids = append(ids, ev.ID)
				}
			}
			if !slices.Equal(ids, tc.ids) {
				t.Errorf("ids %v, want %v", ids, tc.ids)
			}
			if tc.sentinel == nil {
				if len(errs) > 0 {
					t.Errorf("errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !errors.Is(errs[0], tc.sentinel) || !strings.Contains(errs[0].Error(), tc.contains) {
				t.Errorf("errors %v, want one %v naming %q", errs, tc.sentinel, tc.contains)
			}
		})
	}
}

// TestGzipBomb: a message inflating past maxInflated is refused; the same
// record with less padding is decoded.
func TestGzipBomb(t *testing.T) {
	// bomb returns a gzip stream of the event padded with spaces to size
	// bytes: gzip members, concatenated, inflate to their concatenation,
	// so one member of 1 MiB of spaces is compressed once and repeated.
	bomb := func(size int) []byte {
		const mib = 1 << 20
		spaces := gz(t, bytes.Repeat([]byte{' '}, mib))
		msg := gz(t, []byte(k8sEvent))
		left := size - len(k8sEvent)
		for ; left >= mib; left -= mib {
			msg = append(msg, spaces...)
		}
		return append(msg, gz(t, bytes.Repeat([]byte{' '}, left))...)
	}
	n, _ := New(Auto, normalize.Options{})

	msg := bomb(maxInflated + 1)
	if len(msg) > maxInflated/100 {
		t.Fatalf("the bomb is %d bytes compressed", len(msg))
	}
	evs, errs := n.Normalize(msg, normalize.Meta{})
	if len(evs) != 0 || len(errs) != 1 || !errors.Is(errs[0], normalize.ErrNotJSON) || !strings.Contains(errs[0].Error(), "inflates to more than") {
		t.Fatalf("%d events, errors %v", len(evs), errs)
	}

	evs, errs = n.Normalize(bomb(4<<20), normalize.Meta{})
	if len(evs) != 1 || len(errs) != 0 {
		t.Fatalf("4 MiB: %d events, errors %v", len(evs), errs)
	}

	// A truncated stream.
	whole := gz(t, []byte(k8sEvent))
	evs, errs = n.Normalize(whole[:len(whole)/2], normalize.Meta{})
	if len(evs) != 0 || len(errs) != 1 || !errors.Is(errs[0], normalize.ErrNotJSON) || !strings.Contains(errs[0].Error(), "gzip") {
		t.Fatalf("truncated: %d events, errors %v", len(evs), errs)
	}
}

// TestDepth: envelopes nest up to maxDepth levels; one more is refused.
func TestDepth(t *testing.T) {
	n, _ := New(Auto, normalize.Options{})
	wrap := func(levels int, fn func([]byte) []byte) []byte {
		msg := []byte(k8sEvent)
		for range levels {
			msg = fn(msg)
		}
		return msg
	}
	envelopes := map[string]func([]byte) []byte{
		"Pub/Sub": func(b []byte) []byte { return pubSubPulled(t, b) },
		"gzip":    func(b []byte) []byte { return gz(t, b) },
		"CloudWatch": func(b []byte) []byte {
			return cloudWatch(t, "g", string(b))
		},
		"Event Hubs": func(b []byte) []byte {
			return eventHubs(t, map[string]any{"category": "kube-audit", "resourceId": aksResourceID, "properties": map[string]any{"log": raw(string(b))}})
		},
		"Event Hubs of Event Hubs": func(b []byte) []byte {
			return eventHubs(t, raw(string(b)))
		},
	}
	for name, fn := range envelopes {
		t.Run(name, func(t *testing.T) {
			evs, errs := n.Normalize(wrap(maxDepth, fn), normalize.Meta{})
			if len(evs) == 0 || len(errs) != 0 {
				t.Errorf("%d levels: %d events, errors %v", maxDepth, len(evs), errs)
			}
			evs, errs = n.Normalize(wrap(maxDepth+1, fn), normalize.Meta{})
			if len(errs) != 1 || !errors.Is(errs[0], normalize.ErrUnknownFormat) || !strings.Contains(errs[0].Error(), "nested deeper") {
				t.Errorf("%d levels: %d events, errors %v", maxDepth+1, len(evs), errs)
			}
			for _, ev := range evs {
				if ev.Source == event.SourceK8sAudit {
					t.Errorf("%d levels: the innermost event was decoded", maxDepth+1)
				}
			}
		})
	}
}

func TestBadMessages(t *testing.T) {
	// A malformed document nested deep, with a credential: fastjson's own
	// error repeats the input once per level.
	deep := strings.Repeat(`{"a":[`, 100) + `{"x":tru,"password":"hunter2hunter2"` + strings.Repeat(`]}`, 100)
	tests := []struct {
		name     string
		msg      []byte
		sentinel error
		contains []string
		absent   []string
	}{
		{"empty", []byte{}, normalize.ErrNotJSON, []string{"empty message"}, nil},
		{"blank", []byte(" \r\n\t\n"), normalize.ErrNotJSON, []string{"empty message"}, nil},
		{"gzip'd nothing", gz(t, nil), normalize.ErrNotJSON, []string{"empty message"}, nil},
		{"Pub/Sub of nothing", pubSubPush(t, nil), normalize.ErrNotJSON, []string{"empty message"}, nil},
		{"text", []byte("hello world"), normalize.ErrNotJSON, []string{"neither JSON nor a container log line", "hello world"}, nil},
		{"long text", []byte(strings.Repeat("x", 100_000)), normalize.ErrNotJSON, []string{"neither JSON"}, nil},
		{"text with a credential", []byte("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789"), normalize.ErrNotJSON,
			[]string{"neither JSON"}, []string{"abcdefghijklmnop"}},
		{"broken JSON", []byte(`{"auditID": "x", `), normalize.ErrNotJSON, []string{"not JSON"}, nil},
		{"broken JSON with a credential", []byte(`{"kind":"Event","x": tru, "password":"hunter2hunter2"}`), normalize.ErrNotJSON,
			[]string{"not JSON"}, []string{"hunter2"}},
		{"deep broken JSON", []byte(deep), normalize.ErrNotJSON, []string{"not JSON"}, []string{"hunter2"}},
		{"JSON nested deeper than fastjson parses", []byte(strings.Repeat("[", 400) + `{"password":"hunter2hunter2"}` + strings.Repeat("]", 400)),
			normalize.ErrNotJSON, []string{"depth"}, []string{"hunter2"}},
		{"pretty-printed broken JSON", []byte("{\n  \"kind\": \"Event\",\n  \"auditID\": \"x\",\n  \"verb\": tru\n}\n"), normalize.ErrNotJSON, []string{"not JSON"}, nil},
		{"unknown object", []byte(`{"foo":1,"bar":{"baz":2}}`), normalize.ErrUnknownFormat, []string{"no known log format", "foo", "bar"}, []string{"baz"}},
		{"unknown object, many keys", []byte(`{"k1":1,"k2":1,"k3":1,"k4":1,"k5":1,"k6":1,"k7":1,"k8":1,"k9":1,"k10":1}`), normalize.ErrUnknownFormat,
			[]string{"k1, k2", "k8, …"}, []string{"k9"}},
		{"unknown object, long key", []byte(`{"` + strings.Repeat("k", 10_000) + `":1}`), normalize.ErrUnknownFormat, []string{"no known log format"}, nil},
		{"a number", []byte(`[1]`), normalize.ErrUnknownFormat, []string{"a number is not a log record"}, nil},
		{"null", []byte(`[null]`), normalize.ErrUnknownFormat, []string{"null is not a log record"}, nil},
		{"kube-audit with a long category and no log", []byte(`{"records":[{"category":"kube-audit` + strings.Repeat("x", 10_000) + `","properties":{}}]}`),
			normalize.ErrInvalidEvent, []string{"properties.log"}, nil},
	}
	n, _ := New(Auto, normalize.Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, errs := n.Normalize(tc.msg, normalize.Meta{})
			if len(evs) != 0 || len(errs) != 1 {
				t.Fatalf("%d events, %d errors: %.2000v", len(evs), len(errs), errs)
			}
			err := errs[0]
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("%v is not %v", err, tc.sentinel)
			}
			msg := err.Error()
			t.Log(msg)
			for _, s := range tc.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("%q does not contain %q", msg, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(msg, s) {
					t.Errorf("%q contains %q", msg, s)
				}
			}
			if len(msg) > 400 {
				t.Errorf("error of %d bytes: %.600s", len(msg), msg)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	fs := Formats()
	if fs[0] != Auto {
		t.Errorf("Formats()[0] = %q", fs[0])
	}
	want := append([]string{Auto}, event.Sources...)
	if !slices.Equal(slices.Sorted(slices.Values(fs)), slices.Sorted(slices.Values(want))) {
		t.Errorf("Formats() = %v, want %v", fs, want)
	}
	for _, f := range fs {
		n, err := New(f, normalize.Options{})
		if err != nil || n.Source() != f {
			t.Errorf("New(%q): %v", f, err)
		}
	}
	if n, err := New("", normalize.Options{}); err != nil || n.Source() != Auto {
		t.Errorf(`New(""): %v`, err)
	}
	_, err := New("nope", normalize.Options{})
	if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), event.SourceCloudTrail) {
		t.Errorf(`New("nope"): %v`, err)
	}
}

func TestAKSCluster(t *testing.T) {
	for id, want := range map[string]string{
		aksResourceID: "aks-prod",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/Dev-1/extra": "dev-1",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app":                                "",
		"": "",
		// Lower-casing these changes their byte length.
		"\x80/MANAGEDCLUSTERS/":     "",
		"\x80\x80/MANAGEDCLUSTERS/": "",
		"İİİ/managedClusters/x":     "x",
	} {
		if got := aksCluster(id); got != want {
			t.Errorf("aksCluster(%q) = %q, want %q", id, got, want)
		}
	}
}
