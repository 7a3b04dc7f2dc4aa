package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/event"
)

func TestFromEvent(t *testing.T) {
	ev := &event.Event{Source: event.SourceCloudTrail, ID: "e1", Time: time.Unix(100, 0), Action: "StopLogging", Outcome: "success"}
	ev.Actor.Name = "arn:aws:sts::1:assumed-role/ledger-s3/s"
	ev.Actor.UserAgent = "curl/8 Authorization: Bearer sekret-token-value"
	ev.Cloud.Account, ev.Cloud.Region = "111122223333", "us-east-1"
	ev.Entity.Identity, ev.Entity.ServiceAccount = "system:serviceaccount:payments:ledger", "payments/ledger"
	r := Rule{ID: "aws-x", Severity: SeverityHigh, Tags: []string{"attack.t1562.008"}}
	a := FromEvent(r, "stopped with password=hunter2 in the request", Runbook{}, ev)
	if a.Entity.Identity != "system:serviceaccount:payments:ledger" || a.Entity.Namespace != "payments" {
		t.Errorf("entity %+v: want the resolved identity and its namespace", a.Entity)
	}
	if strings.Contains(a.Summary, "hunter2") || strings.Contains(a.Context.UserAgent, "sekret-token-value") {
		t.Errorf("secret survived: %q %q", a.Summary, a.Context.UserAgent)
	}
	if a.Context.Account != "111122223333" || a.Context.Region != "us-east-1" {
		t.Errorf("context %+v", a.Context)
	}
	l := a.BaseLabels()
	if l["rule"] != "aws-x" || l["namespace"] != "payments" || l["account"] != "111122223333" || l["tags"] != "attack.t1562.008" || l["source"] != "aws_cloudtrail" {
		t.Errorf("labels %v", l)
	}
	// Same event, same ids; another identity, another dedup key.
	b := FromEvent(r, "x", Runbook{}, ev)
	ev.Entity.Identity = "someone-else"
	c := FromEvent(r, "x", Runbook{}, ev)
	if a.ID != b.ID || a.DedupKey != b.DedupKey || c.DedupKey == a.DedupKey {
		t.Error("ids are not stable or dedup keys do not follow the identity")
	}
}
