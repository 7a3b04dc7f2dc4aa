package correlate

import (
	"cmp"
	"context"
	"strings"
	"time"
)

// Store holds correlation windows, first-seen values and suppressions.
// Every operation is atomic per key; batches let the Redis store serve
// many events with one round trip. Memory and Redis implement the same
// semantics: sorted by (time, member), trimmed by cutoff, capped by count,
// so the same events yield the same alerts on either.
type Store interface {
	// Add adds each entry to its window, removes the window's entries
	// older than the cutoff, keeps the newest Cap entries, and returns
	// the window's entries with times in [From, To] after the update,
	// oldest first, each member cut to its head (see head): what
	// conditions need, not the event references. With CountOnly, when no
	// entry is newer than the added one (the stream is in order), it
	// returns only the number of entries in [From, entry time] instead.
	// Adding an entry that is already there (same member) changes
	// nothing: a replayed event is not counted twice.
	Add(ctx context.Context, adds []Add) ([]Result, error)
	// Window returns a window's entries, oldest first.
	Window(ctx context.Context, key string) ([]Entry, error)
	// Seen records each value for its key at its time and reports
	// whether the value is new: not seen for the key within Lookback
	// before T.
	Seen(ctx context.Context, seen []Seen) ([]bool, error)
	// Claim takes each suppression: it succeeds when the key is free,
	// when its suppression ended before T (event time), or when it was
	// taken by the same trigger (a replayed event fires again, so an
	// alert lost in a crash is raised again).
	Claim(ctx context.Context, claims []Claim) ([]bool, error)
	// Since returns the time recorded first for key, recording t when
	// none is.
	Since(ctx context.Context, key string, t int64, ttl time.Duration) (int64, error)
}

// Entry is one event in a window: its time (Unix ms) and its encoded
// member (see member).
type Entry struct {
	T      int64
	Member string
}

// Add is one window update.
type Add struct {
	Key    string
	Entry  Entry
	Cutoff int64 // entries with T < Cutoff are removed
	Cap    int   // at most Cap entries are kept, the newest
	TTL    time.Duration
	// From and To bound the entries returned; CountOnly asks for a count
	// when it is enough (event_count on an in-order stream).
	From, To  int64
	CountOnly bool
}

// Result is a window after an Add: its entries, or with Counted only
// their number.
type Result struct {
	Entries []Entry
	Count   int
	Counted bool
}

// Seen is one first-seen update.
type Seen struct {
	Key      string
	Value    string
	T        int64
	Lookback int64 // ms
	Cap      int   // at most Cap values per key, the most recently seen
	TTL      time.Duration
}

// Claim is one suppression: key taken until event time Until by Trigger.
type Claim struct {
	Key     string
	T       int64
	Until   int64
	Trigger string
	TTL     time.Duration
}

// head is a member up to its second field separator: the referenced
// rule's position and the value.
func head(member string) string {
	a := strings.IndexByte(member, sepField[0])
	if a < 0 {
		return member
	}
	b := strings.IndexByte(member[a+1:], sepField[0])
	if b < 0 {
		return member
	}
	return member[:a+1+b]
}

func entryLess(a, b Entry) int {
	if c := cmp.Compare(a.T, b.T); c != 0 {
		return c
	}
	return strings.Compare(a.Member, b.Member)
}
