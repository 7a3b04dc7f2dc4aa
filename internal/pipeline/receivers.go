package pipeline

import (
	"fmt"
	"io"
	"os"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/console"
	"github.com/vigia-dev/vigia/internal/notify/file"
	"github.com/vigia-dev/vigia/internal/notify/github"
	"github.com/vigia-dev/vigia/internal/notify/jira"
	"github.com/vigia-dev/vigia/internal/notify/opsgenie"
	"github.com/vigia-dev/vigia/internal/notify/pagerduty"
	"github.com/vigia-dev/vigia/internal/notify/servicenow"
	"github.com/vigia-dev/vigia/internal/notify/slack"
	"github.com/vigia-dev/vigia/internal/notify/webhook"
	"github.com/vigia-dev/vigia/internal/runbook"
	"github.com/vigia-dev/vigia/internal/secret"
)

// builtReceiver is a configured receiver ready for its dispatcher.
type builtReceiver struct {
	receiver notify.Receiver
	locale   string
}

// receivers builds every configured receiver, one explicit case per type.
// The returned closer closes files opened for console receivers.
func receivers(cfg *config.Config, books *runbook.Library, stdout io.Writer) (map[string]builtReceiver, func(), error) {
	out := map[string]builtReceiver{}
	var files []io.Closer
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	fail := func(name string, err error) (map[string]builtReceiver, func(), error) {
		closeAll()
		return nil, nil, fmt.Errorf("receiver %q: %w", name, err)
	}
	for _, rc := range cfg.Receivers {
		name := rc.Name
		switch {
		case rc.Console != nil:
			w := stdout
			if p := rc.Console.Path; p != "" && p != "-" {
				f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
				if err != nil {
					return fail(name, err)
				}
				files = append(files, f)
				w = f
			}
			out[name] = builtReceiver{receiver: notify.Alerts(console.New(w))}
		case rc.Slack != nil:
			token, err := secret.Read(rc.Slack.TokenEnv, rc.Slack.TokenFile)
			if err != nil {
				return fail(name, fmt.Errorf("slack token: %w", err))
			}
			n, err := slack.New(slack.Config{
				Token:          token,
				Channel:        rc.Slack.Channel,
				APIURL:         rc.Slack.APIURL,
				RunbookBaseURL: rc.Slack.RunbookBaseURL,
				Locale:         rc.Slack.Locale,
				Interactive:    rc.Slack.Interactive,
			}, books)
			if err != nil {
				return fail(name, err)
			}
			locale := rc.Slack.Locale
			if locale == "" {
				locale = rc.Locale
			}
			out[name] = builtReceiver{receiver: n, locale: locale}
		case rc.PagerDuty != nil:
			n, err := pagerduty.New(*rc.PagerDuty, books)
			if err != nil {
				return fail(name, err)
			}
			out[name] = builtReceiver{receiver: n, locale: rc.Locale}
		case rc.Opsgenie != nil:
			n, err := opsgenie.New(*rc.Opsgenie, books)
			if err != nil {
				return fail(name, err)
			}
			out[name] = builtReceiver{receiver: n, locale: rc.Locale}
		case rc.Webhook != nil:
			n, err := webhook.New(*rc.Webhook, books)
			if err != nil {
				return fail(name, err)
			}
			out[name] = builtReceiver{receiver: n, locale: rc.Locale}
		case rc.Jira != nil:
			n, err := jira.New(*rc.Jira, books)
			if err != nil {
				return fail(name, err)
			}
			out[name] = builtReceiver{receiver: n, locale: rc.Locale}
		case rc.ServiceNow != nil:
			n, err := servicenow.New(*rc.ServiceNow, books)
			if err != nil {
				return fail(name, err)
			}
			out[name] = builtReceiver{receiver: n, locale: rc.Locale}
		case rc.GitHub != nil:
			n, err := github.New(*rc.GitHub, books)
			if err != nil {
				return fail(name, err)
			}
			out[name] = builtReceiver{receiver: n, locale: rc.Locale}
		case rc.File != nil:
			n, err := file.New(*rc.File, books)
			if err != nil {
				return fail(name, err)
			}
			files = append(files, n)
			out[name] = builtReceiver{receiver: n, locale: rc.Locale}
		}
	}
	return out, closeAll, nil
}
