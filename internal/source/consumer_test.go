package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/broker"
)

// TestCommitStopsAtFirstUnhandled: while one message cannot be handled
// (the outbox is down), it is retried and the rest of its partition waits
// behind it; nothing after it is committed, so a restart fetches it again
// with the ones after it: at-least-once, nothing lost, nothing skipped.
func TestCommitStopsAtFirstUnhandled(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", 1, "t")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "t", BatchTimeout: time.Millisecond}
	var msgs []kafka.Message
	for i := 0; i < 10; i++ {
		msgs = append(msgs, kafka.Message{Value: []byte(fmt.Sprint(i))})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	cfg := Config{Brokers: b.Addrs(), GroupID: "g", Topics: []string{"t"}, MaxWait: 20 * time.Millisecond, CommitInterval: 20 * time.Millisecond,
		Workers: 2, ShutdownTimeout: 500 * time.Millisecond, MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 10 * time.Millisecond}

	// Run 1: offset 3 fails every time.
	var mu sync.Mutex
	var seen []int64
	var tries atomic.Int32
	run := func(h Handler, until func(*Consumer) bool) *Consumer {
		c := New(cfg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx, h) }()
		deadline := time.Now().Add(15 * time.Second)
		for !until(c) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := run(func(_ context.Context, m kafka.Message) error {
		if m.Offset == 3 {
			tries.Add(1)
			return errors.New("receiver down")
		}
		return nil
	}, func(*Consumer) bool { return tries.Load() >= 5 })
	if c1.Handled() != 3 || tries.Load() < 5 {
		t.Fatalf("run 1: handled %d (want 0-2 only: the rest waits behind offset 3), offset 3 tried %d times", c1.Handled(), tries.Load())
	}

	// Run 2: resumes at 3.
	c2 := run(func(_ context.Context, m kafka.Message) error {
		mu.Lock()
		seen = append(seen, m.Offset)
		mu.Unlock()
		return nil
	}, func(c *Consumer) bool { return c.Handled() >= 7 })
	if c2.Fetched() != 7 || len(seen) == 0 || seen[0] != 3 {
		t.Fatalf("run 2 fetched %d, offsets %v; want 7 starting at 3", c2.Fetched(), seen)
	}
}

// TestFailedMessageIsRetried: a message whose handler fails for a while
// (Redis restarting) is handled once it recovers, without a restart, and
// before the messages after it.
func TestFailedMessageIsRetried(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", 1, "t")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "t", BatchTimeout: time.Millisecond}
	for i := 0; i < 5; i++ {
		if err := w.WriteMessages(context.Background(), kafka.Message{Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	c := New(Config{Brokers: b.Addrs(), GroupID: "g", Topics: []string{"t"}, MaxWait: 20 * time.Millisecond, CommitInterval: 20 * time.Millisecond,
		Workers: 1, ShutdownTimeout: 5 * time.Second, MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond})
	var mu sync.Mutex
	var order []int64
	fails := 3
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(_ context.Context, m kafka.Message) error {
			mu.Lock()
			defer mu.Unlock()
			if m.Offset == 1 && fails > 0 {
				fails--
				return errors.New("outbox unreachable")
			}
			order = append(order, m.Offset)
			return nil
		})
	}()
	deadline := time.Now().Add(15 * time.Second)
	for c.Handled() < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, []int64{0, 1, 2, 3, 4}) || fails != 0 {
		t.Fatalf("handled offsets %v (failures left %d), want 0-4 in order after 3 failures of offset 1", order, fails)
	}
}

// TestBeforeCommitGatesCommits: while BeforeCommit fails (the outbox could
// not be synced), no offset is committed, so a restart reads everything
// again; once it succeeds, the offsets are committed.
func TestBeforeCommitGatesCommits(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", 1, "t")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "t", BatchTimeout: time.Millisecond}
	for i := 0; i < 5; i++ {
		if err := w.WriteMessages(context.Background(), kafka.Message{Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	run := func(before func() error, want uint64) *Consumer {
		c := New(Config{Brokers: b.Addrs(), GroupID: "g", Topics: []string{"t"}, MaxWait: 20 * time.Millisecond,
			CommitInterval: 20 * time.Millisecond, Workers: 1, ShutdownTimeout: 5 * time.Second, BeforeCommit: before})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx, func(context.Context, kafka.Message) error { return nil }) }()
		deadline := time.Now().Add(15 * time.Second)
		for c.Handled() < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // a message past want would be handled by now
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && before != nil && before() == nil {
			t.Fatal(err)
		}
		return c
	}
	var calls atomic.Int32
	failing := func() error { calls.Add(1); return errors.New("disk full") }
	if c := run(failing, 5); c.Handled() != 5 || calls.Load() == 0 {
		t.Fatalf("run 1 handled %d, BeforeCommit called %d times", c.Handled(), calls.Load())
	}
	if c := run(func() error { return nil }, 5); c.Handled() != 5 {
		t.Fatalf("run 2 handled %d, want all 5 again: offsets were committed without a successful BeforeCommit", c.Handled())
	}
	w = &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "t", BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(context.Background(), kafka.Message{Value: []byte("5")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if c := run(nil, 1); c.Handled() != 1 {
		t.Fatalf("run 3 handled %d, want only the new message: the successful commit of run 2 was not kept", c.Handled())
	}
}

// TestBatches: with a batch handler, a worker hands over what is already
// fetched, in partition order; a batch that fails is handled again message
// by message, and every message is handled and committed exactly as
// without batching.
func TestBatches(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", 2, "t")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "t", BatchSize: 500, BatchTimeout: time.Millisecond, Balancer: &kafka.RoundRobin{}}
	const n = 2000
	var msgs []kafka.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, kafka.Message{Value: []byte(fmt.Sprint(i))})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	var mu sync.Mutex
	last := map[int]int64{} // partition → last offset handled
	var batches, biggest, failed, single atomic.Int64
	check := func(m kafka.Message) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := last[m.Partition]; ok && m.Offset <= prev {
			t.Errorf("partition %d: offset %d handled after %d", m.Partition, m.Offset, prev)
		}
		last[m.Partition] = m.Offset
	}
	c := New(Config{Brokers: b.Addrs(), GroupID: "g", Topics: []string{"t"}, MaxWait: 20 * time.Millisecond, CommitInterval: 20 * time.Millisecond,
		Workers: 1, MaxBatch: 64, ShutdownTimeout: time.Second, MinRetryBackoff: time.Millisecond,
		Batch: func(_ context.Context, ms []kafka.Message) error {
			batches.Add(1)
			if int64(len(ms)) > biggest.Load() {
				biggest.Store(int64(len(ms)))
			}
			if len(ms) > 64 {
				t.Errorf("batch of %d, over MaxBatch 64", len(ms))
			}
			if batches.Load()%5 == 0 {
				failed.Add(1)
				return errors.New("outbox down") // handled again one by one
			}
			for _, m := range ms {
				check(m)
			}
			return nil
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(_ context.Context, m kafka.Message) error {
			single.Add(1)
			check(m)
			return nil
		})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for c.Handled() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.Handled() != n {
		t.Fatalf("handled %d of %d", c.Handled(), n)
	}
	if biggest.Load() < 2 || failed.Load() == 0 || single.Load() == 0 {
		t.Errorf("biggest batch %d, failed batches %d, handled one by one %d: batching was not exercised", biggest.Load(), failed.Load(), single.Load())
	}
	t.Logf("%d batches (biggest %d), %d failed and handled one by one (%d messages)", batches.Load(), biggest.Load(), failed.Load(), single.Load())
}
