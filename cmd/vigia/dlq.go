package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/kafkaauth"
	"github.com/vigia-dev/vigia/internal/source"
)

const dlqUsage = `usage:
  vigia dlq list [--limit N] [--reason R] [--json]        messages in the dead-letter topic, oldest first per partition
  vigia dlq replay [--reason R] [--limit N] [--to TOPIC]  produce them again to their origin topic (or TOPIC)
common flags: --config FILE (brokers, TLS/SASL and dead_letter_topic of vigia run's config)
              or --brokers HOST:PORT,... [--topic T] (plaintext; default topic vigia-dead-letter)
Bodies are never printed whole: list shows a redacted preview of --preview bytes (default 80).`

// previewMax bounds --preview.
const previewMax = 512

func cmdDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("dlq: want a subcommand: list or replay\n" + dlqUsage)
	}
	sub, args := args[0], args[1:]
	if sub != "list" && sub != "replay" {
		return usageError(fmt.Sprintf("dlq: unknown subcommand %q\n%s", sub, dlqUsage))
	}
	fs := flag.NewFlagSet("vigia dlq "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "vigia run's configuration file: brokers, TLS/SASL, dead_letter_topic")
	var brokers stringList
	fs.Var(&brokers, "brokers", "broker addresses (instead of --config; plaintext)")
	topic := fs.String("topic", "", "the dead-letter topic (default: the config's dead_letter_topic, else vigia-dead-letter)")
	limit := fs.Int("limit", 0, "at most N messages; 0 for all")
	reason := fs.String("reason", "", "only messages dead-lettered for this reason (not_json, unknown_format, oversized, …)")
	asJSON := fs.Bool("json", false, "list: JSON lines instead of a table")
	preview := fs.Int("preview", 80, fmt.Sprintf("list: bytes of each body shown, redacted (at most %d; 0 for none)", previewMax))
	to := fs.String("to", "", "replay: produce to this topic instead of each message's origin topic")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError(fmt.Sprintf("dlq %s: unexpected argument %q", sub, rest[0]))
	}
	if *limit < 0 || *preview < 0 || *preview > previewMax {
		return usageError(fmt.Sprintf("dlq %s: --limit must not be negative, --preview within 0..%d", sub, previewMax))
	}
	if (*cfgPath == "") == (len(brokers) == 0) {
		return usageError("dlq: give either --config or --brokers\n" + dlqUsage)
	}
	var dialer *kafka.Dialer
	var transport *kafka.Transport
	dlqTopic := "vigia-dead-letter"
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		if cfg.Kafka.Embedded {
			brokers = []string{cfg.Kafka.EmbeddedListen}
		} else {
			brokers = cfg.Kafka.Brokers
		}
		dlqTopic = cfg.Kafka.DeadLetterTopic
		if dialer, transport, err = kafkaauth.Build(cfg.Kafka); err != nil {
			return err
		}
	}
	if *topic != "" {
		dlqTopic = *topic
	}

	var records []*source.DeadLetterRecord
	err = source.ReadDeadLetters(ctx, brokers, dlqTopic, dialer, func(r *source.DeadLetterRecord) bool {
		if *reason != "" && r.Reason != *reason {
			return true
		}
		records = append(records, r)
		return *limit == 0 || len(records) < *limit
	})
	if err != nil {
		return err
	}

	if sub == "replay" {
		if len(records) == 0 {
			fmt.Fprintln(stdout, "nothing to replay")
			return nil
		}
		n, err := source.Replay(ctx, brokers, dlqTopic, *to, dialer, transport, records)
		if err != nil {
			return err
		}
		dest := *to
		if dest == "" {
			dest = "their origin topics"
		}
		fmt.Fprintf(stdout, "replayed %d messages from %s to %s\n", n, dlqTopic, dest)
		return nil
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range records {
			if err := enc.Encode(dlqJSON{DeadLetterRecord: r, Preview: preview0(r, *preview)}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(records) == 0 {
		fmt.Fprintf(stdout, "no dead letters in %s\n", dlqTopic)
		return nil
	}
	tw := table(stdout, "DLQ", "REASON", "ORIGIN", "SIZE", "TIME", "DETAIL", "PREVIEW")
	for _, r := range records {
		row(tw, fmt.Sprintf("%d/%d", r.Partition, r.Offset), r.Reason,
			r.OriginTopic+"/"+strconv.Itoa(r.OriginPartition)+"/"+strconv.FormatInt(r.OriginOffset, 10),
			strconv.Itoa(r.Size), fmtTime(r.Time), clip(oneLine(r.Detail), 60), preview0(r, *preview))
	}
	return tw.Flush()
}

// dlqJSON is one line of `vigia dlq list --json`.
type dlqJSON struct {
	*source.DeadLetterRecord
	Preview string `json:"preview,omitempty"`
}

func preview0(r *source.DeadLetterRecord, n int) string {
	if n == 0 {
		return ""
	}
	return r.Preview(n)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
