package main

import (
	"context"
	"flag"
	"io"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/ingest"
)

// cmdIngest serves the Kubernetes audit webhook and writes the events to
// Kafka; see internal/ingest.
func cmdIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigia ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (required): kafka.brokers or kafka.embedded, and the ingest block")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return usageError("ingest: --config is required")
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := config.LoadIngest(*cfgPath)
	if err != nil {
		return err
	}
	return ingest.Run(ctx, cfg, ingest.Options{Logger: log})
}
