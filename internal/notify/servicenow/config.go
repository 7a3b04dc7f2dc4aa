package servicenow

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/secret"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTable              = "incident"
	DefaultAuth               = AuthBasic
	DefaultCorrelationDisplay = "Vigia"
	DefaultResolveState       = 6 // Resolved
	DefaultCloseCode          = "Resolved by caller"
	DefaultFirstSteps         = 3
	DefaultMaxAlerts          = 10
	DefaultTimeout            = 10 * time.Second
)

// Authentication schemes.
const (
	// AuthBasic sends Username and the password as HTTP basic credentials.
	AuthBasic = "basic"
	// AuthBearer sends an OAuth access token as "Authorization: Bearer".
	// Tokens expire; keep the token file refreshed (a sidecar or job), it
	// is read again before every delivery.
	AuthBearer = "bearer"
)

// Level is an incident's urgency and impact, 1 (high) to 3 (low); the
// instance's priority lookup rules derive the priority from them.
type Level struct {
	Urgency int `yaml:"urgency"`
	Impact  int `yaml:"impact"`
}

// DefaultLevels maps alert severities to urgency and impact. With the
// default priority matrix they give priorities 1 (critical) to 5 (info).
var DefaultLevels = map[string]Level{
	alert.SeverityCritical: {Urgency: 1, Impact: 1},
	alert.SeverityHigh:     {Urgency: 1, Impact: 2},
	alert.SeverityMedium:   {Urgency: 2, Impact: 2},
	alert.SeverityLow:      {Urgency: 2, Impact: 3},
	alert.SeverityInfo:     {Urgency: 3, Impact: 3},
}

// Config configures the ServiceNow receiver. Zero values are the defaults.
// The yaml tags are the names the configuration file uses.
type Config struct {
	// URL is the instance's base URL, e.g. https://acme.service-now.com.
	// Required.
	URL string `yaml:"url"`
	// Table is the table records are created in. Another table (a
	// Security Incident Response table, for instance) must have the
	// task fields used: short_description, description, correlation_id,
	// correlation_display, urgency, impact, state, work_notes, close_code,
	// close_notes.
	// Default: incident
	Table string `yaml:"table"`
	// Auth is "basic" (Username and the password) or "bearer" (an OAuth
	// access token).
	// Default: basic
	Auth string `yaml:"auth"`
	// Username is the integration user for basic auth. Required with auth
	// basic. It needs the itil role (or a role allowed to create and
	// update records of Table).
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable holding the password; one
	// of PasswordEnv and PasswordFile is required with auth basic.
	// Credentials are never written in the configuration.
	PasswordEnv string `yaml:"password_env"`
	// PasswordFile is a file holding the password (a mounted Secret). It
	// is read again before every delivery.
	PasswordFile string `yaml:"password_file"`
	// TokenEnv names the environment variable holding the OAuth access
	// token; one of TokenEnv and TokenFile is required with auth bearer.
	TokenEnv string `yaml:"token_env"`
	// TokenFile is a file holding the OAuth access token, read again before
	// every delivery so a refreshed token applies at once.
	TokenFile string `yaml:"token_file"`
	// AssignmentGroup is the group assigned new incidents (a sys_id, or a
	// name the instance resolves). Default: "" (not set).
	AssignmentGroup string `yaml:"assignment_group"`
	// CallerID is the caller of new incidents (a user's sys_id, or a user
	// name the instance resolves). Default: "" (not set).
	CallerID string `yaml:"caller_id"`
	// Category is the incident category (a choice value such as
	// "network" or a custom "security"). Default: "" (not set).
	Category string `yaml:"category"`
	// Levels maps alert severities to urgency and impact. A severity
	// missing from a configured map leaves both unset.
	// Default: critical 1/1, high 1/2, medium 2/2, low 2/3, info 3/3.
	Levels map[string]Level `yaml:"levels"`
	// Fields are extra fields set on new records (contact_type,
	// subcategory, u_custom_field, ...).
	Fields map[string]string `yaml:"fields"`
	// CorrelationDisplay is shown as the record's correlation display.
	// Default: Vigia
	CorrelationDisplay string `yaml:"correlation_display"`
	// ResolveState is the state value set on resolution. Records in this
	// state are not reused for the group's next alerts.
	// Default: 6 (Resolved)
	ResolveState int `yaml:"resolve_state"`
	// AcknowledgeState is the state value set when a person acknowledges
	// the group (from Slack or PagerDuty; see docs/lifecycle.md), e.g. 2
	// (In Progress). Default: 0 (a work note only).
	AcknowledgeState int `yaml:"acknowledge_state"`
	// CloseCode is the resolution code set on resolution; instances
	// customise the choices ("Solution provided", "Resolved by caller",
	// or "Closed/Resolved by Caller" on older releases).
	// Default: Resolved by caller
	CloseCode string `yaml:"close_code"`
	// CloseNotes precede Vigia's resolution summary in the resolution
	// notes. Default: "" (the summary only).
	CloseNotes string `yaml:"close_notes"`
	// RunbookBaseURL is prefixed to the runbook path to link the full
	// runbook, e.g. https://github.com/org/vigia/blob/main/.
	// Default: "" (the path is shown without a link).
	RunbookBaseURL string `yaml:"runbook_base_url"`
	// FirstSteps is how many runbook triage steps the description shows.
	// Default: 3
	FirstSteps int `yaml:"first_steps"`
	// MaxAlerts is how many alerts a description or work note lists.
	// Default: 10
	MaxAlerts int `yaml:"max_alerts"`
	// Timeout bounds each request to the instance.
	// Default: 10s
	Timeout time.Duration `yaml:"timeout"`
}

// FieldError reports a bad Config field.
type FieldError struct {
	// Field is the field's configuration name (url, username, ...).
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "servicenow: " + e.Field + " " + e.Problem }

var (
	tableName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,79}$`)
	fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,79}$`)
)

// managed are the fields the receiver sets itself.
var managed = []string{"short_description", "description", "correlation_id", "correlation_display", "urgency",
	"impact", "state", "work_notes", "close_code", "close_notes", "assignment_group", "caller_id", "category",
	"sys_id", "number", "active"}

// Validate reports every bad field, joined. Zero values are valid where a
// default exists.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if c.URL == "" {
		bad("url", "is required")
	} else if err := notify.CheckURL(c.URL); err != nil {
		bad("url", "%v", err)
	} else if u, _ := url.Parse(c.URL); u.User != nil {
		bad("url", "must not contain credentials")
	}
	if c.Table != "" && !tableName.MatchString(c.Table) {
		bad("table", "is not a table name: %q", c.Table)
	}
	secret := func(envField, fileField, env, file string) {
		switch {
		case env == "" && file == "":
			bad(envField, "or %s is required with auth %s", fileField, c.authOrDefault())
		case env != "" && file != "":
			bad(envField, "and %s are exclusive; set one", fileField)
		case env != "" && !secret.ValidEnv(env):
			bad(envField, "is not an environment variable name: %q", env)
		}
	}
	switch c.authOrDefault() {
	case AuthBasic:
		if strings.TrimSpace(c.Username) == "" {
			bad("username", "is required with auth basic")
		} else if strings.ContainsAny(c.Username, ":\r\n") {
			bad("username", "must not contain ':' or line breaks")
		}
		secret("password_env", "password_file", c.PasswordEnv, c.PasswordFile)
		if c.TokenEnv != "" || c.TokenFile != "" {
			bad("token_env", "is for auth bearer")
		}
	case AuthBearer:
		secret("token_env", "token_file", c.TokenEnv, c.TokenFile)
		if c.PasswordEnv != "" || c.PasswordFile != "" {
			bad("password_env", "is for auth basic")
		}
	default:
		bad("auth", "must be basic or bearer, got %q", c.Auth)
	}
	for sev, l := range c.Levels {
		if alert.SeverityRank(sev) < 0 {
			bad("levels", "has unknown severity %q (want one of %s)", sev, strings.Join(alert.Severities, ", "))
		}
		if l.Urgency < 1 || l.Urgency > 3 || l.Impact < 1 || l.Impact > 3 {
			bad("levels", "%s: urgency and impact must be 1, 2 or 3, got %d and %d", sev, l.Urgency, l.Impact)
		}
	}
	for k := range c.Fields {
		switch {
		case !fieldName.MatchString(k):
			bad("fields", "has an invalid field name %q", k)
		case slices.Contains(managed, k):
			bad("fields", "sets %q, which the receiver manages (use the matching option)", k)
		}
	}
	if render.UTF16Len(c.CorrelationDisplay) > maxCorrelation {
		bad("correlation_display", "is longer than %d characters", maxCorrelation)
	}
	if c.AcknowledgeState < 0 {
		bad("acknowledge_state", "must not be negative, got %d", c.AcknowledgeState)
	}
	if c.ResolveState < 0 {
		bad("resolve_state", "must not be negative, got %d", c.ResolveState)
	}
	if render.UTF16Len(c.CloseNotes) > maxText/2 {
		bad("close_notes", "is longer than %d characters", maxText/2)
	}
	if c.RunbookBaseURL != "" {
		if err := notify.CheckURL(c.RunbookBaseURL); err != nil {
			bad("runbook_base_url", "%v", err)
		}
	}
	if c.FirstSteps < 0 {
		bad("first_steps", "must not be negative, got %d", c.FirstSteps)
	}
	if c.MaxAlerts < 0 {
		bad("max_alerts", "must not be negative, got %d", c.MaxAlerts)
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative, got %s", c.Timeout)
	}
	return errors.Join(errs...)
}

func (c Config) authOrDefault() string {
	if c.Auth == "" {
		return DefaultAuth
	}
	return c.Auth
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.URL = strings.TrimRight(c.URL, "/")
	if c.Table == "" {
		c.Table = DefaultTable
	}
	c.Auth = c.authOrDefault()
	if c.Levels == nil {
		c.Levels = DefaultLevels
	}
	if c.CorrelationDisplay == "" {
		c.CorrelationDisplay = DefaultCorrelationDisplay
	}
	if c.ResolveState == 0 {
		c.ResolveState = DefaultResolveState
	}
	if c.CloseCode == "" {
		c.CloseCode = DefaultCloseCode
	}
	if c.FirstSteps == 0 {
		c.FirstSteps = DefaultFirstSteps
	}
	if c.MaxAlerts == 0 {
		c.MaxAlerts = DefaultMaxAlerts
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}
