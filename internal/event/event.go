// Package event defines Vigia's normalized event: the one schema every
// source is decoded into and every rule condition is written against.
//
// Field names follow the Elastic Common Schema (ECS) where one fits
// (event.action, event.outcome, user.name, source.ip, user_agent.original,
// orchestrator.*, cloud.*) flattened into short groups; the expr names are
// given by the `expr` struct tags and are what rule authors write.
package event

import "time"

// Source names. A normalized event always carries one of these.
const (
	SourceK8sAudit      = "k8s_audit"      // Kubernetes API server audit (plain, EKS, GKE, AKS)
	SourceCloudTrail    = "aws_cloudtrail" // AWS CloudTrail management and data events
	SourceGCPAudit      = "gcp_audit"      // GCP Cloud Audit Logs (admin, data access, system, policy denied)
	SourceAzureActivity = "azure_activity" // Azure Activity Log, resource logs and Entra ID audit/sign-in logs
	SourceContainerLog  = "container_log"  // container stdout/stderr (CRI, docker json-file, Fluent Bit, Vector)
)

// Sources lists every source name.
var Sources = []string{SourceK8sAudit, SourceCloudTrail, SourceGCPAudit, SourceAzureActivity, SourceContainerLog}

// Cloud providers.
const (
	ProviderAWS   = "aws"
	ProviderGCP   = "gcp"
	ProviderAzure = "azure"
)

// Outcome values.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeUnknown = "unknown"
)

// Event is one normalized security event.
type Event struct {
	// Source is the kind of log the event came from, for example "k8s_audit".
	Source string `json:"source" expr:"source"`
	// Time is the event time reported by the source (for Kubernetes audit:
	// requestReceivedTimestamp, else stageTimestamp, else timestamp).
	Time time.Time `json:"time" expr:"time"`
	// ID is the source's own event id (Kubernetes: auditID).
	ID string `json:"id" expr:"id"`
	// Action is what was done: the Kubernetes verb ("create", "get", ...);
	// cloud sources will use their API operation name.
	Action string `json:"action" expr:"action"`
	// Outcome is "success", "failure" or "unknown" (ECS event.outcome).
	Outcome string `json:"outcome" expr:"outcome"`
	// Actor is who did it.
	Actor Actor `json:"actor" expr:"actor"`
	// Target is what it was done to.
	Target Target `json:"target" expr:"target"`
	// K8s holds the Kubernetes context and the decoded request object.
	K8s K8s `json:"k8s" expr:"k8s"`
	// Cloud is the cloud context (ECS cloud.*): set by CloudTrail, GCP and
	// Azure events, and by Kubernetes audit from EKS, GKE and AKS.
	Cloud Cloud `json:"cloud,omitzero" expr:"cloud"`
	// Message is the log line of a container log event (ECS message),
	// with a partial CRI line reassembled. Empty for other sources.
	Message string `json:"message,omitempty" expr:"message"`
	// Log describes where a container log line came from.
	Log Log `json:"log,omitzero" expr:"log"`
	// Issued is set on events that hand credentials to another identity
	// (CloudTrail AssumeRoleWithWebIdentity): identity resolution links the
	// credentials' later use back to Subject.
	Issued Issued `json:"issued,omitzero" expr:"issued"`
	// Entity is what identity and pod resolution knows about the event's
	// identity and pod, the same keys whatever source reported them.
	Entity Entity `json:"entity,omitzero" expr:"entity"`
	// Raw is the original event object, for source-specific fields not in
	// the normalized schema (for Kubernetes audit: the whole audit Event,
	// so raw.requestObject.spec... works). Access it with ?. since any
	// level may be missing.
	Raw map[string]any `json:"-" expr:"raw"`

	// rawFunc builds Raw on first need (RawMap): normalizers defer the
	// conversion, which costs more than decoding the schema fields, to the
	// few events a rule or the resolver actually reads raw of.
	rawFunc func() map[string]any
}

// SetRawFunc defers Raw: f builds it when RawMap is first called.
func (e *Event) SetRawFunc(f func() map[string]any) {
	e.Raw, e.rawFunc = nil, f
}

// RawMap returns Raw, building it first when its normalizer deferred it.
// Rule conditions reading raw call it; Go code reads raw through it too.
// Like the rest of an Event, it is not safe for concurrent use.
func (e *Event) RawMap() map[string]any {
	if e.rawFunc != nil {
		e.Raw, e.rawFunc = e.rawFunc(), nil
	}
	return e.Raw
}

// Actor is the identity behind an event (ECS user.*, source.*, user_agent.*).
type Actor struct {
	// ID is a stable identifier when the source has one (Kubernetes user uid).
	ID string `json:"id,omitempty" expr:"id"`
	// Name is the principal name (Kubernetes user.username).
	Name string `json:"name" expr:"name"`
	// Type is "user", "service_account", "system" (system:* non-SA
	// identities such as system:kube-scheduler), "node" or "anonymous" for
	// Kubernetes; "root", "user", "role" (an assumed-role session),
	// "service_account", "service" (a cloud service acting on its own) or
	// "anonymous" for cloud sources; "workload" for a container log line.
	Type string `json:"type" expr:"type"`
	// Groups are the groups the identity authenticated with.
	Groups []string `json:"groups,omitempty" expr:"groups"`
	// SourceIP is the first client address.
	SourceIP string `json:"source_ip,omitempty" expr:"source_ip"`
	// SourceIPs lists every address the source reported (proxies included).
	SourceIPs []string `json:"source_ips,omitempty" expr:"source_ips"`
	// UserAgent is the client's user agent.
	UserAgent string `json:"user_agent,omitempty" expr:"user_agent"`
	// Impersonator is the real identity when the request impersonated Name.
	Impersonator string `json:"impersonator,omitempty" expr:"impersonator"`
	// SessionID identifies the credential or session used: the AWS access
	// key id, the Kubernetes credential id (user.extra
	// authentication.kubernetes.io/credential-id), the Azure/Entra
	// correlation of the token (uti) when known.
	SessionID string `json:"session_id,omitempty" expr:"session_id"`
	// MFA is true when the source reports multi-factor authentication for
	// the session (CloudTrail mfaAuthenticated / MFAUsed).
	MFA bool `json:"mfa,omitempty" expr:"mfa"`
}

// Target is the object acted on (ECS-like, Kubernetes objectRef).
type Target struct {
	// Type is the resource type ("pods", "secrets", "clusterrolebindings").
	Type string `json:"type,omitempty" expr:"type"`
	// Subresource is the subresource ("exec", "attach", "log", ...).
	Subresource string `json:"subresource,omitempty" expr:"subresource"`
	// Group is the API group ("" for the core group, "rbac.authorization.k8s.io").
	Group string `json:"group,omitempty" expr:"group"`
	// Namespace is the target's namespace, empty for cluster-scoped objects.
	Namespace string `json:"namespace,omitempty" expr:"namespace"`
	// Name is the target's name (from objectRef, or the request object's
	// metadata when the name was generated).
	Name string `json:"name,omitempty" expr:"name"`
	// ID is the target's uid when known; for cloud sources the full
	// resource identifier (ARN, GCP resource name, Azure resource id).
	ID string `json:"id,omitempty" expr:"id"`
}

// Cloud is the cloud context of an event (ECS cloud.*).
type Cloud struct {
	// Provider is "aws", "gcp" or "azure".
	Provider string `json:"provider,omitempty" expr:"provider"`
	// Account is the AWS account id, GCP project id or Azure subscription id.
	Account string `json:"account,omitempty" expr:"account"`
	// Region is the AWS region, GCP location or Azure location.
	Region string `json:"region,omitempty" expr:"region"`
	// Service is the API service called: CloudTrail eventSource
	// ("iam.amazonaws.com"), GCP serviceName ("iam.googleapis.com"), Azure
	// resource provider ("Microsoft.Authorization").
	Service string `json:"service,omitempty" expr:"service"`
	// ErrorCode is the error the API returned ("AccessDenied",
	// "PERMISSION_DENIED", "AuthorizationFailed"), empty on success.
	ErrorCode string `json:"error_code,omitempty" expr:"error_code"`
}

// Log describes the origin of a container log line.
type Log struct {
	// Stream is "stdout" or "stderr".
	Stream string `json:"stream,omitempty" expr:"stream"`
	// File is the log file the line was read from, when known.
	File string `json:"file,omitempty" expr:"file"`
	// Format is the envelope: "cri", "docker", "fluentbit", "vector",
	// "cribl" or "gke".
	Format string `json:"format,omitempty" expr:"format"`
	// Partial is true when the line was delivered before its last part
	// came (a split line over the reassembly limit, or input ended).
	Partial bool `json:"partial,omitempty" expr:"partial"`
}

// Issued describes credentials an event handed out.
type Issued struct {
	// Subject is the identity the credentials were issued for, as the
	// issuer saw it: for a Kubernetes projected token
	// "system:serviceaccount:NS:NAME".
	Subject string `json:"subject,omitempty" expr:"subject"`
	// Principal is the identity the credentials act as (the assumed-role
	// session ARN).
	Principal string `json:"principal,omitempty" expr:"principal"`
	// SessionID is the credentials' id (the temporary access key id).
	SessionID string `json:"session_id,omitempty" expr:"session_id"`
}

// Entity is the resolved identity and pod of an event. Resolution fills it
// from what earlier events taught it (pod specs, service-account
// annotations, federated role sessions), so that a Kubernetes exec, a
// container log line and a cloud API call made by the same workload carry
// the same keys. Group correlations by entity.identity or entity.pod.
type Entity struct {
	// Identity is the canonical identity key. A Kubernetes service account
	// is "system:serviceaccount:NS:NAME" — also for a cloud API call made
	// with the cloud identity federated to it (IRSA, GKE or Azure Workload
	// Identity) and for a log line of a pod running as it. Any other
	// identity is its source's principal: a Kubernetes user name, an AWS
	// IAM ARN (a role for assumed-role sessions), a GCP principal email, an
	// Azure object id or UPN.
	Identity string `json:"identity,omitempty" expr:"identity"`
	// ServiceAccount is the Kubernetes service account as "NS/NAME" when
	// the identity is or resolves to one.
	ServiceAccount string `json:"service_account,omitempty" expr:"service_account"`
	// CloudIdentities are the cloud identities bound to ServiceAccount
	// (IAM role ARN, GCP service account email, Azure client id).
	CloudIdentities []string `json:"cloud_identities,omitempty" expr:"cloud_identities"`
	// Pod is "NS/NAME" of the pod concerned, when known.
	Pod string `json:"pod,omitempty" expr:"pod"`
	// PodServiceAccount is the service account ("NS/NAME") the pod named
	// by a Kubernetes audit event runs as, when learned: for an exec into
	// a pod, whose credentials the session holds, as opposed to the
	// actor's. (A container log line's identity already is its pod's.)
	PodServiceAccount string `json:"pod_service_account,omitempty" expr:"pod_service_account"`
	// Node is the node the pod runs on, when known.
	Node string `json:"node,omitempty" expr:"node"`
	// Images are the pod's container images, when known.
	Images []string `json:"images,omitempty" expr:"images"`
	// Owner is the pod's controlling owner as "Kind/name", when known.
	Owner string `json:"owner,omitempty" expr:"owner"`
}

// K8s is the Kubernetes context of an event.
type K8s struct {
	// Cluster is the cluster name, from the input's configuration.
	Cluster string `json:"cluster,omitempty" expr:"cluster"`
	// Namespace is the namespace the event happened in.
	Namespace string `json:"namespace,omitempty" expr:"namespace"`
	// Pod is the pod concerned: the target pod of a pods request, or the
	// pod a container log line came from.
	Pod string `json:"pod,omitempty" expr:"pod"`
	// Container is the container concerned, when known (exec/attach query,
	// container log metadata).
	Container string `json:"container,omitempty" expr:"container"`
	// ContainerID is the container runtime id, when known (container logs).
	ContainerID string `json:"container_id,omitempty" expr:"container_id"`
	// Node is the node concerned: the node a pod was bound to
	// (pods/binding), or the host a container log line came from.
	Node string `json:"node,omitempty" expr:"node"`
	// Image is the image of Container, when known (container logs).
	Image string `json:"image,omitempty" expr:"image"`
	// ServiceAccount is "namespace/name" when the actor is a service account.
	ServiceAccount string `json:"service_account,omitempty" expr:"service_account"`
	// Verb is the Kubernetes verb, as the audit event reports it.
	Verb string `json:"verb,omitempty" expr:"verb"`
	// Stage is the audit stage (RequestReceived, ResponseStarted, ResponseComplete, Panic).
	Stage string `json:"stage,omitempty" expr:"stage"`
	// Level is the audit level (Metadata, Request, RequestResponse).
	Level string `json:"level,omitempty" expr:"level"`
	// RequestURI is the request's URI.
	RequestURI string `json:"request_uri,omitempty" expr:"request_uri"`
	// ResponseCode is the HTTP status code of the response (0 when unknown).
	ResponseCode int `json:"response_code,omitempty" expr:"response_code"`
	// Decision is the authorizer's decision ("allow", "forbid"), from the
	// authorization.k8s.io/decision annotation.
	Decision string `json:"decision,omitempty" expr:"decision"`
	// Reason is the authorizer's reason annotation.
	Reason string `json:"reason,omitempty" expr:"reason"`
	// Annotations are the audit event's annotations.
	Annotations map[string]string `json:"annotations,omitempty" expr:"annotations"`
	// Command is the command of an exec request, from its query string.
	Command []string `json:"command,omitempty" expr:"command"`
	// Kind is the request object's kind ("Pod", "Deployment", "ClusterRoleBinding").
	Kind string `json:"kind,omitempty" expr:"kind"`
	// Workload is the pod spec in the request object: a Pod's spec or the
	// pod template of a Deployment, DaemonSet, StatefulSet, ReplicaSet, Job
	// or CronJob. Its zero value (Present false) when there is none.
	Workload Workload `json:"workload,omitzero" expr:"workload"`
	// RBAC holds the rules, role reference and subjects of a Role,
	// ClusterRole, RoleBinding or ClusterRoleBinding request object.
	RBAC RBAC `json:"rbac,omitzero" expr:"rbac"`
	// Data holds the keys of a ConfigMap's or Secret's data in the request
	// object (values are never kept in the normalized event).
	DataKeys []string `json:"data_keys,omitempty" expr:"data_keys"`
	// ServiceType is a Service request object's spec.type ("NodePort", ...).
	ServiceType string `json:"service_type,omitempty" expr:"service_type"`
	// Owner is the request object's controlling owner as "Kind/name"
	// ("ReplicaSet/web-5f7c9d8b6"), so pods stamped out by one controller
	// can be told apart from pods created by hand.
	Owner string `json:"owner,omitempty" expr:"owner"`
	// Labels are the request object's metadata.labels; for container
	// logs, the pod labels from the shipper's metadata.
	Labels map[string]string `json:"labels,omitempty" expr:"labels"`
	// ObjectAnnotations are the request object's metadata.annotations
	// (the last-applied-configuration annotation dropped), so rules and
	// resolution see eks.amazonaws.com/role-arn,
	// iam.gke.io/gcp-service-account and azure.workload.identity/client-id.
	ObjectAnnotations map[string]string `json:"object_annotations,omitempty" expr:"object_annotations"`
}

// Workload is a pod specification, as found in a request object.
type Workload struct {
	// Present is true when the request object carried a pod spec.
	Present bool `json:"present" expr:"present"`
	// HostNetwork, HostPID and HostIPC are the pod's host namespace flags.
	HostNetwork bool `json:"host_network,omitempty" expr:"host_network"`
	HostPID     bool `json:"host_pid,omitempty" expr:"host_pid"`
	HostIPC     bool `json:"host_ipc,omitempty" expr:"host_ipc"`
	// ServiceAccount is spec.serviceAccountName.
	ServiceAccount string `json:"service_account,omitempty" expr:"service_account"`
	// HostPaths lists the path of every hostPath volume.
	HostPaths []string `json:"host_paths,omitempty" expr:"host_paths"`
	// Images lists every container image (init and ephemeral included).
	Images []string `json:"images,omitempty" expr:"images"`
	// Containers lists every container (init and ephemeral included), with
	// the pod-level security context folded in.
	Containers []Container `json:"containers,omitempty" expr:"containers"`
}

// Container is one container of a pod spec with its effective security
// settings (container securityContext over pod securityContext).
type Container struct {
	Name  string `json:"name" expr:"name"`
	Image string `json:"image" expr:"image"`
	// Kind is "container", "init" or "ephemeral".
	Kind string `json:"kind" expr:"kind"`
	// Privileged is securityContext.privileged.
	Privileged bool `json:"privileged,omitempty" expr:"privileged"`
	// AllowPrivilegeEscalation is true unless explicitly set to false.
	AllowPrivilegeEscalation bool `json:"allow_privilege_escalation,omitempty" expr:"allow_privilege_escalation"`
	// RunAsRoot is true when runAsUser is 0, or runAsNonRoot is not set
	// and no non-zero runAsUser is set.
	RunAsRoot bool `json:"run_as_root,omitempty" expr:"run_as_root"`
	// AddedCapabilities are securityContext.capabilities.add, upper case
	// without the CAP_ prefix.
	AddedCapabilities []string `json:"added_capabilities,omitempty" expr:"added_capabilities"`
	// HostPorts lists the container's hostPort values.
	HostPorts []int `json:"host_ports,omitempty" expr:"host_ports"`
}

// RBAC is the content of an RBAC request object.
type RBAC struct {
	Rules    []PolicyRule `json:"rules,omitempty" expr:"rules"`
	RoleRef  RoleRef      `json:"role_ref,omitzero" expr:"role_ref"`
	Subjects []Subject    `json:"subjects,omitempty" expr:"subjects"`
}

// PolicyRule is one rule of a Role or ClusterRole.
type PolicyRule struct {
	Verbs           []string `json:"verbs,omitempty" expr:"verbs"`
	APIGroups       []string `json:"api_groups,omitempty" expr:"api_groups"`
	Resources       []string `json:"resources,omitempty" expr:"resources"`
	ResourceNames   []string `json:"resource_names,omitempty" expr:"resource_names"`
	NonResourceURLs []string `json:"non_resource_urls,omitempty" expr:"non_resource_urls"`
}

// RoleRef is a binding's roleRef.
type RoleRef struct {
	Kind string `json:"kind,omitempty" expr:"kind"`
	Name string `json:"name,omitempty" expr:"name"`
}

// Subject is a binding's subject.
type Subject struct {
	Kind      string `json:"kind" expr:"kind"`
	Name      string `json:"name" expr:"name"`
	Namespace string `json:"namespace,omitempty" expr:"namespace"`
}

// Ref is the short reference to an event carried by an alert.
type Ref struct {
	Source string    `json:"source"`
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
}

// Ref returns the event's short reference.
func (e *Event) Ref() Ref { return Ref{Source: e.Source, ID: e.ID, Time: e.Time} }
