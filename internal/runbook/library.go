package runbook

import "sync"

// Library holds the parsed runbooks by path; safe for concurrent use.
type Library struct {
	mu    sync.RWMutex
	books map[string]*Runbook
}

// NewLibrary returns an empty library.
func NewLibrary() *Library { return &Library{books: map[string]*Runbook{}} }

// Add stores rb under its path.
func (l *Library) Add(rb *Runbook) {
	l.mu.Lock()
	l.books[rb.Path] = rb
	l.mu.Unlock()
}

// Get returns the runbook at path, or nil.
func (l *Library) Get(path string) *Runbook {
	if l == nil {
		return nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.books[path]
}
