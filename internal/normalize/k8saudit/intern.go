package k8saudit

// intern returns the constant string equal to b when b is a word that
// audit events repeat all the time (verbs, stages, levels, resources,
// kinds, well-known groups and annotation keys), so that decoding them
// allocates nothing. The switch compiles to a lookup without converting b.
func intern(b []byte) (string, bool) {
	if len(b) > 48 {
		return "", false
	}
	switch string(b) {
	// Verbs.
	case "get":
		return "get", true
	case "list":
		return "list", true
	case "watch":
		return "watch", true
	case "create":
		return "create", true
	case "update":
		return "update", true
	case "patch":
		return "patch", true
	case "delete":
		return "delete", true
	case "deletecollection":
		return "deletecollection", true
	// Stages and levels.
	case "RequestReceived":
		return "RequestReceived", true
	case "ResponseStarted":
		return "ResponseStarted", true
	case "ResponseComplete":
		return "ResponseComplete", true
	case "Panic":
		return "Panic", true
	case "Metadata":
		return "Metadata", true
	case "Request":
		return "Request", true
	case "RequestResponse":
		return "RequestResponse", true
	// Resources and subresources.
	case "pods":
		return "pods", true
	case "exec":
		return "exec", true
	case "attach":
		return "attach", true
	case "log":
		return "log", true
	case "status":
		return "status", true
	case "binding":
		return "binding", true
	case "portforward":
		return "portforward", true
	case "proxy":
		return "proxy", true
	case "token":
		return "token", true
	case "ephemeralcontainers":
		return "ephemeralcontainers", true
	case "secrets":
		return "secrets", true
	case "configmaps":
		return "configmaps", true
	case "services":
		return "services", true
	case "serviceaccounts":
		return "serviceaccounts", true
	case "namespaces":
		return "namespaces", true
	case "nodes":
		return "nodes", true
	case "endpoints":
		return "endpoints", true
	case "events":
		return "events", true
	case "leases":
		return "leases", true
	case "deployments":
		return "deployments", true
	case "replicasets":
		return "replicasets", true
	case "statefulsets":
		return "statefulsets", true
	case "daemonsets":
		return "daemonsets", true
	case "jobs":
		return "jobs", true
	case "cronjobs":
		return "cronjobs", true
	case "roles":
		return "roles", true
	case "rolebindings":
		return "rolebindings", true
	case "clusterroles":
		return "clusterroles", true
	case "clusterrolebindings":
		return "clusterrolebindings", true
	case "tokenreviews":
		return "tokenreviews", true
	case "subjectaccessreviews":
		return "subjectaccessreviews", true
	case "selfsubjectaccessreviews":
		return "selfsubjectaccessreviews", true
	// API groups.
	case "apps":
		return "apps", true
	case "batch":
		return "batch", true
	case "rbac.authorization.k8s.io":
		return "rbac.authorization.k8s.io", true
	case "coordination.k8s.io":
		return "coordination.k8s.io", true
	case "authentication.k8s.io":
		return "authentication.k8s.io", true
	case "authorization.k8s.io":
		return "authorization.k8s.io", true
	// Kinds.
	case "Pod":
		return "Pod", true
	case "Deployment":
		return "Deployment", true
	case "ReplicaSet":
		return "ReplicaSet", true
	case "StatefulSet":
		return "StatefulSet", true
	case "DaemonSet":
		return "DaemonSet", true
	case "Job":
		return "Job", true
	case "CronJob":
		return "CronJob", true
	case "Node":
		return "Node", true
	case "Role":
		return "Role", true
	case "ClusterRole":
		return "ClusterRole", true
	case "RoleBinding":
		return "RoleBinding", true
	case "ClusterRoleBinding":
		return "ClusterRoleBinding", true
	case "ServiceAccount":
		return "ServiceAccount", true
	case "User":
		return "User", true
	case "Group":
		return "Group", true
	case "Secret":
		return "Secret", true
	case "ConfigMap":
		return "ConfigMap", true
	case "Service":
		return "Service", true
	case "Binding":
		return "Binding", true
	// Values.
	case "allow":
		return "allow", true
	case "forbid":
		return "forbid", true
	case "":
		return "", true
	case "system:authenticated":
		return "system:authenticated", true
	case "system:unauthenticated":
		return "system:unauthenticated", true
	case "system:serviceaccounts":
		return "system:serviceaccounts", true
	case "system:serviceaccounts:kube-system":
		return "system:serviceaccounts:kube-system", true
	case "system:masters":
		return "system:masters", true
	case "system:nodes":
		return "system:nodes", true
	case "system:anonymous":
		return "system:anonymous", true
	case "kube-system":
		return "kube-system", true
	case "default":
		return "default", true
	case "::1":
		return "::1", true
	case "127.0.0.1":
		return "127.0.0.1", true
	// Annotation and label keys.
	case "authorization.k8s.io/decision":
		return "authorization.k8s.io/decision", true
	case "authorization.k8s.io/reason":
		return "authorization.k8s.io/reason", true
	case "pod-security.kubernetes.io/enforce-policy":
		return "pod-security.kubernetes.io/enforce-policy", true
	case "app":
		return "app", true
	case "app.kubernetes.io/name":
		return "app.kubernetes.io/name", true
	case "app.kubernetes.io/instance":
		return "app.kubernetes.io/instance", true
	case "pod-template-hash":
		return "pod-template-hash", true
	case "controller-revision-hash":
		return "controller-revision-hash", true
	}
	return "", false
}
