package config

import (
	"fmt"
	"regexp"
	"time"
)

// Lifecycle serves the endpoint through which people acknowledge, resolve
// and silence incidents from Slack's buttons and PagerDuty, kept in step
// everywhere the incident lives (docs/lifecycle.md). It must be reachable
// by Slack and PagerDuty: expose it through an ingress with TLS, and
// nothing else of Vigia with it.
type Lifecycle struct {
	// Listen is the address serving /slack/interactions,
	// /pagerduty/webhook and /healthz; "" or "off" disables it (and the
	// buttons). Default: off.
	Listen string `yaml:"listen"`
	// Slack verifies Slack's interactivity requests. Required for
	// receivers with slack.interactive.
	Slack *LifecycleSlack `yaml:"slack"`
	// PagerDuty verifies PagerDuty v3 webhooks (incident acknowledged or
	// resolved in PagerDuty). Default: off.
	PagerDuty *LifecyclePagerDuty `yaml:"pagerduty"`
	// Workers apply actions after the request was answered (Slack wants an
	// answer within 3 seconds). Default: 4.
	Workers int `yaml:"workers"`
	// QueueSize bounds the actions waiting for a worker; beyond it
	// requests are answered 503. Default: 256.
	QueueSize int `yaml:"queue_size"`
	// MembershipTTL is how long Slack user group memberships are cached.
	// Default: 5m.
	MembershipTTL time.Duration `yaml:"membership_ttl"`
	// MaxSilence bounds the silences people create from Slack. Default:
	// 168h (7 days).
	MaxSilence time.Duration `yaml:"max_silence"`
}

// LifecycleSlack holds the Slack app's signing secret.
type LifecycleSlack struct {
	// SigningSecretEnv names the environment variable holding the Slack
	// app's signing secret (Basic Information → App Credentials). One of
	// signing_secret_env and signing_secret_file is required.
	SigningSecretEnv string `yaml:"signing_secret_env"`
	// SigningSecretFile is a file holding the signing secret.
	SigningSecretFile string `yaml:"signing_secret_file"`
}

// LifecyclePagerDuty holds the webhook subscription's secret.
type LifecyclePagerDuty struct {
	// WebhookSecretEnv names the environment variable holding the v3
	// webhook subscription's signing secret. One of webhook_secret_env and
	// webhook_secret_file is required.
	WebhookSecretEnv string `yaml:"webhook_secret_env"`
	// WebhookSecretFile is a file holding the webhook secret.
	WebhookSecretFile string `yaml:"webhook_secret_file"`
}

// RouteLifecycle names who may acknowledge, resolve and silence the alerts
// of a route from Slack. A route without it inherits its parent's; with
// none on the root, nobody may.
type RouteLifecycle struct {
	// SlackUsers are Slack user ids (U0123ABCD, W0123ABCD).
	SlackUsers []string `yaml:"slack_users"`
	// SlackUserGroups are Slack user group ids (S0123ABCD); their members
	// may act. Reading them needs the usergroups:read scope.
	SlackUserGroups []string `yaml:"slack_user_groups"`
}

var (
	slackUserID  = regexp.MustCompile(`^[UW][A-Z0-9]{2,30}$`)
	slackGroupID = regexp.MustCompile(`^S[A-Z0-9]{2,30}$`)
)

func (c *Config) lifecycleDefaults() {
	l := &c.Lifecycle
	if l.Listen == "" {
		l.Listen = "off"
	}
	if l.Workers == 0 {
		l.Workers = 4
	}
	if l.QueueSize == 0 {
		l.QueueSize = 256
	}
	if l.MembershipTTL == 0 {
		l.MembershipTTL = 5 * time.Minute
	}
	if l.MaxSilence == 0 {
		l.MaxSilence = 7 * 24 * time.Hour
	}
}

func (c *Config) validateLifecycle() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	l := c.Lifecycle
	on := l.Listen != "off" && l.Listen != ""
	if on && l.Slack == nil && l.PagerDuty == nil {
		bad("lifecycle.listen", "set lifecycle.slack or lifecycle.pagerduty, or listen: off")
	}
	if s := l.Slack; s != nil && (s.SigningSecretEnv == "") == (s.SigningSecretFile == "") {
		bad("lifecycle.slack.signing_secret_env", "set exactly one of signing_secret_env and signing_secret_file")
	}
	if p := l.PagerDuty; p != nil && (p.WebhookSecretEnv == "") == (p.WebhookSecretFile == "") {
		bad("lifecycle.pagerduty.webhook_secret_env", "set exactly one of webhook_secret_env and webhook_secret_file")
	}
	if l.Workers < 0 {
		bad("lifecycle.workers", "must not be negative")
	}
	if l.QueueSize < 0 {
		bad("lifecycle.queue_size", "must not be negative")
	}
	if l.MaxSilence < 0 {
		bad("lifecycle.max_silence", "must not be negative")
	}
	for i, r := range c.Receivers {
		if r.Slack != nil && r.Slack.Interactive && (!on || l.Slack == nil) {
			bad(fmt.Sprintf("receivers[%d].slack.interactive", i), "needs lifecycle.listen and lifecycle.slack (the endpoint Slack sends button clicks to)")
		}
	}
	var walk func(r *Route, field string)
	walk = func(r *Route, field string) {
		if lc := r.Lifecycle; lc != nil {
			for i, u := range lc.SlackUsers {
				if !slackUserID.MatchString(u) {
					bad(fmt.Sprintf("%s.lifecycle.slack_users[%d]", field, i), "%q is not a Slack user id (U0123ABCD)", u)
				}
			}
			for i, g := range lc.SlackUserGroups {
				if !slackGroupID.MatchString(g) {
					bad(fmt.Sprintf("%s.lifecycle.slack_user_groups[%d]", field, i), "%q is not a Slack user group id (S0123ABCD)", g)
				}
			}
		}
		for i := range r.Routes {
			walk(&r.Routes[i], fmt.Sprintf("%s.routes[%d]", field, i))
		}
	}
	walk(&c.Route, "route")
	return errs
}

// LifecycleActors returns who may act on each route's alerts from Slack,
// by route id as the routing tree names them ("0" the root, "0.1" its
// second child, …), inherited where a route sets none.
func (c *Config) LifecycleActors() map[string]RouteLifecycle {
	out := map[string]RouteLifecycle{}
	var walk func(r *Route, id string, inherited RouteLifecycle)
	walk = func(r *Route, id string, inherited RouteLifecycle) {
		if r.Lifecycle != nil {
			inherited = *r.Lifecycle
		}
		out[id] = inherited
		for i := range r.Routes {
			walk(&r.Routes[i], fmt.Sprintf("%s.%d", id, i), inherited)
		}
	}
	walk(&c.Route, "0", RouteLifecycle{})
	return out
}
