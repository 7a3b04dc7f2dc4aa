package correlate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
)

// TestMemoryMatchesReference runs random operations on the memory store
// and on the reference (the store before it was made compact, a Go map per
// key) with a shared clock, and requires identical answers: windows,
// counts, first-seen verdicts, claims, expiry and LRU eviction.
func TestMemoryMatchesReference(t *testing.T) {
	ctx := context.Background()
	ops, bigs, evictions := 0, 0, uint64(0)
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 99))
		clock := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
		now := func() time.Time { return clock }
		maxKeys, nkeys := 4+r.IntN(20), 12
		if seed%4 == 0 { // many keys: the index grows, wraps and shifts
			maxKeys, nkeys = 300+r.IntN(1000), 2000
		}
		mem, ref := NewMemory(maxKeys), newRefMemory(maxKeys)
		mem.now, ref.now = now, now
		keys := randomKeys(r, nkeys)
		members := randomMembers(r)
		// A few hot keys get most operations; the last one only first-seen
		// values, long kept, so its set grows past bigSet.
		pick := func() string {
			if r.IntN(2) == 0 {
				return keys[len(keys)-2-r.IntN(3)]
			}
			return keys[r.IntN(len(keys)-1)]
		}
		for step := range 6000 {
			ops++
			clock = clock.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
			key := pick()
			ttl := time.Duration(1+r.IntN(120)) * time.Second
			tm := int64(1_000 + r.IntN(200))
			where := fmt.Sprintf("seed %d step %d", seed, step)
			switch op := r.IntN(10); {
			case op < 5:
				var adds []Add
				for range 1 + r.IntN(4) {
					t := tm + int64(r.IntN(5))
					adds = append(adds, Add{Key: pick(), Entry: Entry{T: t, Member: members[r.IntN(len(members))]},
						Cutoff: t - int64(r.IntN(100)), Cap: r.IntN(12), TTL: ttl,
						From: t - int64(r.IntN(60)), To: t + int64(r.IntN(60)), CountOnly: r.IntN(2) == 0})
				}
				got, err1 := mem.Add(ctx, adds)
				want, err2 := ref.Add(ctx, adds)
				if err1 != nil || err2 != nil || !sameResults(got, want) {
					t.Fatalf("%s: Add(%+v)\n got %+v %v\nwant %+v %v", where, adds, got, err1, want, err2)
				}
			case op < 7:
				var seen []Seen
				for range 1 + r.IntN(4) {
					// Some keys get hundreds of values: sets past bigSet.
					v := members[r.IntN(len(members))]
					if r.IntN(2) == 0 {
						v = "value-" + strconv.Itoa(r.IntN(400))
					}
					s := Seen{Key: pick(), Value: v, T: tm + int64(r.IntN(5)),
						Lookback: int64(r.IntN(50)), Cap: []int{0, 3, 150, 300}[r.IntN(4)], TTL: ttl}
					if r.IntN(2) == 0 {
						s.Key, s.Cap, s.TTL = keys[len(keys)-1], []int{0, 150, 300}[r.IntN(3)], time.Hour
					}
					seen = append(seen, s)
				}
				got, err1 := mem.Seen(ctx, seen)
				want, err2 := ref.Seen(ctx, seen)
				if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: Seen(%+v)\n got %v %v\nwant %v %v", where, seen, got, err1, want, err2)
				}
			case op < 8:
				got, err1 := mem.Window(ctx, key)
				want, err2 := ref.Window(ctx, key)
				if err1 != nil || err2 != nil || !sameEntries(got, want) {
					t.Fatalf("%s: Window(%q)\n got %+v %v\nwant %+v %v", where, key, got, err1, want, err2)
				}
			case op < 9:
				claims := []Claim{{Key: key, T: tm, Until: tm + int64(r.IntN(30)), Trigger: members[r.IntN(3)], TTL: ttl}}
				got, err1 := mem.Claim(ctx, claims)
				want, err2 := ref.Claim(ctx, claims)
				if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: Claim(%+v)\n got %v %v\nwant %v %v", where, claims, got, err1, want, err2)
				}
			default:
				got, err1 := mem.Since(ctx, key, tm, ttl)
				want, err2 := ref.Since(ctx, key, tm, ttl)
				if err1 != nil || err2 != nil || got != want {
					t.Fatalf("%s: Since(%q) = %d, want %d", where, key, got, want)
				}
			}
			if mem.Len() != ref.Len() || mem.Evicted() != ref.Evicted() {
				t.Fatalf("%s: %d keys, %d evicted; want %d, %d", where, mem.Len(), mem.Evicted(), ref.Len(), ref.Evicted())
			}
			bigs += len(mem.big)
		}
		evictions += mem.Evicted()
		// Every key's window, last: nothing was lost or changed.
		for _, k := range keys {
			got, _ := mem.Window(ctx, k)
			want, _ := ref.Window(ctx, k)
			if !sameEntries(got, want) {
				t.Fatalf("seed %d: final Window(%q)\n got %+v\nwant %+v", seed, k, got, want)
			}
		}
		if len(mem.names)-len(mem.freeNames) != len(mem.nameIdx) {
			t.Fatalf("seed %d: %d interned names in use, %d indexed", seed, len(mem.names)-len(mem.freeNames), len(mem.nameIdx))
		}
	}
	t.Logf("%d operations, %d evictions, %d steps with large sets", ops, evictions, bigs)
	if evictions == 0 || bigs == 0 {
		t.Fatal("the operations do not exercise eviction or large first-seen sets")
	}
}

// randomKeys are the engine's keys (prefix, rule, 16 hex digits, kind)
// and others the memory store keeps whole.
func randomKeys(r *rand.Rand, n int) []string {
	keys := []string{"", "}", "plain", "corr:{rule}:since", "corr:{r:0123456789ABCDEF}:w", "corr:{r:0123456789abcde}:w",
		"x0123456789abcdef}", "0123456789abcdef}", "corr:{r:0123456789abcdefg}:w"}
	for range n {
		h := fmt.Sprintf("%016x", r.Uint64()>>(r.IntN(4)*16))
		keys = append(keys, []string{"", "p:"}[r.IntN(2)]+"corr:{"+[]string{"r1", "r2"}[r.IntN(2)]+":"+h+"}"+[]string{":w", ":f", ":s"}[r.IntN(3)])
	}
	return keys
}

// randomMembers are members as the engine encodes them (event ids of
// every shape, chained alerts with many refs) and strings that almost
// parse as such.
func randomMembers(r *rand.Rand) []string {
	out := []string{"", "a", "\x1f", "\x1f\x1f\x1f", "0\x1fv", "0\x1fv\x1fid", "0\x1fv\x1fid\x1f", "01\x1fv\x1fid\x1f",
		"-1\x1fv\x1fid\x1f", "+1\x1fv\x1fid\x1f", "1\x1fv\x1fid\x1fk8s_audit\x1eid\x1e0012", "1\x1fv\x1fid\x1fk8s_audit\x1eid",
		"1\x1fv\x1fid\x1fk8s_audit\x1eid\x1e5\x1d", "1\x1fv\x1fid\x1fk8s_audit\x1eid\x1e5\x1e6", "2\x1fa\x1fb\x1fc\x1fd",
		"1\x1fv\x1f0123456789ABCDEF0123456789abcdef\x1f", "value-7"}
	ids := func() string {
		switch r.IntN(6) {
		case 0:
			return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<16), r.Uint64()&(1<<48-1))
		case 1:
			return fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
		case 2:
			return fmt.Sprintf("sha256:%016x%016x", r.Uint64(), r.Uint64())
		case 3:
			return fmt.Sprintf("%08X-%04x-4%03x-%04x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<16), r.Uint64()&(1<<48-1))
		case 4:
			return ""
		}
		return "insert-" + strconv.Itoa(r.IntN(1000))
	}
	for range 40 {
		var refs []event.Ref
		for range r.IntN(4) {
			src := event.Sources[r.IntN(len(event.Sources))]
			if r.IntN(5) == 0 {
				src = "other"
			}
			ns := int64(1_000+r.IntN(200))*1_000_000 + int64(r.IntN(3))*int64(r.Uint32()) - int64(r.IntN(2))*int64(r.Uint64()>>1)
			refs = append(refs, event.Ref{Source: src, ID: ids(), Time: time.Unix(0, ns)})
		}
		a := &alert.Alert{ID: ids(), Events: refs}
		out = append(out, encodeMember(r.IntN(3), []string{"", "ns/secret", "a\x1eb"}[r.IntN(3)], a))
	}
	return out
}

func sameEntries(a, b []Entry) bool { return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b) }

func sameResults(a, b []Result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Count != b[i].Count || a[i].Counted != b[i].Counted || !sameEntries(a[i].Entries, b[i].Entries) {
			return false
		}
	}
	return true
}

// FuzzPack: a packed member unpacks to itself, its head to head(member),
// whatever the member and the entry's time.
func FuzzPack(f *testing.F) {
	for _, m := range randomMembers(rand.New(rand.NewPCG(1, 2))) {
		f.Add(m, int64(1_763_647_200_000))
	}
	f.Fuzz(func(t *testing.T, member string, tm int64) {
		p, key := pack(nil, tm, member)
		if key < 1 || key > len(p) {
			t.Fatalf("key %d of %d bytes", key, len(p))
		}
		if got := string(unpack(nil, tm, p)); got != member {
			t.Fatalf("unpack(pack(%q)) = %q", member, got)
		}
		if got := string(unpackHead(nil, p)); got != head(member) {
			t.Fatalf("unpackHead(pack(%q)) = %q, want %q", member, got, head(member))
		}
		// The key bytes do not depend on the time.
		q, qkey := pack(nil, tm+12345, member)
		if qkey != key || string(q[:key]) != string(p[:key]) {
			t.Fatalf("pack(%q): key bytes depend on the time", member)
		}
	})
}
