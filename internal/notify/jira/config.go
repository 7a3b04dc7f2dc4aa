package jira

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
	DefaultAPIVersion = 3
	DefaultAuth       = AuthBasic
	DefaultIssueType  = "Task"
	DefaultFirstSteps = 3
	DefaultMaxAlerts  = 10
	DefaultTimeout    = 10 * time.Second
)

// Authentication schemes.
const (
	// AuthBasic sends "email:api_token" as HTTP basic credentials (Jira
	// Cloud API tokens; on Server/Data Center, user name and password).
	AuthBasic = "basic"
	// AuthBearer sends the token as "Authorization: Bearer" (Server/Data
	// Center personal access tokens).
	AuthBearer = "bearer"
)

// DefaultPriorities maps alert severities to the priority names of Jira's
// default priority scheme.
var DefaultPriorities = map[string]string{
	alert.SeverityCritical: "Highest",
	alert.SeverityHigh:     "High",
	alert.SeverityMedium:   "Medium",
	alert.SeverityLow:      "Low",
	alert.SeverityInfo:     "Lowest",
}

// Config configures the Jira receiver. Zero values are the defaults. The
// yaml tags are the names the configuration file uses.
type Config struct {
	// URL is the site's base URL: https://acme.atlassian.net for Cloud,
	// https://jira.example.com (a context path such as /jira is kept) for
	// Server and Data Center. Required.
	URL string `yaml:"url"`
	// APIVersion is the REST API version: 3 (Cloud; descriptions and
	// comments in Atlassian Document Format) or 2 (Server/Data Center, or
	// Cloud; wiki markup).
	// Default: 3
	APIVersion int `yaml:"api_version"`
	// Auth is "basic" (Email and the API token) or "bearer" (a personal
	// access token).
	// Default: basic
	Auth string `yaml:"auth"`
	// Email is the account's e-mail address (Cloud) or user name
	// (Server/Data Center) for basic auth. Required with auth basic.
	Email string `yaml:"email"`
	// APITokenEnv names the environment variable holding the API token (or
	// password, or personal access token). One of APITokenEnv and
	// APITokenFile is required; credentials are never written in the
	// configuration.
	APITokenEnv string `yaml:"api_token_env"`
	// APITokenFile is a file holding the token (a mounted Secret). It is
	// read again before every delivery, so a rotated Secret applies
	// without a restart.
	APITokenFile string `yaml:"api_token_file"`
	// Project is the key of the project issues are created in ("SEC").
	// Required.
	Project string `yaml:"project"`
	// IssueType is the name of the issue type created.
	// Default: Task
	IssueType string `yaml:"issue_type"`
	// Labels are added to every issue, beside "vigia" and the group's
	// "vigia-<dedup>" label. Jira labels cannot contain spaces.
	Labels []string `yaml:"labels"`
	// Priorities maps alert severities (critical, high, medium, low, info)
	// to priority names. A severity missing from a configured map, or
	// mapped to "", leaves the priority unset.
	// Default: critical Highest, high High, medium Medium, low Low, info Lowest.
	Priorities map[string]string `yaml:"priorities"`
	// DisablePriority leaves the priority unset, for projects whose create
	// screen lacks the field (Jira answers 400 "Field 'priority' cannot be
	// set").
	DisablePriority bool `yaml:"disable_priority"`
	// ResolveTransition is the name of the workflow transition applied when
	// the group resolves (or the name of the status it leads to), e.g.
	// "Done". Default: "" (a comment only; the issue stays open, and the
	// group's next alerts are added to it).
	ResolveTransition string `yaml:"resolve_transition"`
	// AcknowledgeTransition is the transition applied when a person
	// acknowledges the group (from Slack or PagerDuty; see
	// docs/lifecycle.md), or the name of the status it leads to, e.g.
	// "In Progress". Default: "" (a comment only).
	AcknowledgeTransition string `yaml:"acknowledge_transition"`
	// Resolution is the resolution name set with the transition, for
	// workflows whose transition screen requires one ("Done", "Fixed").
	// Default: "" (not sent).
	Resolution string `yaml:"resolution"`
	// RunbookBaseURL is prefixed to the runbook path to link the full
	// runbook, e.g. https://github.com/org/vigia/blob/main/. A "/" is
	// added between the two when neither has one.
	// Default: "" (the path is shown without a link).
	RunbookBaseURL string `yaml:"runbook_base_url"`
	// FirstSteps is how many runbook triage steps the issue shows.
	// Default: 3
	FirstSteps int `yaml:"first_steps"`
	// MaxAlerts is how many alerts an issue description or comment lists;
	// the rest are counted.
	// Default: 10
	MaxAlerts int `yaml:"max_alerts"`
	// Timeout bounds each request to Jira.
	// Default: 10s
	Timeout time.Duration `yaml:"timeout"`
}

// FieldError reports a bad Config field.
type FieldError struct {
	// Field is the field's configuration name (url, project, ...).
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "jira: " + e.Field + " " + e.Problem }

var (
	projectKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,254}$`)
)

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
		bad("url", "must not contain credentials; use email and api_token_env or api_token_file")
	}
	if c.APIVersion != 0 && c.APIVersion != 2 && c.APIVersion != 3 {
		bad("api_version", "must be 2 or 3, got %d", c.APIVersion)
	}
	switch c.Auth {
	case "", AuthBasic:
		if strings.TrimSpace(c.Email) == "" {
			bad("email", "is required with auth basic")
		} else if strings.ContainsAny(c.Email, ":\r\n") {
			bad("email", "must not contain ':' or line breaks")
		}
	case AuthBearer:
	default:
		bad("auth", "must be basic or bearer, got %q", c.Auth)
	}
	if field, problem := secret.Check("api_token", c.APITokenEnv, c.APITokenFile, ""); field != "" {
		bad(field, "%s", problem)
	}
	switch {
	case c.Project == "":
		bad("project", "is required")
	case !projectKey.MatchString(c.Project):
		bad("project", "must be a project key (upper-case letters, digits, _; starting with a letter), got %q", c.Project)
	}
	if c.IssueType != "" && strings.TrimSpace(c.IssueType) != c.IssueType {
		bad("issue_type", "has leading or trailing whitespace")
	}
	for i, l := range c.Labels {
		if err := checkLabel(l); err != nil {
			bad(fmt.Sprintf("labels[%d]", i), "%v", err)
		}
	}
	for sev := range c.Priorities {
		if alert.SeverityRank(sev) < 0 {
			bad("priorities", "has unknown severity %q (want one of %s)", sev, strings.Join(alert.Severities, ", "))
		}
	}
	if c.Resolution != "" && c.ResolveTransition == "" {
		bad("resolution", "needs resolve_transition")
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

func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("is empty")
	case strings.ContainsFunc(l, func(r rune) bool { return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 }):
		return fmt.Errorf("must not contain spaces or control characters, got %q", l)
	case render.UTF16Len(l) > maxLabel:
		return fmt.Errorf("is longer than %d characters", maxLabel)
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.URL = strings.TrimRight(c.URL, "/")
	if c.APIVersion == 0 {
		c.APIVersion = DefaultAPIVersion
	}
	if c.Auth == "" {
		c.Auth = DefaultAuth
	}
	if c.IssueType == "" {
		c.IssueType = DefaultIssueType
	}
	if c.Priorities == nil {
		c.Priorities = DefaultPriorities
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
	c.Labels = slices.Clone(c.Labels)
	return c
}
