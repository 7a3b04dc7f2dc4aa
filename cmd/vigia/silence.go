package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/api"
	"github.com/vigia-dev/vigia/internal/silence"
)

const silenceUsage = `usage:
  vigia silence add --matcher 'rule="k8s-pod-exec-attach"' [--matcher 'namespace="dev"'] [MATCHER...]
                    [--duration 1h | --end TIME] [--start TIME] [--author NAME] --comment TEXT
  vigia silence list [--expired]
  vigia silence expire ID...
common flags: --api URL (env VIGIA_API), --token-file FILE (env VIGIA_API_TOKEN_FILE), --json`

func cmdSilence(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("silence: want a subcommand: add, list or expire\n" + silenceUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("vigia silence "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	af := addAPIFlags(fs)
	switch sub {
	case "add":
		var matchers repeated
		fs.Var(&matchers, "matcher", `label matcher, Alertmanager syntax: rule="x", namespace=~"dev|qa", pod!="" (repeatable; all must match)`)
		duration := fs.Duration("duration", time.Hour, "how long the silence lasts, from its start")
		start := fs.String("start", "", "start time, RFC 3339 (2026-03-10T22:00:00-03:00). Default: now")
		end := fs.String("end", "", "end time, RFC 3339, instead of --duration")
		author := fs.String("author", os.Getenv("USER"), "who silences (default $USER)")
		comment := fs.String("comment", "", "why (required)")
		rest, err := parseInterleaved(fs, args)
		if err != nil {
			return err
		}
		matchers = append(matchers, rest...)
		if len(matchers) == 0 {
			return usageError("silence add: at least one --matcher is required, like --matcher 'rule=\"k8s-pod-exec-attach\"'")
		}
		if _, err := silence.ParseMatchers(matchers...); err != nil {
			return usageError("silence add: " + strings.TrimPrefix(err.Error(), silence.ErrInvalid.Error()+": "))
		}
		if strings.TrimSpace(*author) == "" {
			return usageError("silence add: --author is required ($USER is not set)")
		}
		if strings.TrimSpace(*comment) == "" {
			return usageError("silence add: --comment is required: say why alerts are muted")
		}
		req := api.SilenceRequest{Matchers: matchers, CreatedBy: *author, Comment: *comment}
		if *start != "" {
			t, err := time.Parse(time.RFC3339, *start)
			if err != nil {
				return usageError(fmt.Sprintf("silence add: --start %q: want RFC 3339, like 2026-03-10T22:00:00-03:00", *start))
			}
			req.StartsAt = &t
		}
		switch {
		case *end != "" && flagSet(fs, "duration"):
			return usageError("silence add: give --duration or --end, not both")
		case *end != "":
			t, err := time.Parse(time.RFC3339, *end)
			if err != nil {
				return usageError(fmt.Sprintf("silence add: --end %q: want RFC 3339, like 2026-03-11T06:00:00-03:00", *end))
			}
			req.EndsAt = &t
		default:
			if *duration <= 0 {
				return usageError("silence add: --duration must be positive")
			}
			req.Duration = duration.String()
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		s, err := c.CreateSilence(ctx, req)
		if err != nil {
			return af.fail("silence add", err)
		}
		if af.json {
			return writeJSONOut(stdout, s)
		}
		fmt.Fprintln(stdout, s.ID)
		return nil

	case "list":
		expired := fs.Bool("expired", false, "include expired silences")
		rest, err := parseInterleaved(fs, args)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			return usageError(fmt.Sprintf("silence list: unexpected argument %q", rest[0]))
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		list, err := c.Silences(ctx, *expired)
		if err != nil {
			return af.fail("silence list", err)
		}
		if af.json {
			return writeJSONOut(stdout, list)
		}
		if len(list) == 0 {
			if *expired {
				fmt.Fprintln(stdout, "no silences")
			} else {
				fmt.Fprintln(stdout, "no active or pending silences")
			}
			return nil
		}
		tw := table(stdout, "ID", "STATUS", "MATCHERS", "STARTS", "ENDS", "CREATED BY", "COMMENT")
		for _, s := range list {
			row(tw, s.ID, s.Status, strings.Join(s.Matchers, ", "), fmtTime(s.StartsAt), fmtTime(s.EndsAt), s.CreatedBy, clip(s.Comment, 60))
		}
		return tw.Flush()

	case "expire":
		ids, err := parseInterleaved(fs, args)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return usageError("silence expire: give the ids of the silences to expire (see vigia silence list)")
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		var done []*api.Silence
		var errs []error
		for _, id := range ids {
			s, err := c.ExpireSilence(ctx, id)
			if err != nil {
				errs = append(errs, af.fail("silence expire "+id, err))
				continue
			}
			done = append(done, s)
		}
		if af.json {
			if err := writeJSONOut(stdout, done); err != nil {
				return err
			}
		} else {
			for _, s := range done {
				fmt.Fprintf(stdout, "expired %s\n", s.ID)
			}
		}
		return errors.Join(errs...)
	}
	return usageError(fmt.Sprintf("silence: unknown subcommand %q: want add, list or expire\n%s", sub, silenceUsage))
}

// apiFlags are the flags every API command shares.
type apiFlags struct {
	url, tokenFile string
	json           bool
}

func addAPIFlags(fs *flag.FlagSet) *apiFlags {
	f := &apiFlags{}
	url := os.Getenv("VIGIA_API")
	if url == "" {
		url = api.DefaultURL
	}
	fs.StringVar(&f.url, "api", url, "Vigia API URL (env VIGIA_API)")
	fs.StringVar(&f.tokenFile, "token-file", os.Getenv("VIGIA_API_TOKEN_FILE"), "file holding the API bearer token (env VIGIA_API_TOKEN_FILE)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	return f
}

func (f *apiFlags) client() (*api.Client, error) {
	tok, err := api.LoadToken(f.tokenFile)
	if err != nil {
		return nil, err
	}
	c, err := api.NewClient(f.url, tok)
	if err != nil {
		return nil, usageError("--api: " + err.Error())
	}
	return c, nil
}

// fail words an API error for the command's user.
func (f *apiFlags) fail(what string, err error) error {
	var se *api.StatusError
	switch {
	case errors.As(err, &se) && se.Code == 401:
		return fmt.Errorf("%s: %w (pass --token-file)", what, err)
	case errors.As(err, &se):
		return fmt.Errorf("%s: %w", what, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", what, err)
	default:
		return fmt.Errorf("%s: %w (is vigia run serving its API at %s? see --api)", what, err, f.url)
	}
}

// parseInterleaved parses flags that may follow positional arguments
// (`expire ID --json`), returning the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// repeated is a repeatable flag kept verbatim (matchers hold commas).
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row(tw, header...)
	return tw
}

// row writes one table row; cells lose control characters (a reason or
// comment cannot break the table or drive the terminal).
func row(tw *tabwriter.Writer, cells ...string) {
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		cells[i] = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || r == utf8.RuneError {
				return ' '
			}
			return r
		}, c)
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

// clip shortens s to n runes, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04 MST")
}
