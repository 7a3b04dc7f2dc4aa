package pipeline

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/notify/console"
	"github.com/vigia-dev/vigia/internal/notify/slack"
	"github.com/vigia-dev/vigia/internal/route"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// receivers builds the routed receivers, one explicit case per type. The
// returned closer closes files opened for console receivers.
func receivers(cfg *config.Config, books *runbook.Library, stdout io.Writer) ([]route.Receiver, func(), error) {
	byName := map[string]config.Receiver{}
	for _, r := range cfg.Receivers {
		byName[r.Name] = r
	}
	var out []route.Receiver
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	for _, name := range cfg.Route.Receivers {
		rc := byName[name]
		switch {
		case rc.Console != nil:
			w := stdout
			if p := rc.Console.Path; p != "" && p != "-" {
				f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
				if err != nil {
					closeAll()
					return nil, nil, fmt.Errorf("receiver %q: %w", name, err)
				}
				files = append(files, f)
				w = f
			}
			out = append(out, route.Receiver{Name: name, Notifier: console.New(w)})
		case rc.Slack != nil:
			token, err := secret(rc.Slack.TokenEnv, rc.Slack.TokenFile)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("receiver %q: slack token: %w", name, err)
			}
			n, err := slack.New(slack.Config{
				Token:          token,
				Channel:        rc.Slack.Channel,
				APIURL:         rc.Slack.APIURL,
				RunbookBaseURL: rc.Slack.RunbookBaseURL,
			}, books)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("receiver %q: %w", name, err)
			}
			out = append(out, route.Receiver{Name: name, Notifier: n})
		}
	}
	return out, closeAll, nil
}

// secret reads a credential from an environment variable or a file.
func secret(env, file string) (string, error) {
	if env != "" {
		v := os.Getenv(env)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty or unset", env)
		}
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
