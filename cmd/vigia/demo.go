package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/pipeline"
)

// cmdDemo runs the pipeline on its embedded default, produces the bundled
// sample events into it over the Kafka protocol, prints the alerts and
// stops once every sample is processed (or keeps running for kcat).
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigia demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "deploy/local/vigia.yaml", "configuration file")
	samples := fs.String("samples", "deploy/local/samples", "file or directory of sample events (JSON lines) to produce")
	keep := fs.Bool("keep-running", false, "keep running after the samples are processed, to produce more with kcat")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	timeout := fs.Duration("timeout", time.Minute, "give up waiting for the samples to be processed after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	msgs, err := sampleMessages(*samples)
	if err != nil {
		return err
	}
	topic := cfg.Kafka.Topics[0].Name
	// A fresh outbox each run: the demo's alerts are delivered in this
	// run, and a rerun shows them again instead of remembering them as
	// already notified.
	if cfg.Redis == nil {
		dir, err := os.MkdirTemp("", "vigia-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.DataDir = dir
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tee := &alertTee{w: stdout}
	started := make(chan *pipeline.Running, 1)
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(ctx, cfg, pipeline.Options{Logger: log, Stdout: tee, Version: version, Started: func(r *pipeline.Running) { started <- r }})
	}()
	var running *pipeline.Running
	select {
	case running = <-started:
	case err := <-done:
		return err
	}

	fmt.Fprintf(stderr, "vigia demo: producing %d sample messages to topic %q on %s\n", len(msgs), topic, strings.Join(running.Brokers, ","))
	w := &kafka.Writer{Addr: kafka.TCP(running.Brokers...), Topic: topic, Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		cancel()
		<-done
		return fmt.Errorf("producing samples: %w", err)
	}
	w.Close()

	deadline := time.After(*timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for running.Consumer.Handled() < uint64(len(msgs)) {
		select {
		case <-tick.C:
		case <-deadline:
			fmt.Fprintf(stderr, "vigia demo: timed out: %d of %d messages processed\n", running.Consumer.Handled(), len(msgs))
			break wait
		case err := <-done:
			return err
		}
	}
	// Then until the routed alerts left the outbox.
	for {
		n, err := running.Pending(ctx)
		if err != nil || n == 0 {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-deadline:
			fmt.Fprintf(stderr, "vigia demo: timed out: %d alerts not delivered yet\n", n)
		case err := <-done:
			return err
		}
		break
	}
	tee.summary(stderr, len(msgs))
	if *keep {
		fmt.Fprintf(stderr, "vigia demo: still running; produce more with\n  kcat -b %s -t %s -P -l FILE.jsonl\nCtrl-C to stop.\n", running.Brokers[0], topic)
		<-ctx.Done()
	}
	cancel()
	return <-done
}

// sampleMessages reads every JSON-lines file under path, one message per line.
func sampleMessages(path string) ([]kafka.Message, error) {
	var files []string
	err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".jsonl") || strings.HasSuffix(p, ".json")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("samples: %w (run the demo from the project root, or pass --samples)", err)
	}
	slices.Sort(files)
	var msgs []kafka.Message
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var key struct {
				ObjectRef struct{ Namespace, Name string } `json:"objectRef"`
			}
			json.Unmarshal(line, &key) // best effort: malformed samples are sent as they are
			msgs = append(msgs, kafka.Message{Key: []byte(key.ObjectRef.Namespace + "/" + key.ObjectRef.Name), Value: slices.Clone(line)})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("samples: no events under %s", path)
	}
	return msgs, nil
}

// alertTee passes console output through and remembers the alerts for the
// closing summary.
type alertTee struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	alerts []alert.Alert
}

func (t *alertTee) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		var a alert.Alert
		if json.Unmarshal(t.buf[:i], &a) == nil {
			t.alerts = append(t.alerts, a)
		}
		t.buf = t.buf[i+1:]
	}
	return t.w.Write(p)
}

func (t *alertTee) summary(w io.Writer, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(w, "\nvigia demo: %d messages processed, %d alerts, in event order:\n", n, len(t.alerts))
	slices.SortStableFunc(t.alerts, func(a, b alert.Alert) int { return a.Time.Compare(b.Time) })
	for _, a := range t.alerts {
		fmt.Fprintf(w, "  %-8s %-32s %s\n", strings.ToUpper(a.Rule.Severity), a.Rule.ID, a.Summary)
	}
	// Alerts from different logs that resolution tied to one identity.
	bySources := map[string]map[string]bool{}
	var ids []string
	for _, a := range t.alerts {
		id := a.Entity.Identity
		if bySources[id] == nil {
			bySources[id] = map[string]bool{}
			ids = append(ids, id)
		}
		bySources[id][a.Context.Source] = true
	}
	for _, id := range ids {
		if len(bySources[id]) < 2 {
			continue
		}
		var rules []string
		for _, a := range t.alerts {
			if a.Entity.Identity == id {
				rules = append(rules, a.Rule.ID)
			}
		}
		fmt.Fprintf(w, "\none identity across %d logs: %s\n  %s\n", len(bySources[id]), id, strings.Join(rules, ", "))
	}
}
