package k8saudit

// internWords are words audit events repeat all the time (verbs, stages,
// levels, resources, kinds, well-known groups, users, namespaces and
// annotation keys): decoding them allocates nothing.
var internWords = []string{
	"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
	"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic", "Metadata", "Request",
	"RequestResponse", "pods", "exec", "attach", "log", "status", "binding", "portforward", "proxy",
	"token", "ephemeralcontainers", "secrets", "configmaps", "services", "serviceaccounts",
	"namespaces", "nodes", "endpoints", "events", "leases", "deployments", "replicasets",
	"statefulsets", "daemonsets", "jobs", "cronjobs", "roles", "rolebindings", "clusterroles",
	"clusterrolebindings", "tokenreviews", "subjectaccessreviews", "selfsubjectaccessreviews", "apps",
	"batch", "rbac.authorization.k8s.io", "coordination.k8s.io", "authentication.k8s.io",
	"authorization.k8s.io", "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
	"CronJob", "Node", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount",
	"User", "Group", "Secret", "ConfigMap", "Service", "Binding", "allow", "forbid",
	"system:authenticated", "system:unauthenticated", "system:serviceaccounts",
	"system:serviceaccounts:kube-system", "system:masters", "system:nodes", "system:anonymous",
	"kube-system", "default", "::1", "127.0.0.1", "authorization.k8s.io/decision",
	"authorization.k8s.io/reason", "pod-security.kubernetes.io/enforce-policy", "app",
	"app.kubernetes.io/name", "app.kubernetes.io/instance", "pod-template-hash",
	"controller-revision-hash",
	// Keys and values of Event.Raw.
	"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "username", "uid",
	"groups", "extra", "sourceIPs", "userAgent", "objectRef", "resource", "namespace", "name",
	"apiGroup", "subresource", "resourceVersion", "responseStatus", "metadata", "code",
	"requestObject", "responseObject", "requestReceivedTimestamp", "stageTimestamp", "annotations",
	"timestamp", "creationTimestamp", "generateName", "labels", "ownerReferences", "controller",
	"blockOwnerDeletion", "selfLink", "spec", "template", "containers", "initContainers", "image",
	"imagePullPolicy", "ports", "containerPort", "protocol", "resources", "limits", "requests", "cpu",
	"memory", "volumeMounts", "mountPath", "readOnly", "volumes", "hostPath", "path", "type",
	"securityContext", "privileged", "runAsUser", "runAsNonRoot", "allowPrivilegeEscalation",
	"capabilities", "add", "drop", "ALL", "serviceAccountName", "serviceAccount", "nodeName",
	"restartPolicy", "dnsPolicy", "schedulerName", "terminationGracePeriodSeconds",
	"terminationMessagePath", "terminationMessagePolicy", "tolerations", "key", "operator", "effect",
	"data", "stringData", "rules", "roleRef", "subjects", "verbs", "apiGroups", "replicas", "selector",
	"matchLabels", "v1", "audit.k8s.io/v1", "audit.k8s.io/v1beta1", "apps/v1", "Event", "Status",
	"Success", "Failure", "Always", "IfNotPresent", "Never", "TCP", "UDP", "File",
	"/dev/termination-log", "ClusterFirst", "default-scheduler", "Opaque", "NoExecute", "Exists",
	"BestEffort", "Pending", "message", "reason", "details",
}

var (
	interned = make(map[string]string, len(internWords))
	// boxed holds the same words already converted to an interface, for
	// Event.Raw: converting a string variable to any allocates.
	boxed = make(map[string]any, len(internWords)+2)
)

func init() {
	for _, w := range internWords {
		interned[w] = w
		boxed[w] = w
	}
	boxed["true"] = "true"
	boxed["false"] = "false"
}

// intern returns the constant string equal to b when b is one of
// internWords. The lookup converts b without allocating.
func intern(b []byte) (string, bool) {
	if len(b) > 48 {
		return "", false
	}
	s, ok := interned[string(b)]
	return s, ok
}
