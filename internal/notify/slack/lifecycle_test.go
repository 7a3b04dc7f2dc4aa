package slack

import (
	"strings"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/slack/slackfake"
)

func TestButtonsOnlyWhenInteractive(t *testing.T) {
	for _, interactive := range []bool{false, true} {
		srv := slackfake.New(t, "xoxb-test")
		r := newReceiver(t, Config{Token: "xoxb-test", Channel: "#soc", APIURL: srv.URL(), Interactive: interactive}, nil, newClock())
		st, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1, alertN(1, alert.SeverityHigh)), nil)
		if err != nil {
			t.Fatal(err)
		}
		p := srv.Parents()[0]
		if has := strings.Contains(p.RawBlocks, `"type":"actions"`); has != interactive {
			t.Fatalf("interactive=%v: actions block present=%v", interactive, has)
		}
		if !interactive {
			continue
		}
		if !strings.Contains(p.RawBlocks, `"value":"`+groupKey+`"`) {
			t.Errorf("buttons do not carry the group key: %s", p.RawBlocks)
		}
		// Acknowledged: the button goes, the reminder stays in the thread.
		a := &notify.Action{Kind: notify.ActionAcknowledge, Actor: "<!channel> ana", Source: notify.SourceSlack, At: t0, GroupKey: groupKey, Total: 1}
		st, err = r.Acknowledge(t.Context(), a, st)
		if err != nil {
			t.Fatal(err)
		}
		p, _ = srv.Message(p.TS)
		if strings.Contains(p.RawBlocks, ActionIDAcknowledge) || !strings.Contains(p.RawBlocks, `\u0026lt;!channel\u0026gt; ana`) || strings.Contains(p.RawBlocks, `\u003c!channel`) {
			t.Errorf("after acknowledge: %s", p.RawBlocks)
		}
		if _, err := r.Deliver(t.Context(), notification(notify.StatusFiring, 1), st); err != nil {
			t.Fatal(err)
		}
		rs := srv.Replies(p.TS)
		if last := rs[len(rs)-1]; last.Broadcast {
			t.Errorf("the reminder of an acknowledged group was broadcast")
		}
		p, _ = srv.Message(p.TS)
		if !strings.Contains(p.RawBlocks, "Acknowledged") {
			t.Errorf("a redraw lost the acknowledgement: %s", p.RawBlocks)
		}
		// Resolved by a person: no buttons.
		a.Kind, a.At = notify.ActionResolve, t0.Add(time.Minute)
		if _, err := r.Resolve(t.Context(), a, st); err != nil {
			t.Fatal(err)
		}
		p, _ = srv.Message(p.TS)
		if strings.Contains(p.RawBlocks, `"type":"actions"`) || !strings.Contains(p.RawBlocks, "Resolved") {
			t.Errorf("after resolve: %s", p.RawBlocks)
		}
	}
}
