package runbook

import (
	"strings"
	"sync"
)

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

// AddAll stores every runbook of from, replacing those at the same paths
// (a reloaded rule set's runbooks, into the library receivers read).
func (l *Library) AddAll(from *Library) {
	if from == nil || from == l {
		return
	}
	from.mu.RLock()
	defer from.mu.RUnlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, rb := range from.books {
		l.books[p] = rb
	}
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

// Locales are the runbook translations Vigia ships, beside the English
// originals: runbooks/pt-BR/k8s/x.md translates runbooks/k8s/x.md.
var Locales = []string{"pt-BR"}

// LocalizedPath returns the path of path's translation into locale:
// "runbooks/k8s/x.md" → "runbooks/pt-BR/k8s/x.md". English ("" or "en")
// is path itself.
func LocalizedPath(path, locale string) string {
	if locale == "" || locale == "en" || locale == "en-US" {
		return path
	}
	dir, rest, ok := strings.Cut(path, "/")
	if !ok {
		return locale + "/" + path
	}
	return dir + "/" + locale + "/" + rest
}

// Localized returns the runbook at path in locale, falling back to the
// English original when there is no translation; nil when neither is loaded.
func (l *Library) Localized(path, locale string) *Runbook {
	if rb := l.Get(LocalizedPath(path, locale)); rb != nil {
		return rb
	}
	return l.Get(path)
}
