package rule

import (
	"fmt"
	"strings"
)

// Techniques names the MITRE ATT&CK Enterprise techniques and
// sub-techniques rules may tag, by id. It is the one table `vigia rules
// coverage` and `rules lint` read: a rule tagging an id missing here fails
// lint, so add the id with its exact ATT&CK name (attack.mitre.org) when a
// rule needs one. A sub-technique's parent must be listed too.
var Techniques = map[string]string{
	"T1003":     "OS Credential Dumping",
	"T1003.007": "Proc Filesystem",
	"T1003.008": "/etc/passwd and /etc/shadow",
	"T1005":     "Data from Local System",
	"T1007":     "System Service Discovery",
	"T1014":     "Rootkit",
	"T1016":     "System Network Configuration Discovery",
	"T1018":     "Remote System Discovery",
	"T1021":     "Remote Services",
	"T1021.004": "SSH",
	"T1021.007": "Cloud Services",
	"T1021.008": "Direct Cloud VM Connections",
	"T1027":     "Obfuscated Files or Information",
	"T1033":     "System Owner/User Discovery",
	"T1037":     "Boot or Logon Initialization Scripts",
	"T1036":     "Masquerading",
	"T1036.005": "Match Legitimate Resource Name or Location",
	"T1040":     "Network Sniffing",
	"T1041":     "Exfiltration Over C2 Channel",
	"T1046":     "Network Service Discovery",
	"T1048":     "Exfiltration Over Alternative Protocol",
	"T1049":     "System Network Connections Discovery",
	"T1053":     "Scheduled Task/Job",
	"T1053.003": "Cron",
	"T1053.007": "Container Orchestration Job",
	"T1055":     "Process Injection",
	"T1057":     "Process Discovery",
	"T1059":     "Command and Scripting Interpreter",
	"T1059.004": "Unix Shell",
	"T1059.006": "Python",
	"T1059.009": "Cloud API",
	"T1059.013": "Container CLI/API",
	"T1068":     "Exploitation for Privilege Escalation",
	"T1069":     "Permission Groups Discovery",
	"T1069.003": "Cloud Groups",
	"T1070":     "Indicator Removal",
	"T1070.002": "Clear Linux or Mac System Logs",
	"T1070.003": "Clear Command History",
	"T1070.004": "File Deletion",
	"T1071":     "Application Layer Protocol",
	"T1071.001": "Web Protocols",
	"T1071.004": "DNS",
	"T1074":     "Data Staged",
	"T1078":     "Valid Accounts",
	"T1078.001": "Default Accounts",
	"T1078.004": "Cloud Accounts",
	"T1082":     "System Information Discovery",
	"T1083":     "File and Directory Discovery",
	"T1087":     "Account Discovery",
	"T1087.004": "Cloud Account",
	"T1090":     "Proxy",
	"T1090.003": "Multi-hop Proxy",
	"T1095":     "Non-Application Layer Protocol",
	"T1098":     "Account Manipulation",
	"T1098.001": "Additional Cloud Credentials",
	"T1098.003": "Additional Cloud Roles",
	"T1098.004": "SSH Authorized Keys",
	"T1098.005": "Device Registration",
	"T1098.006": "Additional Container Cluster Roles",
	"T1098.007": "Additional Local or Domain Groups",
	"T1102":     "Web Service",
	"T1105":     "Ingress Tool Transfer",
	"T1110":     "Brute Force",
	"T1110.001": "Password Guessing",
	"T1110.003": "Password Spraying",
	"T1110.004": "Credential Stuffing",
	"T1119":     "Automated Collection",
	"T1133":     "External Remote Services",
	"T1136":     "Create Account",
	"T1136.001": "Local Account",
	"T1136.003": "Cloud Account",
	"T1140":     "Deobfuscate/Decode Files or Information",
	"T1190":     "Exploit Public-Facing Application",
	"T1195":     "Supply Chain Compromise",
	"T1195.002": "Compromise Software Supply Chain",
	"T1199":     "Trusted Relationship",
	"T1201":     "Password Policy Discovery",
	"T1204":     "User Execution",
	"T1204.003": "Malicious Image",
	"T1213":     "Data from Information Repositories",
	"T1213.003": "Code Repositories",
	"T1219":     "Remote Access Tools",
	"T1222":     "File and Directory Permissions Modification",
	"T1222.002": "Linux and Mac File and Directory Permissions Modification",
	"T1484":     "Domain or Tenant Policy Modification",
	"T1484.002": "Trust Modification",
	"T1485":     "Data Destruction",
	"T1485.001": "Lifecycle-Triggered Deletion",
	"T1486":     "Data Encrypted for Impact",
	"T1489":     "Service Stop",
	"T1490":     "Inhibit System Recovery",
	"T1496":     "Resource Hijacking",
	"T1496.001": "Compute Hijacking",
	"T1496.002": "Bandwidth Hijacking",
	"T1496.004": "Cloud Service Hijacking",
	"T1498":     "Network Denial of Service",
	"T1499":     "Endpoint Denial of Service",
	"T1505":     "Server Software Component",
	"T1505.003": "Web Shell",
	"T1525":     "Implant Internal Image",
	"T1526":     "Cloud Service Discovery",
	"T1528":     "Steal Application Access Token",
	"T1530":     "Data from Cloud Storage",
	"T1531":     "Account Access Removal",
	"T1535":     "Unused/Unsupported Cloud Regions",
	"T1537":     "Transfer Data to Cloud Account",
	"T1538":     "Cloud Service Dashboard",
	"T1539":     "Steal Web Session Cookie",
	"T1543":     "Create or Modify System Process",
	"T1543.002": "Systemd Service",
	"T1543.005": "Container Service",
	"T1546":     "Event Triggered Execution",
	"T1546.004": "Unix Shell Configuration Modification",
	"T1547":     "Boot or Logon Autostart Execution",
	"T1547.006": "Kernel Modules and Extensions",
	"T1548":     "Abuse Elevation Control Mechanism",
	"T1548.001": "Setuid and Setgid",
	"T1548.003": "Sudo and Sudo Caching",
	"T1548.005": "Temporary Elevated Cloud Access",
	"T1550":     "Use Alternate Authentication Material",
	"T1550.001": "Application Access Token",
	"T1550.004": "Web Session Cookie",
	"T1552":     "Unsecured Credentials",
	"T1552.001": "Credentials In Files",
	"T1552.003": "Shell History",
	"T1552.004": "Private Keys",
	"T1552.005": "Cloud Instance Metadata API",
	"T1552.007": "Container API",
	"T1554":     "Compromise Host Software Binary",
	"T1555":     "Credentials from Password Stores",
	"T1555.006": "Cloud Secrets Management Stores",
	"T1556":     "Modify Authentication Process",
	"T1556.006": "Multi-Factor Authentication",
	"T1556.007": "Hybrid Identity",
	"T1556.009": "Conditional Access Policies",
	"T1557":     "Adversary-in-the-Middle",
	"T1560":     "Archive Collected Data",
	"T1562":     "Impair Defenses",
	"T1562.001": "Disable or Modify Tools",
	"T1562.004": "Disable or Modify System Firewall",
	"T1562.006": "Indicator Blocking",
	"T1562.007": "Disable or Modify Cloud Firewall",
	"T1562.008": "Disable or Modify Cloud Logs",
	"T1562.012": "Disable or Modify Linux Audit System",
	"T1564":     "Hide Artifacts",
	"T1564.013": "Bind Mounts",
	"T1566":     "Phishing",
	"T1567":     "Exfiltration Over Web Service",
	"T1567.002": "Exfiltration to Cloud Storage",
	"T1568":     "Dynamic Resolution",
	"T1570":     "Lateral Tool Transfer",
	"T1571":     "Non-Standard Port",
	"T1572":     "Protocol Tunneling",
	"T1573":     "Encrypted Channel",
	"T1574":     "Hijack Execution Flow",
	"T1574.006": "Dynamic Linker Hijacking",
	"T1578":     "Modify Cloud Compute Infrastructure",
	"T1578.001": "Create Snapshot",
	"T1578.002": "Create Cloud Instance",
	"T1578.003": "Delete Cloud Instance",
	"T1578.005": "Modify Cloud Compute Configurations",
	"T1580":     "Cloud Infrastructure Discovery",
	"T1595":     "Active Scanning",
	"T1606":     "Forge Web Credentials",
	"T1606.002": "SAML Tokens",
	"T1609":     "Container Administration Command",
	"T1610":     "Deploy Container",
	"T1611":     "Escape to Host",
	"T1612":     "Build Image on Host",
	"T1613":     "Container and Resource Discovery",
	"T1619":     "Cloud Storage Object Discovery",
	"T1620":     "Reflective Code Loading",
	"T1621":     "Multi-Factor Authentication Request Generation",
	"T1648":     "Serverless Execution",
	"T1649":     "Steal or Forge Authentication Certificates",
	"T1651":     "Cloud Administration Command",
	"T1654":     "Log Enumeration",
	"T1656":     "Impersonation",
	"T1666":     "Modify Cloud Resource Hierarchy",
	"T1671":     "Cloud Application Integration",
}

// TechniqueName returns the display name of an ATT&CK id ("T1098.006" →
// "Account Manipulation: Additional Container Cluster Roles"), and false
// when Techniques lacks the id or, for a sub-technique, its parent.
func TechniqueName(id string) (string, bool) {
	name, ok := Techniques[id]
	if !ok {
		return "", false
	}
	if parent, _, sub := strings.Cut(id, "."); sub {
		p, ok := Techniques[parent]
		if !ok {
			return "", false
		}
		return p + ": " + name, true
	}
	return name, true
}

// techniqueID turns a tag into an ATT&CK id: "attack.t1552.007" → "T1552.007".
func techniqueID(tag string) (string, bool) {
	if !techniquePattern.MatchString(tag) {
		return "", false
	}
	return strings.ToUpper(strings.TrimPrefix(tag, "attack.")), true
}

// Techniques returns the rule's ATT&CK technique ids, in tag order.
func (r *Rule) Techniques() []string {
	var ids []string
	for _, t := range r.Tags {
		if id, ok := techniqueID(t); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// Tactics returns the rule's ATT&CK tactics in Sigma's spelling
// (privilege_escalation), in tag order.
func (r *Rule) Tactics() []string {
	var out []string
	for _, t := range r.Tags {
		if name, ok := strings.CutPrefix(t, "attack."); ok && tactics[name] {
			out = append(out, name)
		}
	}
	return out
}

// errUnknownTechnique is the lint message for an id the table lacks.
func errUnknownTechnique(id string) error {
	return fmt.Errorf("ATT&CK technique %s is not in the technique table: add it with its ATT&CK name to Techniques in internal/rule/attack.go", id)
}

// lintMetadata reports what `rules lint` requires beyond a loadable rule:
// an ATT&CK tactic, techniques the table names, and false-positive notes
// (who legitimately triggers the rule and how to tune it).
func lintMetadata(r *Rule) LoadErrors {
	var errs LoadErrors
	add := func(field string, err error) {
		errs = append(errs, &LoadError{File: r.File, Line: r.Line, Rule: r.ID, Field: field, Err: err})
	}
	if len(r.Tactics()) == 0 {
		add("tags", fmt.Errorf("at least one ATT&CK tactic (attack.privilege_escalation) is required"))
	}
	for _, id := range r.Techniques() {
		if _, ok := TechniqueName(id); !ok {
			add("tags", errUnknownTechnique(id))
		}
	}
	if strings.TrimSpace(r.FalsePositives) == "" {
		add("false_positives", fmt.Errorf("is required: who triggers the rule legitimately, and how to tune it (lists, exceptions) rather than disable it"))
	}
	return errs
}
