package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/broker"
)

// benchList is an EventList of n distinct events of the usual mix: most
// about namespaced objects, some without one.
func benchList(n int) string {
	items := make([]string, n)
	for i := range items {
		ev := podExec
		switch i % 4 {
		case 1:
			ev = podCreate
		case 2:
			ev = crbCreate
		case 3:
			ev = healthz
		}
		ev = strings.Replace(ev, `"auditID":"a-`, fmt.Sprintf(`"auditID":"b%d-`, i), 1)
		items[i] = strings.Replace(ev, `"name":"web"`, fmt.Sprintf(`"name":"web-%d"`, i%50), 1)
	}
	return eventList(items...)
}

// BenchmarkIngest: events per second through the handler (gzip'd
// EventLists of 400 events, the API server's default batch) into the
// embedded broker over TCP, acknowledged by every replica; serial requests
// and concurrent ones (several API servers, or a backlog being flushed).
func BenchmarkIngest(b *testing.B) {
	br, err := broker.Start("127.0.0.1:0", 3, topic)
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	const batch = 400
	plain := benchList(batch)
	body := gz(b, plain)
	w := NewWriter(br.Addrs(), topic, 0, nil)
	defer w.Close()
	h, err := NewHandler(Config{Producer: w, Topic: topic, Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	do := func() {
		req := httptest.NewRequest(http.MethodPost, "/audit", bytes.NewReader(body))
		req.Header.Set("Content-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	do() // metadata and connections warm
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(len(plain)/batch), "B/event")
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		b.ResetTimer()
		for range b.N {
			do()
		}
		report(b)
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				do()
			}
		})
		report(b)
	})
}

// BenchmarkParse: the handler's own cost per EventList (decode, check,
// marshal, key), without Kafka.
func BenchmarkParse(b *testing.B) {
	h, _ := NewHandler(Config{Producer: producerFunc(nil), Logger: quietLog()})
	body := []byte(benchList(400))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for range b.N {
		p := h.parsers.Get()
		req := &request{h: h}
		msgs, _, err := h.messages(p, body, req)
		if err != nil || len(msgs) != 400 {
			b.Fatal(err, len(msgs))
		}
		req.release()
		h.parsers.Put(p)
	}
	b.ReportMetric(float64(b.N*400)/b.Elapsed().Seconds(), "events/s")
}
