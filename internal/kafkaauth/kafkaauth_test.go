package kafkaauth

import (
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/config"
)

func TestBuild(t *testing.T) {
	d, tr, err := Build(config.Kafka{})
	if d != nil || tr != nil || err != nil {
		t.Fatalf("no security: %v %v %v", d, tr, err)
	}
	t.Setenv("EH_CONN", "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s")
	d, tr, err = Build(config.Kafka{TLS: &config.KafkaTLS{}, SASL: &config.KafkaSASL{Mechanism: "PLAIN", Username: "$ConnectionString", PasswordEnv: "EH_CONN"}})
	if err != nil || d.TLS == nil || d.SASLMechanism == nil || tr.SASL == nil || d.SASLMechanism.Name() != "PLAIN" {
		t.Fatalf("event hubs: %+v %+v %v", d, tr, err)
	}
	_, _, err = Build(config.Kafka{TLS: &config.KafkaTLS{}, SASL: &config.KafkaSASL{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordEnv: "UNSET_VAR_FOR_TEST"}})
	if err == nil || !strings.Contains(err.Error(), "UNSET_VAR_FOR_TEST") {
		t.Fatalf("missing password: %v", err)
	}
	_, _, err = Build(config.Kafka{TLS: &config.KafkaTLS{CAFile: "/nonexistent/ca.pem"}})
	if err == nil || !strings.Contains(err.Error(), "kafka.tls") {
		t.Fatalf("missing CA: %v", err)
	}
}
