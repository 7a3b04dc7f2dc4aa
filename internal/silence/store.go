package silence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Store keeps silences. Implementations are safe for concurrent use.
type Store interface {
	// Put creates or replaces the silence with s.ID.
	Put(ctx context.Context, s *Silence) error
	// Get returns the silence, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (*Silence, error)
	// Expire ends the silence at t (EndsAt = t; a pending silence also
	// gets StartsAt = t) and returns it. Errors wrap ErrNotFound or
	// ErrExpired.
	Expire(ctx context.Context, id string, t time.Time) (*Silence, error)
	// List returns every stored silence: active, pending, and expired ones
	// within the store's retention. When some stored silences cannot be
	// read it returns the readable ones along with an error naming the
	// others.
	List(ctx context.Context) ([]*Silence, error)
	// Version changes whenever a silence is written, so a reader can skip
	// reloading an unchanged store.
	Version(ctx context.Context) (string, error)
	Close() error
}

// DefaultRetention is how long expired silences are kept for listing
// (`vigia silence list --expired`), as Alertmanager's default.
const DefaultRetention = 120 * time.Hour

// expire applies Store.Expire's change to s.
func expire(s *Silence, t time.Time) error {
	if s.State(t) == StateExpired {
		return fmt.Errorf("%w: %s ended at %s", ErrExpired, s.ID, s.EndsAt.Format(time.RFC3339))
	}
	if t.Before(s.StartsAt) {
		s.StartsAt = t
	}
	s.EndsAt = t
	s.UpdatedAt = t
	return nil
}

// File is the single-replica store: silences in memory, written through to
// a JSON file (DIR/silences.json) replaced atomically — a temporary file
// synced and renamed over it — on every change, so a crash leaves either
// the old or the new file, never half of one.
type File struct {
	path      string
	retention time.Duration
	now       func() time.Time

	mu       sync.Mutex
	silences map[string]*Silence
	version  uint64
}

var _ Store = (*File)(nil)

// FileOptions configure a File store.
type FileOptions struct {
	// Retention is how long expired silences are kept. Default:
	// DefaultRetention.
	Retention time.Duration
	// Now is the clock (tests). Default: time.Now.
	Now func() time.Time
}

// fileName is the store's file inside its directory.
const fileName = "silences.json"

// fileFormat is the file's content.
type fileFormat struct {
	Silences []*Silence `json:"silences"`
}

// OpenFile opens (creating dir when needed) the store in dir.
func OpenFile(dir string, opts FileOptions) (*File, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	f := &File{path: filepath.Join(dir, fileName), retention: opts.Retention, now: opts.Now, silences: map[string]*Silence{}}
	b, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("silences: %w", err)
	}
	var ff fileFormat
	if err := json.Unmarshal(b, &ff); err != nil {
		return nil, fmt.Errorf("silences: %s: %w", f.path, err)
	}
	for _, s := range ff.Silences {
		if s != nil && s.ID != "" {
			f.silences[s.ID] = s
		}
	}
	f.prune()
	return f, nil
}

// prune drops silences expired longer than the retention ago.
func (f *File) prune() {
	cutoff := f.now().Add(-f.retention)
	for id, s := range f.silences {
		if s.EndsAt.Before(cutoff) {
			delete(f.silences, id)
		}
	}
}

// Put implements Store.
func (f *File) Put(_ context.Context, s *Silence) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, had := f.silences[s.ID]
	f.silences[s.ID] = s.clone()
	if err := f.write(); err != nil {
		if had {
			f.silences[s.ID] = old
		} else {
			delete(f.silences, s.ID)
		}
		return err
	}
	return nil
}

// Get implements Store.
func (f *File) Get(_ context.Context, id string) (*Silence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.silences[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return s.clone(), nil
}

// Expire implements Store.
func (f *File) Expire(_ context.Context, id string, t time.Time) (*Silence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.silences[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	s := old.clone()
	if err := expire(s, t); err != nil {
		return nil, err
	}
	f.silences[id] = s
	if err := f.write(); err != nil {
		f.silences[id] = old
		return nil, err
	}
	return s.clone(), nil
}

// List implements Store.
func (f *File) List(context.Context) ([]*Silence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*Silence, 0, len(f.silences))
	for _, s := range f.silences {
		out = append(out, s.clone())
	}
	return out, nil
}

// Version implements Store.
func (f *File) Version(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strconv.FormatUint(f.version, 10), nil
}

// Close implements Store. Every change is already on disk.
func (f *File) Close() error { return nil }

// write replaces the file with the current silences; f.mu is held.
func (f *File) write() error {
	f.prune()
	ff := fileFormat{Silences: make([]*Silence, 0, len(f.silences))}
	for _, s := range f.silences {
		ff.Silences = append(ff.Silences, s)
	}
	slices.SortFunc(ff.Silences, func(a, b *Silence) int { return a.CreatedAt.Compare(b.CreatedAt) })
	b, err := json.MarshalIndent(ff, "", "  ")
	if err != nil {
		return fmt.Errorf("silences: %w", err)
	}
	if err := writeAtomic(f.path, append(b, '\n')); err != nil {
		return fmt.Errorf("silences: %w", err)
	}
	f.version++
	return nil
}

// writeAtomic writes b to a temporary file beside path, syncs it, renames
// it over path and syncs the directory.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
