package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/ingest"
)

const configUsage = `Usage:
  vigia config validate --config FILE [--for run|ingest]
      load FILE, apply defaults, validate every field and check that the
      files it references exist (rule paths, runbook root, token, TLS and
      CA files); exit 1 listing every problem
  vigia config reference
      print the configuration reference (markdown), every field with its
      type, default and meaning
`

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return usageError("config: a subcommand is required")
	}
	switch args[0] {
	case "validate":
		return cmdConfigValidate(args[1:], stdout, stderr)
	case "reference":
		if len(args) > 1 {
			return usageError("config reference takes no arguments")
		}
		_, err := io.WriteString(stdout, config.Reference())
		return err
	case "-h", "--help", "help":
		fmt.Fprint(stdout, configUsage)
		return nil
	}
	fmt.Fprint(stderr, configUsage)
	return usageError(fmt.Sprintf("config: unknown subcommand %q", args[0]))
}

func cmdConfigValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigia config validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (required)")
	mode := fs.String("for", "run", "the command the file is for: run (topics, rules, receivers) or ingest (kafka, ingest, telemetry)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return usageError("config validate: --config is required")
	}
	if *mode != "run" && *mode != "ingest" {
		return usageError(fmt.Sprintf("config validate: --for %q: want run or ingest", *mode))
	}
	problems, warnings, cfg := validateConfig(*cfgPath, *mode)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "config %s: %d problem(s) (for vigia %s; relative paths are relative to the working directory):\n", *cfgPath, len(problems), *mode)
		for _, p := range problems {
			fmt.Fprintln(stderr, "  -", p)
		}
		return errSilent
	}
	fmt.Fprintf(stdout, "config OK: %s (for vigia %s): %s\n", *cfgPath, *mode, summary(cfg, *mode))
	return nil
}

// validateConfig returns every problem of the file: decoding errors (which
// stop there), then each field Validate names, then each referenced file
// that is missing or unusable. Warnings do not fail the check.
func validateConfig(path, mode string) (problems, warnings []string, cfg *config.Config) {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}, nil, nil
	}
	parse, validate := config.Parse, (*config.Config).Validate
	if mode == "ingest" {
		parse, validate = config.ParseIngest, (*config.Config).ValidateIngest
	}
	cfg = new(config.Config)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && err.Error() != "EOF" {
		// Parse words decoding errors with their line; use its message.
		_, perr := parse(data)
		if perr == nil {
			perr = err
		}
		return splitErrors(perr), nil, nil
	}
	cfg.Defaults()
	problems = splitErrors(validate(cfg))
	p, w := checkFiles(cfg, mode)
	return append(problems, p...), w, cfg
}

func splitErrors(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// checkFiles walks the configuration and checks every referenced path.
// Fields are recognised by their YAML key, so fields added later are
// checked too: *_file must be a readable file, *_root a directory, *_dir
// a directory if it exists (it is created otherwise), paths entries must
// exist; *_env names an environment
// variable, only warned about when unset (validation often runs in CI,
// away from the secrets). The blocks another command uses are skipped.
func checkFiles(cfg *config.Config, mode string) (problems, warnings []string) {
	relevant := func(path string) bool {
		inIngest := strings.HasPrefix(path, "ingest.")
		if mode == "ingest" {
			return inIngest || strings.HasPrefix(path, "kafka.") || strings.HasPrefix(path, "telemetry.")
		}
		return !inIngest
	}
	walkConfig(reflect.ValueOf(cfg).Elem(), "", func(path, key string, v reflect.Value) {
		if !relevant(path) {
			return
		}
		var values []string
		switch {
		case v.Kind() == reflect.String:
			values = []string{v.String()}
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
			for i := range v.Len() {
				values = append(values, v.Index(i).String())
			}
		default:
			return
		}
		for i, s := range values {
			if s == "" {
				continue
			}
			field := path
			if v.Kind() == reflect.Slice {
				field = fmt.Sprintf("%s[%d]", path, i)
			}
			switch {
			case strings.HasSuffix(key, "_env"):
				if _, ok := os.LookupEnv(s); !ok {
					warnings = append(warnings, fmt.Sprintf("%s: environment variable %s is not set here", field, s))
				}
			case strings.HasSuffix(key, "_file"):
				if err := readable(s); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", field, err))
				}
			case strings.HasSuffix(key, "_dir"): // created when missing (data_dir)
				if fi, err := os.Stat(s); err == nil && !fi.IsDir() {
					problems = append(problems, fmt.Sprintf("%s: %s is not a directory", field, s))
				}
			case strings.HasSuffix(key, "_root"):
				if fi, err := os.Stat(s); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", field, err))
				} else if !fi.IsDir() {
					problems = append(problems, fmt.Sprintf("%s: %s is not a directory", field, s))
				}
			case key == "paths":
				if _, err := os.Stat(s); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", field, err))
				}
			}
		}
	})
	// The files exist: check that ingest can use them as it will at start.
	if mode == "ingest" && len(problems) == 0 {
		if t := cfg.Ingest.TLS; t.CertFile != "" && t.KeyFile != "" {
			if _, err := ingest.TLSConfig(t, 0, nil); err != nil {
				problems = append(problems, err.Error())
			}
		}
		if f := cfg.Ingest.TokenFile; f != "" {
			if _, err := ingest.TokenFunc(f, 0, nil); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	return problems, warnings
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory, want a file", path)
	}
	return nil
}

// walkConfig calls fn for every leaf field with its YAML path (as the
// validation errors write it: kafka.topics[0].name) and its YAML key.
func walkConfig(v reflect.Value, path string, fn func(path, key string, v reflect.Value)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkConfig(v.Elem(), path, fn)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			key, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "-" {
				continue
			}
			if strings.Contains(opts, "inline") {
				walkConfig(v.Field(i), path, fn)
				continue
			}
			if key == "" {
				key = strings.ToLower(f.Name)
			}
			p := key
			if path != "" {
				p = path + "." + key
			}
			fv := v.Field(i)
			if isLeaf(fv) {
				fn(p, key, fv)
				continue
			}
			walkConfig(fv, p, fn)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkConfig(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			walkConfig(iter.Value(), fmt.Sprintf("%s.%v", path, iter.Key()), fn)
		}
	}
}

// isLeaf: a scalar, or a list of scalars.
func isLeaf(v reflect.Value) bool {
	t := v.Type()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface:
		return false
	}
	return true
}

func summary(cfg *config.Config, mode string) string {
	var parts []string
	kafka := fmt.Sprintf("brokers %s", strings.Join(cfg.Kafka.Brokers, ","))
	if cfg.Kafka.Embedded {
		kafka = "embedded broker on " + cfg.Kafka.EmbeddedListen
	}
	parts = append(parts, kafka)
	if mode == "ingest" {
		i := cfg.Ingest
		tls := "plain HTTP"
		if i.TLS.CertFile != "" {
			tls = "TLS"
			if i.TLS.ClientCAFile != "" {
				tls = "mutual TLS"
			}
		}
		if i.TokenFile != "" {
			tls += " + bearer token"
		}
		parts = append(parts, fmt.Sprintf("ingest on %s%s (%s) to topic %s", i.Listen, i.Path, tls, i.Topic))
	} else {
		parts = append(parts,
			fmt.Sprintf("%d topic(s)", len(cfg.Kafka.Topics)),
			fmt.Sprintf("rules from %s", strings.Join(cfg.Rules.Paths, ",")),
			fmt.Sprintf("%d receiver(s)", len(cfg.Receivers)))
	}
	tracing := "tracing off"
	if cfg.Telemetry.Tracing.Enabled {
		tracing = "tracing over OTLP " + cfg.Telemetry.Tracing.Protocol
	}
	return strings.Join(append(parts, tracing), ", ")
}
