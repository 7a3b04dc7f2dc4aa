package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vigia-dev/vigia/internal/correlate"
	"github.com/vigia-dev/vigia/internal/rule"
)

// The committed ATT&CK coverage and rule index; a test fails when they
// drift from detections/.
//go:generate go run . rules coverage --rules ../../detections --runbook-root ../.. --out ../../docs/coverage.md
//go:generate go run . rules index --rules ../../detections --runbook-root ../.. --out ../../docs/rules.md

func cmdRules(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("rules: want a subcommand: test, lint, coverage or index")
	}
	sub := args[0]
	fs := flag.NewFlagSet("vigia rules "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var paths, enable, disable stringList
	fs.Var(&paths, "rules", "rule and tuning files or directories (repeatable; later ones override earlier ones' lists and macros). Default: detections")
	fs.Var(&enable, "enable", "enable rules by id or tag (repeatable)")
	fs.Var(&disable, "disable", "disable rules by id or tag (repeatable)")
	root := fs.String("runbook-root", "", "directory runbook paths are relative to. Default: the working directory")
	verbose := fs.Bool("v", false, "test: print every test, not just failures")
	format := fs.String("format", "markdown", "coverage: markdown or json")
	out := fs.String("out", "", "coverage, index: write to this file instead of standard output")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if len(paths) == 0 {
		paths = stringList{"detections"}
	}
	switch sub {
	case "lint":
		set, err := rule.Load(paths, rule.Options{Root: *root, Strict: true, Enable: enable, Disable: disable})
		var les rule.LoadErrors
		if errors.As(err, &les) {
			for _, e := range les {
				fmt.Fprintln(stderr, e)
			}
			fmt.Fprintf(stderr, "%d problems in %s\n", len(les), paths.String())
			return errSilent
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d rules ok\n", len(set.Rules))
		return nil
	case "test":
		set, err := rule.Load(paths, rule.Options{Root: *root, Enable: enable, Disable: disable})
		var les rule.LoadErrors
		if errors.As(err, &les) {
			for _, e := range les {
				fmt.Fprintln(stderr, e)
			}
			return fmt.Errorf("%d rule files do not load", len(les))
		}
		if err != nil {
			return err
		}
		passed, failed := 0, 0
		for _, res := range append(set.RunTests(nil), correlate.RunTests(set)...) {
			if res.Err != nil {
				failed++
				fmt.Fprintf(stdout, "FAIL %s:%d %s: %s: %v\n", res.Rule.File, res.Test.Line, res.Rule.ID, res.Test.Name, res.Err)
				continue
			}
			passed++
			if *verbose {
				fmt.Fprintf(stdout, "ok   %s: %s\n", res.Rule.ID, res.Test.Name)
			}
		}
		fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
		if failed > 0 {
			return errSilent
		}
		return nil
	case "coverage", "index":
		if sub == "coverage" && *format != "markdown" && *format != "json" {
			return usageError(fmt.Sprintf("rules coverage: --format %q: want markdown or json", *format))
		}
		set, err := rule.Load(paths, rule.Options{Root: *root, Enable: enable, Disable: disable})
		if err != nil {
			return fmt.Errorf("rules:\n%w", err)
		}
		var buf bytes.Buffer
		if sub == "index" {
			err = set.WriteIndex(&buf, *root)
		} else {
			var c *rule.Coverage
			if c, err = set.Coverage(); err == nil {
				if *format == "json" {
					err = c.WriteJSON(&buf)
				} else {
					err = c.WriteMarkdown(&buf)
				}
			}
		}
		if err != nil {
			return err
		}
		if *out != "" {
			return os.WriteFile(*out, buf.Bytes(), 0o644)
		}
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	return usageError(fmt.Sprintf("rules: unknown subcommand %q: want test, lint, coverage or index", sub))
}
