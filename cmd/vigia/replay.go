package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/vigia-dev/vigia/internal/correlate"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/notify/console"
	"github.com/vigia-dev/vigia/internal/pipeline"
	"github.com/vigia-dev/vigia/internal/replay"
	"github.com/vigia-dev/vigia/internal/resolve"
	"github.com/vigia-dev/vigia/internal/rule"
)

// maxReported bounds the bad records listed one by one on stderr.
const maxReported = 20

// cmdReplay runs the rules over log files: the same normalize and evaluate
// stages as `vigia run`, alerts as JSON lines on stdout, a one-line summary
// on stderr.
func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigia replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rulePaths, inputs, enable, disable stringList
	fs.Var(&rulePaths, "rules", "rule and tuning files or directories (repeatable; later ones override earlier ones' lists and macros). Default: detections")
	fs.Var(&enable, "enable", "enable rules by id or tag (repeatable)")
	fs.Var(&disable, "disable", "disable rules by id or tag (repeatable)")
	fs.Var(&inputs, "input", "log files or directories, recursively; .gz is read transparently; - is standard input (repeatable)")
	root := fs.String("runbook-root", "", "directory runbook paths are relative to. Default: the working directory")
	cluster := fs.String("cluster", "", "cluster name stamped on Kubernetes events")
	lateness := fs.Duration("lateness", 24*time.Hour, "correlation: how far an event may trail the newest event of its source (files replayed out of time order need more)")
	format := fs.String("format", "auto", "input format: auto (detected per record), k8s_audit, aws_cloudtrail, gcp_audit, azure_activity or container_log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	inputs = append(inputs, fs.Args()...)
	if len(inputs) == 0 {
		return usageError("replay: --input is required")
	}
	if len(rulePaths) == 0 {
		rulePaths = stringList{"detections"}
	}
	rules, err := rule.Load(rulePaths, rule.Options{Root: *root, Enable: enable, Disable: disable})
	if err != nil {
		return fmt.Errorf("rules:\n%w", err)
	}
	stdin := slices.Contains(inputs, "-")
	inputs = slices.DeleteFunc(inputs, func(s string) bool { return s == "-" })
	var files []string
	if len(inputs) > 0 {
		if files, err = replay.Files(inputs); err != nil {
			return err
		}
	}

	start := time.Now()
	out := console.New(stdout)
	// Identity and pod resolution learns from the files as they are read,
	// as the pipeline does from the stream.
	// Correlations run over event time, in memory, as they do live.
	proc := &pipeline.Processor{Rules: rules, Resolver: resolve.New(resolve.NewMemory(1_000_000), resolve.Options{}),
		Correlator: correlate.New(rules, correlate.NewMemory(0), correlate.Options{Lateness: *lateness})}
	norm, err := detect.New(*format, normalize.Options{Cluster: *cluster, Raw: rules.UsesRaw(), RawSources: rules.RawSources()})
	if err != nil {
		return usageError("replay: --format: " + err.Error())
	}
	var records, events, alerts, bad int
	report := func(origin string, err error) {
		bad++
		if bad <= maxReported {
			fmt.Fprintf(stderr, "%s: %s: %v\n", origin, normalize.Reason(err), err)
		}
	}
	var progressOut *os.File
	if f, ok := stderr.(*os.File); ok {
		progressOut = f
	}
	progress := replay.NewProgress(progressOut, files)
	handle := func(rec replay.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		records++
		if rec.Err != nil {
			report(rec.Origin, rec.Err)
			return nil
		}
		as, n, errs := proc.Process(ctx, norm, rec.Data, normalize.Meta{File: rec.File})
		events += n
		for _, err := range errs {
			report(rec.Origin, err)
		}
		alerts += len(as)
		if _, err := out.Notify(ctx, as...); err != nil {
			return fmt.Errorf("writing alerts: %w", err)
		}
		return nil
	}
	if stdin {
		if err := replay.ReadFrom(os.Stdin, "stdin", handle); err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
	}
	for _, f := range files {
		if err := progress.Read(f, handle); err != nil {
			progress.Finish()
			if errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	progress.Finish()
	// Split container log lines whose last part never came.
	as, n := proc.FlushAlerts(ctx)
	events += n
	alerts += len(as)
	if _, err := out.Notify(ctx, as...); err != nil {
		return fmt.Errorf("writing alerts: %w", err)
	}
	if bad > maxReported {
		fmt.Fprintf(stderr, "... and %d more bad records\n", bad-maxReported)
	}
	fmt.Fprintf(stderr, "replay: %d files, %d records, %d events, %d alerts, %d bad records, %s\n",
		len(files), records, events, alerts, bad, time.Since(start).Round(time.Millisecond))
	return nil
}
