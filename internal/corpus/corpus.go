// Package corpus locates the public sample logs used by corpus tests:
// ../shared/data/public relative to the module root. They exist on the
// project's development and CI machines, not in a user's clone, so tests
// skip with a clear message when they are absent.
package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the corpus directory, or skips the test.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("VIGIA_CORPUS"); d != "" {
		return d
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Skipf("corpus: %v", err)
	}
	d := filepath.Join(root, "..", "shared", "data", "public")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("corpus: public sample logs not found at %s (they live beside the project on development and CI machines; set VIGIA_CORPUS to point elsewhere)", d)
	}
	return d
}

// ModuleRoot returns the directory holding go.mod, walking up from the
// working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
