package pipeline

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vigia-dev/vigia/internal/rule"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// RuleReloader loads the rule set again and swaps it into a Processor:
// on SIGHUP, on a change of the rule files, or when Reload is called. A
// set that fails to load (or whose normalizers cannot be built) is
// reported with every broken rule's file and line, and the running set
// stays.
type RuleReloader struct {
	Paths   []string
	Options rule.Options
	Proc    *Processor
	// Books, when set, receives the new set's runbooks (the library the
	// receivers read triage steps from).
	Books *runbook.Library
	// Metrics counts reloads by result; may be nil.
	Metrics interface{ RuleReload(ok bool) }
	Logger  *slog.Logger
	// Loaded is the rule.Fingerprint of the files the running set was
	// loaded from, taken before loading them: Run reloads when the files
	// differ from it.
	Loaded [32]byte

	mu sync.Mutex // one reload at a time
}

// Reload loads the rules and, when they load, makes them current. trigger
// says why, for the log ("SIGHUP", "file change").
func (r *RuleReloader) Reload(trigger string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	set, err := rule.Load(r.Paths, r.Options)
	if err == nil {
		err = r.Proc.SetRules(set)
	}
	if r.Metrics != nil {
		r.Metrics.RuleReload(err == nil)
	}
	if err != nil {
		log.Error("rule reload failed; the previous rule set keeps running (counted in vigia_rule_reloads_total{result=\"error\"})",
			"trigger", trigger, "rules_running", len(r.Proc.RuleSet().Rules), "err", err.Error())
		return err
	}
	if r.Books != nil {
		r.Books.AddAll(set.Books)
	}
	log.Info("rules reloaded", "trigger", trigger, "rules", len(set.Rules))
	return nil
}

// Run reloads on every signal from hup and, with interval > 0, whenever
// the rule files change (polled every interval, debounced by one more).
// It returns when ctx ends.
func (r *RuleReloader) Run(ctx context.Context, hup <-chan os.Signal, interval time.Duration) {
	changed := make(chan struct{}, 1)
	if interval > 0 {
		go rule.Watch(ctx, r.Paths, interval, r.Loaded, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.Reload("SIGHUP")
		case <-changed:
			r.Reload("file change")
		}
	}
}

// deref returns *d, or 0 for nil (a config built without Defaults).
func deref(d *time.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return *d
}
