package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/kafkaauth"
	"github.com/vigia-dev/vigia/internal/telemetry"
)

// Options are the process-level settings of Run.
type Options struct {
	Logger *slog.Logger
	// Started, if set, is called once the endpoint is listening.
	Started func(*Running)
}

// Running describes a started ingest endpoint.
type Running struct {
	// Addr is the endpoint's listening address; TLS says whether it is HTTPS.
	Addr    string
	TLS     bool
	Brokers []string
	Handler *Handler
	Metrics *telemetry.Metrics
}

// Run serves the audit webhook until ctx ends, then stops accepting,
// finishes the requests in flight (bounded by cfg.ShutdownTimeout) and
// flushes the Kafka writer. Like pipeline.Run it starts the sink first
// (the writer, the embedded broker when asked for) and the listener last.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ic := cfg.Ingest

	metrics, err := telemetry.New()
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	if err := metrics.Start(cfg.Telemetry.Listen); err != nil {
		return fmt.Errorf("telemetry.listen: %w", err)
	}
	defer metrics.Shutdown(context.Background())
	im, err := metrics.Ingest(ic.Topic)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	tracing, err := telemetry.NewTracing(ctx, cfg.Telemetry.Tracing, "vigia-ingest")
	if err != nil {
		return fmt.Errorf("telemetry.tracing: %w", err)
	}
	defer tracing.Shutdown(context.Background())

	brokers := cfg.Kafka.Brokers
	if cfg.Kafka.Embedded {
		b, err := broker.Start(cfg.Kafka.EmbeddedListen, 3, ic.Topic)
		if err != nil {
			return err
		}
		defer b.Close()
		brokers = b.Addrs()
		log.Info("embedded Kafka-protocol broker started (in memory, for demos)", "addrs", brokers)
	}
	_, transport, err := kafkaauth.Build(cfg.Kafka)
	if err != nil {
		return err
	}
	writer := NewWriter(brokers, ic.Topic, ic.MaxEventBytes, transport)
	defer writer.Close()

	hc := Config{
		Producer:         writer,
		Topic:            ic.Topic,
		MaxBodyBytes:     ic.MaxBodyBytes,
		MaxInflightBytes: ic.MaxInflightBytes,
		MaxEventBytes:    ic.MaxEventBytes,
		ProduceTimeout:   ic.ProduceTimeout,
		Metrics:          im,
		Tracer:           tracing.Tracer("github.com/vigia-dev/vigia/internal/ingest"),
		Logger:           log,
	}
	if ic.TokenFile != "" {
		if hc.Token, err = TokenFunc(ic.TokenFile, reloadInterval, log); err != nil {
			return err
		}
	}
	h, err := NewHandler(hc)
	if err != nil {
		return err
	}
	srv, err := NewServer(ic, h, log)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	if !srv.TLS() {
		log.Warn("ingest endpoint is plain HTTP (no ingest.tls.cert_file): for local development only")
	}
	log.Info("vigia ingest listening", "addr", srv.Addr(), "path", ic.Path, "tls", srv.TLS(),
		"client_certs", ic.TLS.ClientCAFile != "", "token", ic.TokenFile != "", "topic", ic.Topic, "brokers", brokers, "metrics", metrics.Addr())
	metrics.SetReady(true)
	if opts.Started != nil {
		opts.Started(&Running{Addr: srv.Addr(), TLS: srv.TLS(), Brokers: brokers, Handler: h, Metrics: metrics})
	}

	<-ctx.Done()
	metrics.SetReady(false)
	log.Info("vigia ingest stopping: finishing requests in flight", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if cerr := writer.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing the Kafka writer: %w", cerr))
	}
	log.Info("vigia ingest stopped")
	return err
}
