package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/vigia-dev/vigia/bench/gen"
)

// createTopics creates topics with the given partitions; ones that exist
// already are fine.
func createTopics(ctx context.Context, brokers []string, topics []string, partitions, replication int) error {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication})
	}
	resp, err := c.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for t, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	// Wait until every partition has a leader.
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		ok := err == nil && len(md.Topics) == len(topics)
		if ok {
			for _, t := range md.Topics {
				ok = ok && t.Error == nil && len(t.Partitions) >= partitions
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topics %v not ready: %v", topics, err)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// partitionCount returns the number of partitions of topics together.
func partitionCount(ctx context.Context, brokers []string, topics []string) (int, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range md.Topics {
		n += len(t.Partitions)
	}
	return n, nil
}

func compression(name string) (compress.Compression, error) {
	switch name {
	case "", "none":
		return 0, nil
	case "gzip":
		return compress.Gzip, nil
	case "snappy":
		return compress.Snappy, nil
	case "lz4":
		return compress.Lz4, nil
	case "zstd":
		return compress.Zstd, nil
	}
	return 0, fmt.Errorf("-compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// loadResult is the pre-load of the throughput stream.
type loadResult struct {
	Events       int     `json:"events"`
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	MBPerSec     float64 `json:"mb_per_sec"`
}

// load produces n messages of g into the topics (gen topic name →
// broker topic name) with big batches, and waits for every ack.
func load(ctx context.Context, brokers []string, g *gen.Generator, names map[string]string, n int, comp compress.Compression, progress io.Writer) (loadResult, error) {
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.RoundRobin{},
		BatchSize:    4096,
		BatchBytes:   1 << 20,
		BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireOne,
		Compression:  comp,
		WriteTimeout: 60 * time.Second,
	}
	defer w.Close()
	const chunk = 20_000
	res := loadResult{Events: n}
	start := time.Now()
	lastReport := start
	msgs := make([]kafka.Message, 0, chunk)
	for sent := 0; sent < n; {
		msgs = msgs[:0]
		for i := 0; i < chunk && sent+i < n; i++ {
			m := g.Next()
			msgs = append(msgs, kafka.Message{Topic: names[m.Topic], Value: m.Value})
			res.Bytes += int64(len(m.Value))
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return res, fmt.Errorf("load: %w", err)
		}
		sent += len(msgs)
		if progress != nil && time.Since(lastReport) > 5*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(progress, "  loaded %d of %d (%.0f/s)\n", sent, n, float64(sent)/time.Since(start).Seconds())
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.EventsPerSec = float64(n) / res.Seconds
	res.MBPerSec = float64(res.Bytes) / res.Seconds / 1e6
	return res, nil
}

// committed returns the messages a group has committed over topics and
// the messages the topics hold (sums of offsets over partitions).
func committed(ctx context.Context, brokers []string, group string, topics []string) (done, total int64, err error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return 0, 0, err
	}
	parts := map[string][]int{}
	lreq := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			lreq.Topics[t.Name] = append(lreq.Topics[t.Name], kafka.LastOffsetOf(p.ID), kafka.FirstOffsetOf(p.ID))
		}
	}
	lo, err := c.ListOffsets(ctx, lreq)
	if err != nil {
		return 0, 0, err
	}
	first := map[string]map[int]int64{}
	for t, ps := range lo.Topics {
		first[t] = map[int]int64{}
		for _, p := range ps {
			if p.Error != nil {
				return 0, 0, p.Error
			}
			total += p.LastOffset - p.FirstOffset
			first[t][p.Partition] = p.FirstOffset
		}
	}
	of, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return 0, 0, err
	}
	for t, ps := range of.Topics {
		for _, p := range ps {
			if p.Error == nil && p.CommittedOffset > 0 {
				done += p.CommittedOffset - first[t][p.Partition]
			}
		}
	}
	return done, total, nil
}

// rawStatus is what a raw consumer reports on stdout, one JSON line every
// 100 ms and once at exit.
type rawStatus struct {
	N     int64 `json:"n"`
	First int64 `json:"first"` // Unix nanoseconds of the first message, 0 before
	Last  int64 `json:"last"`  // of the latest message
}

// rawMain is the raw consumer: kafka-go's Reader in a consumer group over
// the topics, FetchMessage and discard, committing the latest offsets
// every commit interval as Vigia does. It runs until SIGTERM.
func rawMain(args []string) int {
	fs := flag.NewFlagSet("raw-consume", flag.ContinueOnError)
	brokers := fs.String("brokers", "", "")
	group := fs.String("group", "", "")
	topics := fs.String("topics", "", "")
	maxWait := fs.Duration("max-wait", 50*time.Millisecond, "")
	commitEvery := fs.Duration("commit-interval", time.Second, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        strings.Split(*brokers, ","),
		GroupID:        *group,
		GroupTopics:    strings.Split(*topics, ","),
		StartOffset:    kafka.FirstOffset,
		MaxWait:        *maxWait,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		CommitInterval: 0,
	})
	var n, first, last atomic.Int64
	enc := json.NewEncoder(os.Stdout)
	report := func() { enc.Encode(rawStatus{N: n.Load(), First: first.Load(), Last: last.Load()}) }
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				report()
			}
		}
	}()
	latest := map[[2]any]kafka.Message{}
	commit := func(ctx context.Context) {
		if len(latest) == 0 {
			return
		}
		ms := make([]kafka.Message, 0, len(latest))
		for _, m := range latest {
			ms = append(ms, m)
		}
		if err := r.CommitMessages(ctx, ms...); err == nil {
			clear(latest)
		}
	}
	lastCommit := time.Now()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			break
		}
		now := time.Now().UnixNano()
		if n.Add(1) == 1 {
			first.Store(now)
		}
		last.Store(now)
		latest[[2]any{m.Topic, m.Partition}] = m
		if time.Since(lastCommit) >= *commitEvery {
			commit(ctx)
			lastCommit = time.Now()
		}
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	commit(cctx)
	cancel()
	close(done)
	report()
	r.Close()
	return 0
}
