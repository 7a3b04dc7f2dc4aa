// Package pipeline wires Vigia's stages in one line:
//
//	Kafka source → normalize → evaluate rules → route → deliver
//
// Run starts them sinks first (receivers, router, dead-letter writer) and
// the Kafka source last, and stops them in the opposite order, so every
// stage drains into a live one.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/vigia-dev/vigia/internal/api"
	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/correlate"
	"github.com/vigia-dev/vigia/internal/kafkaauth"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/resolve"
	"github.com/vigia-dev/vigia/internal/rule"
	"github.com/vigia-dev/vigia/internal/secret"
	"github.com/vigia-dev/vigia/internal/silence"
	"github.com/vigia-dev/vigia/internal/source"
	"github.com/vigia-dev/vigia/internal/telemetry"
)

// Options are the process-level settings of Run.
type Options struct {
	Logger *slog.Logger
	// Stdout is where console receivers without a path write. Default: os.Stdout.
	Stdout io.Writer
	// Started, if set, is called once everything is running.
	Started func(*Running)
	// Version is reported by the admin API.
	Version string
}

// Running describes a started pipeline.
type Running struct {
	// Brokers are the Kafka addresses in use (the embedded broker's when
	// embedded).
	Brokers  []string
	Consumer *source.Consumer
	Metrics  *telemetry.Metrics
	Rules    *rule.Set // the set at start
	// ReloadRules loads the rule files again (as SIGHUP does); CurrentRules
	// returns the set in use.
	ReloadRules  func(trigger string) error
	CurrentRules func() *rule.Set
	// Pending returns the alerts routed but not yet delivered.
	Pending func(context.Context) (int64, error)
	// API is the admin API's address, "" when off.
	API string
}

// Run runs the pipeline until ctx ends, then drains and returns.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	stdout := opts.Stdout
	if stdout == nil {
		stdout = os.Stdout
	}

	// Telemetry first, so every later stage can count.
	metrics, err := telemetry.New()
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	metricsToken, err := secret.Read(cfg.Telemetry.TokenEnv, cfg.Telemetry.TokenFile)
	if err != nil {
		return fmt.Errorf("telemetry token: %w", err)
	}
	metrics.RequireToken(metricsToken)
	if err := metrics.Start(cfg.Telemetry.Listen); err != nil {
		return fmt.Errorf("telemetry.listen: %w", err)
	}
	defer metrics.Shutdown(context.Background())
	tracing, err := telemetry.NewTracing(ctx, cfg.Telemetry.Tracing, "vigia")
	if err != nil {
		return fmt.Errorf("telemetry.tracing: %w", err)
	}
	defer tracing.Shutdown(context.Background())

	// Rules: compiled once; a broken rule stops the start with file and
	// line. Reloads (below) swap in a new set only when it loads.
	rulesLoaded := rule.Fingerprint(cfg.Rules.Paths)
	ruleOpts := rule.Options{Root: cfg.Rules.RunbookRoot, Enable: cfg.Rules.Enable, Disable: cfg.Rules.Disable}
	rules, err := rule.Load(cfg.Rules.Paths, ruleOpts)
	if err != nil {
		return fmt.Errorf("rules:\n%w", err)
	}

	var apiAddr string
	// Shared state: Redis when configured, else local files.
	var rdb *redis.Client
	if cfg.Redis != nil {
		if rdb, err = redisClient(ctx, cfg.Redis); err != nil {
			return err
		}
		defer rdb.Close()
	}

	// Identity and pod resolution, and namespace owners for routing.
	var store resolve.Store = resolve.NewMemory(cfg.Resolution.MaxEntries)
	if rdb != nil {
		store = resolve.NewRedis(rdb, cfg.Redis.KeyPrefix+"resolve:")
	}
	resolver := resolve.New(store, resolve.Options{TTL: cfg.Resolution.TTL})
	namespaces := resolve.NewNamespaces(store, cfg.Resolution.TTL, cfg.NamespaceLabels)

	// Silences and mute time intervals.
	var silStore silence.Store
	if rdb != nil {
		silStore = silence.NewRedis(rdb, silence.RedisOptions{Prefix: cfg.Redis.KeyPrefix})
	} else if silStore, err = silence.OpenFile(cfg.DataDir, silence.FileOptions{}); err != nil {
		return err
	}
	silencer := silence.New(silStore, silence.Options{Logger: log})
	if err := silencer.Start(ctx); err != nil {
		return fmt.Errorf("silences: %w", err)
	}
	defer silencer.Close()
	intervals, err := silence.NewIntervals(cfg.TimeIntervals)
	if err != nil {
		return fmt.Errorf("time_intervals: %w", err)
	}

	// Receivers, the outbox and its dispatchers, and the router.
	rcv, closeReceivers, err := receivers(cfg, rules.Books, stdout)
	if err != nil {
		return err
	}
	defer closeReceivers()
	del, err := startDelivery(ctx, deliveryDeps{
		cfg: cfg, receivers: rcv, redis: rdb, owners: namespaces, silencer: silencer, intervals: intervals,
		metrics: metrics, tracer: tracing.Tracer("github.com/vigia-dev/vigia/internal/route"), log: log,
	})
	if err != nil {
		return err
	}
	defer del.stop()
	router := del.router

	// Incident lifecycle: acknowledge, resolve, silence from Slack and
	// PagerDuty, with its audit trail; stopped before the outbox.
	life, err := startLifecycle(ctx, cfg, rcv, del.states, silencer, rdb, log)
	if err != nil {
		return err
	}
	defer life.stop()

	// The admin API (silences, delivery dead letters), stopped before the
	// outbox it reads closes.
	if cfg.API.Listen != "off" {
		token, err := api.LoadToken(cfg.API.TokenFile)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.API.Listen)
		if err != nil {
			return fmt.Errorf("api.listen: %w", err)
		}
		apiCtx, stopAPI := context.WithCancel(context.WithoutCancel(ctx))
		served := make(chan struct{})
		go func() {
			defer close(served)
			api.Serve(apiCtx, ln, api.Handler(api.Config{Silences: silencer, Dead: del.queue, Lifecycle: life.svc, Token: token, Version: opts.Version, Logger: log,
				Status: func(ctx context.Context) map[string]any {
					n, _ := del.Pending(ctx)
					return map[string]any{"outbox_backlog": n}
				}}))
		}()
		defer func() { stopAPI(); <-served }()
		apiAddr = ln.Addr().String()
	}

	// Kafka: the embedded broker when asked for.
	brokers := cfg.Kafka.Brokers
	topics := make([]string, 0, len(cfg.Kafka.Topics))
	for _, t := range cfg.Kafka.Topics {
		topics = append(topics, t.Name)
	}
	if cfg.Kafka.Embedded {
		b, err := broker.Start(cfg.Kafka.EmbeddedListen, 3, append(topics, cfg.Kafka.DeadLetterTopic)...)
		if err != nil {
			return err
		}
		defer b.Close()
		brokers = b.Addrs()
		log.Info("embedded Kafka-protocol broker started (in memory, for demos)", "addrs", brokers)
	}
	dialer, transport, err := kafkaauth.Build(cfg.Kafka)
	if err != nil {
		return err
	}
	dlq := source.NewDeadLetter(brokers, cfg.Kafka.DeadLetterTopic, transport, log)
	defer dlq.Close()

	// Correlation windows: in Redis when configured, shared by replicas.
	var corrStore correlate.Store = correlate.NewMemory(cfg.Correlation.MaxGroups)
	corrPrefix := ""
	if rdb != nil {
		corrStore, corrPrefix = correlate.NewRedis(rdb), cfg.Redis.KeyPrefix
	}
	newCorrelator := func(set *rule.Set) *correlate.Engine {
		return correlate.New(set, corrStore, correlate.Options{
			Lateness: cfg.Correlation.Lateness, MaxEvents: cfg.Correlation.MaxEventsPerGroup,
			MaxValues: cfg.Correlation.MaxValuesPerGroup, Prefix: corrPrefix, Metrics: metrics, Logger: log,
		})
	}
	correlator := newCorrelator(rules)

	proc := &Processor{
		Rules:           rules,
		Correlator:      correlator,
		Resolver:        resolvers{resolver, namespaces},
		Router:          router,
		DeadLetter:      dlq,
		Metrics:         metrics,
		Logger:          log,
		MaxMessageBytes: cfg.MaxMessageBytes,
		Tracer:          tracing.Tracer("github.com/vigia-dev/vigia/internal/pipeline"),
	}
	// Normalizers build raw only for the sources whose rules read it, so
	// they are rebuilt with each rule set.
	proc.NewNormalizers = func(set *rule.Set) (map[string]normalize.Normalizer, normalize.Normalizer, error) {
		def, err := detect.New(detect.Auto, normalize.Options{Raw: set.UsesRaw(), RawSources: set.RawSources()})
		if err != nil {
			return nil, nil, err
		}
		byTopic := map[string]normalize.Normalizer{}
		for _, t := range cfg.Kafka.Topics {
			n, err := detect.New(t.Format, normalize.Options{Cluster: t.Cluster, Raw: set.UsesRaw(), RawSources: set.RawSources()})
			if err != nil {
				return nil, nil, fmt.Errorf("kafka.topics: topic %q: %w", t.Name, err)
			}
			byTopic[t.Name] = n
		}
		return byTopic, def, nil
	}
	if err := proc.SetRules(rules); err != nil {
		return err
	}
	proc.NewCorrelator = newCorrelator // reloads rebuild the correlations too
	if err := metrics.ObserveRules(func() telemetry.RuleStats {
		set := proc.RuleSet()
		return func(yield func(string, uint64, uint64, uint64)) {
			for i, r := range set.Rules {
				s := set.Stats(i)
				yield(r.ID, s.Evaluations, s.Matches, s.Errors)
			}
		}
	}); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	// Rule reloads: on SIGHUP and when the rule files change.
	reloader := &RuleReloader{Paths: cfg.Rules.Paths, Options: ruleOpts,
		Proc: proc, Books: rules.Books, Metrics: metrics, Logger: log, Loaded: rulesLoaded}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloadCtx, stopReload := context.WithCancel(ctx)
	reloaded := make(chan struct{})
	go func() { defer close(reloaded); reloader.Run(reloadCtx, hup, deref(cfg.Rules.ReloadInterval)) }()
	defer func() { stopReload(); <-reloaded }()

	// The source last.
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	consumer := source.New(source.Config{
		Brokers:         brokers,
		GroupID:         cfg.Kafka.GroupID,
		Topics:          topics,
		StartOffset:     cfg.Kafka.StartOffset,
		MaxWait:         cfg.Kafka.MaxWait,
		SessionTimeout:  cfg.Kafka.SessionTimeout,
		CommitInterval:  cfg.Kafka.CommitInterval,
		Workers:         workers,
		Batch:           proc.HandleBatch,
		MaxBatch:        cfg.MaxBatch,
		Dialer:          dialer,
		BeforeCommit:    del.sync,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Metrics:         metrics,
		Logger:          log,
	})
	if err := metrics.ObserveInFlight(func() int64 { return int64(consumer.InFlight()) }); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	log.Info("vigia running", "rules", len(rules.Rules), "topics", topics, "group", cfg.Kafka.GroupID,
		"receivers", del.names, "metrics", metrics.Addr())
	metrics.SetReady(true)
	if opts.Started != nil {
		opts.Started(&Running{Brokers: brokers, Consumer: consumer, Metrics: metrics, Rules: rules, Pending: del.Pending, API: apiAddr,
			ReloadRules: reloader.Reload, CurrentRules: proc.RuleSet})
	}
	err = consumer.Run(ctx, proc.Handle)
	metrics.SetReady(false)
	if ferr := proc.Flush(context.WithoutCancel(ctx)); ferr != nil {
		log.Error("alerts of held-back partial log lines not routed", "err", ferr)
	}
	log.Info("vigia stopped", "fetched", consumer.Fetched(), "handled", consumer.Handled())
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
