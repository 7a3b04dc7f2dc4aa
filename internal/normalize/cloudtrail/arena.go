package cloudtrail

import "strings"

// maxStrings bounds the strings one event copies through an arena.
const maxStrings = 20

// arena copies the strings of one event out of the parser's buffer with a
// single allocation: the values are gathered as views of the buffer, then
// written into one string that every field slices. Fields of one event
// live and die together, so sharing the backing array costs nothing.
type arena struct {
	n    int
	size int
	dst  [maxStrings]*string
	src  [maxStrings][]byte
}

// add schedules b to be copied into *dst by flush. b aliases the parser's
// buffer and must stay unchanged until flush.
func (a *arena) add(dst *string, b []byte) {
	if len(b) == 0 {
		return
	}
	if a.n == maxStrings {
		*dst = string(b)
		return
	}
	a.dst[a.n], a.src[a.n] = dst, b
	a.n++
	a.size += len(b)
}

// flush copies every scheduled value.
func (a *arena) flush() {
	if a.n == 0 {
		return
	}
	var sb strings.Builder
	sb.Grow(a.size)
	for _, b := range a.src[:a.n] {
		sb.Write(b)
	}
	s := sb.String()
	off := 0
	for i, d := range a.dst[:a.n] {
		l := len(a.src[i])
		*d = s[off : off+l]
		off += l
	}
	a.n, a.size = 0, 0
}
