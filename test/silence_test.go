package test

import (
	"context"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/api"
	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/notify/slack/slackfake"
)

// TestSilenceThroughTheAPI: a silence created through the running
// pipeline's API mutes the matching alerts; the others still reach Slack,
// and the muted ones leave the outbox.
func TestSilenceThroughTheAPI(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", 1, topic, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fake := slackfake.New(t, token)
	t.Setenv("VIGIA_TEST_SLACK_TOKEN", token)
	cfg := testConfig(t, b.Addrs(), fake.URL())
	r := start(t, cfg)
	defer r.stop(t)

	client, err := api.NewClient("http://"+r.running.API, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sil, err := client.CreateSilence(ctx, api.SilenceRequest{
		Matchers:  []string{`rule="k8s-pod-exec-attach"`},
		Duration:  "1h",
		CreatedBy: "ana",
		Comment:   "break-glass debugging of the payments pods",
	})
	if err != nil {
		t.Fatal(err)
	}
	if sil.ID == "" || sil.Status != "active" {
		t.Fatalf("silence %+v", sil)
	}
	lines := readLines(t, samples)
	produce(t, b.Addrs(), lines...)
	all := expectedFallbacks(t, lines)
	var want expected
	for _, w := range all.Required {
		if !strings.Contains(w, "Interactive command or attach") {
			want.Required = append(want.Required, w)
		}
	}
	want.Optional = all.Optional
	waitFor(t, "the unsilenced alerts", func() bool { return len(fake.Messages()) >= want.Count() })
	waitFor(t, "an empty outbox", func() bool { n, _ := r.running.Pending(ctx); return n == 0 })
	for _, m := range fake.Messages() {
		if strings.Contains(m.Text, "Interactive command or attach") {
			t.Errorf("a silenced alert reached Slack: %s", m.Text)
		}
	}
	if err := want.Check(texts(fake.Messages())); err != nil {
		t.Errorf("Slack: %v", err)
	}
}
