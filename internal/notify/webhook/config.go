package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/redact"
	credential "github.com/vigia-dev/vigia/internal/secret"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBodyBytes = 1 << 20
	DefaultFirstSteps   = 3
	// MinMaxBodyBytes is the smallest max_body_bytes accepted: room for a
	// notification without its alerts.
	MinMaxBodyBytes = 16 << 10
)

// Config configures a webhook receiver. Zero values are the defaults.
//
//	webhook:
//	  url_env: VIGIA_WEBHOOK_URL
//	  secret_env: VIGIA_WEBHOOK_SECRET
//	  headers: {X-Team: secops}
//	  headers_env: {Authorization: VIGIA_WEBHOOK_AUTHORIZATION}
type Config struct {
	// URL receives the POSTs. Exactly one of URL, URLEnv and URLFile is
	// required; use URLEnv or URLFile when the URL itself carries a
	// token. https is strongly advised: the signature protects integrity,
	// not confidentiality.
	URL string `yaml:"url"`
	// URLEnv names the environment variable holding the URL.
	URLEnv string `yaml:"url_env"`
	// URLFile is a file holding the URL; surrounding whitespace is ignored.
	URLFile string `yaml:"url_file"`
	// SecretEnv names the environment variable holding the signing secret.
	// At most one of SecretEnv and SecretFile; without a secret, requests
	// are not signed (X-Vigia-Signature is absent).
	SecretEnv string `yaml:"secret_env"`
	// SecretFile is a file holding the signing secret; surrounding
	// whitespace is ignored.
	SecretFile string `yaml:"secret_file"`
	// Secret is the signing secret itself, for programs that resolved it
	// already. Configuration files cannot set it.
	Secret string `yaml:"-"`
	// Headers are added to every request, as written. Credentials do not
	// belong here (names like Authorization or *-Token are refused): use
	// HeadersEnv.
	Headers map[string]string `yaml:"headers"`
	// HeadersEnv adds headers whose values are read from environment
	// variables at start-up: header name → variable name.
	HeadersEnv map[string]string `yaml:"headers_env"`
	// Timeout bounds each request.
	// Default: 10s
	Timeout time.Duration `yaml:"timeout"`
	// MaxBodyBytes bounds the JSON body: alerts are left out, newest
	// kept, until it fits (omitted_alerts says how many). At least 16 KiB.
	// Default: 1 MiB
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// RunbookBaseURL is joined with the runbook path (localized when the
	// receiver's locale has a translation) for the body's runbook.url.
	// Default: "" (no URL).
	RunbookBaseURL string `yaml:"runbook_base_url"`
	// FirstSteps is how many runbook triage steps the body carries.
	// Default: 3
	FirstSteps int `yaml:"first_steps"`
}

// FieldError reports a bad Config field.
type FieldError struct {
	// Field is the field's configuration name (url, secret_env, ...).
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "webhook: " + e.Field + " " + e.Problem }

var (
	headerName = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
)

// reserved are the headers the receiver sets itself.
var reserved = []string{
	"Content-Type", "Content-Length", "Content-Encoding", "Host", "User-Agent", "Transfer-Encoding",
	"Connection", "Idempotency-Key", "Te", "Trailer", "Upgrade",
}

func checkHeaderName(name string) error {
	c := http.CanonicalHeaderKey(name)
	switch {
	case !headerName.MatchString(name):
		return fmt.Errorf("%q is not a valid header name", name)
	case strings.HasPrefix(c, "X-Vigia-"):
		return fmt.Errorf("%q: X-Vigia-* headers are set by the receiver", name)
	}
	for _, r := range reserved {
		if c == r {
			return fmt.Errorf("%q is set by the receiver", name)
		}
	}
	return nil
}

func validHeaderValue(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f })
}

// Validate reports every bad field, joined. It reads no environment
// variable or file; New does.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	count := func(ss ...string) int {
		n := 0
		for _, s := range ss {
			if s != "" {
				n++
			}
		}
		return n
	}
	switch count(c.URL, c.URLEnv, c.URLFile) {
	case 0:
		bad("url", "(or url_env, url_file) is required")
	case 1:
	default:
		bad("url", ", url_env and url_file are mutually exclusive")
	}
	if c.URL != "" {
		if err := checkURL(c.URL); err != nil {
			bad("url", "%v", err)
		}
	}
	if c.URLEnv != "" && !credential.ValidEnv(c.URLEnv) {
		bad("url_env", "must be an environment variable name, got %q", c.URLEnv)
	}
	if count(c.SecretEnv, c.SecretFile, c.Secret) > 1 {
		bad("secret_env", "and secret_file are mutually exclusive")
	}
	if c.SecretEnv != "" && !credential.ValidEnv(c.SecretEnv) {
		bad("secret_env", "must be an environment variable name, got %q", c.SecretEnv)
	}
	seen := map[string]bool{}
	for name, v := range c.Headers {
		if err := checkHeaderName(name); err != nil {
			bad("headers", "%v", err)
			continue
		}
		seen[http.CanonicalHeaderKey(name)] = true
		switch {
		case redact.IsSecretKey(name) || strings.EqualFold(name, "Proxy-Authorization") || strings.EqualFold(name, "Cookie"):
			bad("headers", "%q looks like a credential: set it with headers_env", name)
		case !validHeaderValue(v):
			bad("headers", "%q has a value with control characters", name)
		}
	}
	for name, env := range c.HeadersEnv {
		if err := checkHeaderName(name); err != nil {
			bad("headers_env", "%v", err)
			continue
		}
		if seen[http.CanonicalHeaderKey(name)] {
			bad("headers_env", "%q is also in headers", name)
		}
		if !credential.ValidEnv(env) {
			bad("headers_env", "%q: %q is not an environment variable name", name, env)
		}
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative, got %s", c.Timeout)
	}
	if c.MaxBodyBytes != 0 && c.MaxBodyBytes < MinMaxBodyBytes {
		bad("max_body_bytes", "must be at least %d, got %d", MinMaxBodyBytes, c.MaxBodyBytes)
	}
	if c.RunbookBaseURL != "" {
		if err := checkURL(c.RunbookBaseURL); err != nil {
			bad("runbook_base_url", "%v", err)
		}
	}
	if c.FirstSteps < 0 {
		bad("first_steps", "must not be negative, got %d", c.FirstSteps)
	}
	return errors.Join(errs...)
}

// checkURL checks an absolute http(s) URL, never repeating it (it may
// carry a token).
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("must be an absolute http(s) URL")
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.FirstSteps == 0 {
		c.FirstSteps = DefaultFirstSteps
	}
	return c
}

// read returns the value of a setting given inline, by environment
// variable or by file, and the configuration name it came from. Values
// never appear in errors.
func read(name, inline, env, file string) (value, field string, err error) {
	v, field, err := credential.Setting(name, inline, env, file)
	if err != nil {
		return "", field, &FieldError{Field: field, Problem: "cannot be read: " + err.Error()}
	}
	return v, field, nil
}
