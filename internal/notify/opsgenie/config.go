package opsgenie

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/secret"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultAPIURL is Opsgenie's API (US instance).
	DefaultAPIURL = "https://api.opsgenie.com"
	// EUAPIURL is the API of accounts on the EU instance.
	EUAPIURL          = "https://api.eu.opsgenie.com"
	DefaultFirstSteps = 3
	DefaultTimeout    = 10 * time.Second
)

// Config configures the Opsgenie receiver. Zero values are the defaults.
//
//	opsgenie:
//	  api_key_env: VIGIA_OPSGENIE_API_KEY
//	  api_url: https://api.eu.opsgenie.com
//	  responders: [{type: team, name: secops}]
//	  tags: [kubernetes]
//	  runbook_base_url: https://github.com/ORG/vigia/blob/main/
type Config struct {
	// APIKeyEnv names the environment variable holding the API key of an
	// Opsgenie API integration (sent as "Authorization: GenieKey …").
	// Exactly one of APIKeyEnv and APIKeyFile is required: keys are never
	// written in the configuration.
	APIKeyEnv string `yaml:"api_key_env"`
	// APIKeyFile is a file holding the API key (a mounted Secret);
	// surrounding whitespace is ignored.
	APIKeyFile string `yaml:"api_key_file"`
	// APIKey is the key itself, for programs that resolved it already.
	// Configuration files cannot set it.
	APIKey string `yaml:"-"`
	// APIURL is the Opsgenie API base URL. Use EUAPIURL for EU accounts.
	// Default: https://api.opsgenie.com
	APIURL string `yaml:"api_url"`
	// Responders are notified of every alert, in addition to the
	// integration's own team.
	// Default: none.
	Responders []Responder `yaml:"responders"`
	// Tags are added to every alert (at most 50 characters each; Opsgenie
	// keeps 20 tags per alert).
	Tags []string `yaml:"tags"`
	// RunbookBaseURL is joined with the runbook path (localized when the
	// receiver's locale has a translation) to link the full runbook, e.g.
	// https://github.com/ORG/vigia/blob/main/.
	// Default: "" (the runbook path is shown without a link).
	RunbookBaseURL string `yaml:"runbook_base_url"`
	// FirstSteps is how many runbook triage steps the description shows.
	// Default: 3
	FirstSteps int `yaml:"first_steps"`
	// Timeout bounds each request to Opsgenie.
	// Default: 10s
	Timeout time.Duration `yaml:"timeout"`
}

// Responder is a team, user, escalation or schedule to notify.
type Responder struct {
	// Type is "team", "user", "escalation" or "schedule".
	Type string `yaml:"type"`
	// Name is the team, escalation or schedule name.
	Name string `yaml:"name"`
	// ID is the responder's id (instead of Name or Username).
	ID string `yaml:"id"`
	// Username is the user's login e-mail (type user).
	Username string `yaml:"username"`
}

// Opsgenie limits, in characters.
const (
	MaxMessage     = 130
	MaxAlias       = 512
	MaxDescription = 15000
	MaxNote        = 25000
	MaxTag         = 50
	MaxTags        = 20
	MaxEntity      = 512
	MaxSource      = 100
	MaxDetails     = 8000 // keys and values together
	MaxResponders  = 50
)

// FieldError reports a bad Config field.
type FieldError struct {
	// Field is the field's configuration name (api_key_env, api_url, ...).
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "opsgenie: " + e.Field + " " + e.Problem }

var responderTypes = []string{"team", "user", "escalation", "schedule"}

// Validate reports every bad field, joined. It does not read the API key;
// New does.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if field, problem := secret.Check("api_key", c.APIKeyEnv, c.APIKeyFile, c.APIKey); field != "" {
		bad(field, "%s", problem)
	}
	if c.APIURL != "" {
		if err := checkURL(c.APIURL); err != nil {
			bad("api_url", "%v", err)
		}
	}
	if len(c.Responders) > MaxResponders {
		bad("responders", "has %d entries, at most %d allowed", len(c.Responders), MaxResponders)
	}
	for i, r := range c.Responders {
		field := fmt.Sprintf("responders[%d]", i)
		switch {
		case !slices.Contains(responderTypes, r.Type):
			bad(field+".type", "must be one of %s, got %q", strings.Join(responderTypes, ", "), r.Type)
		case r.Type == "user" && r.ID == "" && r.Username == "":
			bad(field, "of type user needs id or username")
		case r.Type != "user" && r.ID == "" && r.Name == "":
			bad(field, "of type %s needs id or name", r.Type)
		}
	}
	for i, t := range c.Tags {
		if strings.TrimSpace(t) == "" || utf8.RuneCountInString(t) > MaxTag {
			bad(fmt.Sprintf("tags[%d]", i), "must be 1 to %d characters, got %q", MaxTag, t)
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
	if u, _ := url.Parse(s); u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not carry credentials, a query or a fragment")
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	c.APIURL = strings.TrimSuffix(c.APIURL, "/")
	if c.FirstSteps == 0 {
		c.FirstSteps = DefaultFirstSteps
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// apiKey reads the API key from where c says. The key never appears in
// an error.
func (c Config) apiKey() (string, error) {
	key, field, err := secret.Setting("api_key", c.APIKey, c.APIKeyEnv, c.APIKeyFile)
	if err != nil {
		return "", &FieldError{Field: field, Problem: "cannot be read: " + err.Error()}
	}
	key = strings.TrimSpace(key)
	if key == "" || strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f || r > 0x7e }) {
		return "", &FieldError{Field: field, Problem: "must hold an API key of printable ASCII characters without spaces"}
	}
	return key, nil
}
