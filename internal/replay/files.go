package replay

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// extensions are the file name endings Files picks in a directory, each
// also followed by ".gz". Case does not matter.
var extensions = []string{".json", ".jsonl", ".ndjson", ".log"}

// Files expands paths into the files to replay, in order. A file is taken
// as given, whatever its name. A directory is walked recursively in
// lexical order for regular files (or symlinks to them) named *.json,
// *.jsonl, *.ndjson or *.log, each optionally followed by ".gz", skipping
// names that start with "." (files and directories). A file listed twice,
// or reached twice, appears once. A path that does not exist is an error
// naming it.
func Files(paths []string) ([]string, error) {
	var files []string
	seen := make(map[string]bool)
	add := func(f string) {
		if c := filepath.Clean(f); !seen[c] {
			seen[c] = true
			files = append(files, f)
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			add(p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !replayable(d.Name()) {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
					return nil
				}
			} else if !d.Type().IsRegular() {
				return nil
			}
			add(path)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// replayable reports whether a file name ends in one of extensions,
// optionally followed by ".gz".
func replayable(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	for _, ext := range extensions {
		if strings.HasSuffix(name, ext) && len(name) > len(ext) {
			return true
		}
	}
	return false
}
