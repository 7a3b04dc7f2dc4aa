package config

import (
	"strings"
	"testing"
)

func TestLifecycleConfig(t *testing.T) {
	const base = "kafka: {embedded: true, topics: [{name: a}]}\n"
	slackRcv := "receivers: [{name: s, slack: {token_env: T, channel: c, interactive: true}}]\n"
	for _, c := range []struct{ yaml, want string }{
		{base + slackRcv, "receivers[0].slack.interactive: needs lifecycle.listen and lifecycle.slack"},
		{base + "receivers: [{name: o, console: {}}]\nlifecycle: {listen: ':9466'}\n", "lifecycle.listen: set lifecycle.slack or lifecycle.pagerduty"},
		{base + slackRcv + "lifecycle: {listen: ':9466', slack: {}}\n", "lifecycle.slack.signing_secret_env: set exactly one"},
		{base + "receivers: [{name: o, console: {}}]\nlifecycle: {listen: ':9466', pagerduty: {webhook_secret_env: A, webhook_secret_file: B}}\n", "lifecycle.pagerduty.webhook_secret_env"},
		{base + "receivers: [{name: o, console: {}}]\nroute: {routes: [{matchers: ['severity=\"high\"'], lifecycle: {slack_users: [ana]}}]}\n", `route.routes[0].lifecycle.slack_users[0]: "ana" is not a Slack user id`},
		{base + "receivers: [{name: o, console: {}}]\nroute: {lifecycle: {slack_user_groups: [U0123ABC]}}\n", `route.lifecycle.slack_user_groups[0]: "U0123ABC" is not a Slack user group id`},
		{base + slackRcv + "lifecycle: {listen: ':9466', slack: {signing_secret: shh}}\n", "field signing_secret not found"},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
	cfg, err := Parse([]byte(base + slackRcv + `lifecycle: {listen: ':9466', slack: {signing_secret_env: SLACK_SIGNING_SECRET}}
route:
  lifecycle: {slack_user_groups: [S0SOC0001]}
  routes:
    - matchers: ['severity="critical"']
    - matchers: ['namespace="payments"']
      lifecycle: {slack_users: [U0ANA0001]}
      routes: [{matchers: ['pod="x"']}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Lifecycle.Workers != 4 || cfg.Lifecycle.QueueSize != 256 {
		t.Errorf("defaults: %+v", cfg.Lifecycle)
	}
	a := cfg.LifecycleActors()
	if g := a["0.0"].SlackUserGroups; len(g) != 1 || g[0] != "S0SOC0001" {
		t.Errorf("0.0 does not inherit the root's: %+v", a["0.0"])
	}
	if u := a["0.1.0"].SlackUsers; len(u) != 1 || u[0] != "U0ANA0001" || len(a["0.1.0"].SlackUserGroups) != 0 {
		t.Errorf("0.1.0 does not inherit 0.1's: %+v", a["0.1.0"])
	}
}
