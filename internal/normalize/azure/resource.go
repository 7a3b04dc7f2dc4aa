package azure

import (
	"strings"
)

// resource is what an Azure resource id says.
type resource struct {
	Subscription string // the subscription id, as written
	Type         string // "Microsoft.KeyVault/vaults", "Microsoft.Network/networkSecurityGroups/securityRules"
	Name         string // the last name segment
	Cluster      string // the AKS cluster name (lower case) when the id is in a managed cluster
}

// parseResourceID reads /subscriptions/S/resourceGroups/G/providers/NS/T1/N1/T2/N2,
// subscription and resource group scopes, tenant scopes
// (/tenants/T/providers/Microsoft.aadiam) and extension resources
// (…/providers/NS/T/N/providers/Microsoft.Authorization/locks/L): the
// last provider's type and name win. Segment names are matched ignoring
// case, as Azure does. Subscription and Name are substrings of id.
func parseResourceID(id string) resource {
	var r resource
	// The segments of the last provider's types, as offsets into id.
	var types [16]string
	nTypes := 0
	ns := ""
	rest := strings.Trim(id, "/")
	for rest != "" {
		var k, next string
		k, rest, _ = strings.Cut(rest, "/")
		next, rest, _ = strings.Cut(rest, "/")
		switch {
		case ns == "" && strings.EqualFold(k, "subscriptions"):
			r.Subscription, r.Type, r.Name = next, "Microsoft.Resources/subscriptions", next
		case ns == "" && strings.EqualFold(k, "resourceGroups"):
			r.Type, r.Name = "Microsoft.Resources/resourceGroups", next
		case ns == "" && strings.EqualFold(k, "tenants"):
			r.Type, r.Name = "Microsoft.Resources/tenants", next
		case strings.EqualFold(k, "providers"):
			ns, nTypes = next, 0
			r.Type, r.Name = ns, ""
		case ns != "" && k != "":
			if nTypes < len(types) {
				types[nTypes] = k
				nTypes++
			}
			r.Type, r.Name = "", next
			if strings.EqualFold(ns, "Microsoft.ContainerService") && strings.EqualFold(k, "managedClusters") {
				r.Cluster = strings.ToLower(next)
			}
		}
	}
	if ns != "" && nTypes > 0 {
		r.Type = joinType(ns, types[:nTypes])
	}
	r.Type = canonicalType(r.Type)
	return r
}

// joinType returns ns/t1/t2…, the well-known spelling when there is one.
func joinType(ns string, types []string) string {
	var buf [160]byte
	b := append(buf[:0], ns...)
	for _, t := range types {
		b = append(b, '/')
		b = append(b, t...)
	}
	if c, ok := lookupFold(knownTypes, b); ok {
		return c
	}
	return string(b)
}

// typeOfAction returns the resource type an RBAC action acts on:
// "Microsoft.Storage/storageAccounts/listKeys/action" gives
// "Microsoft.Storage/storageAccounts", "Microsoft.Authorization/roleAssignments/write"
// gives "Microsoft.Authorization/roleAssignments".
func typeOfAction(action string) string {
	action = strings.TrimSuffix(action, "/action")
	action = strings.TrimSuffix(action, "/ACTION")
	if i := strings.LastIndexByte(action, '/'); i > 0 {
		return action[:i]
	}
	return ""
}

// namespaceOf returns the resource provider namespace of a type or
// operation name ("Microsoft.Authorization/roleAssignments/write" gives
// "Microsoft.Authorization"), or "" when it does not start with one.
func namespaceOf(s string) string {
	ns, _, _ := strings.Cut(s, "/")
	if !strings.Contains(ns, ".") || strings.ContainsAny(ns, " \t") {
		return ""
	}
	return ns
}

// canonicalType gives a resource type written in upper case by the
// diagnostic export ("MICROSOFT.KEYVAULT/VAULTS") its usual spelling
// ("Microsoft.KeyVault/vaults") when it is a well-known type or
// namespace; other types are returned as they are. Azure compares them
// ignoring case, and so should rules (lower()).
func canonicalType(t string) string {
	if t == "" {
		return t
	}
	if c, ok := lookupFold(knownTypes, []byte(t)); ok {
		return c
	}
	ns, rest, _ := strings.Cut(t, "/")
	if c, ok := lookupFold(knownNamespaces, []byte(ns)); ok && c != ns {
		if rest == "" {
			return c
		}
		return c + "/" + rest
	}
	return t
}

// canonicalNamespace is canonicalType for a namespace alone.
func canonicalNamespace(ns string) string {
	if c, ok := lookupFold(knownNamespaces, []byte(ns)); ok {
		return c
	}
	return ns
}

var knownNamespaces = map[string]string{}

var knownTypes = map[string]string{}

func init() {
	for _, ns := range []string{
		"Microsoft.aadiam", "Microsoft.Advisor", "Microsoft.AlertsManagement", "Microsoft.ApiManagement",
		"Microsoft.AppConfiguration", "Microsoft.Authorization", "Microsoft.Automation", "Microsoft.Cache",
		"Microsoft.Compute", "Microsoft.ContainerInstance", "Microsoft.ContainerRegistry",
		"Microsoft.ContainerService", "Microsoft.DBforMySQL", "Microsoft.DBforPostgreSQL", "Microsoft.DocumentDB",
		"Microsoft.EventGrid", "Microsoft.EventHub", "Microsoft.Features", "Microsoft.Insights",
		"Microsoft.KeyVault", "Microsoft.Kubernetes", "Microsoft.Logic", "Microsoft.Management",
		"Microsoft.ManagedIdentity", "Microsoft.Monitor", "Microsoft.Network", "Microsoft.OperationalInsights",
		"Microsoft.PolicyInsights", "Microsoft.RecoveryServices", "Microsoft.Resources", "Microsoft.Security",
		"Microsoft.SecurityInsights", "Microsoft.ServiceBus", "Microsoft.Sql", "Microsoft.Storage", "Microsoft.Web",
	} {
		knownNamespaces[strings.ToLower(ns)] = ns
	}
	for _, t := range []string{
		"Microsoft.Authorization/roleAssignments", "Microsoft.Authorization/roleDefinitions",
		"Microsoft.Authorization/locks", "Microsoft.Authorization/policyAssignments",
		"Microsoft.Authorization/policyDefinitions", "Microsoft.Authorization/policyExemptions",
		"Microsoft.Authorization/denyAssignments", "Microsoft.Authorization/elevateAccess",
		"Microsoft.KeyVault/vaults", "Microsoft.KeyVault/vaults/secrets", "Microsoft.KeyVault/vaults/keys",
		"Microsoft.KeyVault/vaults/certificates", "Microsoft.KeyVault/vaults/accessPolicies",
		"Microsoft.Network/networkSecurityGroups", "Microsoft.Network/networkSecurityGroups/securityRules",
		"Microsoft.Network/publicIPAddresses", "Microsoft.Network/virtualNetworks",
		"Microsoft.Network/virtualNetworks/subnets", "Microsoft.Network/networkInterfaces",
		"Microsoft.Network/azureFirewalls", "Microsoft.Network/firewallPolicies", "Microsoft.Network/loadBalancers",
		"Microsoft.Network/privateEndpoints", "Microsoft.Network/networkWatchers/flowLogs",
		"Microsoft.Storage/storageAccounts", "Microsoft.Storage/storageAccounts/blobServices",
		"Microsoft.Storage/storageAccounts/blobServices/containers",
		"Microsoft.Compute/virtualMachines", "Microsoft.Compute/virtualMachines/extensions",
		"Microsoft.Compute/virtualMachineScaleSets", "Microsoft.Compute/disks", "Microsoft.Compute/snapshots",
		"Microsoft.Insights/diagnosticSettings", "Microsoft.Insights/activityLogAlerts",
		"Microsoft.Insights/actionGroups", "Microsoft.Insights/logProfiles", "Microsoft.Insights/dataCollectionRules",
		"Microsoft.ContainerService/managedClusters", "Microsoft.ContainerService/managedClusters/agentPools",
		"Microsoft.ContainerService/managedClusters/accessProfiles", "Microsoft.aadiam/diagnosticSettings",
		"Microsoft.ContainerRegistry/registries",
		"Microsoft.ManagedIdentity/userAssignedIdentities",
		"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
		"Microsoft.Resources/subscriptions", "Microsoft.Resources/resourceGroups", "Microsoft.Resources/tenants",
		"Microsoft.Resources/deployments", "Microsoft.Management/managementGroups",
		"Microsoft.Sql/servers", "Microsoft.Sql/servers/firewallRules", "Microsoft.Web/sites",
		"Microsoft.OperationalInsights/workspaces", "Microsoft.Security/pricings",
	} {
		knownTypes[strings.ToLower(t)] = t
	}
}
