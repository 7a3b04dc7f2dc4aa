package pagerduty

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/secret"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultURL is PagerDuty's Events API v2 host (US service region).
	DefaultURL = "https://events.pagerduty.com"
	// EUURL is the Events API v2 host of accounts in the EU service region.
	EUURL             = "https://events.eu.pagerduty.com"
	DefaultFirstSteps = 3
	DefaultTimeout    = 10 * time.Second
)

// Config configures the PagerDuty receiver. Zero values are the defaults.
//
//	pagerduty:
//	  routing_key_env: VIGIA_PAGERDUTY_ROUTING_KEY
//	  url: https://events.eu.pagerduty.com
//	  runbook_base_url: https://github.com/ORG/vigia/blob/main/
type Config struct {
	// RoutingKeyEnv names the environment variable holding the Events API
	// v2 integration key (routing key, 32 characters) of the PagerDuty
	// service or ruleset. Exactly one of RoutingKeyEnv and RoutingKeyFile
	// is required: keys are never written in the configuration.
	RoutingKeyEnv string `yaml:"routing_key_env"`
	// RoutingKeyFile is a file holding the routing key (a mounted
	// Secret); surrounding whitespace is ignored.
	RoutingKeyFile string `yaml:"routing_key_file"`
	// RoutingKey is the key itself, for programs that resolved it
	// already. Configuration files cannot set it.
	RoutingKey string `yaml:"-"`
	// URL is the Events API v2 base URL; "/v2/enqueue" is appended (a URL
	// already ending in it is accepted). Use EUURL for EU accounts.
	// Default: https://events.pagerduty.com
	URL string `yaml:"url"`
	// ClientURL is the client_url of every event: the "View in Vigia"
	// link PagerDuty shows (a dashboard, the alert console).
	// Default: "" (no link).
	ClientURL string `yaml:"client_url"`
	// RunbookBaseURL is joined with the runbook path (localized when the
	// receiver's locale has a translation) to link the full runbook, e.g.
	// https://github.com/ORG/vigia/blob/main/.
	// Default: "" (the runbook path is shown without a link).
	RunbookBaseURL string `yaml:"runbook_base_url"`
	// FirstSteps is how many runbook triage steps go into the event's
	// custom details.
	// Default: 3
	FirstSteps int `yaml:"first_steps"`
	// Timeout bounds each request to PagerDuty.
	// Default: 10s
	Timeout time.Duration `yaml:"timeout"`
}

// FieldError reports a bad Config field.
type FieldError struct {
	// Field is the field's configuration name (routing_key_env, url, ...).
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "pagerduty: " + e.Field + " " + e.Problem }

// Validate reports every bad field, joined. It does not read the routing
// key; New does.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if field, problem := secret.Check("routing_key", c.RoutingKeyEnv, c.RoutingKeyFile, c.RoutingKey); field != "" {
		bad(field, "%s", problem)
	}
	if c.URL != "" {
		if err := checkURL(c.URL); err != nil {
			bad("url", "%v", err)
		}
	}
	if c.ClientURL != "" {
		if err := checkURL(c.ClientURL); err != nil {
			bad("client_url", "%v", err)
		}
	}
	if c.RunbookBaseURL != "" {
		if err := checkURL(c.RunbookBaseURL); err != nil {
			bad("runbook_base_url", "%v", err)
		}
	}
	if c.FirstSteps < 0 {
		bad("first_steps", "must not be negative, got %d", c.FirstSteps)
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative, got %s", c.Timeout)
	}
	return errors.Join(errs...)
}

func checkURL(s string) error {
	if err := notify.CheckURL(s); err != nil {
		return err
	}
	if u, _ := url.Parse(s); u.User != nil {
		return errors.New("must not carry credentials")
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	c.URL = strings.TrimSuffix(strings.TrimSuffix(c.URL, "/"), "/v2/enqueue")
	if c.FirstSteps == 0 {
		c.FirstSteps = DefaultFirstSteps
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// routingKey reads the routing key from where c says. The key never
// appears in an error.
func (c Config) routingKey() (string, error) {
	key, field, err := secret.Setting("routing_key", c.RoutingKey, c.RoutingKeyEnv, c.RoutingKeyFile)
	if err != nil {
		return "", &FieldError{Field: field, Problem: "cannot be read: " + err.Error()}
	}
	key = strings.TrimSpace(key)
	if len(key) != 32 || strings.ContainsFunc(key, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9')
	}) {
		return "", &FieldError{Field: field, Problem: fmt.Sprintf("must hold a 32-character alphanumeric integration key, got %d characters", len(key))}
	}
	return key, nil
}
