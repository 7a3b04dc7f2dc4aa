package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/corpus"
)

// root returns the module root: the tests read the repository's files.
func root(t testing.TB) string {
	t.Helper()
	r, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatalf("module root: %v", err)
	}
	return r
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeStrict decodes JSON into v, failing on fields v does not have.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// vigiaConfig is a Vigia config file as shipped in a deployment: the typed
// result of config.Parse plus the raw tree, for checks that walk every
// *_file and *_env field whatever receiver it belongs to.
type vigiaConfig struct {
	*config.Config
	raw map[string]any
}

// parseVigiaConfig parses a config file exactly as the command using it
// does: strictly, with defaults and validation; config.Parse for vigia run,
// config.ParseIngest (which needs no topics, rules or receivers) for vigia
// ingest.
func parseVigiaConfig(t *testing.T, name, command string, data []byte) vigiaConfig {
	t.Helper()
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	parse := config.Parse
	if command == "ingest" {
		parse = config.ParseIngest
	}
	cfg, err := parse(data)
	if err != nil {
		t.Fatalf("%s does not load as a config of vigia %s:\n%v", name, command, err)
	}
	return vigiaConfig{Config: cfg, raw: raw}
}

// fields returns every scalar of the raw config whose key ends in suffix
// ("_file", "_env"), with its dotted path.
func (c vigiaConfig) fields(suffix string) map[string]string {
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if s, ok := x.(string); ok && strings.HasSuffix(k, suffix) {
					out[p] = s
					continue
				}
				walk(p, x)
			}
		case []any:
			for i, x := range v {
				walk(path+"["+strconv.Itoa(i)+"]", x)
			}
		}
	}
	walk("", c.raw)
	return out
}

// listen returns the raw listen address of a section ("telemetry", "ingest").
func (c vigiaConfig) listen(section string) string {
	m, _ := c.raw[section].(map[string]any)
	s, _ := m["listen"].(string)
	return s
}

// portOf returns the port of a listen address (":9464", "0.0.0.0:8443").
func portOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// imageRef is a parsed container image reference.
type imageRef struct {
	repo, tag, digest string
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func parseImage(s string) imageRef {
	var r imageRef
	if i := strings.Index(s, "@"); i >= 0 {
		s, r.digest = s[:i], s[i+1:]
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		s, r.tag = s[:i], s[i+1:]
	}
	r.repo = s
	return r
}

// pinned says why an image reference is not pinned, or "" when it is: by a
// well-formed digest, or by a tag other than latest.
func (r imageRef) pinned() string {
	switch {
	case r.digest != "" && !digestRE.MatchString(r.digest):
		return "malformed digest " + r.digest
	case r.digest != "":
		return ""
	case r.tag == "":
		return "no tag and no digest (means :latest)"
	case r.tag == "latest":
		return "floating tag :latest"
	}
	return ""
}

// secretValueRE matches values shaped like credentials: Slack, GitHub,
// GitLab and AWS key prefixes, JWTs, PEM blocks.
var secretValueRE = regexp.MustCompile(`^(xox[abprs]-|xapp-|gh[pousr]_|github_pat_|glpat-|AKIA|ASIA|sk-|eyJ)|-----BEGIN`)

// secretNameRE matches names of variables that carry credentials.
var secretNameRE = regexp.MustCompile(`(?i)(token|secret|password|passwd|api_?key|routing_?key|credential|private_?key)`)

// secretLike reports whether an environment variable written with a literal
// value carries a credential, by its name or by the value's shape.
func secretLike(name, value string) bool {
	if value == "" {
		return false
	}
	if u := strings.ToUpper(name); strings.HasSuffix(u, "_FILE") || strings.HasSuffix(u, "_PATH") {
		// Where a credential is, not the credential: fine unless the value is one.
		return secretValueRE.MatchString(value)
	}
	return secretValueRE.MatchString(value) || secretNameRE.MatchString(name)
}

// pathUnder reports whether path is dir or inside it.
func pathUnder(path, dir string) bool {
	path, dir = filepath.Clean(path), filepath.Clean(dir)
	return path == dir || strings.HasPrefix(path, dir+"/")
}

func TestHelpers(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for ref, want := range map[string]string{
		"ghcr.io/vigia-dev/vigia:0.1.0":           "",
		"ghcr.io/vigia-dev/vigia:0.1.0@" + digest: "",
		"ghcr.io/vigia-dev/vigia@" + digest:       "",
		"localhost:5000/vigia:1":                  "",
		"localhost:5000/vigia":                    "no tag and no digest (means :latest)",
		"vigia":                                   "no tag and no digest (means :latest)",
		"vigia:latest":                            "floating tag :latest",
		"vigia@sha256:abc":                        "malformed digest sha256:abc",
	} {
		if got := parseImage(ref).pinned(); got != want {
			t.Errorf("parseImage(%q).pinned() = %q, want %q", ref, got, want)
		}
	}
	for _, tc := range []struct {
		name, value string
		want        bool
	}{
		{"SLACK_BOT_TOKEN", "anything", true},
		{"DB_PASSWORD", "hunter2", true},
		{"PAGERDUTY_ROUTING_KEY", "abc", true},
		{"SOMETHING", "xoxb-1-2-3", true},
		{"SOMETHING", "ghp_abcdef", true},
		{"TLS_KEY", "-----BEGIN PRIVATE KEY-----", true},
		{"SLACK_TOKEN_FILE", "/var/run/secrets/slack", false},
		{"SLACK_TOKEN_FILE", "xoxb-1-2-3", true},
		{"GOMEMLIMIT", "512MiB", false},
		{"SLACK_BOT_TOKEN", "", false},
	} {
		if got := secretLike(tc.name, tc.value); got != tc.want {
			t.Errorf("secretLike(%q, %q) = %v, want %v", tc.name, tc.value, got, tc.want)
		}
	}
}
