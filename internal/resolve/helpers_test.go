package resolve

import (
	"context"
	"sync/atomic"

	"github.com/vigia-dev/vigia/internal/event"
)

// Hand-built events, shaped as the normalizers give them.

func auditEvent(action, resource, sub, ns, name string) *event.Event {
	ev := &event.Event{
		Source:  event.SourceK8sAudit,
		ID:      "audit-" + action + "-" + name,
		Action:  action,
		Outcome: event.OutcomeSuccess,
		Actor:   event.Actor{Name: "system:serviceaccount:kube-system:replicaset-controller", Type: "service_account"},
		Target:  event.Target{Type: resource, Subresource: sub, Namespace: ns, Name: name},
		K8s:     event.K8s{Namespace: ns, Verb: action, ServiceAccount: "kube-system/replicaset-controller"},
	}
	if resource == "pods" {
		ev.K8s.Pod = name
	}
	return ev
}

// podCreate is a pod create with its spec.
func podCreate(ns, name, sa, owner string, images ...string) *event.Event {
	ev := auditEvent("create", "pods", "", ns, name)
	ev.K8s.Kind = "Pod"
	ev.K8s.Owner = owner
	ev.K8s.Workload = event.Workload{Present: true, ServiceAccount: sa, Images: images}
	ev.Raw = map[string]any{"requestObject": map[string]any{"kind": "Pod"}}
	return ev
}

// podBinding is the scheduler binding a pod to a node, with the node in
// K8s.Node as the schema documents it.
func podBinding(ns, name, node string) *event.Event {
	ev := auditEvent("create", "pods", "binding", ns, name)
	ev.Actor = event.Actor{Name: "system:kube-scheduler", Type: "system"}
	ev.K8s.ServiceAccount = ""
	ev.K8s.Kind = "Binding"
	ev.K8s.Node = node
	return ev
}

// podBindingRaw has the node only in the raw request object.
func podBindingRaw(ns, name, node string) *event.Event {
	ev := podBinding(ns, name, "")
	ev.Raw = map[string]any{"requestObject": map[string]any{
		"kind": "Binding", "target": map[string]any{"kind": "Node", "name": node},
	}}
	return ev
}

func podDelete(ns, name string) *event.Event {
	return auditEvent("delete", "pods", "", ns, name)
}

// userExec is a person exec'ing into a pod.
func userExec(user, ns, name string) *event.Event {
	ev := auditEvent("create", "pods", "exec", ns, name)
	ev.Actor = event.Actor{Name: user, Type: "user"}
	ev.K8s.ServiceAccount = ""
	ev.K8s.Command = []string{"sh"}
	return ev
}

// saWrite is a create, update or patch of a service account carrying the
// full object with annotations.
func saWrite(action, ns, name string, annotations map[string]string) *event.Event {
	ev := auditEvent(action, "serviceaccounts", "", ns, name)
	ev.Actor = event.Actor{Name: "admin@example.com", Type: "user"}
	ev.K8s.ServiceAccount = ""
	ev.K8s.Kind = "ServiceAccount"
	ev.K8s.ObjectAnnotations = annotations
	obj := map[string]any{"kind": "ServiceAccount"}
	if action == "patch" {
		ev.Raw = map[string]any{"responseObject": obj}
	} else {
		ev.Raw = map[string]any{"requestObject": obj}
	}
	return ev
}

func inCluster(cluster string, ev *event.Event) *event.Event {
	ev.K8s.Cluster = cluster
	return ev
}

func failed(ev *event.Event) *event.Event {
	ev.Outcome = event.OutcomeFailure
	ev.K8s.ResponseCode = 403
	return ev
}

// received is the RequestReceived stage of a request, outcome not known yet.
func received(ev *event.Event) *event.Event {
	ev.Outcome = event.OutcomeUnknown
	ev.K8s.Stage = "RequestReceived"
	return ev
}

// logLine is a container log line with the shipper's metadata.
func logLine(ns, pod, node, image string) *event.Event {
	return &event.Event{
		Source:  event.SourceContainerLog,
		Action:  "log",
		Outcome: event.OutcomeUnknown,
		Actor:   event.Actor{Type: "workload"},
		K8s:     event.K8s{Namespace: ns, Pod: pod, Container: "app", Node: node, Image: image},
		Message: "GET /healthz 200",
	}
}

// awsCall is a CloudTrail call by an assumed-role session or IAM user.
func awsCall(arn, accessKey, action string) *event.Event {
	typ := "user"
	if isSessionARN(arn) {
		typ = "role"
	}
	return &event.Event{
		Source:  event.SourceCloudTrail,
		ID:      "ct-" + action,
		Action:  action,
		Outcome: event.OutcomeSuccess,
		Actor:   event.Actor{ID: arn, Name: arn, Type: typ, SessionID: accessKey},
		Cloud:   event.Cloud{Provider: event.ProviderAWS, Account: "111122223333", Service: "s3.amazonaws.com"},
	}
}

// webIdentity is AssumeRoleWithWebIdentity with a service-account token.
func webIdentity(subject, roleARN, sessionARN, accessKey string) *event.Event {
	return &event.Event{
		Source:  event.SourceCloudTrail,
		ID:      "ct-awiwi",
		Action:  "AssumeRoleWithWebIdentity",
		Outcome: event.OutcomeSuccess,
		Actor:   event.Actor{Name: subject, Type: "service_account"},
		Cloud:   event.Cloud{Provider: event.ProviderAWS, Service: "sts.amazonaws.com"},
		Issued:  event.Issued{Subject: subject, Principal: sessionARN, SessionID: accessKey},
		Raw:     map[string]any{"requestParameters": map[string]any{"roleArn": roleARN}},
	}
}

// gcpCall is a GCP audit event; delegation is a principalSubject of the
// delegation chain ("" for none).
func gcpCall(email, delegation string) *event.Event {
	ev := &event.Event{
		Source:  event.SourceGCPAudit,
		Action:  "storage.objects.get",
		Outcome: event.OutcomeSuccess,
		Actor:   event.Actor{Name: email, Type: "service_account"},
		Cloud:   event.Cloud{Provider: event.ProviderGCP, Account: "proj"},
	}
	auth := map[string]any{"principalEmail": email}
	if delegation != "" {
		auth["serviceAccountDelegationInfo"] = []any{map[string]any{"principalSubject": delegation}}
	}
	ev.Raw = map[string]any{"protoPayload": map[string]any{"authenticationInfo": auth}}
	return ev
}

// azureCall is an Azure Activity event by a service principal: the object
// id as actor, the application id in the token claims.
func azureCall(objectID, appID string) *event.Event {
	return &event.Event{
		Source:  event.SourceAzureActivity,
		Action:  "Microsoft.Storage/storageAccounts/listKeys/action",
		Outcome: event.OutcomeSuccess,
		Actor:   event.Actor{ID: objectID, Name: objectID, Type: "service_account"},
		Cloud:   event.Cloud{Provider: event.ProviderAzure},
		Raw:     map[string]any{"claims": map[string]any{"appid": appID}},
	}
}

// batchedStore hides a store's in-process reads, so the Resolver takes its
// batched path, and counts the calls.
type batchedStore struct {
	Store
	gets, sets atomic.Int64
}

func (s *batchedStore) Get(ctx context.Context, keys ...string) ([]string, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, keys...)
}

func (s *batchedStore) Set(ctx context.Context, entries ...Entry) error {
	s.sets.Add(1)
	return s.Store.Set(ctx, entries...)
}

// failingStore fails every call.
type failingStore struct{ err error }

func (s failingStore) Get(context.Context, ...string) ([]string, error) { return nil, s.err }
func (s failingStore) Set(context.Context, ...Entry) error              { return s.err }
