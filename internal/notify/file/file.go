// Package file appends notifications to a local file, one JSON document
// per line: the webhook receiver's body (webhook.Body, version "1"), with
// credentials redacted from every free text. It suits audit trails, a log
// shipper tailing the file, and tests of routing.
//
// The file is created with mode 0600 when missing (an existing file keeps
// its mode); its directory must exist. Each line is written with a single
// write on a file opened for appending, so concurrent deliveries never
// interleave. When the path stops naming the open file (logrotate moved
// or removed it), the next delivery reopens it. With fsync, every line is
// synced to disk before Deliver returns.
//
// Write errors are retried (a full disk may be freed); a line left
// incomplete by a failed write is ended before the next one, so one bad
// write costs one line, not two.
package file

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"sync"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/webhook"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// DefaultFirstSteps is the default of Config.FirstSteps.
const DefaultFirstSteps = 3

// Mode is the permission of a file the receiver creates.
const Mode = 0o600

// Config configures a file receiver. Zero values are the defaults.
//
//	file:
//	  path: /var/lib/vigia/notifications.jsonl
//	  fsync: true
type Config struct {
	// Path is the file to append to. Required.
	Path string `yaml:"path"`
	// Fsync syncs the file after every notification.
	// Default: false
	Fsync bool `yaml:"fsync"`
	// RunbookBaseURL is joined with the runbook path for the lines'
	// runbook.url.
	// Default: "" (no URL).
	RunbookBaseURL string `yaml:"runbook_base_url"`
	// FirstSteps is how many runbook triage steps each line carries.
	// Default: 3
	FirstSteps int `yaml:"first_steps"`
}

// FieldError reports a bad Config field.
type FieldError struct {
	// Field is the field's configuration name (path, first_steps, ...).
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "file: " + e.Field + " " + e.Problem }

// Validate reports every bad field, joined.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, &FieldError{Field: "path", Problem: "is required"})
	}
	if c.FirstSteps < 0 {
		errs = append(errs, &FieldError{Field: "first_steps", Problem: fmt.Sprintf("must not be negative, got %d", c.FirstSteps)})
	}
	if c.RunbookBaseURL != "" {
		if u, err := url.Parse(c.RunbookBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, &FieldError{Field: "runbook_base_url", Problem: "must be an absolute http(s) URL"})
		}
	}
	return errors.Join(errs...)
}

// ErrClosed is returned by Deliver after Close.
var ErrClosed = errors.New("file: receiver closed")

// Receiver appends notifications to one file. It is safe for concurrent
// use.
type Receiver struct {
	cfg   Config
	books *runbook.Library

	mu     sync.Mutex
	f      *os.File
	closed bool
	// partial is set when the last write stopped inside a line.
	partial bool
	// write writes to the file (a seam for tests of failed writes).
	write func(f *os.File, b []byte) (int, error)
}

var _ notify.Receiver = (*Receiver)(nil)

// New opens (creating it when missing) the file cfg names. books supplies
// the runbook steps; it may be nil. Close releases the file.
func New(cfg Config, books *runbook.Library) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.FirstSteps == 0 {
		cfg.FirstSteps = DefaultFirstSteps
	}
	r := &Receiver{cfg: cfg, books: books, write: (*os.File).Write}
	f, err := r.open()
	if err != nil {
		return nil, &FieldError{Field: "path", Problem: err.Error()}
	}
	r.f = f
	return r, nil
}

func (r *Receiver) open() (*os.File, error) {
	return os.OpenFile(r.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, Mode)
}

// Deliver appends n as one JSON line. The state is returned unchanged.
func (r *Receiver) Deliver(ctx context.Context, n *notify.Notification, prev notify.State) (notify.State, error) {
	if n == nil {
		return nil, notify.Permanent(errors.New("file: nil notification"))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("file: %s: %w", r.cfg.Path, err)
	}
	data, err := webhook.NewBody(n, prev, r.books, r.cfg.RunbookBaseURL, r.cfg.FirstSteps).Encode(math.MaxInt)
	if err != nil {
		return nil, notify.Permanent(fmt.Errorf("file: notification %s: %w", n.ID, err))
	}
	line := append(data, '\n')

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if err := r.reopenIfMoved(); err != nil {
		return nil, fmt.Errorf("file: reopen %s: %w", r.cfg.Path, err)
	}
	if r.partial {
		line = append([]byte{'\n'}, line...)
	}
	written, err := r.write(r.f, line)
	if err != nil {
		if written > 0 {
			r.partial = line[written-1] != '\n'
		}
		return nil, fmt.Errorf("file: write %s: %w", r.cfg.Path, err)
	}
	r.partial = false
	if r.cfg.Fsync {
		if err := r.f.Sync(); err != nil {
			return nil, fmt.Errorf("file: sync %s: %w", r.cfg.Path, err)
		}
	}
	return prev, nil
}

// reopenIfMoved reopens the file when the path no longer names it
// (rotated or removed). r.mu is held.
func (r *Receiver) reopenIfMoved() error {
	if r.f != nil {
		cur, err1 := r.f.Stat()
		onDisk, err2 := os.Stat(r.cfg.Path)
		if err1 == nil && err2 == nil && os.SameFile(cur, onDisk) {
			return nil
		}
		if err2 != nil && !errors.Is(err2, os.ErrNotExist) {
			return err2
		}
	}
	f, err := r.open()
	if err != nil {
		return err
	}
	if r.f != nil {
		r.f.Close()
	}
	// A new file starts clean: a partial line stays in the old one.
	r.f, r.partial = f, false
	return nil
}

// Close syncs and closes the file. It is safe to call twice; Deliver
// fails with ErrClosed afterwards.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.f == nil {
		return nil
	}
	err := errors.Join(r.f.Sync(), r.f.Close())
	r.f = nil
	return err
}
