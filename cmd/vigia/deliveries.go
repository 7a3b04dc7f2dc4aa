package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/vigia-dev/vigia/internal/api"
)

const deliveriesUsage = `usage:
  vigia deliveries dead [--limit N]     deliveries receivers refused for good (oldest first; 0: all)
  vigia deliveries replay ID... | --all put dead letters back into the outbox
common flags: --api URL (env VIGIA_API), --token-file FILE (env VIGIA_API_TOKEN_FILE), --json`

func cmdDeliveries(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("deliveries: want a subcommand: dead or replay\n" + deliveriesUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("vigia deliveries "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	af := addAPIFlags(fs)
	switch sub {
	case "dead":
		limit := fs.Int("limit", 100, "list at most N dead letters, oldest first; 0 for all")
		rest, err := parseInterleaved(fs, args)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			return usageError(fmt.Sprintf("deliveries dead: unexpected argument %q", rest[0]))
		}
		if *limit < 0 {
			return usageError("deliveries dead: --limit must not be negative")
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		dead, err := c.DeadLetters(ctx, *limit)
		if err != nil {
			return af.fail("deliveries dead", err)
		}
		if af.json {
			return writeJSONOut(stdout, dead)
		}
		if len(dead) == 0 {
			fmt.Fprintln(stdout, "no dead letters")
			return nil
		}
		tw := table(stdout, "DEAD ID", "RECEIVER", "RULE", "REASON", "TIME")
		for _, d := range dead {
			row(tw, d.DeadID, d.Receiver, d.Rule, clip(d.Reason, 80), fmtTime(d.Time))
		}
		return tw.Flush()

	case "replay":
		all := fs.Bool("all", false, "replay every dead letter")
		ids, err := parseInterleaved(fs, args)
		if err != nil {
			return err
		}
		switch {
		case *all && len(ids) > 0:
			return usageError("deliveries replay: give ids or --all, not both")
		case !*all && len(ids) == 0:
			return usageError("deliveries replay: give the dead letter ids (see vigia deliveries dead) or --all")
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		res, err := c.Replay(ctx, api.ReplayRequest{IDs: ids, All: *all})
		if err != nil {
			return af.fail("deliveries replay", err)
		}
		if af.json {
			return writeJSONOut(stdout, res)
		}
		fmt.Fprintf(stdout, "revived %d of %d dead letters\n", res.Revived, res.Requested)
		if !*all && res.Revived < res.Requested {
			return fmt.Errorf("deliveries replay: %d of the ids are not dead letters (replayed already, or mistyped)", res.Requested-res.Revived)
		}
		return nil
	}
	return usageError(fmt.Sprintf("deliveries: unknown subcommand %q: want dead or replay\n%s", sub, deliveriesUsage))
}
