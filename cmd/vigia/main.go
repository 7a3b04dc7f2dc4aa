// Command vigia is a security stream processor for Kubernetes and cloud
// logs. It only parses flags, installs signal handling and calls the
// pipeline; see internal/pipeline.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/pipeline"
)

var version = "dev"

const usage = `vigia: security stream processor for Kubernetes audit, cloud and container logs.

Usage:
  vigia run --config FILE          consume Kafka, detect, alert
  vigia ingest --config FILE       serve the Kubernetes audit webhook; write each event to Kafka
  vigia demo [--config FILE]       run on the embedded broker with bundled attack events
  vigia replay --rules DIR --input PATH...
                                   run the rules over log files; alerts as JSON lines on stdout
  vigia rules test [--rules DIR]   run every rule's inline tests
  vigia rules lint [--rules DIR]   check every rule; report each problem with file and line
  vigia rules coverage [--rules DIR] [--format markdown|json]
                                   ATT&CK techniques covered per source
  vigia rules index [--rules DIR]  markdown index of the rules (id, source, severity, ATT&CK, runbook)
  vigia config validate --config FILE [--for run|ingest]
                                   check a configuration file and the files it references
  vigia config reference           print every configuration field (markdown)
  vigia silence add|list|expire    mute matching alerts for a while (via the API of vigia run)
  vigia deliveries dead|replay     list and retry deliveries that receivers refused for good
  vigia dlq list|replay            list the dead-letter topic; produce its messages again
  vigia lifecycle log|ack|resolve|silence
                                   the audit trail of acknowledgements, resolutions and silences; act from the CLI
  vigia version

Run "vigia COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command and returns the exit code: 0 ok, 1 failure
// (failed tests, broken rules, a pipeline error), 2 usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr)
	case "replay":
		err = cmdReplay(ctx, args[1:], stdout, stderr)
	case "rules":
		err = cmdRules(args[1:], stdout, stderr)
	case "ingest":
		err = cmdIngest(ctx, args[1:], stdout, stderr)
	case "config":
		err = cmdConfig(args[1:], stdout, stderr)
	case "silence":
		err = cmdSilence(ctx, args[1:], stdout, stderr)
	case "deliveries":
		err = cmdDeliveries(ctx, args[1:], stdout, stderr)
	case "dlq":
		err = cmdDLQ(ctx, args[1:], stdout, stderr)
	case "lifecycle":
		err = cmdLifecycle(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "vigia", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "vigia: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "vigia:", err)
		return 2
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errSilent):
		return 1
	default:
		fmt.Fprintln(stderr, "vigia:", err)
		return 1
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

// errSilent is a failure already reported on stderr.
var errSilent = errors.New("failed")

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError(fmt.Sprintf("--log-level %q: want debug, info, warn or error", level))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigia run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (required)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof reads it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return usageError("run: --config is required")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	return pipeline.Run(ctx, cfg, pipeline.Options{Logger: log, Stdout: stdout, Version: version})
}

// stringList is a repeatable flag that also splits on commas.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}
