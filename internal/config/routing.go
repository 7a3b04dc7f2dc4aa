package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/timeinterval"

	"github.com/vigia-dev/vigia/internal/alert"
)

// Route is one node of the routing tree (Alertmanager's semantics): an
// alert enters at the root, goes down the first child whose matchers all
// match (and on to later siblings when that child has continue: true), and
// is delivered by the deepest routes it reached. Unset settings are
// inherited from the parent route.
type Route struct {
	// Receivers deliver the alerts this route takes. Root default: every
	// configured receiver.
	Receivers []string `yaml:"receivers"`
	// Matchers select alerts, in Alertmanager's syntax (`severity=~"high|critical"`,
	// `namespace!="dev"`, `ns_team="payments"`); all must match. Labels:
	// rule, severity, source, cluster, namespace, identity, pod, account,
	// tags (comma separated ATT&CK tags, match with =~), ns_<key> (the
	// namespace owner's labels). The root has none.
	Matchers []string `yaml:"matchers"`
	// Continue lets later sibling routes match too.
	Continue bool `yaml:"continue"`
	// GroupBy are the labels one notification groups alerts by; "..." is
	// every label. Root default: [rule, identity, namespace, pod].
	GroupBy []string `yaml:"group_by"`
	// GroupWait is how long a new group waits for more alerts before its
	// first notification. Root default: 10s.
	GroupWait *time.Duration `yaml:"group_wait"`
	// GroupInterval is the least time between two notifications of a group
	// (repeats are batched in between). Root default: 1m.
	GroupInterval *time.Duration `yaml:"group_interval"`
	// RepeatInterval re-notifies an open group that got no new alert, as a
	// reminder; 0 disables. Root default: 4h.
	RepeatInterval *time.Duration `yaml:"repeat_interval"`
	// ResolveTimeout resolves a group after this long without a new alert
	// (Slack message updated, PagerDuty incident resolved, ticket
	// commented and closed); 0 never resolves. Root default: 1h.
	ResolveTimeout *time.Duration `yaml:"resolve_timeout"`
	// MuteTimeIntervals name time intervals during which this route does
	// not notify (the alerts are dropped, as in Alertmanager).
	MuteTimeIntervals []string `yaml:"mute_time_intervals"`
	// ActiveTimeIntervals name time intervals outside which this route does
	// not notify.
	ActiveTimeIntervals []string `yaml:"active_time_intervals"`
	// Routes are the child routes, tried in order.
	Routes []Route `yaml:"routes"`
	// Lifecycle names who may acknowledge, resolve and silence this
	// route's alerts from Slack. Default: the parent route's; nobody at
	// the root.
	Lifecycle *RouteLifecycle `yaml:"lifecycle"`

	// MinSeverity drops alerts below it before routing. Root only.
	// Default: info.
	MinSeverity string `yaml:"min_severity"`
	// RetryTimeout is how long a failing receiver is retried before the
	// failure is logged as an error and counted; delivery keeps retrying
	// after it (alerts are never dropped because a receiver is down), only
	// permanent errors (4xx other than 408 and 429) are dead-lettered.
	// Root only. Default: 5m.
	RetryTimeout time.Duration `yaml:"retry_timeout"`
	// SendTimeout bounds one delivery attempt. Root only. Default: 30s.
	SendTimeout time.Duration `yaml:"send_timeout"`
}

// InhibitRule mutes alerts matching TargetMatchers while an alert matching
// SourceMatchers, with equal values of the Equal labels, was seen by the
// same receiver within its route's resolve_timeout. Correlation alerts
// always mute the member alerts they explain, without a rule.
type InhibitRule struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

// TimeInterval is a named set of periods, in Alertmanager's format
// (times, weekdays, days_of_month, months, years, location).
type TimeInterval struct {
	Name          string                      `yaml:"name"`
	TimeIntervals []timeinterval.TimeInterval `yaml:"time_intervals"`
}

// Redis is the shared state store.
type Redis struct {
	// Addr is host:port. Required.
	Addr string `yaml:"addr"`
	// Username for Redis ACLs. Default: "".
	Username string `yaml:"username"`
	// PasswordEnv and PasswordFile name where the password is; never
	// inline. Default: no password.
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// DB is the database number. Default: 0.
	DB int `yaml:"db"`
	// TLS connects with TLS: `tls: {}` verifies the server against the
	// system roots (this replaces the former `tls: true`). Default: no TLS.
	TLS *RedisTLS `yaml:"tls"`
	// KeyPrefix prefixes every key, so several Vigia deployments can share
	// one Redis. Default: "vigia:".
	KeyPrefix string `yaml:"key_prefix"`
}

// Delivery tunes the outbox.
type Delivery struct {
	// ClaimTimeout is how long an entry claimed by a replica may stay
	// unacknowledged before another replica takes it over (the first one
	// is presumed dead). Must exceed the longest group_interval plus
	// retry_timeout. Default: the longest group_wait/group_interval plus
	// retry_timeout plus one minute.
	ClaimTimeout time.Duration `yaml:"claim_timeout"`
	// StateTTL is how long a group's delivery state (Slack thread, ticket)
	// is kept after its last alert. Default: 720h (30 days).
	StateTTL time.Duration `yaml:"state_ttl"`
}

// Resolution tunes identity and pod resolution.
type Resolution struct {
	// TTL is how long learned facts (pod → service account, role →
	// service account) are kept after they were last seen. Default: 336h
	// (14 days).
	TTL time.Duration `yaml:"ttl"`
	// MaxEntries bounds the in-memory store (without Redis). Default: 100000.
	MaxEntries int `yaml:"max_entries"`
}

// API serves silences and delivery dead letters to `vigia silence` and
// `vigia deliveries`.
type API struct {
	// Listen is the address served; "off" disables the API.
	// Default: 127.0.0.1:9465.
	Listen string `yaml:"listen"`
	// TokenFile holds a bearer token required on every request. Default:
	// none (bind to localhost, or set one).
	TokenFile string `yaml:"token_file"`
}

func (c *Config) routingDefaults() {
	if c.DataDir == "" {
		c.DataDir = ".vigia"
	}
	if c.Redis != nil && c.Redis.KeyPrefix == "" {
		c.Redis.KeyPrefix = "vigia:"
	}
	if c.Delivery.StateTTL == 0 {
		c.Delivery.StateTTL = 30 * 24 * time.Hour
	}
	if c.Resolution.TTL == 0 {
		c.Resolution.TTL = 14 * 24 * time.Hour
	}
	if c.Resolution.MaxEntries == 0 {
		c.Resolution.MaxEntries = 100000
	}
	if c.API.Listen == "" {
		c.API.Listen = "127.0.0.1:9465"
	}
	c.correlationDefaults()
}

func (c *Config) validateRouting(receivers map[string]bool) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if alert.SeverityRank(c.Route.MinSeverity) < 0 {
		bad("route.min_severity", "%q is not one of %s", c.Route.MinSeverity, strings.Join(alert.Severities, ", "))
	}
	if len(c.Route.Matchers) > 0 {
		bad("route.matchers", "the root route matches every alert; put matchers on child routes")
	}
	intervals := map[string]bool{}
	for i, ti := range c.TimeIntervals {
		field := fmt.Sprintf("time_intervals[%d]", i)
		if ti.Name == "" {
			bad(field+".name", "is required")
		} else if intervals[ti.Name] {
			bad(field+".name", "duplicate time interval %q", ti.Name)
		}
		intervals[ti.Name] = true
	}
	var walk func(r *Route, field string, root bool)
	walk = func(r *Route, field string, root bool) {
		for i, name := range r.Receivers {
			if !receivers[name] {
				bad(fmt.Sprintf("%s.receivers[%d]", field, i), "unknown receiver %q", name)
			}
		}
		if !root {
			for i, m := range r.Matchers {
				if _, err := labels.ParseMatchers(m); err != nil {
					bad(fmt.Sprintf("%s.matchers[%d]", field, i), "%q: %v", m, err)
				}
			}
			if r.MinSeverity != "" || r.RetryTimeout != 0 || r.SendTimeout != 0 {
				bad(field, "min_severity, retry_timeout and send_timeout are set on the root route only")
			}
		}
		for _, d := range []struct {
			name string
			v    *time.Duration
		}{{"group_wait", r.GroupWait}, {"group_interval", r.GroupInterval}, {"repeat_interval", r.RepeatInterval}, {"resolve_timeout", r.ResolveTimeout}} {
			if d.v != nil && *d.v < 0 {
				bad(field+"."+d.name, "must not be negative")
			}
		}
		if r.GroupInterval != nil && *r.GroupInterval == 0 {
			bad(field+".group_interval", "must be positive")
		}
		for _, list := range []struct {
			name  string
			names []string
		}{{"mute_time_intervals", r.MuteTimeIntervals}, {"active_time_intervals", r.ActiveTimeIntervals}} {
			for i, n := range list.names {
				if !intervals[n] {
					bad(fmt.Sprintf("%s.%s[%d]", field, list.name, i), "unknown time interval %q", n)
				}
			}
		}
		for i := range r.Routes {
			walk(&r.Routes[i], fmt.Sprintf("%s.routes[%d]", field, i), false)
		}
	}
	walk(&c.Route, "route", true)
	for i, ir := range c.InhibitRules {
		field := fmt.Sprintf("inhibit_rules[%d]", i)
		if len(ir.SourceMatchers) == 0 {
			bad(field+".source_matchers", "is required")
		}
		if len(ir.TargetMatchers) == 0 {
			bad(field+".target_matchers", "is required")
		}
		for j, m := range append(append([]string(nil), ir.SourceMatchers...), ir.TargetMatchers...) {
			if _, err := labels.ParseMatchers(m); err != nil {
				bad(fmt.Sprintf("%s.matchers[%d]", field, j), "%q: %v", m, err)
			}
		}
	}
	if r := c.Redis; r != nil {
		if r.Addr == "" {
			bad("redis.addr", "is required")
		}
		if r.PasswordEnv != "" && r.PasswordFile != "" {
			bad("redis.password_env", "set one of password_env and password_file")
		}
		if t := r.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
			bad("redis.tls.cert_file", "cert_file and key_file go together")
		}
	}
	if c.Delivery.ClaimTimeout < 0 {
		bad("delivery.claim_timeout", "must not be negative")
	}
	if c.Resolution.MaxEntries < 0 {
		bad("resolution.max_entries", "must not be negative")
	}
	c.validateCorrelation(bad)
	return errs
}
