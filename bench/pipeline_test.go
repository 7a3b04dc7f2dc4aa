// Package bench holds end-to-end benchmarks: the whole pipeline against
// the in-process Kafka-protocol broker over TCP. Run with
//
//	go test -run='^$' -bench=. -benchtime=1x ./bench/
//
// Per-stage benchmarks live beside their packages (normalize, rule, offset).
package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/pipeline"
)

// BenchmarkPipeline measures events per second through consume, normalize,
// evaluate (all shipped rules), route and the console receiver (to
// io.Discard), for 50,000 messages per iteration, compared with kafka-go
// fetching the same topic and discarding it.
func BenchmarkPipeline(b *testing.B) {
	n := 50_000
	if s := os.Getenv("VIGIA_BENCH_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	msgs := messages(b, n)
	for i := 0; i < b.N; i++ {
		topic := fmt.Sprintf("audit-%d", i)
		br, err := broker.Start("127.0.0.1:0", 4, topic)
		if err != nil {
			b.Fatal(err)
		}
		w := &kafka.Writer{Addr: kafka.TCP(br.Addrs()...), Topic: topic, BatchSize: 1000, BatchTimeout: time.Millisecond, Balancer: &kafka.RoundRobin{}}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			b.Fatal(err)
		}
		w.Close()

		raw := rawConsume(b, br.Addrs(), topic, n)

		cfg, err := config.Parse([]byte(`
kafka: {brokers: [` + strings.Join(br.Addrs(), ",") + `], group_id: bench, topics: [{name: ` + topic + `}], commit_interval: 200ms, max_wait: 20ms}
rules: {paths: [../detections], runbook_root: ..}
receivers: [{name: out, console: {}}]
route: {group_wait: 0s}
telemetry: {listen: "off"}
api: {listen: "off"}
data_dir: ` + b.TempDir() + `
`))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan *pipeline.Running, 1)
		done := make(chan error, 1)
		begin := time.Now()
		go func() {
			done <- pipeline.Run(ctx, cfg, pipeline.Options{
				Stdout:  io.Discard,
				Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
				Started: func(r *pipeline.Running) { started <- r },
			})
		}()
		r := <-started
		for r.Consumer.Handled() < uint64(n) {
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(begin)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		br.Close()
		b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(n)/raw.Seconds(), "raw-fetch-events/s")
		b.ReportMetric((float64(n)/elapsed.Seconds())/(float64(n)/raw.Seconds()), "ratio-to-raw")
	}
}

func rawConsume(b *testing.B, brokers []string, topic string, n int) time.Duration {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "raw", Topic: topic, MaxWait: 20 * time.Millisecond, MaxBytes: 16 << 20})
	defer r.Close()
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := r.FetchMessage(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// messages re-ids the bundled attack story into n messages.
func messages(b *testing.B, n int) []kafka.Message {
	data, err := os.ReadFile("../deploy/local/samples/attack-story.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, `"auditID"`) {
			lines = append(lines, l)
		}
	}
	out := make([]kafka.Message, n)
	for i := range out {
		l := strings.Replace(lines[i%len(lines)], `"auditID":"`, fmt.Sprintf(`"auditID":"%d-`, i), 1)
		out[i] = kafka.Message{Value: []byte(l)}
	}
	return out
}
