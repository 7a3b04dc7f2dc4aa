package resolve

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/cloudtrail"
	"github.com/vigia-dev/vigia/internal/normalize/containerlog"
	"github.com/vigia-dev/vigia/internal/normalize/k8saudit"
)

// Raw records as the sources write them, decoded by the real normalizers
// without Raw (the pipeline's default): resolution must work from the
// normalized fields alone.
const (
	auditPodCreate = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete",
 "requestURI":"/api/v1/namespaces/shop/pods","verb":"create",
 "user":{"username":"system:serviceaccount:kube-system:replicaset-controller","groups":["system:serviceaccounts"]},
 "objectRef":{"resource":"pods","namespace":"shop","name":"web-1","apiVersion":"v1"},"responseStatus":{"code":201},
 "requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"shop",
   "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5f7c9d8b6","controller":true}]},
   "spec":{"serviceAccountName":"web","containers":[{"name":"app","image":"nginx:1.27"}]}},
 "requestReceivedTimestamp":"2026-03-01T12:00:00.000000Z","stageTimestamp":"2026-03-01T12:00:00.010000Z"}`
	auditBinding = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a2","stage":"ResponseComplete",
 "requestURI":"/api/v1/namespaces/shop/pods/web-1/binding","verb":"create",
 "user":{"username":"system:kube-scheduler"},
 "objectRef":{"resource":"pods","namespace":"shop","name":"web-1","subresource":"binding","apiVersion":"v1"},"responseStatus":{"code":201},
 "requestObject":{"kind":"Binding","apiVersion":"v1","metadata":{"name":"web-1","namespace":"shop"},"target":{"kind":"Node","name":"node-a"}},
 "requestReceivedTimestamp":"2026-03-01T12:00:01.000000Z","stageTimestamp":"2026-03-01T12:00:01.010000Z"}`
	auditSACreate = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a3","stage":"ResponseComplete",
 "requestURI":"/api/v1/namespaces/shop/serviceaccounts","verb":"create",
 "user":{"username":"admin@example.com","groups":["system:authenticated"]},
 "objectRef":{"resource":"serviceaccounts","namespace":"shop","name":"web","apiVersion":"v1"},"responseStatus":{"code":201},
 "requestObject":{"kind":"ServiceAccount","apiVersion":"v1","metadata":{"name":"web","namespace":"shop",
   "annotations":{"eks.amazonaws.com/role-arn":"arn:aws:iam::111122223333:role/team/web-role"}}},
 "requestReceivedTimestamp":"2026-03-01T12:00:02.000000Z","stageTimestamp":"2026-03-01T12:00:02.010000Z"}`
	trailWebIdentity = `{"eventVersion":"1.08","eventTime":"2026-03-01T12:01:00Z","eventSource":"sts.amazonaws.com",
 "eventName":"AssumeRoleWithWebIdentity","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-sdk-go-v2",
 "userIdentity":{"type":"WebIdentityUser","principalId":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE:sts.amazonaws.com:system:serviceaccount:pay:api",
   "userName":"system:serviceaccount:pay:api","identityProvider":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"},
 "requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/api-role","roleSessionName":"1700000000000000000"},
 "responseElements":{"credentials":{"accessKeyId":"ASIAAPIEXAMPLE","expiration":"Mar 1, 2026, 1:01:00 PM"},
   "subjectFromWebIdentityToken":"system:serviceaccount:pay:api",
   "assumedRoleUser":{"assumedRoleId":"AROAEXAMPLE:1700000000000000000","arn":"arn:aws:sts::111122223333:assumed-role/api-role/1700000000000000000"},
   "provider":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE","audience":"sts.amazonaws.com"},
 "requestID":"r1","eventID":"e1","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	trailCall = `{"eventVersion":"1.08","eventTime":"2026-03-01T12:02:00Z","eventSource":"s3.amazonaws.com",
 "eventName":"ListBuckets","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-sdk-go-v2",
 "userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:1700000000000000000",
   "arn":"arn:aws:sts::111122223333:assumed-role/api-role/1700000000000000000","accountId":"111122223333","accessKeyId":"ASIAAPIEXAMPLE",
   "sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/api-role","accountId":"111122223333","userName":"api-role"},
     "webIdFederationData":{"federatedProvider":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"},
     "attributes":{"creationDate":"2026-03-01T12:01:00Z","mfaAuthenticated":"false"}}},
 "requestParameters":null,"responseElements":null,"requestID":"r2","eventID":"e2","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	trailIRSACall = `{"eventVersion":"1.08","eventTime":"2026-03-01T12:03:00Z","eventSource":"s3.amazonaws.com",
 "eventName":"GetObject","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.8",
 "userIdentity":{"type":"AssumedRole","principalId":"AROAWEB:botocore-session-1",
   "arn":"arn:aws:sts::111122223333:assumed-role/web-role/botocore-session-1","accountId":"111122223333","accessKeyId":"ASIAWEBEXAMPLE",
   "sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAWEB","arn":"arn:aws:iam::111122223333:role/team/web-role","accountId":"111122223333","userName":"web-role"}}},
 "requestID":"r3","eventID":"e3","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	fluentBitLine = `{"time":"2026-03-01T12:04:00.000000000Z","stream":"stdout","log":"GET /healthz 200\n",
 "kubernetes":{"pod_name":"web-1","namespace_name":"shop","container_name":"app","container_image":"nginx:1.27","host":"node-a","docker_id":"abc123"}}`
)

func decodeWith(t *testing.T, dec func(*fastjson.Value, normalize.Options, normalize.Meta) ([]*event.Event, []error), o normalize.Options, raw string) *event.Event {
	t.Helper()
	v, err := fastjson.Parse(raw)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	evs, errs := dec(v, o, normalize.Meta{})
	if len(errs) > 0 || len(evs) != 1 {
		t.Fatalf("decode: %d events, errors %v", len(evs), errs)
	}
	return evs[0]
}

// TestNormalizedEvents runs records through the real normalizers, then
// resolution: the fields it relies on are the ones they fill.
func TestNormalizedEvents(t *testing.T) {
	prod := normalize.Options{Cluster: "prod"}
	none := normalize.Options{}
	evs := []*event.Event{
		decodeWith(t, k8saudit.Decode, prod, auditPodCreate),
		decodeWith(t, k8saudit.Decode, prod, auditBinding),
		decodeWith(t, k8saudit.Decode, prod, auditSACreate),
		decodeWith(t, cloudtrail.Decode, none, trailWebIdentity),
		decodeWith(t, cloudtrail.Decode, none, trailCall),
		decodeWith(t, cloudtrail.Decode, none, trailIRSACall),
		decodeWith(t, containerlog.Decode, none, fluentBitLine),
	}
	for _, ev := range evs {
		if ev.RawMap() != nil {
			t.Fatalf("%s event kept raw without Options.RawMap()", ev.Source)
		}
	}
	r := New(NewMemory(0), Options{})
	if err := r.Resolve(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	want := map[int]event.Entity{
		3: {Identity: "system:serviceaccount:pay:api", ServiceAccount: "pay/api", CloudIdentities: []string{roleAPI}},
		4: {Identity: "system:serviceaccount:pay:api", ServiceAccount: "pay/api", CloudIdentities: []string{roleAPI}},
		5: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{roleWeb}},
		6: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{roleWeb},
			Pod: "shop/web-1", Node: "node-a", Images: []string{"nginx:1.27"}, Owner: "ReplicaSet/web-5f7c9d8b6"},
	}
	for i, w := range want {
		if got := evs[i].Entity; !reflect.DeepEqual(got, w) {
			t.Errorf("event %d (%s %s):\n got %+v\nwant %+v", i, evs[i].Source, evs[i].Action, got, w)
		}
	}
}

// TestCorpusK8sAudit resolves the public Kubernetes audit traces: every
// event keeps its actor as identity, every pod event names its pod, and
// the pods those traces create are learned.
func TestCorpusK8sAudit(t *testing.T) {
	f, err := os.Open(filepath.Join(corpus.Dir(t), "falco-k8s-audit-traces", "all_k8s_audit_events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []*event.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		v, err := fastjson.ParseBytes(sc.Bytes())
		if err != nil || v.Get("event") == nil {
			continue
		}
		got, _ := k8saudit.Decode(v.Get("event"), normalize.Options{Cluster: "minikube"}, normalize.Meta{})
		evs = append(evs, got...)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(evs) < 40 {
		t.Fatalf("decoded %d events from the traces, want at least 40", len(evs))
	}
	r := New(NewMemory(0), Options{})
	if err := r.Resolve(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	var pods, withSA int
	for _, ev := range evs {
		if ev.Entity.Identity != ev.Actor.Name {
			t.Errorf("%s: identity %q, actor %q", ev.ID, ev.Entity.Identity, ev.Actor.Name)
		}
		if ev.K8s.Pod != "" && ev.K8s.Namespace != "" && ev.Entity.Pod != ev.K8s.Namespace+"/"+ev.K8s.Pod {
			t.Errorf("%s: entity pod %q for %s/%s", ev.ID, ev.Entity.Pod, ev.K8s.Namespace, ev.K8s.Pod)
		}
		if ev.Entity.Pod != "" && len(ev.Entity.Images) > 0 {
			pods++
		}
		if ev.Entity.ServiceAccount != "" {
			withSA++
		}
	}
	if pods == 0 {
		t.Error("no pod of the traces was learned")
	}
	t.Logf("%d events, %d with a known pod, %d with a service account; %+v", len(evs), pods, withSA, r.Stats())
}
