// Package k8saudit decodes Kubernetes API server audit events into
// normalized events (source "k8s_audit").
//
// # Shapes
//
// Decode accepts, from the dispatcher in internal/normalize/detect (which
// unwraps gzip, JSON arrays and lines, CloudWatch Logs subscription
// payloads, Pub/Sub wrappers and Azure Event Hubs records first):
//
//   - an audit.k8s.io/v1 or v1beta1 Event, with or without apiVersion and
//     kind (old captures omit them);
//   - an EventList (kind EventList, or an items array without auditID):
//     each item decodes on its own, a bad one is a *normalize.ItemError;
//   - an Event wrapped as {"event": {...}} (Splunk HEC and similar);
//   - EKS control-plane audit (CloudWatch log group /aws/eks/NAME/cluster)
//     and AKS kube-audit / kube-audit-admin records (properties.log): plain
//     Events once unwrapped; the dispatcher passes the cluster name in
//     Options.Cluster (for AKS, from the record's resourceId, batched or
//     alone);
//   - a GKE Cloud Logging LogEntry whose protoPayload.serviceName is
//     "k8s.io" (directly, or through a Pub/Sub log sink).
//
// # Normalized fields
//
// Audit Event (EKS and AKS alike):
//
//	normalized field          ← audit Event field
//	source                    ← "k8s_audit"
//	id                        ← auditID (required: ErrInvalidEvent without it)
//	time                      ← requestReceivedTimestamp, else stageTimestamp, else timestamp (v1beta1),
//	                            else metadata.creationTimestamp (ErrInvalidEvent without any; RFC 3339)
//	action, k8s.verb          ← verb (required)
//	outcome                   ← responseStatus.code ≥ 400 failure, 1–399 success; without a code,
//	                            failure when the authorizer's decision is forbid, else unknown
//	actor.name, id, groups    ← user.username, uid, groups; impersonatedUser.* when it names a user
//	actor.impersonator        ← user.username when impersonatedUser is set
//	actor.type                ← from the name: anonymous (system:anonymous or group
//	                            system:unauthenticated), service_account (system:serviceaccount:NS:NAME),
//	                            node (system:node:*), system (other system:*), user; unknown when empty
//	actor.session_id          ← user.extra["authentication.kubernetes.io/credential-id"][0] (the JTI of a
//	                            service-account token, Kubernetes ≥ 1.29), else on EKS
//	                            user.extra.accessKeyId[0]; always the authenticated user's
//	                            (impersonation headers cannot forge it)
//	actor.source_ip(s)        ← sourceIPs (first one, all of them)
//	actor.user_agent          ← userAgent
//	target.type, subresource  ← objectRef.resource, subresource
//	target.group, id          ← objectRef.apiGroup, uid
//	target.namespace          ← objectRef.namespace, else the request object's metadata.namespace
//	target.name               ← objectRef.name, else the response then request object's metadata.name
//	k8s.cluster               ← Options.Cluster
//	k8s.namespace             ← target.namespace
//	k8s.pod                   ← target.name when target.type is pods
//	k8s.service_account       ← "NS/NAME" of a service-account actor
//	k8s.stage, level          ← stage, level
//	k8s.request_uri           ← requestURI
//	k8s.response_code         ← responseStatus.code
//	k8s.annotations           ← annotations (string values)
//	k8s.decision, reason      ← annotations["authorization.k8s.io/decision"], [".../reason"]
//	k8s.command, container    ← the command and container query parameters of an exec or attach requestURI
//	k8s.node                  ← pods/binding: the request object's target.name; a Pod object: spec.nodeName
//	issued.subject            ← serviceaccounts/token create (TokenRequest), not failed:
//	                            "system:serviceaccount:NS:NAME" of objectRef
//	issued.session_id         ← annotations["authentication.kubernetes.io/issued-credential-id"]
//
// The object fields come from the request object; from the response
// object when no request object was logged, or for a patch (whose request
// body is a fragment), unless the response is a Status:
//
//	k8s.kind                  ← kind, else derived from the resource (pods → Pod, ...)
//	k8s.labels                ← metadata.labels
//	k8s.object_annotations    ← metadata.annotations minus kubectl.kubernetes.io/last-applied-configuration
//	k8s.owner                 ← "Kind/name" of the controlling metadata.ownerReferences entry (else the first)
//	k8s.workload              ← the pod spec of a Pod, PodTemplate, Deployment, ReplicaSet, StatefulSet,
//	                            DaemonSet, Job, ReplicationController or CronJob: host namespaces,
//	                            serviceAccountName (else serviceAccount), hostPath volumes, every
//	                            container (init, regular, ephemeral) with the pod securityContext's
//	                            runAsUser/runAsNonRoot folded into the container's
//	k8s.rbac                  ← Role/ClusterRole rules; RoleBinding/ClusterRoleBinding roleRef and subjects
//	k8s.data_keys             ← ConfigMap/Secret keys of data, stringData and binaryData (never values)
//	k8s.service_type          ← Service spec.type
//
// GKE LogEntry:
//
//	id                        ← insertId (GKE writes the API server's audit ID there, and in
//	                            operation.id, the fallback); no label carries another audit ID
//	time                      ← timestamp, else receiveTimestamp
//	action, k8s.verb          ← the last segment of protoPayload.methodName
//	                            (io.k8s.core.v1.pods.exec.create → create)
//	target.type, subresource  ← the methodName segments after the version (pods, exec)
//	target.group, namespace,  ← protoPayload.resourceName GROUP/VERSION[/namespaces/NS]/RESOURCE[/NAME[/SUB]]
//	name                        ("core" is the core group, "")
//	actor.name                ← protoPayload.authenticationInfo.principalEmail (no groups, no impersonator)
//	actor.type                ← as above; a Google service account (*.gserviceaccount.com) is service_account
//	actor.source_ip(s)        ← protoPayload.requestMetadata.callerIp
//	actor.user_agent          ← protoPayload.requestMetadata.callerSuppliedUserAgent
//	k8s.response_code         ← the code of a Status response, else protoPayload.status.code mapped from
//	                            google.rpc.Code to HTTP (0 → 200, 3 → 400, 5 → 404, 7 → 403, 16 → 401, ...)
//	outcome                   ← from k8s.response_code and k8s.decision, as above
//	k8s.annotations, decision,← labels (authorization.k8s.io/decision, .../reason, ...)
//	reason
//	k8s.command, container    ← a PodExecOptions/PodAttachOptions request body's command and container
//	k8s.cluster               ← resource.labels.cluster_name, else Options.Cluster
//	cloud.provider            ← "gcp"
//	cloud.account, region     ← resource.labels.project_id, location
//	cloud.service             ← "k8s.io"
//	cloud.error_code          ← the google.rpc.Code name of a non-zero status.code ("PERMISSION_DENIED")
//	object fields             ← protoPayload.request and response, as above (kind from "@type"
//	                            "core.k8s.io/v1.Pod" when kind is missing)
//
// GKE logs no stage, level, request URI, groups or user extra: those fields
// stay empty. EKS and AKS events carry no provider of their own, so
// cloud.provider stays empty for them until the dispatcher says which
// envelope an event came in.
//
// # Raw and secrets
//
// Event.Raw (only with Options.Raw) is the audit Event (the inner one of a
// wrapper), or the whole GKE LogEntry with its request and response bodies
// also reachable as raw.requestObject and raw.responseObject so that rules
// read them the same way on every cluster. Secret values are redacted
// before anything sees them: Secret data and stringData, a Secret's
// last-applied-configuration annotation, the values of a JSON patch on a
// Secret, Secrets listed without a kind of their own, TokenReview
// spec.token and TokenRequest status.token. The normalized fields never
// hold secret values: data_keys are keys only, and object_annotations
// drop the last-applied configuration.
//
// # Speed
//
// Decoding reads the parsed *fastjson.Value directly, in one pass over
// each object it needs, and builds only the normalized fields. The strings
// of one event share a few allocations (an arena copied from the parser's
// buffer): code that keeps one string of an event for long while dropping
// the event (a cache key) should strings.Clone it, lest it pin the
// event's whole arena.
package k8saudit
