package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any bytes either parse into a valid config or give an error;
// never a panic, and a parsed config validates again (Defaults and
// Validate agree).
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../deploy/local/vigia.yaml", "../../deploy/compose/vigia.yaml", "../../deploy/compose/vigia-ingest.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	if ms, _ := filepath.Glob("../../cmd/vigia/testdata/*.yaml"); len(ms) > 0 {
		for _, m := range ms {
			if b, err := os.ReadFile(m); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("kafka: {brokers: [k:9092], topics: [{name: a}]}\nreceivers: [{name: c, console: {}}]\nredis: {addr: r:1, tls: {ca_file: x}}\n"))
	f.Add([]byte("kafka: &a {brokers: *a}\n"))
	f.Add([]byte("rules: {reload_interval: -1h}\ntelemetry: {token_env: X}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if cfg == nil {
			t.Fatal("nil config without an error")
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config does not validate again: %v", err)
		}
	})
}
