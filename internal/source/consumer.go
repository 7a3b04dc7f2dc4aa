// Package source consumes messages from Kafka with a consumer group and
// commits offsets only for fully processed messages; it also writes the
// dead-letter topic.
package source

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/offset"
)

// Handler processes one message. It returns nil once the message is fully
// handled (alerts delivered, or the message dead-lettered); an error means
// it is not (the outbox or the dead-letter topic is unreachable): the
// message is tried again, with backoff, before any later message of its
// partition, until it succeeds or the drain at shutdown times out — so a
// Redis or broker outage stalls its partitions instead of skipping their
// messages. It is called from several goroutines, but messages of one
// partition always in order from the same goroutine.
type Handler func(ctx context.Context, m kafka.Message) error

// BatchHandler processes messages fetched together, in order (messages of
// one partition in their order). It returns nil once all are fully
// handled; on an error none counts as handled, and the consumer hands them
// to the Handler one by one, with its retries, so handling must be
// idempotent.
type BatchHandler func(ctx context.Context, ms []kafka.Message) error

// Metrics receives consumer measurements; may be nil.
type Metrics interface {
	Lag(topic string, partition int, lag int64)
	Commit(ok bool)
	// Retry counts a failed try of a message that is tried again.
	Retry(topic string)
}

// Config configures a Consumer.
type Config struct {
	Brokers []string
	GroupID string
	Topics  []string
	// StartOffset is "first" or "last", for a group without commits.
	StartOffset string
	// MaxWait bounds a fetch's wait for data. Default: 250ms.
	MaxWait time.Duration
	// CommitInterval is the commit period. Default: 1s.
	CommitInterval time.Duration
	// Workers is the number of handler goroutines. Default: 1.
	Workers int
	// QueueSize bounds the messages each worker holds, queued or in its
	// batch; a full queue stops fetching (backpressure). Default: 256.
	QueueSize int
	// Batch, when set, handles the messages a worker finds already queued,
	// up to MaxBatch at a time, together. Default MaxBatch: 128 (at most
	// QueueSize/2).
	Batch    BatchHandler
	MaxBatch int
	// ShutdownTimeout bounds the drain after ctx ends. Default: 30s.
	ShutdownTimeout time.Duration
	Metrics         Metrics
	Logger          *slog.Logger
	// SessionTimeout is how long the group coordinator waits for a
	// member's heartbeat before giving its partitions to another member;
	// after a crash, the restarted process waits this long for its
	// partitions. Heartbeats go every SessionTimeout/3, at most every 3s.
	// Default: kafka-go's (30s).
	SessionTimeout time.Duration
	// RetryBackoff bounds the wait between tries of a message whose
	// handler failed: it starts at MinRetryBackoff and doubles.
	// Default: 100ms to 5s.
	MinRetryBackoff, MaxRetryBackoff time.Duration
	// Dialer overrides the connection dialer (TLS, SASL). Default: kafka-go's.
	Dialer *kafka.Dialer
	// BeforeCommit, when set, runs before every offset commit; the commit
	// is skipped (and retried next time) when it fails. The pipeline syncs
	// the delivery outbox here: a group commit instead of a sync per alert.
	BeforeCommit func() error
}

// Consumer is a consumer-group reader with a contiguous-offset commit.
type Consumer struct {
	cfg     Config
	tracker *offset.Tracker
	log     *slog.Logger

	fetched, handled atomic.Uint64
	joined           atomic.Bool
}

// New returns a consumer; Run starts it.
func New(cfg Config) *Consumer {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 250 * time.Millisecond
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 128
	}
	if cfg.Batch == nil {
		cfg.MaxBatch = 1
	}
	cfg.MaxBatch = max(1, min(cfg.MaxBatch, cfg.QueueSize/2))
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.MinRetryBackoff <= 0 {
		cfg.MinRetryBackoff = 100 * time.Millisecond
	}
	if cfg.MaxRetryBackoff <= 0 {
		cfg.MaxRetryBackoff = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Consumer{cfg: cfg, tracker: offset.New(), log: cfg.Logger}
}

// Handled returns how many messages were fully handled since start.
func (c *Consumer) Handled() uint64 { return c.handled.Load() }

// InFlight returns how many fetched messages are not yet handled: at most
// Workers x (QueueSize + 1) plus one being queued (a worker's queue holds
// QueueSize + 1 - MaxBatch, its batch at most MaxBatch).
func (c *Consumer) InFlight() int { return c.tracker.InFlight() }

// Fetched returns how many messages were fetched since start.
func (c *Consumer) Fetched() uint64 { return c.fetched.Load() }

// Run consumes until ctx ends, then stops fetching, drains in-flight
// messages for at most ShutdownTimeout, commits once more and returns.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	start := kafka.FirstOffset
	if c.cfg.StartOffset == "last" {
		start = kafka.LastOffset
	}
	rc := kafka.ReaderConfig{
		Brokers:        c.cfg.Brokers,
		GroupID:        c.cfg.GroupID,
		GroupTopics:    c.cfg.Topics,
		StartOffset:    start,
		MaxWait:        c.cfg.MaxWait,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		CommitInterval: 0, // synchronous commits, issued by our committer
		Dialer:         c.cfg.Dialer,
		ErrorLogger:    kafka.LoggerFunc(func(msg string, args ...any) { c.log.Debug("kafka-go", "msg", fmtArgs(msg, args)) }),
	}
	if st := c.cfg.SessionTimeout; st > 0 {
		rc.SessionTimeout, rc.RebalanceTimeout, rc.HeartbeatInterval = st, st, min(st/3, 3*time.Second)
	}
	r := kafka.NewReader(rc)

	// Handlers run on their own context: cancelled only when the drain
	// times out, so in-flight messages can finish after ctx ends.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()

	queues := make([]chan kafka.Message, c.cfg.Workers)
	var workers sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan kafka.Message, c.cfg.QueueSize+1-c.cfg.MaxBatch)
		workers.Add(1)
		go func(q <-chan kafka.Message) {
			defer workers.Done()
			batch := make([]kafka.Message, 0, c.cfg.MaxBatch)
			for m := range q {
				batch = c.take(q, append(batch[:0], m))
				if len(batch) > 1 && c.cfg.Batch(hctx, batch) == nil {
					for _, m := range batch {
						c.done(m)
					}
					continue
				}
				// One message, or a batch that failed: one by one, each
				// retried before the rest of its partition.
				for _, m := range batch {
					if !c.handle(hctx, h, m) {
						continue // abandoned at shutdown: not committed, fetched again after restart
					}
					c.done(m)
				}
			}
		}(queues[i])
	}

	committerDone := make(chan struct{})
	stopCommitter := make(chan struct{})
	go func() {
		defer close(committerDone)
		t := time.NewTicker(c.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-stopCommitter:
				return
			case <-t.C:
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c.commit(cctx, r)
				cancel()
			}
		}
	}()

	c.fetchLoop(ctx, r, queues)

	// Shutdown: stop feeding workers, drain, commit, close.
	for _, q := range queues {
		close(q)
	}
	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(c.cfg.ShutdownTimeout):
		c.log.Warn("shutdown timeout: abandoning in-flight messages; they will be processed again after restart",
			"in_flight", c.tracker.InFlight(), "timeout", c.cfg.ShutdownTimeout)
		hcancel()
		<-drained
	}
	close(stopCommitter)
	<-committerDone
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.commit(cctx, r)
	return errors.Join(err, r.Close())
}

// take adds to batch the messages already waiting in q, up to MaxBatch.
func (c *Consumer) take(q <-chan kafka.Message, batch []kafka.Message) []kafka.Message {
	for len(batch) < c.cfg.MaxBatch {
		select {
		case m, ok := <-q:
			if !ok {
				return batch
			}
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// done marks m handled.
func (c *Consumer) done(m kafka.Message) {
	c.tracker.Done(offset.Partition{Topic: m.Topic, Partition: m.Partition}, m.Offset)
	c.handled.Add(1)
}

// handle runs h on m until it succeeds; it reports false when ctx ended
// first. The worker's later messages wait meanwhile: the partition keeps
// its order and the bounded queue in front of it stops the fetching.
func (c *Consumer) handle(ctx context.Context, h Handler, m kafka.Message) bool {
	backoff := c.cfg.MinRetryBackoff
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return false // the drain timed out: leave the rest for the next start
		}
		err := h(ctx, m)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if c.cfg.Metrics != nil {
			c.cfg.Metrics.Retry(m.Topic)
		}
		if attempt == 1 || attempt%20 == 0 {
			c.log.Warn("message not handled; retrying it before the rest of its partition", "topic", m.Topic,
				"partition", m.Partition, "offset", m.Offset, "attempt", attempt, "retry_in", backoff, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		backoff = min(backoff*2, c.cfg.MaxRetryBackoff)
	}
}

func (c *Consumer) fetchLoop(ctx context.Context, r *kafka.Reader, queues []chan kafka.Message) {
	backoff := 100 * time.Millisecond
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("kafka fetch failed", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		c.joined.Store(true)
		c.fetched.Add(1)
		if c.cfg.Metrics != nil {
			c.cfg.Metrics.Lag(m.Topic, m.Partition, m.HighWaterMark-m.Offset-1)
		}
		c.tracker.Add(offset.Partition{Topic: m.Topic, Partition: m.Partition}, m.Offset)
		q := queues[worker(m.Topic, m.Partition, len(queues))]
		select {
		case q <- m:
		case <-ctx.Done():
			return // fetched but not handled: not committed
		}
	}
}

// commit commits every partition's contiguous done offset.
func (c *Consumer) commit(ctx context.Context, r *kafka.Reader) error {
	offs := c.tracker.Committable()
	if len(offs) == 0 {
		return nil
	}
	if c.cfg.BeforeCommit != nil {
		if err := c.cfg.BeforeCommit(); err != nil {
			c.log.Warn("not committing offsets: what they cover is not durable yet; will retry", "err", err)
			return err
		}
	}
	msgs := make([]kafka.Message, 0, len(offs))
	for p, off := range offs {
		msgs = append(msgs, kafka.Message{Topic: p.Topic, Partition: p.Partition, Offset: off})
	}
	err := r.CommitMessages(ctx, msgs...)
	if c.cfg.Metrics != nil {
		c.cfg.Metrics.Commit(err == nil)
	}
	if err != nil {
		c.log.Warn("offset commit failed; will retry", "err", err)
		return err
	}
	c.tracker.Committed(offs)
	return nil
}

// Joined reports whether the consumer has received its first message.
func (c *Consumer) Joined() bool { return c.joined.Load() }

func worker(topic string, partition, n int) int {
	h := fnv.New32a()
	h.Write([]byte(topic))
	h.Write([]byte(strconv.Itoa(partition)))
	return int(h.Sum32() % uint32(n))
}
