package slack

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/notify"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAPIURL          = "https://slack.com/api/"
	DefaultFirstSteps      = 3
	DefaultTimeout         = 10 * time.Second
	DefaultChannelInterval = time.Second
	DefaultChannelBurst    = 3
)

// Config configures the Slack receiver. Zero values are the defaults.
type Config struct {
	// Token is the bot token (xoxb-...) with the chat:write scope. Required.
	Token string
	// Channel is the channel id (C0123456789) or name (#security-alerts)
	// the alerts are posted to. The bot must be a member. Required.
	Channel string
	// APIURL is the base URL of the Slack Web API; the method name is
	// appended to it. Tests point it at slackfake.
	// Default: https://slack.com/api/
	APIURL string
	// RunbookBaseURL is prefixed to the runbook path to link the full
	// runbook, e.g. https://github.com/org/repo/blob/main/. A "/" is added
	// between the two when neither has one.
	// Default: "" (the path is shown as code, without a link).
	RunbookBaseURL string
	// FirstSteps is how many runbook steps are shown in the message.
	// Default: 3
	FirstSteps int
	// Timeout bounds each request to Slack.
	// Default: 10s
	Timeout time.Duration
	// Locale is the language of the message's labels and runbook steps:
	// "" or "en" for English, or one of Locales ("pt-BR"). A
	// notification's own Locale, when set, takes precedence.
	// Default: "" (English)
	Locale string
	// ChannelInterval paces the calls that write to a channel
	// (chat.postMessage, thread replies, chat.update): on average one per
	// interval per channel, shared by every receiver of the process that
	// posts to the same channel through the same API URL. Slack allows
	// about one message per second per channel. Negative disables pacing.
	// Default: 1s
	ChannelInterval time.Duration
	// Interactive adds Acknowledge, Resolve and Silence buttons to each
	// group's parent message. Only set it when Vigia's interactivity
	// endpoint is configured and reachable by Slack (internal/lifecycle):
	// otherwise the buttons do nothing.
	// Default: false
	Interactive bool
	// ChannelBurst is how many calls to a channel may go out back to back
	// before pacing applies (Slack tolerates short bursts).
	// Default: 3
	ChannelBurst int
}

// FieldError reports a bad Config field.
type FieldError struct {
	// Field is the field's configuration name (token, channel, api_url,
	// runbook_base_url, first_steps, timeout, locale, channel_interval,
	// channel_burst).
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "slack: " + e.Field + " " + e.Problem }

// Validate reports every bad field, joined. Zero values are valid where a
// default exists.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.Token == "":
		bad("token", "is required")
	case strings.TrimSpace(c.Token) != c.Token:
		bad("token", "has leading or trailing whitespace")
	case strings.ContainsFunc(c.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		bad("token", "contains whitespace or control characters")
	}
	switch {
	case strings.TrimSpace(c.Channel) == "":
		bad("channel", "is required")
	case strings.TrimSpace(c.Channel) != c.Channel:
		bad("channel", "has leading or trailing whitespace")
	}
	if c.APIURL != "" {
		if err := notify.CheckURL(c.APIURL); err != nil {
			bad("api_url", "%v", err)
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
	if c.Timeout < 0 {
		bad("timeout", "must not be negative, got %s", c.Timeout)
	}
	if c.Locale != "" && !knownLocale(c.Locale) {
		bad("locale", "must be en or one of %s, got %q", strings.Join(Locales, ", "), c.Locale)
	}
	if c.ChannelBurst < 0 {
		bad("channel_burst", "must not be negative, got %d", c.ChannelBurst)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		// slack-go appends the method name directly.
		c.APIURL += "/"
	}
	if c.FirstSteps == 0 {
		c.FirstSteps = DefaultFirstSteps
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ChannelInterval == 0 {
		c.ChannelInterval = DefaultChannelInterval
	}
	if c.ChannelBurst == 0 {
		c.ChannelBurst = DefaultChannelBurst
	}
	return c
}

// knownLocale reports whether the receiver has labels for locale.
func knownLocale(locale string) bool {
	_, ok := catalogs[locale]
	return ok
}
