package correlate

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigia-dev/vigia/internal/event"
)

// Memory is the in-process Store: the embedded default and replay's. It
// holds at most MaxKeys windows and first-seen sets, evicting the least
// recently used.
//
// It is laid out so that a million active groups fit in about 200 MB
// (docs/correlation.md):
//
//   - Keys are not kept as strings. The engine's keys are
//     "PREFIXcorr:{RULE:" + 16 hex digits + "}:w"; such a key is kept as the
//     64-bit number its digits spell plus the index of its interned
//     ("PREFIXcorr:{RULE:", "}:w") pair, any other key as the index of the
//     whole key interned. Both are exact: two keys never share an entry.
//   - A key's window or first-seen set is one byte slice: its entries
//     sorted by (time, member), times delta-encoded, members packed (see
//     pack). Windows are small and bounded by max_events_per_group; an
//     event in order is appended (the oldest entries dropped in place),
//     others rewrite the slice, which costs less than sorting a map's
//     entries as each update did before. A first-seen set that grows past
//     bigSet values moves to a map, so a lookup in a large set stays O(1).
//   - Keys live in a slab of fixed-size slots, linked in LRU order by
//     index, and are found through an open-addressing table of 8-byte
//     cells: no list element, map entry or key string per group.
type Memory struct {
	mu      sync.Mutex
	maxKeys int
	now     func() time.Time

	index      memIndex    // key → slot
	chunks     [][]memSlot // the slab; chunks never move, so slot pointers stay valid
	slots      uint32      // slots handed out
	free       uint32      // first free slot, the list going through next
	head, tail uint32      // most and least recently used slot
	big        map[uint32]map[string]int64

	names     []memNameRef
	nameIdx   map[memName]uint32
	freeNames []uint32

	claims  map[memID]memClaim
	since   map[string]int64
	evicted uint64

	// scratch space, used under mu
	spans        []span
	buf, pk, str []byte
	ends         []int
}

const (
	nilSlot   = ^uint32(0)
	chunkBits = 10
	chunkLen  = 1 << chunkBits
	// bigSet is the size past which a first-seen set moves from its byte
	// slice to a map.
	bigSet = 128
)

// memID is a key: the number its 16 hex digits spell (0 for a key kept
// whole) and its interned name. Three uint32s make a 12-byte map key.
type memID [3]uint32

func makeID(h uint64, name uint32) memID { return memID{uint32(h >> 32), uint32(h), name} }

// memName is an interned key pattern: the parts before and after the
// 16 hex digits, or (whole) the entire key.
type memName struct {
	head, tail string
	whole      bool
}

type memNameRef struct {
	name memName
	refs uint32 // slots and claims using it
}

type memSlot struct {
	data       []byte // entries, see appendEntry; nil when big
	expires    int64  // Unix ns (wall clock)
	h          uint64 // the key
	name       uint32
	prev, next uint32 // LRU neighbours (more, less recent); next links free slots
	big        bool   // the entries are a map in Memory.big
}

func (s *memSlot) id() memID { return makeID(s.h, s.name) }

type memClaim struct {
	until, expires int64 // event time (ms), wall clock (Unix ns)
	trigger        string
}

// NewMemory returns a memory store of at most maxKeys keys (0: 1,000,000).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = 1_000_000
	}
	return &Memory{maxKeys: maxKeys, now: time.Now, free: nilSlot, head: nilSlot, tail: nilSlot,
		big: map[uint32]map[string]int64{}, nameIdx: map[memName]uint32{}, claims: map[memID]memClaim{}, since: map[string]int64{}}
}

// Evicted returns how many keys were evicted to stay under the bound.
func (m *Memory) Evicted() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted
}

// Len returns the number of windows and first-seen sets held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.index.n
}

// splitKey splits a key around its last 16 lowercase hex digits followed
// by '}' (the engine's group hash), or returns it whole.
func splitKey(k string) (memName, uint64) {
	if i := strings.LastIndexByte(k, '}'); i >= 16 {
		var h uint64
		ok := true
		for _, c := range []byte(k[i-16 : i]) {
			switch {
			case '0' <= c && c <= '9':
				h = h<<4 | uint64(c-'0')
			case 'a' <= c && c <= 'f':
				h = h<<4 | uint64(c-'a'+10)
			default:
				ok = false
			}
		}
		if ok {
			return memName{head: k[:i-16], tail: k[i:]}, h
		}
	}
	return memName{head: k, whole: true}, 0
}

// find returns k's id when its name is interned.
func (m *Memory) find(k string) (memID, bool) {
	n, h := splitKey(k)
	i, ok := m.nameIdx[n]
	return makeID(h, i), ok
}

// ref returns k's id, interning its name and counting one more user.
func (m *Memory) ref(k string) memID {
	n, h := splitKey(k)
	i, ok := m.nameIdx[n]
	if !ok {
		n.head, n.tail = strings.Clone(n.head), strings.Clone(n.tail)
		if l := len(m.freeNames); l > 0 {
			i, m.freeNames = m.freeNames[l-1], m.freeNames[:l-1]
		} else {
			i = uint32(len(m.names))
			m.names = append(m.names, memNameRef{})
		}
		m.names[i] = memNameRef{name: n}
		m.nameIdx[n] = i
	}
	m.names[i].refs++
	return makeID(h, i)
}

// unref counts one user of id's name less, forgetting the name with its
// last one.
func (m *Memory) unref(id memID) {
	nr := &m.names[id[2]]
	if nr.refs--; nr.refs == 0 {
		delete(m.nameIdx, nr.name)
		*nr = memNameRef{}
		m.freeNames = append(m.freeNames, id[2])
	}
}

func (m *Memory) slot(i uint32) *memSlot { return &m.chunks[i>>chunkBits][i&(chunkLen-1)] }

func (m *Memory) unlink(i uint32) {
	s := m.slot(i)
	if s.prev != nilSlot {
		m.slot(s.prev).next = s.next
	} else {
		m.head = s.next
	}
	if s.next != nilSlot {
		m.slot(s.next).prev = s.prev
	} else {
		m.tail = s.prev
	}
}

func (m *Memory) pushFront(i uint32) {
	s := m.slot(i)
	s.prev, s.next = nilSlot, m.head
	if m.head != nilSlot {
		m.slot(m.head).prev = i
	} else {
		m.tail = i
	}
	m.head = i
}

func (m *Memory) alloc() uint32 {
	if i := m.free; i != nilSlot {
		m.free = m.slot(i).next
		return i
	}
	i := m.slots
	if int(i>>chunkBits) == len(m.chunks) {
		m.chunks = append(m.chunks, make([]memSlot, chunkLen))
	}
	m.slots++
	return i
}

// release drops slot i and its key.
func (m *Memory) release(i uint32) {
	s := m.slot(i)
	m.unlink(i)
	id := s.id()
	m.index.remove(m, s.h, s.name)
	m.unref(id)
	if s.big {
		delete(m.big, i)
	}
	*s = memSlot{next: m.free}
	m.free = i
}

// key returns k's slot, made most recently used; an expired one is
// dropped first. With create, a missing key is added (evicting the least
// recently used beyond the bound), else nil is returned.
func (m *Memory) key(k string, create bool, now int64) (uint32, *memSlot) {
	id, ok := m.find(k)
	var i uint32
	if ok {
		i, ok = m.index.find(m, uint64(id[0])<<32|uint64(id[1]), id[2])
	}
	if ok && now > m.slot(i).expires {
		m.release(i)
		ok = false
	}
	if ok {
		if m.head != i {
			m.unlink(i)
			m.pushFront(i)
		}
		return i, m.slot(i)
	}
	if !create {
		return nilSlot, nil
	}
	id = m.ref(k)
	i = m.alloc()
	s := m.slot(i)
	s.h, s.name = uint64(id[0])<<32|uint64(id[1]), id[2]
	m.index.insert(s.h, s.name, i)
	m.pushFront(i)
	for m.index.n > m.maxKeys {
		m.release(m.tail)
		m.evicted++
	}
	return i, s
}

// Add implements Store.
func (m *Memory) Add(_ context.Context, adds []Add) ([]Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixNano()
	out := make([]Result, len(adds))
	for j, a := range adds {
		i, s := m.key(a.Key, true, now)
		if s.big {
			out[j] = addMap(m.big[i], a)
		} else {
			out[j] = m.add(s, a)
		}
		s.expires = now + int64(a.TTL)
	}
	return out, nil
}

// add is Add on a slot's byte slice.
func (m *Memory) add(s *memSlot, a Add) Result {
	sp := readSpans(m.spans[:0], s.data)
	var key int
	m.pk, key = pack(m.pk[:0], a.Entry.T, a.Entry.Member)
	dup := false
	for j := range sp {
		if m.same(sp[j], m.pk, key, a.Entry.T, a.Entry.Member) {
			sp, dup = slices.Delete(sp, j, j+1), true
			break
		}
	}
	sp = m.insert(sp, span{t: a.Entry.T, p: m.pk, off: -1}, a.Entry.Member)
	m.spans = sp[:0]
	lo := 0
	for lo < len(sp) && sp[lo].t < a.Cutoff {
		lo++
	}
	sp = sp[lo:]
	if a.Cap > 0 && len(sp) > a.Cap {
		sp = sp[len(sp)-a.Cap:]
	}
	res := m.result(sp, a)
	// In an in-order stream the new entry is the last, and only the
	// oldest go: the slice is updated in place, not rewritten.
	if l := len(sp); !dup && l > 1 && sp[l-1].off < 0 {
		first, last := sp[0], sp[l-2].t
		if first.off > 0 {
			// Drop the entries before first; its time becomes absolute.
			var hdr [binary.MaxVarintLen64]byte
			h := binary.PutVarint(hdr[:], first.t)
			_, tlen := binary.Varint(s.data[first.off:])
			from := first.off + tlen // first's length and member
			if h > from {
				m.put(s, sp)
				return res
			}
			rest := len(s.data) - from
			copy(s.data[h:], s.data[from:])
			copy(s.data, hdr[:h])
			s.data = s.data[:h+rest]
		}
		m.grow(s, binary.MaxVarintLen64*2+len(m.pk), l)
		s.data = appendEntry(s.data, last, a.Entry.T, m.pk)
		return res
	}
	m.put(s, sp)
	return res
}

// grow makes room for n more bytes in s's entries, with headroom in
// windows of more than a few entries (busy ones, which grow often).
func (m *Memory) grow(s *memSlot, n, entries int) {
	if len(s.data)+n <= cap(s.data) {
		return
	}
	c := len(s.data) + n
	if entries > 3 {
		c += c / 4
	}
	s.data = append(make([]byte, 0, c), s.data...)
}

// result is what Add returns for a window's entries (see Store.Add).
func (m *Memory) result(sp []span, a Add) Result {
	if a.CountOnly && len(sp) > 0 && sp[len(sp)-1].t <= a.Entry.T {
		n := 0
		for _, e := range sp {
			if e.t >= a.From {
				n++
			}
		}
		return Result{Count: n, Counted: true}
	}
	buf, ends := m.str[:0], m.ends[:0]
	var sel []Entry
	for _, e := range sp {
		if e.t >= a.From && e.t <= a.To {
			buf = unpackHead(buf, e.p)
			ends = append(ends, len(buf))
			sel = append(sel, Entry{T: e.t})
		}
	}
	m.str, m.ends = buf, ends
	if len(sel) > 0 {
		heads, start := string(buf), 0
		for j, end := range ends {
			sel[j].Member = heads[start:end]
			start = end
		}
	}
	return Result{Entries: sel}
}

// same reports whether s holds member, packed as pk at time t with
// key bytes that do not depend on the time.
func (m *Memory) same(s span, pk []byte, key int, t int64, member string) bool {
	if len(s.p) < key || !bytes.Equal(s.p[:key], pk[:key]) {
		return false
	}
	if s.t == t {
		return bytes.Equal(s.p, pk)
	}
	m.str = unpack(m.str[:0], s.t, s.p)
	return string(m.str) == member
}

// insert puts e (holding member) in its place in sp, ordered by (time,
// member). Streams in event-time order append.
func (m *Memory) insert(sp []span, e span, member string) []span {
	pos := len(sp)
	for ; pos > 0; pos-- {
		p := sp[pos-1]
		if p.t < e.t {
			break
		}
		if p.t == e.t {
			m.str = unpack(m.str[:0], p.t, p.p)
			if string(m.str) < member {
				break
			}
		}
	}
	return slices.Insert(sp, pos, e)
}

// put stores sp as s's entries.
func (m *Memory) put(s *memSlot, sp []span) {
	buf := m.buf[:0]
	var prev int64
	for _, e := range sp {
		buf = appendEntry(buf, prev, e.t, e.p)
		prev = e.t
	}
	m.buf = buf
	switch {
	case len(buf) == 0:
		s.data = nil
	case cap(s.data) >= len(buf) && cap(s.data) <= 2*len(buf)+64:
		s.data = append(s.data[:0], buf...)
	default:
		s.data = s.data[:0:0]
		m.grow(s, len(buf), len(sp))
		s.data = append(s.data, buf...)
	}
}

// Window implements Store.
func (m *Memory) Window(_ context.Context, key string) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, s := m.key(key, false, m.now().UnixNano())
	if s == nil {
		return nil, nil
	}
	if s.big {
		return sortedMap(m.big[i]), nil
	}
	sp := readSpans(m.spans[:0], s.data)
	m.spans = sp[:0]
	buf, ends := m.str[:0], m.ends[:0]
	for _, e := range sp {
		buf = unpack(buf, e.t, e.p)
		ends = append(ends, len(buf))
	}
	m.str, m.ends = buf, ends
	out := make([]Entry, len(sp))
	all, start := string(buf), 0
	for j, e := range sp {
		out[j] = Entry{T: e.t, Member: all[start:ends[j]]}
		start = ends[j]
	}
	return out, nil
}

// Seen implements Store.
func (m *Memory) Seen(_ context.Context, seen []Seen) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixNano()
	out := make([]bool, len(seen))
	for j, v := range seen {
		i, s := m.key(v.Key, true, now)
		if s.big {
			out[j] = seenMap(m.big[i], v)
		} else {
			out[j] = m.seen(i, s, v)
		}
		s.expires = now + int64(v.TTL)
	}
	return out, nil
}

// seen is Seen on a slot's byte slice.
func (m *Memory) seen(i uint32, s *memSlot, v Seen) bool {
	sp := readSpans(m.spans[:0], s.data)
	var key int
	m.pk, key = pack(m.pk[:0], v.T, v.Value)
	var old int64
	ok, changed := false, false
	for j := range sp {
		if m.same(sp[j], m.pk, key, v.T, v.Value) {
			old, ok = sp[j].t, true
			if old < v.T {
				sp = slices.Delete(sp, j, j+1)
			}
			break
		}
	}
	if !ok || old < v.T {
		sp = m.insert(sp, span{t: v.T, p: m.pk, off: -1}, v.Value)
		changed = true
	}
	m.spans = sp[:0]
	if v.Cap > 0 && len(sp) > v.Cap {
		sp = sp[len(sp)-v.Cap:]
		changed = true
	}
	if len(sp) > bigSet {
		set := make(map[string]int64, len(sp))
		for _, e := range sp {
			m.str = unpack(m.str[:0], e.t, e.p)
			set[string(m.str)] = e.t
		}
		m.big[i], s.big, s.data = set, true, nil
	} else if changed {
		m.put(s, sp)
	}
	return !ok || old < v.T-v.Lookback
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, claims []Claim) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixNano()
	out := make([]bool, len(claims))
	for i, c := range claims {
		id, known := m.find(c.Key)
		var old memClaim
		ok := false
		if known {
			old, ok = m.claims[id]
		}
		if ok && now < old.expires {
			if old.trigger == c.Trigger {
				out[i] = true
				continue
			}
			if c.T < old.until {
				continue
			}
		}
		if !ok {
			id = m.ref(c.Key)
		}
		m.claims[id] = memClaim{until: c.Until, trigger: c.Trigger, expires: now + int64(c.TTL)}
		out[i] = true
	}
	// Expired claims go when the map grows past the key bound.
	if len(m.claims) > m.maxKeys {
		for id, c := range m.claims {
			if now > c.expires {
				delete(m.claims, id)
				m.unref(id)
			}
		}
	}
	return out, nil
}

// Since implements Store.
func (m *Memory) Since(_ context.Context, key string, t int64, _ time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.since[key]; ok {
		return v, nil
	}
	m.since[key] = t
	return t, nil
}

// addMap is Add on a map (a key whose set grew past bigSet).
func addMap(members map[string]int64, a Add) Result {
	members[a.Entry.Member] = a.Entry.T
	for mem, t := range members {
		if t < a.Cutoff {
			delete(members, mem)
		}
	}
	es := sortedMap(members)
	if a.Cap > 0 && len(es) > a.Cap {
		for _, e := range es[:len(es)-a.Cap] {
			delete(members, e.Member)
		}
		es = es[len(es)-a.Cap:]
	}
	if a.CountOnly && len(es) > 0 && es[len(es)-1].T <= a.Entry.T {
		n := 0
		for _, e := range es {
			if e.T >= a.From {
				n++
			}
		}
		return Result{Count: n, Counted: true}
	}
	var sel []Entry
	for _, e := range es {
		if e.T >= a.From && e.T <= a.To {
			sel = append(sel, Entry{T: e.T, Member: head(e.Member)})
		}
	}
	return Result{Entries: sel}
}

// seenMap is Seen on a map.
func seenMap(members map[string]int64, s Seen) bool {
	old, ok := members[s.Value]
	if !ok || old < s.T {
		members[s.Value] = s.T
	}
	if s.Cap > 0 && len(members) > s.Cap {
		es := sortedMap(members)
		for _, e := range es[:len(es)-s.Cap] {
			delete(members, e.Member)
		}
	}
	return !ok || old < s.T-s.Lookback
}

func sortedMap(members map[string]int64) []Entry {
	out := make([]Entry, 0, len(members))
	for mem, t := range members {
		out = append(out, Entry{T: t, Member: mem})
	}
	slices.SortFunc(out, entryLess)
	return out
}

// span is one entry of a key's byte slice: its time, packed member and
// offset in the slice (-1 for an entry not stored yet).
type span struct {
	t   int64
	p   []byte
	off int
}

// An entry is the varint of its time minus the previous entry's (0 for
// the first), the uvarint length of its packed member, and the member.
func appendEntry(dst []byte, prev, t int64, p []byte) []byte {
	dst = binary.AppendVarint(dst, t-prev)
	dst = binary.AppendUvarint(dst, uint64(len(p)))
	return append(dst, p...)
}

func readSpans(sp []span, data []byte) []span {
	var t int64
	for i := 0; i < len(data); {
		off := i
		d, n := binary.Varint(data[i:])
		t += d
		i += n
		l, n := binary.Uvarint(data[i:])
		i += n + int(l)
		sp = append(sp, span{t: t, p: data[i-int(l) : i : i], off: off})
	}
	return sp
}

// Packed members: a tag byte, then
//
//   - memberRaw: the member's bytes;
//   - memberFields: the fields of "idx␟value␟alertID␟refs" (encodeMember):
//     varint idx, uvarint length and bytes of the value, the alert id
//     (packID), the uvarint number of refs and for each the source (uvarint
//     index in event.Sources + 1, or 0, the length and bytes), the id
//     (packID) and the varint of its Unix ns minus the entry's time in ns.
//
// A member is packed in fields only when each field is written back the
// same way (canonical numbers, ids of known shape or raw), so unpacking
// returns exactly the member: packing is lossless.
const (
	memberRaw byte = iota
	memberFields
)

// Ids: alert ids are 32 hex digits, event ids mostly UUIDs (Kubernetes
// audit ids, CloudTrail event ids), 32 hex digits (container log lines)
// or "sha256:" and 32 hex digits (CloudTrail records without an id).
const (
	idRaw byte = iota
	idHex
	idUUID
	idSHA
)

// pack appends member's packed form, for an entry at time t, to dst. key
// is the length of its first bytes that do not depend on t: two entries
// hold the same member only if those bytes are equal.
func pack(dst []byte, t int64, member string) (out []byte, key int) {
	start := len(dst)
	if out, key, ok := packFields(dst, t, member); ok {
		return out, key - start
	}
	dst = append(dst[:start], memberRaw)
	dst = append(dst, member...)
	return dst, len(dst) - start
}

func packFields(dst []byte, t int64, s string) ([]byte, int, bool) {
	idxS, rest, ok1 := strings.Cut(s, sepField)
	value, rest, ok2 := strings.Cut(rest, sepField)
	alertID, refs, ok3 := strings.Cut(rest, sepField)
	idx, ok4 := canonicalInt(idxS)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return dst, 0, false
	}
	dst = append(dst, memberFields)
	dst = binary.AppendVarint(dst, idx)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	dst = append(dst, value...)
	dst = packID(dst, alertID)
	n := 0
	if refs != "" {
		n = strings.Count(refs, sepRef) + 1
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	key := len(dst)
	for j := range n {
		r, more, _ := strings.Cut(refs, sepRef)
		refs = more
		src, rest, ok1 := strings.Cut(r, sepPart)
		id, nsS, ok2 := strings.Cut(rest, sepPart)
		ns, ok3 := canonicalInt(nsS)
		if !ok1 || !ok2 || !ok3 {
			return dst, 0, false
		}
		k := slices.Index(event.Sources, src)
		dst = binary.AppendUvarint(dst, uint64(k+1))
		if k < 0 {
			dst = binary.AppendUvarint(dst, uint64(len(src)))
			dst = append(dst, src...)
		}
		dst = packID(dst, id)
		if j == 0 {
			key = len(dst)
		}
		dst = binary.AppendVarint(dst, ns-t*1_000_000)
	}
	return dst, key, true
}

// canonicalInt parses s when it is an integer written as strconv writes it.
func canonicalInt(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	var b [24]byte
	return v, string(strconv.AppendInt(b[:0], v, 10)) == s
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func packID(dst []byte, s string) []byte {
	switch {
	case len(s) == 32 && isHex(s):
		return appendUnhex(append(dst, idHex), s)
	case len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' &&
		isHex(s[:8]) && isHex(s[9:13]) && isHex(s[14:18]) && isHex(s[19:23]) && isHex(s[24:]):
		dst = append(dst, idUUID)
		for _, part := range [...]string{s[:8], s[9:13], s[14:18], s[19:23], s[24:]} {
			dst = appendUnhex(dst, part)
		}
		return dst
	case len(s) == 39 && strings.HasPrefix(s, "sha256:") && isHex(s[7:]):
		return appendUnhex(append(dst, idSHA), s[7:])
	}
	dst = append(dst, idRaw)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendUnhex appends the bytes that lowercase hex digits s spell.
func appendUnhex(dst []byte, s string) []byte {
	for i := 0; i+1 < len(s); i += 2 {
		dst = append(dst, unhex(s[i])<<4|unhex(s[i+1]))
	}
	return dst
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// unpack appends the member packed in p, an entry at time t, to dst.
func unpack(dst []byte, t int64, p []byte) []byte {
	if p[0] == memberRaw {
		return append(dst, p[1:]...)
	}
	p = p[1:]
	idx, n := binary.Varint(p)
	p = p[n:]
	dst = strconv.AppendInt(dst, idx, 10)
	dst = append(dst, sepField...)
	l, n := binary.Uvarint(p)
	dst = append(dst, p[n:n+int(l)]...)
	p = p[n+int(l):]
	dst = append(dst, sepField...)
	dst, p = unpackID(dst, p)
	dst = append(dst, sepField...)
	refs, n := binary.Uvarint(p)
	p = p[n:]
	for j := range refs {
		if j > 0 {
			dst = append(dst, sepRef...)
		}
		k, n := binary.Uvarint(p)
		p = p[n:]
		if k > 0 {
			dst = append(dst, event.Sources[k-1]...)
		} else {
			l, n := binary.Uvarint(p)
			dst = append(dst, p[n:n+int(l)]...)
			p = p[n+int(l):]
		}
		dst = append(dst, sepPart...)
		dst, p = unpackID(dst, p)
		dst = append(dst, sepPart...)
		d, n := binary.Varint(p)
		p = p[n:]
		dst = strconv.AppendInt(dst, d+t*1_000_000, 10)
	}
	return dst
}

// unpackHead appends the head (see head) of the member packed in p.
func unpackHead(dst []byte, p []byte) []byte {
	if p[0] == memberRaw {
		b := p[1:]
		if i := bytes.IndexByte(b, sepField[0]); i >= 0 {
			if j := bytes.IndexByte(b[i+1:], sepField[0]); j >= 0 {
				b = b[:i+1+j]
			}
		}
		return append(dst, b...)
	}
	p = p[1:]
	idx, n := binary.Varint(p)
	p = p[n:]
	dst = strconv.AppendInt(dst, idx, 10)
	dst = append(dst, sepField...)
	l, n := binary.Uvarint(p)
	return append(dst, p[n:n+int(l)]...)
}

// unpackID appends the id packed at the start of p and returns the rest.
func unpackID(dst, p []byte) ([]byte, []byte) {
	switch p[0] {
	case idHex:
		return hex.AppendEncode(dst, p[1:17]), p[17:]
	case idUUID:
		b := p[1:17]
		dst = hex.AppendEncode(dst, b[:4])
		for _, part := range [...][]byte{b[4:6], b[6:8], b[8:10], b[10:16]} {
			dst = hex.AppendEncode(append(dst, '-'), part)
		}
		return dst, p[17:]
	case idSHA:
		return hex.AppendEncode(append(dst, "sha256:"...), p[1:17]), p[17:]
	}
	l, n := binary.Uvarint(p[1:])
	end := 1 + n + int(l)
	return append(dst, p[1+n:end]...), p[end:]
}

// memIndex is a hash table from a key (number and name) to its slot:
// linear probing over cells holding 32 bits of the key's hash (whose top
// bits are its home cell) and the slot + 1, 0 for an empty cell. Half the
// size of a Go map's entries, and it grows without a map's per-entry
// overhead.
type memIndex struct {
	cells []uint64
	bits  uint
	n     int
}

func indexHash(h uint64, name uint32) uint32 {
	x := h ^ (uint64(name)+1)*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return uint32(x >> 32)
}

func (x *memIndex) home(tag uint32) int { return int(tag >> (32 - x.bits)) }

func (x *memIndex) find(m *Memory, h uint64, name uint32) (uint32, bool) {
	if x.n == 0 {
		return nilSlot, false
	}
	tag := indexHash(h, name)
	mask := len(x.cells) - 1
	for i := x.home(tag); ; i = (i + 1) & mask {
		c := x.cells[i]
		if c == 0 {
			return nilSlot, false
		}
		if uint32(c>>32) == tag {
			if s := m.slot(uint32(c) - 1); s.h == h && s.name == name {
				return uint32(c) - 1, true
			}
		}
	}
}

// insert adds a key that is not in the table.
func (x *memIndex) insert(h uint64, name uint32, slot uint32) {
	if (x.n+1)*4 > len(x.cells)*3 {
		x.grow()
	}
	x.put(uint64(indexHash(h, name))<<32 | uint64(slot+1))
	x.n++
}

func (x *memIndex) put(c uint64) {
	mask := len(x.cells) - 1
	i := x.home(uint32(c >> 32))
	for x.cells[i] != 0 {
		i = (i + 1) & mask
	}
	x.cells[i] = c
}

func (x *memIndex) grow() {
	old := x.cells
	x.bits = max(x.bits+1, 4)
	x.cells = make([]uint64, 1<<x.bits)
	for _, c := range old {
		if c != 0 {
			x.put(c)
		}
	}
}

// remove drops a key that is in the table, shifting the cells after it
// back so that no probe sequence is broken.
func (x *memIndex) remove(m *Memory, h uint64, name uint32) {
	tag := indexHash(h, name)
	mask := len(x.cells) - 1
	i := x.home(tag)
	for {
		c := x.cells[i]
		if uint32(c>>32) == tag {
			if s := m.slot(uint32(c) - 1); s.h == h && s.name == name {
				break
			}
		}
		i = (i + 1) & mask
	}
	for j := i; ; {
		j = (j + 1) & mask
		c := x.cells[j]
		if c == 0 {
			break
		}
		// The cell at j stays when its home is cyclically in (i, j].
		if k := x.home(uint32(c >> 32)); i <= j && i < k && k <= j || i > j && (i < k || k <= j) {
			continue
		}
		x.cells[i] = c
		i = j
	}
	x.cells[i] = 0
	x.n--
}
