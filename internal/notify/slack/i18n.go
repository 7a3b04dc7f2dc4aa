package slack

import (
	"fmt"
	"strings"

	"github.com/vigia-dev/vigia/internal/alert"
)

// labels are the static texts of a message in one language. Event data is
// never translated.
type labels struct {
	who, what, where, when                    string
	identity, sourceIP, userAgent             string
	action, resource, object, outcome         string
	cluster, namespace, pod, account, region  string
	source, runbook, group, rule, alertsLabel string
	attack                                    string
	firing, resolved, stillFiring             string
	first, last, resolvedAt                   string
	alsoInGroup                               string
	acknowledged, silenced, by, until         string
	acknowledge, resolve, resolveConfirm      string
	cancel, silenceMenu                       string
	severity                                  map[string]string
	// silenceFor is the label of a silence button: "Silence 1h".
	silenceFor func(d string) string
	// alerts is "1 alert" / "3 alerts".
	alerts func(n int) string
	// newAlerts is "2 new alerts, total 5".
	newAlerts func(n, total int) string
	// more is "and 4 more".
	more func(n int) string
	// quietSince is the resolution reply: no new alerts since t.
	quietSince func(t string) string
}

var english = &labels{
	who: "Who", what: "What", where: "Where", when: "When",
	identity: "identity", sourceIP: "source IP", userAgent: "user agent",
	action: "action", resource: "resource", object: "object", outcome: "outcome",
	cluster: "cluster", namespace: "namespace", pod: "pod", account: "account", region: "region",
	source: "source", runbook: "Runbook", group: "group", rule: "rule", alertsLabel: "alerts",
	attack: "ATT&CK",
	firing: "Firing", resolved: "Resolved", stillFiring: "Still firing",
	first: "first", last: "last", resolvedAt: "resolved",
	alsoInGroup:  "Also in this group",
	acknowledged: "Acknowledged", silenced: "Silenced", by: "by", until: "until",
	acknowledge: "Acknowledge", resolve: "Resolve", resolveConfirm: "Resolve this incident everywhere (pager, alerts, tickets)?",
	cancel: "Cancel", silenceMenu: "Silence for…",
	silenceFor: func(d string) string { return "Silence " + d },
	severity: map[string]string{
		alert.SeverityCritical: "CRITICAL", alert.SeverityHigh: "HIGH", alert.SeverityMedium: "MEDIUM",
		alert.SeverityLow: "LOW", alert.SeverityInfo: "INFO",
	},
	alerts: func(n int) string { return plural(n, "alert", "alerts") },
	newAlerts: func(n, total int) string {
		return fmt.Sprintf("%s, total %d", plural(n, "new alert", "new alerts"), total)
	},
	more:       func(n int) string { return fmt.Sprintf("and %d more", n) },
	quietSince: func(t string) string { return "no new alerts since " + t },
}

var portuguese = &labels{
	who: "Quem", what: "O quê", where: "Onde", when: "Quando",
	identity: "identidade", sourceIP: "IP de origem", userAgent: "user agent",
	action: "ação", resource: "recurso", object: "objeto", outcome: "resultado",
	cluster: "cluster", namespace: "namespace", pod: "pod", account: "conta", region: "região",
	source: "fonte", runbook: "Runbook", group: "grupo", rule: "regra", alertsLabel: "alertas",
	attack: "ATT&CK",
	firing: "Ativo", resolved: "Resolvido", stillFiring: "Ainda ativo",
	first: "primeiro", last: "último", resolvedAt: "resolvido",
	alsoInGroup:  "Também neste grupo",
	acknowledged: "Reconhecido", silenced: "Silenciado", by: "por", until: "até",
	acknowledge: "Reconhecer", resolve: "Resolver", resolveConfirm: "Resolver este incidente em todos os lugares (pager, alertas, tickets)?",
	cancel: "Cancelar", silenceMenu: "Silenciar por…",
	silenceFor: func(d string) string { return "Silenciar " + d },
	severity: map[string]string{
		alert.SeverityCritical: "CRÍTICA", alert.SeverityHigh: "ALTA", alert.SeverityMedium: "MÉDIA",
		alert.SeverityLow: "BAIXA", alert.SeverityInfo: "INFO",
	},
	alerts: func(n int) string { return plural(n, "alerta", "alertas") },
	newAlerts: func(n, total int) string {
		return fmt.Sprintf("%s, total %d", plural(n, "novo alerta", "novos alertas"), total)
	},
	more:       func(n int) string { return fmt.Sprintf("e mais %d", n) },
	quietSince: func(t string) string { return "nenhum alerta novo desde " + t },
}

// catalogs maps the accepted locale settings to their labels.
var catalogs = map[string]*labels{
	"": english, "en": english, "en-US": english,
	"pt-BR": portuguese,
}

// Locales are the locale settings with their own labels, besides English.
var Locales = []string{"pt-BR"}

func catalog(locale string) *labels {
	if l, ok := catalogs[locale]; ok {
		return l
	}
	return english
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// severityLabel is the upper-case severity in the language; unknown
// severities are shown cleaned and cut, never translated.
func (l *labels) severityLabel(sev string) string {
	if s, ok := l.severity[sev]; ok {
		return s
	}
	label := []rune(strings.TrimSpace(strings.ToUpper(clean(sev))))
	if len(label) == 0 {
		return "UNKNOWN"
	}
	return string(label[:min(len(label), 20)])
}
