package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// `deploy/kubernetes/base`, `Dockerfile`: repository paths in code spans.
	docPathRE = regexp.MustCompile("`((?:deploy|docs|detections|runbooks|cmd|internal)/[A-Za-z0-9_./-]*|Dockerfile|\\.dockerignore)`")
	// [text](file.md) or [text](file.md#anchor): relative links.
	docLinkRE = regexp.MustCompile(`\]\(([A-Za-z0-9_./-]+\.md)(#[a-z0-9-]+)?\)`)
)

// TestDocsReferToRealFiles keeps docs/deploy.md and docs/ingest.md honest
// about the repository: every path they name exists.
func TestDocsReferToRealFiles(t *testing.T) {
	repo := root(t)
	// Files other work writes: reported, not failed, until their directory exists.
	pending := []string{"deploy/audit", "docs/config.md"}
	for _, doc := range []string{"docs/deploy.md", "docs/ingest.md"} {
		text := string(readFile(t, filepath.Join(repo, doc)))
		check := func(rel string) {
			if _, err := os.Stat(filepath.Join(repo, rel)); err == nil {
				return
			}
			for _, p := range pending {
				if pathUnder(rel, p) {
					if _, err := os.Stat(filepath.Join(repo, p)); err != nil {
						t.Logf("%s names %s, not written yet", doc, rel)
						return
					}
				}
			}
			t.Errorf("%s names %s, which does not exist", doc, rel)
		}
		for _, m := range docPathRE.FindAllStringSubmatch(text, -1) {
			rel := strings.TrimRight(m[1], "/.")
			if strings.ContainsAny(rel, "…*") {
				continue
			}
			check(rel)
		}
		for _, m := range docLinkRE.FindAllStringSubmatch(text, -1) {
			check(filepath.Join(filepath.Dir(doc), m[1]))
		}
	}
}
