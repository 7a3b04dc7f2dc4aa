package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slack-go/slack"

	"github.com/vigia-dev/vigia/internal/api"
	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/lifecycle"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/outbox"
	"github.com/vigia-dev/vigia/internal/secret"
)

// lifecycleStage is the incident lifecycle: the service the admin API
// and the endpoint share, and the endpoint Slack and PagerDuty call.
type lifecycleStage struct {
	svc   *lifecycle.Service
	audit lifecycle.Store
	ep    *lifecycle.Endpoint
	addr  string
	stop  func()
}

// startLifecycle opens the audit trail and, when lifecycle.listen is set,
// serves the endpoint. Close it before the outbox.
func startLifecycle(ctx context.Context, cfg *config.Config, rcv map[string]builtReceiver, states outbox.States,
	silences lifecycle.Silencer, rdb *redis.Client, log *slog.Logger) (*lifecycleStage, error) {
	var audit lifecycle.Store
	if rdb != nil {
		audit = lifecycle.NewRedis(rdb, cfg.Redis.KeyPrefix)
	} else {
		f, err := lifecycle.OpenFile(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		audit = f
	}
	receivers := map[string]notify.Receiver{}
	var order, slackNames, pdNames []string
	var members lifecycle.MembersFunc
	for _, rc := range cfg.Receivers {
		br, ok := rcv[rc.Name]
		if !ok {
			continue
		}
		receivers[rc.Name] = br.receiver
		order = append(order, rc.Name)
		switch {
		case rc.Slack != nil && rc.Slack.Interactive:
			slackNames = append(slackNames, rc.Name)
			if members == nil {
				// User groups are read with the first interactive
				// receiver's bot token (scope usergroups:read).
				token, err := secret.Read(rc.Slack.TokenEnv, rc.Slack.TokenFile)
				if err != nil {
					audit.Close()
					return nil, fmt.Errorf("receiver %q: slack token: %w", rc.Name, err)
				}
				opts := []slack.Option{slack.OptionHTTPClient(&http.Client{Timeout: 10 * time.Second})}
				if u := rc.Slack.APIURL; u != "" {
					if !strings.HasSuffix(u, "/") {
						u += "/"
					}
					opts = append(opts, slack.OptionAPIURL(u))
				}
				client := slack.New(token, opts...)
				members = func(ctx context.Context, group string) ([]string, error) {
					return client.GetUserGroupMembersContext(ctx, group)
				}
			}
		case rc.PagerDuty != nil:
			pdNames = append(pdNames, rc.Name)
		}
	}
	actors := map[string]lifecycle.Actors{}
	for id, a := range cfg.LifecycleActors() {
		actors[id] = lifecycle.Actors{Users: a.SlackUsers, Groups: a.SlackUserGroups}
	}
	svc := lifecycle.New(lifecycle.Config{
		Receivers: receivers, Order: order, States: states, Silences: silences, Audit: audit,
		Policy:   lifecycle.NewPolicy(actors, members, cfg.Lifecycle.MembershipTTL),
		StateTTL: cfg.Delivery.StateTTL, MaxSilence: cfg.Lifecycle.MaxSilence, Logger: log,
	})
	st := &lifecycleStage{svc: svc, audit: audit, stop: func() { audit.Close() }}
	l := cfg.Lifecycle
	if l.Listen == "off" || l.Listen == "" {
		return st, nil
	}
	hc := lifecycle.HandlerConfig{Service: svc, SlackReceivers: slackNames, PagerDutyReceivers: pdNames,
		Workers: l.Workers, QueueSize: l.QueueSize, Logger: log}
	if l.Slack != nil {
		s, err := secret.Read(l.Slack.SigningSecretEnv, l.Slack.SigningSecretFile)
		if err != nil {
			audit.Close()
			return nil, fmt.Errorf("lifecycle.slack signing secret: %w", err)
		}
		hc.SlackSigningSecret = s
	}
	if l.PagerDuty != nil {
		s, err := secret.Read(l.PagerDuty.WebhookSecretEnv, l.PagerDuty.WebhookSecretFile)
		if err != nil {
			audit.Close()
			return nil, fmt.Errorf("lifecycle.pagerduty webhook secret: %w", err)
		}
		hc.PagerDutySecrets = []string{s}
	}
	ln, err := net.Listen("tcp", l.Listen)
	if err != nil {
		audit.Close()
		return nil, fmt.Errorf("lifecycle.listen: %w", err)
	}
	ep := lifecycle.NewEndpoint(hc)
	ep.Start(ctx)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := api.Serve(sctx, ln, ep); err != nil {
			log.Error("lifecycle endpoint stopped", "err", err)
		}
	}()
	st.ep, st.addr = ep, ln.Addr().String()
	st.stop = func() {
		cancel()
		<-served
		ep.Close()
		audit.Close()
	}
	log.Info("lifecycle endpoint listening", "addr", st.addr, "slack", hc.SlackSigningSecret != "", "pagerduty", len(hc.PagerDutySecrets) > 0)
	return st, nil
}
