// Command harness measures Vigia's throughput, CPU, memory and alert
// latency on a realistic generated stream, against a real Kafka-protocol
// broker and a real Redis, and compares it with kafka-go consuming the
// same topics and discarding them.
//
//	go run ./bench/harness                      # 1M events, variants detect and redis
//	go run ./bench/harness -events 20000 -latency.duration 3s   # a quick smoke run
//
// See bench/README.md for the flags, the variants and what each number
// means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// roleEnv, set to "raw" in a child's environment, makes the harness
// binary the raw consumer instead (see rawMain).
const roleEnv = "VIGIA_BENCH_ROLE"

func main() {
	if os.Getenv(roleEnv) == "raw" {
		os.Exit(rawMain(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

// options are the harness's flags.
type options struct {
	Events      int     `json:"events"`
	Seed        int64   `json:"seed"`
	AttackRatio float64 `json:"attack_ratio"`
	Identities  int     `json:"identities"`
	Pods        int     `json:"pods"`
	Samples     string  `json:"samples"`
	Root        string  `json:"root"`
	Vigia       string  `json:"vigia"`

	Cores       int      `json:"cores"`
	Procs       int      `json:"procs"`
	Workers     int      `json:"workers,omitempty"`
	Partitions  int      `json:"partitions"`
	Brokers     string   `json:"brokers"`
	Replication int      `json:"replication"`
	Compression string   `json:"compression"`
	Redis       string   `json:"redis"`
	Variants    []string `json:"variants"`

	Latency         bool          `json:"latency"`
	LatencyDuration time.Duration `json:"latency_duration"`
	Raw             bool          `json:"raw"`
	Timeout         time.Duration `json:"timeout"`
	Out             string        `json:"out"`
	CPUProfile      string        `json:"cpuprofile,omitempty"`
	Quiet           bool          `json:"-"`
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Events, "events", 1_000_000, "messages loaded and consumed per variant")
	fs.Int64Var(&o.Seed, "seed", 1, "generator seed")
	fs.Float64Var(&o.AttackRatio, "attack-ratio", 0.005, "fraction of messages drawn from templates that raise alerts")
	fs.IntVar(&o.Identities, "identities", 10_000, "distinct identities in the stream (Zipf-skewed)")
	fs.IntVar(&o.Pods, "pods", 10_000, "distinct pods in the stream")
	fs.StringVar(&o.Samples, "samples", "", `public sample logs directory; default ../shared/data/public beside the project (or $VIGIA_CORPUS) when present; "none": bundled samples only`)
	fs.StringVar(&o.Root, "root", "", "project root (detections/, runbooks/, cmd/vigia); default: the directory holding go.mod above the working directory")
	fs.StringVar(&o.Vigia, "vigia", "", "vigia binary to measure; default: built from the project root into a temporary directory")
	fs.IntVar(&o.Cores, "cores", 1, "GOMAXPROCS of each Vigia process (and of the raw consumer)")
	fs.IntVar(&o.Workers, "workers", 0, "Vigia's workers setting (goroutines processing messages); 0: Vigia's default, GOMAXPROCS")
	fs.IntVar(&o.Procs, "procs", 1, "also run each variant with this many Vigia processes in one consumer group (scale-out); 1: single process only")
	fs.IntVar(&o.Partitions, "partitions", 4, "partitions per topic (at least 2 x procs)")
	fs.StringVar(&o.Brokers, "brokers", "", "external Kafka brokers host:port,...; default: the in-process broker on a free port")
	fs.IntVar(&o.Replication, "replication", 1, "replication factor of the topics created on external brokers")
	fs.StringVar(&o.Compression, "compression", "none", "producer compression: none, gzip, snappy, lz4, zstd")
	fs.StringVar(&o.Redis, "redis", "", "external Redis host:port for the redis variant; default: redis-server started on a free port")
	variants := fs.String("variants", "detect,redis", "variants to run: detect (single-event rules, no Redis), redis (all rules, correlations and state in Redis), memory (all rules, correlation windows in memory, no Redis)")
	fs.BoolVar(&o.Latency, "latency", true, "after each variant's throughput run, measure alert latency at half its rate")
	fs.DurationVar(&o.LatencyDuration, "latency.duration", 30*time.Second, "how long the paced latency run produces")
	fs.BoolVar(&o.Raw, "raw", true, "measure raw kafka-go consumption of the same topics")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "give up on a run that has not consumed everything after this long")
	fs.StringVar(&o.Out, "out", "bench-result.json", "JSON result file")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "directory for a CPU profile of every Vigia process (vigia run --cpuprofile), named RUN-VARIANT-pN-I.pprof")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, v := range strings.Split(*variants, ",") {
		switch v = strings.TrimSpace(v); v {
		case "":
		case variantDetect, variantRedis, variantMemory:
			o.Variants = append(o.Variants, v)
		default:
			return o, fmt.Errorf("-variants: unknown variant %q (want detect, redis, memory)", v)
		}
	}
	switch {
	case len(o.Variants) == 0:
		return o, errors.New("-variants: none given")
	case o.Events < 1:
		return o, errors.New("-events must be at least 1")
	case o.Cores < 1 || o.Procs < 1:
		return o, errors.New("-cores and -procs must be at least 1")
	case o.Partitions < 2*o.Procs && o.Procs > 1:
		return o, fmt.Errorf("-partitions %d: scale-out to %d processes needs at least %d", o.Partitions, o.Procs, 2*o.Procs)
	case o.Partitions < 1:
		return o, errors.New("-partitions must be at least 1")
	}
	if _, err := compression(o.Compression); err != nil {
		return o, err
	}
	return o, nil
}

// run is the harness: flags in args, the table on stdout, progress on
// stderr, the JSON in -out. Every child process is stopped and every
// temporary directory removed before it returns.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	defer killAll()
	h := &harness{opts: o, stdout: stdout, stderr: stderr}
	if o.Quiet {
		h.stderr = io.Discard
	}
	res, err := h.run(ctx)
	if res != nil {
		writeTable(stdout, res)
		if werr := writeJSON(o.Out, res); werr != nil {
			err = errors.Join(err, werr)
		} else {
			fmt.Fprintf(stdout, "\nresult: %s\n", o.Out)
		}
		if err == nil && len(res.Errors) > 0 {
			err = fmt.Errorf("%d check(s) failed: %s", len(res.Errors), strings.Join(res.Errors, "; "))
		}
	}
	return err
}
