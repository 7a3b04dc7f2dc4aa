package jira_test

import (
	"fmt"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/jira"
)

// The group key gives every issue of a group the same label, which the
// receiver searches for when it lost the group's state.
func ExampleSummary() {
	n := &notify.Notification{
		GroupKey: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
		Alerts: []*alert.Alert{{
			Rule:    alert.Rule{ID: "k8s.exec_into_pod", Title: "Exec into pod", Severity: alert.SeverityHigh},
			Summary: "alice opened a shell in payments/api-7d9f",
		}},
	}
	fmt.Println(notify.DedupKey(n.GroupKey))
	fmt.Println(jira.Summary(n))
	// Output:
	// vigia-9f86d081884c7d659a2feaa0c55ad015
	// [HIGH] Exec into pod: alice opened a shell in payments/api-7d9f
}
