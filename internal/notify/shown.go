package notify

import "github.com/vigia-dev/vigia/internal/alert"

// NonNil returns the alerts that are not nil, in order, in a new slice
// (empty, not nil, when there is none).
func NonNil(alerts []*alert.Alert) []*alert.Alert {
	out := make([]*alert.Alert, 0, len(alerts))
	for _, a := range alerts {
		if a != nil {
			out = append(out, a)
		}
	}
	return out
}

// Lead returns the first alert of the highest severity, the one a page or
// a ticket is titled after; nil when there is none.
func Lead(alerts []*alert.Alert) *alert.Alert {
	var best *alert.Alert
	for _, a := range alerts {
		if a != nil && (best == nil || alert.SeverityRank(a.Rule.Severity) > alert.SeverityRank(best.Rule.Severity)) {
			best = a
		}
	}
	return best
}

// Repeat reports whether n follows earlier notifications of its group:
// the receiver kept state for it (prev), or the group counts more alerts
// than the ones n carries (alerts, its non-nil alerts).
func Repeat(n *Notification, alerts []*alert.Alert, prev State) bool {
	return len(prev) > 0 || n.Total > len(alerts)
}

// Featured is the alert a notification is shown by: on the first
// notification of a group the most severe (Lead), on a repeat the latest;
// nil when alerts, n's non-nil alerts, is empty.
func Featured(n *Notification, alerts []*alert.Alert, prev State) *alert.Alert {
	if len(alerts) == 0 {
		return nil
	}
	if Repeat(n, alerts, prev) {
		return alerts[len(alerts)-1]
	}
	return Lead(alerts)
}
