package offset

import (
	"math/rand/v2"
	"testing"
)

var p0 = Partition{Topic: "audit", Partition: 0}

func TestTrackerContiguous(t *testing.T) {
	tr := New()
	for _, off := range []int64{10, 11, 12, 14, 15} { // 13 is a gap (compaction)
		tr.Add(p0, off)
	}
	steps := []struct {
		done int64
		want int64 // -1: nothing committable
	}{
		{11, -1}, // 10 still in flight
		{12, -1},
		{10, 12}, // 10,11,12 done
		{15, -1}, // 14 in flight; 12 already handed out
		{14, 15}, // the gap at 13 does not block
	}
	for _, s := range steps {
		tr.Done(p0, s.done)
		got, ok := tr.Committable()[p0]
		if s.want < 0 {
			if ok {
				t.Fatalf("after done(%d): committable %d, want none", s.done, got)
			}
			continue
		}
		if !ok || got != s.want {
			t.Fatalf("after done(%d): committable %d (%v), want %d", s.done, got, ok, s.want)
		}
		tr.Committed(map[Partition]int64{p0: got})
	}
	if n := tr.InFlight(); n != 0 {
		t.Fatalf("in flight %d, want 0", n)
	}
}

func TestTrackerFailedCommitIsRetried(t *testing.T) {
	tr := New()
	tr.Add(p0, 0)
	tr.Done(p0, 0)
	if got := tr.Committable()[p0]; got != 0 {
		t.Fatalf("committable %d, want 0", got)
	}
	// The commit failed: Committed not called, so it is offered again.
	if got, ok := tr.Committable()[p0]; !ok || got != 0 {
		t.Fatalf("committable after failed commit %d,%v, want 0,true", got, ok)
	}
}

func TestTrackerRewind(t *testing.T) {
	tr := New()
	for off := int64(0); off < 5; off++ {
		tr.Add(p0, off)
	}
	tr.Done(p0, 0)
	tr.Done(p0, 1)
	// Rebalance: the consumer starts again at 2.
	tr.Add(p0, 2)
	tr.Done(p0, 3) // a stale completion from before the rewind: ignored
	if _, ok := tr.Committable()[p0]; !ok {
		t.Fatal("offsets 0-1 were done and must stay committable")
	}
	tr.Committed(tr.Committable())
	tr.Done(p0, 2)
	if got := tr.Committable()[p0]; got != 2 {
		t.Fatalf("committable %d, want 2", got)
	}
}

// TestTrackerRandomOrder checks against a model: whatever order messages
// finish in, the committable offset never passes an unfinished message.
func TestTrackerRandomOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		tr := New()
		var offs []int64
		off := int64(0)
		for i := 0; i < 50; i++ {
			off += 1 + int64(r.IntN(3))
			offs = append(offs, off)
			tr.Add(p0, off)
		}
		done := map[int64]bool{}
		perm := r.Perm(len(offs))
		for _, i := range perm {
			tr.Done(p0, offs[i])
			done[offs[i]] = true
			c, ok := tr.Committable()[p0]
			if !ok {
				continue
			}
			tr.Committed(map[Partition]int64{p0: c})
			for _, o := range offs {
				if o <= c && !done[o] {
					t.Fatalf("committable %d passes unfinished %d", c, o)
				}
			}
		}
		if c := tr.parts[p0].committed; c != offs[len(offs)-1] {
			t.Fatalf("final committed %d, want %d", c, offs[len(offs)-1])
		}
	}
}

func BenchmarkTracker(b *testing.B) {
	tr := New()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tr.Add(p0, int64(i))
		tr.Done(p0, int64(i))
	}
}
