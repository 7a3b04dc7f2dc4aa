package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, COPY, ...
	args string
}

// stage is one FROM ... [AS name] and its instructions.
type stage struct {
	from, name string
	line       int
	body       []instruction
}

// parseDockerfile splits a Dockerfile into stages. It handles comments,
// parser directives and backslash continuations; that is all Vigia's needs.
func parseDockerfile(t *testing.T, data []byte) []stage {
	t.Helper()
	var (
		stages []stage
		cur    strings.Builder
		start  int
	)
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			var s stage
			s.line = in.line
			for len(f) > 0 && strings.HasPrefix(f[0], "--") { // --platform=...
				f = f[1:]
			}
			if len(f) == 0 {
				t.Fatalf("Dockerfile:%d: FROM without an image", in.line)
			}
			s.from = f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			} else if len(f) != 1 {
				t.Fatalf("Dockerfile:%d: cannot parse FROM %s", in.line, in.args)
			}
			stages = append(stages, s)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
			}
			return
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

// execForm decodes an instruction written in exec (JSON array) form.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Errorf("Dockerfile:%d: %s must use the exec form [\"...\"] (no shell in the image): %v", in.line, in.cmd, err)
	}
	return v
}

// copyArgs splits COPY's arguments into flags, sources and destination.
func copyArgs(in instruction) (flags map[string]string, srcs []string, dst string) {
	flags = map[string]string{}
	f := strings.Fields(in.args)
	for len(f) > 0 && strings.HasPrefix(f[0], "--") {
		k, v, _ := strings.Cut(strings.TrimPrefix(f[0], "--"), "=")
		flags[k] = v
		f = f[1:]
	}
	if len(f) < 2 {
		return flags, nil, ""
	}
	return flags, f[:len(f)-1], f[len(f)-1]
}

// imageDirs maps the image's directories copied from the build context to
// the repository's: "/etc/vigia/detections" → "<root>/detections".
func imageDirs(t *testing.T, stages []stage, repo string) map[string]string {
	t.Helper()
	out := map[string]string{}
	final := stages[len(stages)-1]
	for _, in := range final.body {
		if in.cmd != "COPY" {
			continue
		}
		flags, srcs, dst := copyArgs(in)
		if _, ok := flags["from"]; ok || len(srcs) != 1 {
			continue
		}
		out[filepath.Clean(dst)] = filepath.Join(repo, srcs[0])
	}
	return out
}

var goLineRE = regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`)

func TestDockerfile(t *testing.T) {
	repo := root(t)
	stages := parseDockerfile(t, readFile(t, filepath.Join(repo, "Dockerfile")))
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build (builder + final), got %d stage(s)", len(stages))
	}
	names := map[string]bool{}
	for i, s := range stages {
		if names[s.from] {
			continue // FROM an earlier stage
		}
		ref := parseImage(s.from)
		if ref.digest == "" || !digestRE.MatchString(ref.digest) {
			t.Errorf("Dockerfile:%d: stage %d base %q is not pinned by digest (@sha256:...)", s.line, i, s.from)
		}
		if ref.tag == "" || ref.tag == "latest" {
			t.Errorf("Dockerfile:%d: keep a readable tag beside the digest in %q", s.line, s.from)
		}
		if s.name != "" {
			names[s.name] = true
		}
		for _, in := range s.body {
			if in.cmd == "ADD" {
				// ADD fetches URLs and unpacks archives implicitly; COPY says what it does.
				t.Errorf("Dockerfile:%d: ADD %s: use COPY (and never fetch URLs at build time)", in.line, in.args)
			}
			if in.cmd == "COPY" {
				flags, srcs, _ := copyArgs(in)
				if from, ok := flags["from"]; ok && !names[from] {
					t.Errorf("Dockerfile:%d: COPY --from=%s names no earlier stage", in.line, from)
				}
				for _, src := range srcs {
					if strings.Contains(src, "://") {
						t.Errorf("Dockerfile:%d: COPY from a URL %s", in.line, src)
					}
				}
			}
		}
	}

	// The builder: the Go release of go.mod, a static, trimmed binary.
	builder := stages[0]
	goMod := goLineRE.FindSubmatch(readFile(t, filepath.Join(repo, "go.mod")))
	if goMod == nil {
		t.Fatal("go.mod has no go line")
	}
	ref := parseImage(builder.from)
	if sameGo := ref.tag == string(goMod[1]) || strings.HasPrefix(ref.tag, string(goMod[1])+"-"); ref.repo != "golang" || !sameGo {
		t.Errorf("builder %q: want golang:%s (go.mod's go line), so the build downloads no toolchain", builder.from, goMod[1])
	}
	var build string
	env := map[string]string{}
	for _, in := range builder.body {
		switch in.cmd {
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				build = in.args
			}
		}
	}
	if env["CGO_ENABLED"] != "0" && !strings.Contains(build, "CGO_ENABLED=0") {
		t.Error("builder: CGO_ENABLED=0 is not set: the binary would not be static")
	}
	for _, want := range []string{"-trimpath", "-s -w", "./cmd/vigia"} {
		if !strings.Contains(build, want) {
			t.Errorf("builder: go build %q lacks %q", build, want)
		}
	}

	// The final stage: distroless static nonroot, no shell, uid 65532.
	final := stages[len(stages)-1]
	if ref := parseImage(final.from); ref.repo != "gcr.io/distroless/static-debian12" || ref.tag != "nonroot" {
		t.Errorf("final stage base %q: want gcr.io/distroless/static-debian12:nonroot@sha256:...", final.from)
	}
	var user string
	var entry, cmd []string
	for _, in := range final.body {
		switch in.cmd {
		case "USER":
			user = in.args
		case "RUN":
			t.Errorf("Dockerfile:%d: RUN in the final stage: it has no shell", in.line)
		case "ENTRYPOINT":
			entry = execForm(t, in)
		case "CMD":
			cmd = execForm(t, in)
		case "VOLUME":
			t.Errorf("Dockerfile:%d: VOLUME: leave volumes to the deployment", in.line)
		}
	}
	if user != "65532:65532" {
		t.Errorf("final USER = %q, want 65532:65532 (numeric, so runAsNonRoot can verify it)", user)
	}
	if !slices.Equal(entry, []string{"/vigia"}) {
		t.Errorf("ENTRYPOINT = %q, want [\"/vigia\"]", entry)
	}
	if !slices.Equal(cmd, []string{"run", "--config", "/etc/vigia/vigia.yaml"}) {
		t.Errorf("CMD = %q, want [\"run\",\"--config\",\"/etc/vigia/vigia.yaml\"]", cmd)
	}
	dirs := imageDirs(t, stages, repo)
	for _, want := range []string{"/etc/vigia/detections", "/etc/vigia/runbooks"} {
		src, ok := dirs[want]
		if !ok {
			t.Errorf("the image lacks %s (COPY it from the repository)", want)
			continue
		}
		if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
			t.Errorf("%s is copied from %s, which is not a directory: %v", want, src, err)
		}
	}
}

// dockerignore is a parsed .dockerignore: patterns in order, the last
// matching one decides (a "!" pattern re-includes).
type dockerignore []struct {
	re      *regexp.Regexp
	include bool
	text    string
}

func parseDockerignore(t *testing.T, data []byte) dockerignore {
	t.Helper()
	var d dockerignore
	for line := range strings.Lines(string(data)) {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		text := p
		include := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		p = strings.Trim(filepath.ToSlash(filepath.Clean(p)), "/")
		// Glob to regexp: ** any number of directories, * and ? within one.
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		// A pattern naming a directory covers everything under it.
		re.WriteString("(/.*)?$")
		d = append(d, struct {
			re      *regexp.Regexp
			include bool
			text    string
		}{regexp.MustCompile(re.String()), include, text})
	}
	return d
}

// excluded reports whether a context-relative path is left out of the build
// context, and by which pattern.
func (d dockerignore) excluded(rel string) (bool, string) {
	rel = filepath.ToSlash(rel)
	out, by := false, ""
	for _, p := range d {
		if p.re.MatchString(rel) {
			out, by = !p.include, p.text
		}
	}
	return out, by
}

func TestDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	repo := root(t)
	ignore := parseDockerignore(t, readFile(t, filepath.Join(repo, ".dockerignore")))

	// Sanity of the matcher itself on this file's intent.
	for rel, want := range map[string]bool{
		"vigia":                           true, // the locally built binary
		".git/config":                     true,
		"deploy/compose/compose.yaml":     true,
		"go.mod":                          false,
		"internal/rule/load.go":           false,
		"internal/rule/rule_test.go":      true,
		"cmd/vigia/testdata/input.jsonl":  true,
		"detections/k8s/some-rule.yaml":   false,
		"runbooks/pt-BR/k8s/some-page.md": false,
	} {
		if got, by := ignore.excluded(rel); got != want {
			t.Errorf(".dockerignore: %s excluded = %v (by %q), want %v", rel, got, by, want)
		}
	}

	// Every file the Dockerfile copies from the context.
	stages := parseDockerfile(t, readFile(t, filepath.Join(repo, "Dockerfile")))
	for _, s := range stages {
		for _, in := range s.body {
			if in.cmd != "COPY" {
				continue
			}
			flags, srcs, _ := copyArgs(in)
			if _, ok := flags["from"]; ok {
				continue
			}
			for _, src := range srcs {
				if _, err := os.Stat(filepath.Join(repo, src)); err != nil {
					t.Errorf("Dockerfile:%d: COPY %s: %v", in.line, src, err)
				}
				if out, by := ignore.excluded(strings.TrimSuffix(src, "/")); out {
					t.Errorf("Dockerfile:%d: COPY %s, but .dockerignore excludes it (%q)", in.line, src, by)
				}
			}
		}
	}

	// Every source file of every package the binary is built from: a package
	// added outside cmd/ and internal/ would break the image build.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	cmd := exec.Command(goCmd, "list", "-deps", "-json=Dir,GoFiles,EmbedFiles,Standard,Module", "./cmd/vigia")
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	checked := 0
	for dec.More() {
		var p struct {
			Dir                 string
			GoFiles, EmbedFiles []string
			Standard            bool
			Module              *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Standard || p.Module == nil || !p.Module.Main {
			continue
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			rel, err := filepath.Rel(repo, filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if out, by := ignore.excluded(rel); out {
				t.Errorf("%s is needed to build vigia but .dockerignore excludes it (%q)", rel, by)
			}
			if !strings.HasPrefix(rel, "cmd/") && !strings.HasPrefix(rel, "internal/") {
				t.Errorf("%s is needed to build vigia but the Dockerfile copies only cmd/ and internal/", rel)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("go list found no source file of vigia")
	}
}
