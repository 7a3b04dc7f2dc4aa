package deploy_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/config"
)

// loadCompose loads deploy/compose/compose.yaml with compose-go, the
// library docker compose itself uses: the Compose Specification's JSON
// schema rejects unknown keys, interpolation and relative paths are
// resolved as `docker compose` would, every profile enabled.
func loadCompose(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	dir := filepath.Join(root(t), "deploy", "compose")
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "compose.yaml")}},
		Environment: env,
	}, loader.WithProfiles([]string{"*"}))
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

// interpolatedRE is a value taken from the caller's environment.
var interpolatedRE = regexp.MustCompile(`^\$\{[A-Z_][A-Z0-9_]*(:?-[^}]*)?\}$`)

func TestCompose(t *testing.T) {
	p := loadCompose(t, map[string]string{})
	want := []string{"kafka", "kafka-init", "produce-samples", "redis", "vigia", "vigia-ingest", "webhook-sink"}
	if got := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(got, want) {
		t.Fatalf("services = %v, want %v", got, want)
	}
	repo := root(t)

	// Kafka: one node in KRaft mode, no ZooKeeper.
	kafka := p.Services["kafka"]
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if roles := env(kafka, "KAFKA_PROCESS_ROLES"); !strings.Contains(roles, "broker") || !strings.Contains(roles, "controller") {
		t.Errorf("kafka: KAFKA_PROCESS_ROLES = %q, want broker,controller (KRaft, single node)", roles)
	}
	for k := range kafka.Environment {
		if strings.Contains(strings.ToLower(k), "zookeeper") {
			t.Errorf("kafka: %s: KRaft needs no ZooKeeper", k)
		}
	}
	if !strings.HasPrefix(parseImage(kafka.Image).repo, "apache/kafka") {
		t.Errorf("kafka image %s, want apache/kafka", kafka.Image)
	}
	advertised := env(kafka, "KAFKA_ADVERTISED_LISTENERS")

	for name, s := range p.Services {
		// Every image is pinned; images built here carry a local tag.
		ref := parseImage(s.Image)
		if s.Build != nil {
			if ref.tag == "" || ref.tag == "latest" {
				t.Errorf("%s: built image %q needs a tag other than latest", name, s.Image)
			}
		} else if ref.digest == "" || ref.pinned() != "" {
			t.Errorf("%s: image %q is not pinned by digest", name, s.Image)
		}
		if s.Privileged || len(s.CapAdd) > 0 || s.NetworkMode == "host" || s.Pid == "host" || s.Ipc == "host" {
			t.Errorf("%s: privileged, added capabilities or host namespaces", name)
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: security_opt lacks no-new-privileges:true", name)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s published on %q: bind it to 127.0.0.1", name, port.Published, port.HostIP)
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind && !pathUnder(v.Source, repo) {
				t.Errorf("%s: bind mount of %s, outside the repository", name, v.Source)
			}
			if v.Type == types.VolumeTypeBind && !v.ReadOnly {
				t.Errorf("%s: bind mount of %s is writable", name, v.Source)
			}
		}
	}

	// Vigia's services: the image of this repository, hardened.
	topics := strings.Join(p.Services["kafka-init"].Command, " ")
	for _, name := range []string{"vigia", "vigia-ingest"} {
		s := p.Services[name]
		t.Run(name, func(t *testing.T) {
			if s.Build == nil || filepath.Clean(s.Build.Context) != repo || s.Build.Dockerfile != "Dockerfile" {
				t.Errorf("build = %+v, want the repository's Dockerfile", s.Build)
			}
			if !s.ReadOnly {
				t.Error("read_only is not true")
			}
			if !slices.Equal(s.CapDrop, []string{"ALL"}) {
				t.Errorf("cap_drop = %v, want [ALL]", s.CapDrop)
			}
			if s.User != "65532:65532" {
				t.Errorf("user = %q, want 65532:65532", s.User)
			}
			i := slices.Index(s.Command, "--config")
			if len(s.Command) == 0 || i < 0 || i+1 >= len(s.Command) {
				t.Fatalf("command %q lacks --config FILE", s.Command)
			}
			var cfgFile string
			for _, v := range s.Volumes {
				if v.Target == s.Command[i+1] {
					cfgFile = v.Source
				}
			}
			if cfgFile == "" {
				t.Fatalf("--config %s is not mounted", s.Command[i+1])
			}
			cfg := parseVigiaConfig(t, cfgFile, s.Command[0], readFile(t, cfgFile))
			for _, b := range cfg.Kafka.Brokers {
				if !strings.Contains(advertised, "://"+b) {
					t.Errorf("kafka.brokers %s is not advertised by the kafka service (%s)", b, advertised)
				}
			}
			if s.Command[0] == "run" {
				for _, tp := range append(topicNames(cfg.Kafka.Topics), cfg.Kafka.DeadLetterTopic) {
					if !strings.Contains(topics, tp) {
						t.Errorf("topic %s is not created by kafka-init (auto-creation is off)", tp)
					}
				}
			} else if !strings.Contains(topics, cfg.Ingest.Topic) {
				t.Errorf("ingest.topic %s is not created by kafka-init", cfg.Ingest.Topic)
			}
			for field, path := range cfg.fields("_file") {
				if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return pathUnder(path, v.Target) }) {
					t.Errorf("%s = %s is on no mounted volume", field, path)
				}
			}
			for field, name := range cfg.fields("_env") {
				if _, ok := s.Environment[name]; !ok {
					t.Errorf("%s names $%s, which the service does not pass", field, name)
				}
			}
			if portOf(cfg.Telemetry.Listen) != "9464" || strings.HasPrefix(cfg.Telemetry.Listen, "127.") {
				t.Errorf("telemetry.listen %q: serve :9464 on all interfaces inside the container", cfg.Telemetry.Listen)
			}
		})
	}

	// Values in the environment of Vigia's services come from the caller's
	// environment, never written in the file.
	var raw struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(readFile(t, filepath.Join(repo, "deploy", "compose", "compose.yaml")), &raw); err != nil {
		t.Fatal(err)
	}
	for name, s := range raw.Services {
		for k, v := range s.Environment {
			if secretLike(k, v) && !interpolatedRE.MatchString(v) {
				t.Errorf("%s: %s is written in compose.yaml; take it from the environment (${%s})", name, k, k)
			}
		}
	}
	// And they do flow through.
	p = loadCompose(t, map[string]string{"SLACK_BOT_TOKEN": "xoxb-from-the-environment"})
	if v := p.Services["vigia"].Environment["SLACK_BOT_TOKEN"]; v == nil || *v != "xoxb-from-the-environment" {
		t.Errorf("SLACK_BOT_TOKEN from the environment does not reach vigia: %v", v)
	}
	if _, err := os.Stat(filepath.Join(repo, "deploy", "local", "samples", "attack-story.jsonl")); err != nil {
		t.Errorf("produce-samples reads deploy/local/samples/attack-story.jsonl: %v", err)
	}
}

func topicNames(ts []config.Topic) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}
