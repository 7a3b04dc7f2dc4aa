package resolve

import (
	"context"
	"fmt"
	"testing"

	"github.com/vigia-dev/vigia/internal/event"
)

// benchEvents returns what teaches the state of a cluster of pods, and a
// steady-state batch of size n over it: 70% container log lines, 20%
// Kubernetes API calls by service accounts or people on pods, 10% cloud
// calls by federated roles.
func benchEvents(pods, n int) (learn, batch []*event.Event) {
	for i := range pods {
		ns := fmt.Sprintf("ns%d", i%20)
		sa := fmt.Sprintf("app%d", i%50)
		learn = append(learn,
			saWrite("create", ns, sa, map[string]string{AnnotationIRSA: fmt.Sprintf("arn:aws:iam::111122223333:role/r%d", i%50)}),
			podCreate(ns, fmt.Sprintf("pod-%d", i), sa, "ReplicaSet/rs", "app:1", "sidecar:2"),
			podBinding(ns, fmt.Sprintf("pod-%d", i), fmt.Sprintf("node-%d", i%10)))
	}
	for i := range n {
		p := i * 7 % pods
		ns, pod := fmt.Sprintf("ns%d", p%20), fmt.Sprintf("pod-%d", p)
		switch {
		case i%10 < 7:
			batch = append(batch, logLine(ns, pod, fmt.Sprintf("node-%d", p%10), "app:1"))
		case i%10 < 8:
			batch = append(batch, userExec("alice@example.com", ns, pod))
		case i%10 < 9:
			call := auditEvent("get", "configmaps", "", ns, "cfg")
			call.Actor = event.Actor{Name: fmt.Sprintf("system:serviceaccount:%s:app%d", ns, p%50), Type: "service_account"}
			batch = append(batch, call)
		default:
			batch = append(batch, awsCall(fmt.Sprintf("arn:aws:sts::111122223333:assumed-role/r%d/s", p%50), "ASIAX", "GetObject"))
		}
	}
	return learn, batch
}

func BenchmarkResolve(b *testing.B) {
	stores := []struct {
		name string
		make func(b *testing.B) Store
	}{
		{"memory", func(*testing.B) Store { return NewMemory(0) }},
		{"redis", func(b *testing.B) Store { return NewRedis(newRedisClient(b), "bench:") }},
	}
	for _, st := range stores {
		for _, size := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/batch=%d", st.name, size), func(b *testing.B) {
				r := New(st.make(b), Options{})
				learn, batch := benchEvents(500, size)
				ctx := context.Background()
				if err := r.Resolve(ctx, learn); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := r.Resolve(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
				if batch[0].Entity.ServiceAccount == "" {
					b.Fatalf("not resolved: %+v", batch[0].Entity)
				}
			})
		}
	}
}
