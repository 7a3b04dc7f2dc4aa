package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// result is the JSON document the harness writes.
type result struct {
	Time         string         `json:"time"`
	Machine      machine        `json:"machine"`
	GitCommit    string         `json:"git_commit"`
	VigiaVersion string         `json:"vigia_version,omitempty"`
	Options      options        `json:"options"`
	Broker       string         `json:"broker"`
	SampleSet    string         `json:"sample_set"`
	Generator    map[string]int `json:"generator_templates"`
	// AvgMessageBytes is the mean size of a loaded message.
	AvgMessageBytes float64          `json:"avg_message_bytes"`
	Load            loadResult       `json:"load"`
	Raw             []rawResult      `json:"raw,omitempty"`
	Variants        []*variantResult `json:"variants"`
	// Profiles are the CPU profiles written (-cpuprofile).
	Profiles []string `json:"profiles,omitempty"`
	// Notes are observations worth a look; Errors are failed checks (the
	// harness exits non-zero).
	Notes  []string `json:"notes,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

type machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// rawResult is kafka-go fetching and discarding the loaded topics.
type rawResult struct {
	Procs                int     `json:"procs"`
	Events               int64   `json:"events"`
	Seconds              float64 `json:"seconds"`
	EventsPerSec         float64 `json:"events_per_sec"`
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million"`
}

// variantResult is one throughput run of Vigia.
type variantResult struct {
	Variant string `json:"variant"`
	Procs   int    `json:"procs"`
	Cores   int    `json:"cores_per_proc"`
	// Loaded messages; Handled counted by vigia_messages_consumed_total;
	// Committed by the group's committed offsets.
	Loaded    int64 `json:"loaded"`
	Handled   int64 `json:"handled"`
	Committed int64 `json:"committed"`
	// Seconds from the first message consumed to the last handled.
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	// RawEventsPerSec is raw kafka-go with as many processes; RatioToRaw
	// is EventsPerSec over it.
	RawEventsPerSec float64 `json:"raw_events_per_sec,omitempty"`
	RatioToRaw      float64 `json:"ratio_to_raw,omitempty"`
	// ScaleOut is EventsPerSec over the one-process run's (procs > 1).
	ScaleOut float64 `json:"scale_out,omitempty"`
	// CPU (user + system) during consumption, all processes.
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million"`
	// EventsPerCPUSecond is messages per CPU-second: the rate one fully
	// available core would reach, less sensitive than EventsPerSec to
	// other load on the machine.
	EventsPerCPUSecond float64 `json:"events_per_cpu_second"`
	// RedisCPUSecondsPerMillion is the CPU of the redis-server the
	// harness started, during the run (redis variant).
	RedisCPUSecondsPerMillion float64 `json:"redis_cpu_seconds_per_million,omitempty"`
	// RedisCommands are the commands the harness's own Redis served
	// during the run (INFO commandstats), the most expensive first.
	RedisCommands []redisCommand `json:"redis_commands,omitempty"`
	// Start-up: from launch to the first message consumed (rule loading,
	// group join), and the CPU it took.
	StartupSeconds    float64 `json:"startup_seconds"`
	StartupCPUSeconds float64 `json:"startup_cpu_seconds"`
	// PeakRSSBytes is the largest VmHWM of the processes.
	PeakRSSBytes      int64   `json:"peak_rss_bytes"`
	AlertsEnqueued    int64   `json:"alerts_enqueued"`
	AlertsDelivered   int64   `json:"alerts_delivered"`
	AlertsSuppressed  int64   `json:"alerts_suppressed"`
	AlertsPerMillion  float64 `json:"alerts_per_million_events"`
	CorrelationAlerts int64   `json:"correlation_alerts"`
	DeadLetters       int64   `json:"dead_letters"`
	EventsFailed      int64   `json:"events_failed"`
	RuleErrors        int64   `json:"rule_errors"`
	// GroupKeys are the correlation groups in Redis at the end (redis
	// variant); CorrelationKeys the keys holding them.
	GroupKeys       int64          `json:"group_keys,omitempty"`
	CorrelationKeys int64          `json:"correlation_keys,omitempty"`
	Latency         *latencyResult `json:"latency,omitempty"`
	// Timeline samples the run about every second: seconds since the
	// start, messages handled, CPU-seconds used.
	Timeline []sample `json:"timeline,omitempty"`
}

type sample struct {
	Seconds    float64 `json:"s"`
	Handled    int64   `json:"handled"`
	CPUSeconds float64 `json:"cpu_s"`
}

// latencyResult is the paced run: messages at Rate for Seconds, and the
// append-to-enqueue latency of their alerts.
type latencyResult struct {
	Rate        float64 `json:"rate"`
	Seconds     float64 `json:"seconds"`
	Messages    int64   `json:"messages"`
	WriteErrors int64   `json:"write_errors"`
	// BehindAtEnd is the messages appended but not yet handled when
	// production stopped; DrainSeconds how long they took to handle. A
	// Vigia keeping up with Rate has both near 0.
	BehindAtEnd  int64   `json:"behind_at_end"`
	DrainSeconds float64 `json:"drain_seconds"`
	Alerts       int64   `json:"alerts"`
	P50Millis    float64 `json:"p50_ms"`
	P99Millis    float64 `json:"p99_ms"`
}

func newResult(o options, root string) *result {
	r := &result{Time: time.Now().UTC().Format(time.RFC3339), Options: o, Machine: machine{
		CPU: cpuModel(), Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err == nil {
		r.GitCommit = strings.TrimSpace(string(out))
		if out, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(out) > 0 {
			r.GitCommit += "-dirty"
		}
	}
	return r
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func writeJSON(path string, r *result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

// writeTable writes the human-readable summary: one row per run.
func writeTable(w io.Writer, r *result) {
	fmt.Fprintf(w, "\nVigia %s (commit %s) on %s, %d cores, %s\n", r.VigiaVersion, short(r.GitCommit), r.Machine.CPU, r.Machine.Cores, r.Machine.GoVersion)
	fmt.Fprintf(w, "stream: %d messages, %.0f bytes on average, samples %s, broker %s\n", r.Options.Events, r.AvgMessageBytes, r.SampleSet, r.Broker)
	fmt.Fprintf(w, "load: %.0f messages/s (%.1f MB/s)\n", r.Load.EventsPerSec, r.Load.MBPerSec)
	for _, raw := range r.Raw {
		fmt.Fprintf(w, "raw kafka-go, %d process(es), GOMAXPROCS=%d: %.0f messages/s, %.2f CPU-s per 1M\n", raw.Procs, r.Options.Cores, raw.EventsPerSec, raw.CPUSecondsPerMillion)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\tprocs\tevents/s\traw events/s\tratio\tscale-out\tCPU-s/1M\tevents/CPU-s\tstart-up s\tp50 ms\tp99 ms\tpeak RSS MiB\talerts enq/deliv/supp\tcorr alerts\tgroup keys\t")
	for _, v := range r.Variants {
		p50, p99 := "-", "-"
		if v.Latency != nil {
			p50, p99 = ms(v.Latency.P50Millis), ms(v.Latency.P99Millis)
		}
		scale := "-"
		if v.ScaleOut > 0 {
			scale = fmt.Sprintf("%.2fx", v.ScaleOut)
		}
		ratio := "-"
		if v.RatioToRaw > 0 {
			ratio = fmt.Sprintf("%.2f", v.RatioToRaw)
		}
		keys := "-"
		if v.Variant == variantRedis {
			keys = fmt.Sprint(v.GroupKeys)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%s\t%s\t%.2f\t%.0f\t%.1f\t%s\t%s\t%.0f\t%d/%d/%d\t%d\t%s\t\n",
			v.Variant, v.Procs, v.EventsPerSec, v.RawEventsPerSec, ratio, scale, v.CPUSecondsPerMillion, v.EventsPerCPUSecond, v.StartupSeconds,
			p50, p99, float64(v.PeakRSSBytes)/(1<<20), v.AlertsEnqueued, v.AlertsDelivered, v.AlertsSuppressed, v.CorrelationAlerts, keys)
	}
	tw.Flush()
	for _, v := range r.Variants {
		if l := v.Latency; l != nil {
			fmt.Fprintf(w, "latency %s: %.0f messages/s for %.0fs, %d alerts observed; %d messages behind when production stopped, drained in %.1fs\n",
				v.Variant, l.Rate, l.Seconds, l.Alerts, l.BehindAtEnd, l.DrainSeconds)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	for _, e := range r.Errors {
		fmt.Fprintln(w, "FAILED:", e)
	}
}

func short(s string) string {
	if len(s) > 12 && !strings.HasSuffix(s, "-dirty") {
		return s[:12]
	}
	if i := strings.Index(s, "-dirty"); i > 12 {
		return s[:12] + "-dirty"
	}
	return s
}
