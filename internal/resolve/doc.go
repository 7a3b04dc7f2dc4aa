// Package resolve fills each event's Entity with the identity and pod it
// concerns, the same keys whatever log reported them, so that a Kubernetes
// exec, a container log line and a cloud API call made by one workload can
// be correlated.
//
// A Resolver learns from the stream itself, then enriches, event by event:
//
//   - Kubernetes audit events on pods teach a pod's service account
//     (spec.serviceAccountName, "default" when unset), images and
//     controlling owner; pods/binding and spec.nodeName teach its node; a
//     delete keeps the pod for Options.DeleteGrace more.
//   - Container log lines teach a pod's node and images.
//   - Service-account create, update and patch events teach the cloud
//     identities bound by annotation: eks.amazonaws.com/role-arn (IRSA),
//     iam.gke.io/gcp-service-account (GKE Workload Identity),
//     azure.workload.identity/client-id (Azure Workload Identity); each is
//     linked both ways.
//   - CloudTrail AssumeRoleWithWebIdentity with a service-account token
//     links the session ARN and the temporary access key id (for
//     Options.SessionTTL) and the role to that service account.
//   - GCP GenerateAccessToken/GenerateIdToken by a Kubernetes service
//     account (Issued), and GCP calls by a Google service account whose
//     delegation chain names one ("PROJECT.svc.id.goog[NS/NAME]", which the
//     GCP normalizer puts in K8s.ServiceAccount), link the Google service
//     account to the Kubernetes one.
//
// Failed requests, and audit events of a request not complete yet (stage
// RequestReceived), teach nothing.
//
// The identity is the Kubernetes user name for Kubernetes actors
// ("system:serviceaccount:NS:NAME" for a service account). A cloud actor
// resolves to its service account, tried most specific first: the access
// key id, the session ARN, the role (AWS); the delegation chain or the
// service-account e-mail (GCP); the application id of the token (Azure).
// Otherwise it is the cloud principal: the IAM ARN (the role's, without
// path, for an assumed-role session, so that sessions of one role share
// it), the GCP e-mail, the Azure UPN or object id. A container log line
// has the identity of its pod's service account when that is known.
//
// # Store layout
//
// Values are compact JSON; every key has a TTL. Options.TTL (14 days) runs
// from when a fact was last learned or used: a value in use is written
// again once half its TTL has passed, so a long-running pod or a busy role
// stays known while what is unused ages out.
//
//	pod:NS/NAME[@CLUSTER]  {"c":cluster,"t":updated,"x":gone,"sa":name,"img":[...],"node":...,"own":"Kind/name"}
//	sa:NS/NAME[@CLUSTER]   {"c":cluster,"t":updated,"x":gone,"ids":[annotated ids],"obs":[identities seen issued to it]}
//	cloud:ID               {"c":cluster,"t":updated,"x":gone,"sa":"NS/NAME"}
//
// ID is a role ARN without its path ("arn:aws:iam::ACCT:role/NAME"), an
// assumed-role session ARN, an access key id, a GCP service-account e-mail
// or an Azure client id (e-mails and GUIDs lower case). A Redis store puts
// its prefix before every key.
//
// # Clusters
//
// A fact learned in a known cluster is written under both the plain key
// and the key with "@CLUSTER"; a fact whose cluster is unknown only under
// the plain key. A lookup with a cluster reads KEY@CLUSTER, then the plain
// key unless that holds a fact of another cluster; a lookup without one
// reads the plain key. So events that carry no cluster (container logs
// from a shipper without one, every cloud event) still join the cluster's
// Kubernetes events, and two clusters with the same namespace and name
// only share the plain key, where the most recently learned one wins. A
// cloud identity is linked to one service account together with its
// cluster, and that service account is looked up in that cluster.
//
// # Limits
//
//   - Only what the stream shows is known: a service account annotated
//     before Vigia started, and not updated since, resolves only once its
//     role is assumed again (AssumeRoleWithWebIdentity) or the object is
//     updated.
//   - A cloud identity shared by several service accounts links to the one
//     learned most recently. A role bound by IRSA resolves to its service
//     account also when a person assumes it some other way; the access key
//     id and session ARN, when their AssumeRoleWithWebIdentity was seen,
//     are exact.
//   - Updates are read-modify-write without transactions: two replicas
//     learning different facts of one pod at the same instant can lose one
//     of them until a later event teaches it again.
//   - There is no local cache in front of Redis: a cached miss or stale
//     entry on one replica would hide what another just learned, and the
//     batching already costs only a few round trips per batch.
//   - EKS Pod Identity (AssumeRoleForPodIdentity) and the pod named in a
//     bound token's user.extra are not used yet.
package resolve
