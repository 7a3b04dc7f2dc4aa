package correlate

import (
	"strconv"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/rule"
)

// A window member is "idx␟value␟alertID␟refs", refs being
// "source␞id␞unixnano" joined by ␝: everything the alert needs about a
// contributing event, so windows are self-contained in the store. The
// same match always encodes to the same member, so adding it twice
// counts once.
const (
	sepField = "\x1f"
	sepRef   = "\x1d"
	sepPart  = "\x1e"
)

func encodeMember(idx int, value string, a *alert.Alert) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(idx))
	b.WriteString(sepField)
	b.WriteString(value)
	b.WriteString(sepField)
	b.WriteString(a.ID)
	b.WriteString(sepField)
	for i, r := range a.Events {
		if i > 0 {
			b.WriteString(sepRef)
		}
		b.WriteString(r.Source)
		b.WriteString(sepPart)
		b.WriteString(r.ID)
		b.WriteString(sepPart)
		b.WriteString(strconv.FormatInt(r.Time.UnixNano(), 10))
	}
	return b.String()
}

// entry is a decoded window member.
type entry struct {
	t       int64
	idx     int
	value   string
	alertID string
	refs    []event.Ref
	member  string
}

// decodeHead decodes what Add returns: time, rule position and value.
func decodeHead(e Entry) entry {
	en := entry{t: e.T, member: e.Member, idx: -1}
	idx, rest, ok := strings.Cut(e.Member, sepField)
	if !ok {
		return en
	}
	en.idx, _ = strconv.Atoi(idx)
	en.value, _, _ = strings.Cut(rest, sepField)
	return en
}

func decodeHeads(es []Entry) []entry {
	out := make([]entry, len(es))
	for i, e := range es {
		out[i] = decodeHead(e)
	}
	return out
}

// decode decodes a whole member, event references included.
func decode(e Entry) entry {
	en := entry{t: e.T, member: e.Member, idx: -1}
	parts := strings.SplitN(e.Member, sepField, 4)
	if len(parts) != 4 {
		return en
	}
	en.idx, _ = strconv.Atoi(parts[0])
	en.value, en.alertID = parts[1], parts[2]
	if parts[3] != "" {
		for _, r := range strings.Split(parts[3], sepRef) {
			f := strings.Split(r, sepPart)
			if len(f) != 3 {
				continue
			}
			ns, _ := strconv.ParseInt(f[2], 10, 64)
			en.refs = append(en.refs, event.Ref{Source: f[0], ID: f[1], Time: time.Unix(0, ns).UTC()})
		}
	}
	return en
}

func decodeAll(es []Entry) []entry {
	out := make([]entry, len(es))
	for i, e := range es {
		out[i] = decode(e)
	}
	return out
}

func distinctValues(es []entry) int {
	seen := make(map[string]struct{}, len(es))
	for _, e := range es {
		seen[e.value] = struct{}{}
	}
	return len(seen)
}

// evaluate checks a correlation with a monotone condition (or a temporal
// one) on a window's entries (oldest first) after an event at t was
// added. It looks for a span of Timespan containing t in which the
// condition holds, and returns the entries of the first such span.
// Windows slide: every span [a, a+timespan] anchored on an entry a with
// t-timespan <= a <= t is tried.
func evaluate(c *rule.Correlation, es []entry, t int64) ([]entry, bool) {
	span := c.Timespan.Milliseconds()
	j := 0
	for i := range es {
		a := es[i].t
		if a < t-span {
			continue
		}
		if a > t {
			break
		}
		if j < i {
			j = i
		}
		for j < len(es) && es[j].t <= a+span {
			j++
		}
		win := es[i:j]
		if holds(c, win) {
			if c.Type == rule.TemporalOrdered {
				// The sequence starts at the first match of the first rule.
				for k, e := range win {
					if e.idx == 0 {
						win = win[k:]
						break
					}
				}
			}
			return win, true
		}
	}
	return nil, false
}

func holds(c *rule.Correlation, win []entry) bool {
	switch c.Type {
	case rule.EventCount:
		return c.Condition.Holds(len(win))
	case rule.ValueCount:
		return c.Condition.Holds(distinctValues(win))
	case rule.Temporal:
		seen := make([]bool, len(c.Rules))
		n := 0
		for _, e := range win {
			if e.idx >= 0 && e.idx < len(seen) && !seen[e.idx] {
				seen[e.idx] = true
				n++
			}
		}
		return n == len(c.Rules)
	case rule.TemporalOrdered:
		// Greedy: the earliest match of each rule after the previous
		// one's. Entries of equal time are in member order, which starts
		// with the rule's position, so ties count as ordered.
		next := 0
		for _, e := range win {
			if e.idx == next {
				next++
				if next == len(c.Rules) {
					return true
				}
			}
		}
		return false
	}
	return false
}
