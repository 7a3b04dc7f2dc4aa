package correlate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
)

// BenchmarkStoreAdd compares the memory store with the reference (the
// store before it was made compact) on the engine's commonest update:
// event_count windows of 10,000 groups fed in event-time order, 20
// events per group, then the next window.
func BenchmarkStoreAdd(b *testing.B) {
	const groups, perGroup = 10_000, 20
	adds := make([]Add, 0, groups*perGroup)
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	for i := range groups * perGroup {
		at := t0.Add(time.Duration(i/groups) * time.Second)
		ev := &event.Event{Source: event.SourceK8sAudit, ID: fmt.Sprintf("%08x-1234-4abc-8def-%012x", i, i*7), Time: at}
		a := alert.FromEvent(alert.Rule{ID: "b-denied"}, "", alert.Runbook{}, ev)
		t := at.UnixMilli()
		adds = append(adds, Add{Key: "corr:{c-burst:" + alert.Hash(fmt.Sprint(i % groups))[:16] + "}:w",
			Entry: Entry{T: t, Member: encodeMember(0, "", a)}, Cutoff: t - 20*60_000, Cap: 1000, TTL: time.Hour,
			From: t - 5*60_000, To: t + 5*60_000, CountOnly: true})
	}
	for _, st := range []struct {
		name string
		new  func() Store
	}{{"reference", func() Store { return newRefStore(0) }}, {"memory", func() Store { return NewMemory(0) }}} {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			s := st.new()
			shift := int64(0)
			b.ReportAllocs()
			for i := 0; i < b.N; i += 100 {
				j := i % len(adds)
				if j == 0 && i > 0 {
					shift += 3_600_000 // the next window: every entry a new one
				}
				batch := adds[j:min(j+100, len(adds))]
				if shift != 0 {
					batch = append([]Add(nil), batch...)
					for k := range batch {
						batch[k].Entry.T += shift
						batch[k].Cutoff += shift
						batch[k].From += shift
						batch[k].To += shift
					}
				}
				if _, err := s.Add(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStoreAddHot is one busy group whose window is full (1,000
// entries, the default max_events_per_group): every update drops the
// oldest entry.
func BenchmarkStoreAddHot(b *testing.B) {
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	member := func(i int) (int64, string) {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		ev := &event.Event{Source: event.SourceK8sAudit, ID: fmt.Sprintf("%08x-1234-4abc-8def-%012x", i, i*7), Time: at}
		return at.UnixMilli(), encodeMember(0, "", alert.FromEvent(alert.Rule{ID: "b-denied"}, "", alert.Runbook{}, ev))
	}
	for _, st := range []struct {
		name string
		new  func() Store
	}{{"reference", func() Store { return newRefStore(0) }}, {"memory", func() Store { return NewMemory(0) }}} {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			s := st.new()
			add := func(i int) {
				t, m := member(i)
				if _, err := s.Add(ctx, []Add{{Key: "corr:{c-burst:0123456789abcdef}:w", Entry: Entry{T: t, Member: m},
					Cutoff: t - 20*60_000, Cap: 1000, TTL: time.Hour, From: t - 5*60_000, To: t + 5*60_000, CountOnly: true}}); err != nil {
					b.Fatal(err)
				}
			}
			for i := range 1000 {
				add(i)
			}
			b.ResetTimer()
			for i := range b.N {
				add(1000 + i)
			}
		})
	}
}
