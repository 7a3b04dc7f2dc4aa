package source

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Dead-letter headers.
const (
	HeaderReason          = "vigia-dead-letter-reason"
	HeaderError           = "vigia-dead-letter-error"
	HeaderOriginTopic     = "vigia-origin-topic"
	HeaderOriginPartition = "vigia-origin-partition"
	HeaderOriginOffset    = "vigia-origin-offset"
	HeaderOriginTime      = "vigia-origin-time"
)

// DeadLetter writes unprocessable messages, unchanged, to a topic with
// headers saying why and where they came from.
type DeadLetter struct {
	w   *kafka.Writer
	log *slog.Logger
}

// NewDeadLetter returns a writer to topic.
func NewDeadLetter(brokers []string, topic string, transport *kafka.Transport, log *slog.Logger) *DeadLetter {
	w := &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Topic:                  topic,
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		AllowAutoTopicCreation: true,
		Balancer:               &kafka.Hash{},
	}
	if transport != nil {
		w.Transport = transport
	}
	if log == nil {
		log = slog.Default()
	}
	return &DeadLetter{w: w, log: log}
}

// Write writes m with its reason; it retries until the broker acknowledges
// or ctx ends, since the message's offset is committed only afterwards.
func (d *DeadLetter) Write(ctx context.Context, m kafka.Message, reason, detail string) error {
	if len(detail) > 1024 {
		detail = detail[:1024]
	}
	dl := kafka.Message{
		Key:   m.Key,
		Value: m.Value,
		Headers: append(m.Headers[:len(m.Headers):len(m.Headers)],
			kafka.Header{Key: HeaderReason, Value: []byte(reason)},
			kafka.Header{Key: HeaderError, Value: []byte(detail)},
			kafka.Header{Key: HeaderOriginTopic, Value: []byte(m.Topic)},
			kafka.Header{Key: HeaderOriginPartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafka.Header{Key: HeaderOriginOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
			kafka.Header{Key: HeaderOriginTime, Value: []byte(m.Time.UTC().Format(time.RFC3339Nano))},
		),
	}
	backoff := 100 * time.Millisecond
	for {
		err := d.w.WriteMessages(ctx, dl)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("dead letter: %w", ctx.Err())
		}
		d.log.Warn("dead-letter write failed, retrying", "topic", d.w.Topic, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("dead letter: %w", ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Close flushes and closes the writer.
func (d *DeadLetter) Close() error { return d.w.Close() }
