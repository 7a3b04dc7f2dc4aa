package k8saudit

import (
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
)

// block is one allocation holding an event, the first bytes of its
// strings and the first elements of its small string slices. Decoding a
// typical audit event then costs a handful of allocations instead of one
// per field.
type block struct {
	ev   event.Event
	evs  [1]*event.Event
	strs [12]string
	buf  [blockBuf]byte
}

// blockBuf sizes the block's string bytes so that the block, with the
// 8-byte header the allocator puts before objects over 512 bytes holding
// pointers, fills the 2304-byte size class (and at least 256 bytes).
const blockBuf = max(256, 2304-8-unsafe.Sizeof(event.Event{})-unsafe.Sizeof([1]*event.Event{})-unsafe.Sizeof([12]string{}))

// alloc hands out the strings and string slices of one event. Strings are
// copies of the parser's bytes (a fastjson value aliases a buffer the next
// Parse reuses), packed into chunks that are only ever appended to: bytes
// handed out are never written again, so the strings stay immutable.
type alloc struct {
	buf  []byte   // current string chunk
	strs []string // current string-slice slab
	evs  *[1]*event.Event
}

func newEvent() (*event.Event, *alloc) {
	b := new(block)
	return &b.ev, &alloc{buf: b.buf[:0], strs: b.strs[:0], evs: &b.evs}
}

// one returns ev as a one-element slice without allocating one.
func (a *alloc) one(ev *event.Event) []*event.Event {
	a.evs[0] = ev
	return a.evs[:1:1]
}

// str copies b into the arena.
func (a *alloc) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		// A new chunk; the old one stays alive through the strings that
		// point into it.
		a.buf = make([]byte, 0, max(len(b), 2*cap(a.buf)))
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], len(b))
}

// concat copies the concatenation of parts into the arena.
func (a *alloc) concat(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 {
		return ""
	}
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(n, 2*cap(a.buf)))
	}
	start := len(a.buf)
	for _, p := range parts {
		a.buf = append(a.buf, p...)
	}
	return unsafe.String(&a.buf[start], n)
}

// value returns the string at v (interned when it is a well-known word),
// or "" when v is missing or not a string.
func (a *alloc) value(v *fastjson.Value) string {
	b := bytesOf(v)
	if len(b) == 0 {
		return ""
	}
	if s, ok := intern(b); ok {
		return s
	}
	return a.str(b)
}

// strings returns the strings of the array v, non-strings skipped, as a
// slice carved from the slab with its capacity capped, so that appending
// to it never writes into a neighbour.
func (a *alloc) strings(v *fastjson.Value) []string {
	if v == nil || v.Type() != fastjson.TypeArray {
		return nil
	}
	arr, _ := v.Array()
	if len(arr) == 0 {
		return nil
	}
	out := a.slice(len(arr))
	for _, it := range arr {
		if b := bytesOf(it); b != nil {
			out = append(out, a.valueBytes(b))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out[:len(out):len(out)]
}

func (a *alloc) valueBytes(b []byte) string {
	if s, ok := intern(b); ok {
		return s
	}
	return a.str(b)
}

// slice returns an empty slice with room for n strings.
func (a *alloc) slice(n int) []string {
	if cap(a.strs)-len(a.strs) < n {
		if n > 8 {
			return make([]string, 0, n)
		}
		a.strs = make([]string, 0, 16)
	}
	start := len(a.strs)
	a.strs = a.strs[:start+n]
	return a.strs[start : start : start+n]
}

// bytesOf returns the bytes of the string v, or nil when v is not a
// string. The bytes alias the parser's buffer: copy before keeping.
func bytesOf(v *fastjson.Value) []byte {
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	b, _ := v.StringBytes()
	if b == nil {
		return []byte{}
	}
	return b
}

// isTrue reports whether v is the JSON literal true.
func isTrue(v *fastjson.Value) bool { return v != nil && v.Type() == fastjson.TypeTrue }

// boolOf returns the JSON boolean v and whether v is one.
func boolOf(v *fastjson.Value) (bool, bool) {
	if v == nil {
		return false, false
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		return true, true
	case fastjson.TypeFalse:
		return false, true
	}
	return false, false
}

// intOf returns the JSON number v as an int and whether v is a number.
// NaN and values outside ±2³¹ read as 0, as the map-based decoder did.
func intOf(v *fastjson.Value) (int, bool) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	f, err := v.Float64()
	if err != nil || f != f || f > 1<<31 || f < -(1<<31) {
		return 0, true
	}
	return int(f), true
}

// object returns v when it is a JSON object, else nil.
func object(v *fastjson.Value) *fastjson.Value {
	if v == nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	return v
}

// array returns the elements of the array v, or nil.
func array(v *fastjson.Value) []*fastjson.Value {
	if v == nil || v.Type() != fastjson.TypeArray {
		return nil
	}
	a, _ := v.Array()
	return a
}

// visit calls f for each key of the object v; nothing when v is not one.
func visit(v *fastjson.Value, f func(k []byte, v *fastjson.Value)) {
	if v == nil || v.Type() != fastjson.TypeObject {
		return
	}
	o, _ := v.Object()
	o.Visit(f)
}

// get returns the string at key of the object v without copying it: for
// comparisons only.
func get(v *fastjson.Value, key string) []byte {
	if v == nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	return bytesOf(v.Get(key))
}
