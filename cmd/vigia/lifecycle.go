package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/api"
)

const lifecycleUsage = `usage:
  vigia lifecycle log [--since 24h|RFC3339] [--actor NAME] [--limit N]
                                        who acknowledged, resolved, silenced what, when, from where
  vigia lifecycle ack|resolve --receiver NAME --group KEY [--actor NAME] [--comment TEXT]
  vigia lifecycle silence --receiver NAME --group KEY --duration 2h [--actor NAME] [--comment TEXT]
                                        act on a group from the CLI, everywhere it lives
common flags: --api URL (env VIGIA_API), --token-file FILE (env VIGIA_API_TOKEN_FILE), --json`

func cmdLifecycle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("lifecycle: want a subcommand: log, ack, resolve or silence\n" + lifecycleUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("vigia lifecycle "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	af := addAPIFlags(fs)
	switch sub {
	case "log":
		since := fs.String("since", "", "entries from this time on: a duration back from now (24h) or RFC 3339")
		actor := fs.String("actor", "", "entries whose actor name or id contains this")
		limit := fs.Int("limit", 0, "at most the newest N entries (0: the server's default, 1000)")
		rest, err := parseInterleaved(fs, args)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			return usageError(fmt.Sprintf("lifecycle log: unexpected argument %q", rest[0]))
		}
		var from time.Time
		if *since != "" {
			if d, err := time.ParseDuration(*since); err == nil && d > 0 {
				from = time.Now().Add(-d)
			} else if t, err := time.Parse(time.RFC3339, *since); err == nil {
				from = t
			} else {
				return usageError(fmt.Sprintf("lifecycle log: --since %q: want a duration (24h) or RFC 3339 time", *since))
			}
		}
		if *limit < 0 {
			return usageError("lifecycle log: --limit must not be negative")
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		list, err := c.LifecycleLog(ctx, from, *actor, *limit)
		if err != nil {
			return af.fail("lifecycle log", err)
		}
		if af.json {
			return writeJSONOut(stdout, list)
		}
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no lifecycle actions")
			return nil
		}
		tw := table(stdout, "TIME", "ACTION", "ACTOR", "SOURCE", "WHERE", "RECEIVER", "GROUP", "OUTCOME", "DETAIL")
		for _, e := range list {
			detail := e.Reason
			if e.SilenceID != "" {
				detail = strings.TrimSpace("silence " + e.SilenceID + " until " + fmtTime(e.Until) + " " + detail)
			}
			var reached []string
			for _, t := range e.Targets {
				reached = append(reached, t.Receiver+":"+t.Result)
			}
			if len(reached) > 0 {
				detail = strings.TrimSpace(detail + " " + strings.Join(reached, ","))
			}
			row(tw, fmtTime(e.Time), e.Action, clip(e.Actor, 40), e.Source, clip(e.Where, 40), e.Receiver, clip(e.GroupKey, 12), e.Outcome, clip(detail, 100))
		}
		return tw.Flush()

	case "ack", "acknowledge", "resolve", "silence":
		receiver := fs.String("receiver", "", "the group's receiver (required)")
		group := fs.String("group", "", "the group key (required; see vigia lifecycle log or the receiver's state)")
		actor := fs.String("actor", os.Getenv("USER"), "who acts (default $USER)")
		comment := fs.String("comment", "", "a note for the tickets and the audit trail")
		var duration *time.Duration
		if sub == "silence" {
			duration = fs.Duration("duration", time.Hour, "how long the silence lasts")
		}
		rest, err := parseInterleaved(fs, args)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			return usageError(fmt.Sprintf("lifecycle %s: unexpected argument %q", sub, rest[0]))
		}
		if *receiver == "" || *group == "" {
			return usageError(fmt.Sprintf("lifecycle %s: --receiver and --group are required", sub))
		}
		if strings.TrimSpace(*actor) == "" {
			return usageError(fmt.Sprintf("lifecycle %s: --actor is required ($USER is not set)", sub))
		}
		action := map[string]string{"ack": "acknowledge"}[sub]
		if action == "" {
			action = sub
		}
		req := api.LifecycleRequest{Action: action, Receiver: *receiver, GroupKey: *group, Actor: *actor, Comment: *comment}
		if duration != nil {
			if *duration <= 0 {
				return usageError("lifecycle silence: --duration must be positive")
			}
			req.Duration = duration.String()
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		e, err := c.LifecycleAct(ctx, req)
		if err != nil {
			return af.fail("lifecycle "+sub, err)
		}
		if af.json {
			return writeJSONOut(stdout, e)
		}
		fmt.Fprintf(stdout, "%s: %s", e.Action, e.Outcome)
		if e.Reason != "" {
			fmt.Fprintf(stdout, " (%s)", e.Reason)
		}
		fmt.Fprintln(stdout)
		for _, t := range e.Targets {
			fmt.Fprintf(stdout, "  %s %s: %s %s\n", t.Receiver, clip(t.GroupKey, 12), t.Result, t.Detail)
		}
		if e.Outcome != "done" && e.Outcome != "no_change" {
			return errSilent
		}
		return nil
	}
	return usageError(fmt.Sprintf("lifecycle: unknown subcommand %q\n%s", sub, lifecycleUsage))
}
