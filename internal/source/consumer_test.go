package source

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/broker"
)

// TestCommitStopsAtFirstUnhandled: when one message cannot be handled, the
// committed offset stops just below it, so a restart fetches it again
// (with the ones after it): at-least-once, nothing lost.
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

	cfg := Config{Brokers: b.Addrs(), GroupID: "g", Topics: []string{"t"}, MaxWait: 20 * time.Millisecond, CommitInterval: 20 * time.Millisecond, Workers: 2, ShutdownTimeout: 5 * time.Second}

	// Run 1: offset 3 fails.
	var mu sync.Mutex
	var seen []int64
	run := func(h Handler) *Consumer {
		c := New(cfg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx, h) }()
		deadline := time.Now().Add(15 * time.Second)
		for c.Fetched() < 7 && time.Now().Before(deadline) {
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
			return errors.New("receiver down")
		}
		return nil
	})
	if c1.Fetched() != 10 || c1.Handled() != 9 {
		t.Fatalf("run 1: fetched %d handled %d", c1.Fetched(), c1.Handled())
	}

	// Run 2: resumes at 3.
	c2 := run(func(_ context.Context, m kafka.Message) error {
		mu.Lock()
		seen = append(seen, m.Offset)
		mu.Unlock()
		return nil
	})
	if c2.Fetched() != 7 || len(seen) == 0 || seen[0] != 3 {
		t.Fatalf("run 2 fetched %d, offsets %v; want 7 starting at 3", c2.Fetched(), seen)
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
