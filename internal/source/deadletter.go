package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/redact"
)

// Dead-letter headers.
const (
	HeaderReason          = "vigia-dead-letter-reason"
	HeaderError           = "vigia-dead-letter-error"
	HeaderOriginTopic     = "vigia-origin-topic"
	HeaderOriginPartition = "vigia-origin-partition"
	HeaderOriginOffset    = "vigia-origin-offset"
	HeaderOriginTime      = "vigia-origin-time"
	// HeaderTime is when the message was dead-lettered.
	HeaderTime = "vigia-dead-letter-time"
	// HeaderTruncated, when set, is the original value's size: the dead
	// letter keeps only its first bytes (it was larger than a broker
	// takes). The whole message stays at its origin offset while the
	// origin topic's retention keeps it; `vigia dlq replay` reads it there.
	HeaderTruncated = "vigia-dead-letter-truncated"
)

// Dead-letter value bounds: values larger than truncateAbove are cut to
// truncateTo bytes up front (Kafka's default message.max.bytes is 1 MiB,
// so an oversized message could never be dead-lettered whole: the writer
// would retry forever and stall its partition); a broker refusing a
// smaller one as too large gets the cut value too.
const (
	truncateAbove = 1<<20 - 64<<10
	truncateTo    = 64 << 10
)

// maxDetail bounds the error header, in bytes.
const maxDetail = 1024

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
// detail is redacted (credentials in an error's excerpt of the input) and
// cut to 1 KiB on a character boundary.
func (d *DeadLetter) Write(ctx context.Context, m kafka.Message, reason, detail string) error {
	detail = redact.String(strings.ToValidUTF8(detail, "\uFFFD"))
	if len(detail) > maxDetail {
		cut := maxDetail
		for cut > 0 && !utf8.RuneStart(detail[cut]) {
			cut--
		}
		detail = detail[:cut]
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
			kafka.Header{Key: HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		),
	}
	truncate := func() {
		dl.Value = m.Value[:truncateTo]
		dl.Headers = append(dl.Headers, kafka.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(m.Value)))})
	}
	if len(m.Value) > truncateAbove {
		truncate()
	}
	backoff := 100 * time.Millisecond
	for {
		err := d.w.WriteMessages(ctx, dl)
		if err == nil {
			return nil
		}
		if tooLarge(err) && len(dl.Value) > truncateTo {
			truncate()
			continue
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

// tooLarge reports whether the broker refused a message as too large.
func tooLarge(err error) bool {
	var client kafka.MessageTooLargeError
	if errors.Is(err, kafka.MessageSizeTooLarge) || errors.As(err, &client) {
		return true
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if errors.Is(e, kafka.MessageSizeTooLarge) || errors.As(e, &client) {
				return true
			}
		}
	}
	return false
}

// Close flushes and closes the writer.
func (d *DeadLetter) Close() error { return d.w.Close() }
