package github

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/secret"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultFirstSteps = 3
	DefaultMaxAlerts  = 10
	DefaultTimeout    = 10 * time.Second
)

// Config configures the GitHub Issues receiver. Zero values are the
// defaults. The yaml tags are the names the configuration file uses.
type Config struct {
	// BaseURL is the REST API of a GitHub Enterprise Server, e.g.
	// https://ghe.example.com/api/v3/ ("api/v3/" is added to a bare host).
	// Default: "" (github.com).
	BaseURL string `yaml:"base_url"`
	// TokenEnv names the environment variable holding the token: a
	// fine-grained personal access token or GitHub App installation token
	// with Issues read and write on the repository. One of TokenEnv and
	// TokenFile is required; tokens are never written in the configuration.
	TokenEnv string `yaml:"token_env"`
	// TokenFile is a file holding the token (a mounted Secret), read again
	// before every delivery so a rotated token (installation tokens last an
	// hour) applies at once.
	TokenFile string `yaml:"token_file"`
	// Owner and Repo name the repository issues are opened in. Required.
	Owner string `yaml:"owner"`
	Repo  string `yaml:"repo"`
	// Labels are added to every issue, beside "vigia", "severity:<level>"
	// and the group's "vigia-<dedup>" label. GitHub creates missing labels
	// when the token may push to the repository, and silently drops labels
	// otherwise.
	Labels []string `yaml:"labels"`
	// Assignees are the logins new issues are assigned to; they need access
	// to the repository. Default: none.
	Assignees []string `yaml:"assignees"`
	// RunbookBaseURL is prefixed to the runbook path to link the full
	// runbook, e.g. https://github.com/org/vigia/blob/main/.
	// Default: "" (the path is shown as code).
	RunbookBaseURL string `yaml:"runbook_base_url"`
	// FirstSteps is how many runbook triage steps the issue shows.
	// Default: 3
	FirstSteps int `yaml:"first_steps"`
	// MaxAlerts is how many alerts an issue or comment lists.
	// Default: 10
	MaxAlerts int `yaml:"max_alerts"`
	// Timeout bounds each request to GitHub.
	// Default: 10s
	Timeout time.Duration `yaml:"timeout"`
}

// FieldError reports a bad Config field.
type FieldError struct {
	// Field is the field's configuration name (owner, repo, ...).
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "github: " + e.Field + " " + e.Problem }

var (
	ownerName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	repoName  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	loginName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$`)
)

// Validate reports every bad field, joined. Zero values are valid where a
// default exists.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if c.BaseURL != "" {
		if err := notify.CheckURL(c.BaseURL); err != nil {
			bad("base_url", "%v", err)
		} else if u, _ := url.Parse(c.BaseURL); u.User != nil {
			bad("base_url", "must not contain credentials")
		}
	}
	if field, problem := secret.Check("token", c.TokenEnv, c.TokenFile, ""); field != "" {
		bad(field, "%s", problem)
	}
	switch {
	case c.Owner == "":
		bad("owner", "is required")
	case !ownerName.MatchString(c.Owner):
		bad("owner", "is not a GitHub user or organization name: %q", c.Owner)
	}
	switch {
	case c.Repo == "":
		bad("repo", "is required")
	case !repoName.MatchString(c.Repo) || c.Repo == "." || c.Repo == "..":
		bad("repo", "is not a repository name: %q", c.Repo)
	}
	for i, l := range c.Labels {
		switch {
		case strings.TrimSpace(l) == "":
			bad(fmt.Sprintf("labels[%d]", i), "is empty")
		case utf8.RuneCountInString(l) > maxLabel:
			bad(fmt.Sprintf("labels[%d]", i), "is longer than %d characters", maxLabel)
		case strings.Contains(l, ","):
			bad(fmt.Sprintf("labels[%d]", i), "must not contain a comma")
		}
	}
	for i, a := range c.Assignees {
		if !loginName.MatchString(a) {
			bad(fmt.Sprintf("assignees[%d]", i), "is not a GitHub login: %q", a)
		}
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

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
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
