package rule

import (
	"context"
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Fingerprint hashes the names and contents of the rule files Load would
// read under paths. Contents, not modification times: a Kubernetes
// ConfigMap volume swaps a symlinked directory, which leaves the files'
// own entries untouched. Unreadable paths hash as such, so a path that
// appears or disappears changes the fingerprint too.
func Fingerprint(paths []string) [32]byte {
	h := sha256.New()
	for _, p := range paths {
		var files []string
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			h.Write([]byte("\x00error\x00" + p + "\x00" + err.Error()))
		}
		slices.Sort(files)
		for _, f := range files {
			h.Write([]byte("\x00file\x00" + f + "\x00"))
			data, err := os.ReadFile(f)
			if err != nil {
				h.Write([]byte("\x00unreadable\x00" + err.Error()))
				continue
			}
			h.Write(data)
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Watch polls the rule files under paths every interval and calls changed
// once their contents differ from last (the Fingerprint taken when the
// running set was loaded) and then stayed the same for one more interval
// (a debounce: an editor or `kubectl apply` writing several files
// triggers one reload, not one per file). It returns when ctx ends.
func Watch(ctx context.Context, paths []string, interval time.Duration, last [32]byte, changed func()) {
	pending := false
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		fp := Fingerprint(paths)
		switch {
		case fp != last:
			last, pending = fp, true
		case pending:
			pending = false
			changed()
		}
	}
}
