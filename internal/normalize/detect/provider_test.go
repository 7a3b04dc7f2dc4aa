package detect_test

import (
	"bytes"
	"compress/gzip"
	"reflect"
	"testing"

	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
)

const auditEvent = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a1","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/namespaces/default/pods","user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"default"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-01-01T00:00:00Z"}`

// Managed clusters' envelopes name the cluster, the provider and the
// account; events carry them.
func TestManagedClusterProvider(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(`{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"/aws/eks/prod-eu/cluster","logStream":"kube-apiserver-audit-1","logEvents":[{"id":"1","timestamp":1767225600000,"message":` + quote(auditEvent) + `}]}`))
	w.Close()
	aks := `{"records":[{"time":"2026-01-01T00:00:00Z","resourceId":"/SUBSCRIPTIONS/0B1F6471-1BF0-4DDA-AEC3-CB9272F09590/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-PROD","category":"kube-audit","operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read","properties":{"log":` + quote(auditEvent) + `}}]}`
	n, err := detect.New(detect.Auto, normalize.Options{Cluster: "configured"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, msg                  string
		cluster, provider, account string
	}{
		{"eks", gz.String(), "prod-eu", "aws", "111122223333"},
		{"aks", aks, "aks-prod", "azure", "0b1f6471-1bf0-4dda-aec3-cb9272f09590"},
		{"plain", auditEvent, "configured", "", ""},
	} {
		evs, errs := n.Normalize([]byte(tc.msg), normalize.Meta{})
		if len(errs) > 0 || len(evs) != 1 {
			t.Fatalf("%s: %d events, errors %v", tc.name, len(evs), errs)
		}
		ev := evs[0]
		if ev.K8s.Cluster != tc.cluster || ev.Cloud.Provider != tc.provider || ev.Cloud.Account != tc.account {
			t.Errorf("%s: cluster %q provider %q account %q", tc.name, ev.K8s.Cluster, ev.Cloud.Provider, ev.Cloud.Account)
		}
	}
}

func quote(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// Raw is built only for the sources whose rules read it.
func TestRawSources(t *testing.T) {
	n, err := detect.New(detect.Auto, normalize.Options{Raw: true, RawSources: map[string]bool{"k8s_audit": true}})
	if err != nil {
		t.Fatal(err)
	}
	evs, errs := n.Normalize([]byte(auditEvent), normalize.Meta{})
	if len(errs) > 0 || len(evs) != 1 || evs[0].RawMap() == nil {
		t.Fatalf("k8s_audit: raw missing (%d events, %v)", len(evs), errs)
	}
	evs, errs = n.Normalize([]byte("2026-01-01T00:00:00Z stdout F hello"), normalize.Meta{File: "/var/log/containers/web-1_shop_web-0123.log"})
	if len(errs) > 0 || len(evs) != 1 || evs[0].RawMap() != nil {
		t.Fatalf("container_log: raw built though no rule reads it (%d events, %v)", len(evs), errs)
	}
	all, _ := detect.New(detect.Auto, normalize.Options{Raw: true})
	evs, _ = all.Normalize([]byte("2026-01-01T00:00:01Z stdout F hello"), normalize.Meta{File: "/var/log/containers/web-1_shop_web-0123.log"})
	if len(evs) != 1 || evs[0].RawMap() == nil {
		t.Fatal("without RawSources, Raw applies to every source")
	}
}

// Raw is the same whether the normalizer copied the message's text (an
// event alone in its message) or serialized the value (an item of a
// batch, the detail of an EventBridge envelope).
func TestRawFromTextOrValue(t *testing.T) {
	k8s := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/n/configmaps","verb":"create","user":{"username":"eve","groups":["g"]},"objectRef":{"resource":"configmaps","namespace":"n","name":"c"},"responseStatus":{"code":201},"requestObject":{"kind":"ConfigMap","metadata":{"name":"c","annotations":{"x":"say \"hi\"\n\u00e9"}},"data":{"k":"v"}},"requestReceivedTimestamp":"2026-11-20T15:00:00.000000Z"}`
	ct := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/eve","accountId":"111122223333","userName":"eve"},"eventTime":"2026-11-20T15:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketLogging","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","requestParameters":{"bucketName":"b","note":"tab\there"},"eventID":"e1","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	for _, c := range []struct{ name, alone, batch string }{
		{"k8s", k8s, `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + k8s + `]}`},
		{"cloudtrail", ct, `{"Records":[` + ct + `]}`},
		{"cloudtrail eventbridge", ct, `{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","account":"111122223333","time":"2026-11-20T15:00:00Z","region":"us-east-1","resources":[],"detail":` + ct + `}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := detect.New(detect.Auto, normalize.Options{Raw: true})
			if err != nil {
				t.Fatal(err)
			}
			a, errs := n.Normalize([]byte(c.alone), normalize.Meta{})
			b, errs2 := n.Normalize([]byte(c.batch), normalize.Meta{})
			if len(errs)+len(errs2) > 0 || len(a) != 1 || len(b) != 1 {
				t.Fatalf("alone %d events %v, batch %d events %v", len(a), errs, len(b), errs2)
			}
			ra, rb := a[0].RawMap(), b[0].RawMap()
			if len(ra) == 0 || !reflect.DeepEqual(ra, rb) {
				t.Errorf("raw differs:\nalone %v\nbatch %v", ra, rb)
			}
		})
	}
}
