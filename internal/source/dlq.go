package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/redact"
)

// HeaderReplayOf is set on a message `vigia dlq replay` produced:
// TOPIC/PARTITION/OFFSET of the dead letter it came from.
const HeaderReplayOf = "vigia-replay-of"

// DeadLetterRecord is one message of the dead-letter topic.
type DeadLetterRecord struct {
	// Partition and Offset locate it in the dead-letter topic.
	Partition int   `json:"partition"`
	Offset    int64 `json:"offset"`
	// Time is when it was dead-lettered.
	Time time.Time `json:"time"`
	// Reason is the machine-readable reason (not_json, unknown_format,
	// oversized, …); Detail the bounded, redacted error text.
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
	// Origin: where the message was consumed from, and its time there.
	OriginTopic     string    `json:"origin_topic"`
	OriginPartition int       `json:"origin_partition"`
	OriginOffset    int64     `json:"origin_offset"`
	OriginTime      time.Time `json:"origin_time,omitzero"`
	// Size is the original value's size in bytes.
	Size int `json:"size"`
	// Truncated says the dead letter keeps only the value's first bytes
	// (HeaderTruncated); the whole message is at its origin.
	Truncated bool `json:"truncated,omitempty"`
	// Key, Value and Headers are the original message's; never printed
	// whole (see Preview).
	Key     []byte         `json:"-"`
	Value   []byte         `json:"-"`
	Headers []kafka.Header `json:"-"`
}

// Preview returns at most n bytes of the value as text: redacted, control
// characters and invalid UTF-8 replaced, "…" when cut.
func (r *DeadLetterRecord) Preview(n int) string {
	v := r.Value
	cut := len(v) > n
	if cut {
		v = v[:n]
	}
	s := strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || c == utf8.RuneError {
			return '.'
		}
		return c
	}, strings.ToValidUTF8(string(v), "."))
	s = redact.String(s)
	if cut {
		s += "…"
	}
	return s
}

// deadLetterRecord decodes a message of the dead-letter topic.
func deadLetterRecord(m kafka.Message) *DeadLetterRecord {
	r := &DeadLetterRecord{Partition: m.Partition, Offset: m.Offset, Time: m.Time, Size: len(m.Value), Key: m.Key, Value: m.Value,
		OriginPartition: -1, OriginOffset: -1}
	for _, h := range m.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderReason:
			r.Reason = v
		case HeaderError:
			r.Detail = v
		case HeaderOriginTopic:
			r.OriginTopic = v
		case HeaderOriginPartition:
			if n, err := strconv.Atoi(v); err == nil {
				r.OriginPartition = n
			}
		case HeaderOriginOffset:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				r.OriginOffset = n
			}
		case HeaderOriginTime:
			r.OriginTime, _ = time.Parse(time.RFC3339Nano, v)
		case HeaderTime:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				r.Time = t
			}
		case HeaderTruncated:
			if n, err := strconv.Atoi(v); err == nil {
				r.Size, r.Truncated = n, true
			}
		case HeaderReplayOf: // replaced on the next replay
		default:
			r.Headers = append(r.Headers, h)
		}
	}
	return r
}

// ReadDeadLetters reads the dead-letter topic from its start to its end as
// of the call, partition by partition, without a consumer group (nothing
// is committed), and calls fn for each record; fn returning false stops.
// dialer may be nil (plaintext).
func ReadDeadLetters(ctx context.Context, brokers []string, topic string, dialer *kafka.Dialer, fn func(*DeadLetterRecord) bool) error {
	if dialer == nil {
		dialer = &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	}
	if len(brokers) == 0 {
		return errors.New("dlq: no brokers")
	}
	parts, err := dialer.LookupPartitions(ctx, "tcp", brokers[0], topic)
	if err != nil {
		return fmt.Errorf("dlq: topic %s: %w", topic, err)
	}
	ids := make([]int, 0, len(parts))
	for _, p := range parts {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	for _, p := range ids {
		conn, err := dialer.DialLeader(ctx, "tcp", brokers[0], topic, p)
		if err != nil {
			return fmt.Errorf("dlq: %s/%d: %w", topic, p, err)
		}
		first, last, err := conn.ReadOffsets()
		conn.Close()
		if err != nil {
			return fmt.Errorf("dlq: %s/%d offsets: %w", topic, p, err)
		}
		if first >= last {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, Dialer: dialer, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 200 * time.Millisecond})
		if err := r.SetOffset(first); err != nil {
			r.Close()
			return err
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return fmt.Errorf("dlq: %s/%d: %w", topic, p, err)
			}
			if !fn(deadLetterRecord(m)) {
				r.Close()
				return nil
			}
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return nil
}

// Replay produces each record's original key, value and headers again, to
// its origin topic (and partition, when the topic is the origin and has
// it) or to topic when set, with HeaderReplayOf; it returns how many it
// produced. A truncated record's whole value is read from its origin
// offset first (an error when retention removed it). dialer and transport
// may be nil (plaintext).
func Replay(ctx context.Context, brokers []string, dlqTopic, topic string, dialer *kafka.Dialer, transport *kafka.Transport, records []*DeadLetterRecord) (int, error) {
	for _, r := range records {
		if !r.Truncated {
			continue
		}
		m, err := readAt(ctx, brokers, dialer, r.OriginTopic, r.OriginPartition, r.OriginOffset)
		if err != nil {
			return 0, fmt.Errorf("dlq: %d/%d keeps only the start of a %d-byte message; its origin %s/%d/%d: %w",
				r.Partition, r.Offset, r.Size, r.OriginTopic, r.OriginPartition, r.OriginOffset, err)
		}
		r.Value, r.Truncated = m.Value, false
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchBytes:   64 << 20, // the broker decides what is too large
		Balancer: kafka.BalancerFunc(func(m kafka.Message, partitions ...int) int {
			if slices.Contains(partitions, m.Partition) {
				return m.Partition
			}
			return (&kafka.Hash{}).Balance(m, partitions...)
		}),
	}
	if transport != nil {
		w.Transport = transport
	}
	defer w.Close()
	msgs := make([]kafka.Message, 0, len(records))
	for _, r := range records {
		to, part := topic, -1
		if to == "" || to == r.OriginTopic {
			to, part = r.OriginTopic, r.OriginPartition
		}
		if to == "" {
			return 0, fmt.Errorf("dlq: record %d/%d has no origin topic; give --to", r.Partition, r.Offset)
		}
		h := append(slices.Clone(r.Headers), kafka.Header{Key: HeaderReplayOf, Value: fmt.Appendf(nil, "%s/%d/%d", dlqTopic, r.Partition, r.Offset)})
		msgs = append(msgs, kafka.Message{Topic: to, Partition: part, Key: r.Key, Value: r.Value, Headers: h})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return 0, fmt.Errorf("dlq: replay: %w", err)
	}
	return len(msgs), nil
}

// readAt reads the message at topic/partition/offset.
func readAt(ctx context.Context, brokers []string, dialer *kafka.Dialer, topic string, partition int, offset int64) (kafka.Message, error) {
	if topic == "" || partition < 0 || offset < 0 {
		return kafka.Message{}, errors.New("no origin headers")
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, Dialer: dialer, MinBytes: 1, MaxBytes: 64 << 20, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		return kafka.Message{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m, err := r.ReadMessage(rctx)
	if err != nil {
		return m, err
	}
	if m.Offset != offset {
		return m, fmt.Errorf("offset %d is gone (the first one left is %d)", offset, m.Offset)
	}
	return m, nil
}
