package slack

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vigia-dev/vigia/internal/notify"
)

// ErrPaced is wrapped in the RetryAfterError returned when a call would
// have to wait for its channel's pace longer than the context allows.
var ErrPaced = errors.New("slack: channel pace would exceed the delivery deadline")

// pacer spaces the calls that write to a channel: a token bucket per
// channel, kept as the generic cell rate algorithm's theoretical arrival
// time (a call may go when now >= tat - (burst-1)*interval; it then
// advances tat by one interval). A 429 pushes the channel's tat past the
// Retry-After, so every caller waits, not only the one that was refused.
//
// Channels are keyed by API URL and channel id; a channel name is mapped to
// its id once Slack has answered with it, so "#alerts" and "C0123" share a
// bucket. It is safe for concurrent use.
type pacer struct {
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu    sync.Mutex
	tat   map[string]time.Time
	alias map[string]string // apiURL+name -> apiURL+id
}

func newPacer() *pacer {
	return &pacer{now: time.Now, sleep: sleepCtx, tat: map[string]time.Time{}, alias: map[string]string{}}
}

// shared paces every Receiver of the process, so two receivers posting to
// the same channel share its budget.
var shared = newPacer()

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// key returns the bucket key of channel at apiURL; callers hold mu.
func (p *pacer) key(apiURL, channel string) string {
	k := apiURL + "\x00" + channel
	if id, ok := p.alias[k]; ok {
		return id
	}
	return k
}

// learn records that channel (a name, as configured) is id.
func (p *pacer) learn(apiURL, channel, id string) {
	if channel == "" || id == "" || channel == id {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	from, to := apiURL+"\x00"+channel, apiURL+"\x00"+id
	if p.alias[from] == to {
		return
	}
	p.alias[from] = to
	// Keep the later of the two buckets' schedules.
	if t := p.tat[from]; t.After(p.tat[to]) {
		p.tat[to] = t
	}
	delete(p.tat, from)
}

// wait blocks until a call to channel may go, then takes its slot. When
// the wait would outlast ctx's deadline it returns a RetryAfterError
// without waiting; when ctx ends while waiting, ctx's error.
func (p *pacer) wait(ctx context.Context, apiURL, channel string, interval time.Duration, burst int) error {
	if interval <= 0 {
		return nil
	}
	burst = max(burst, 1)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := p.reserve(apiURL, channel, interval, burst)
		if d <= 0 {
			return nil
		}
		if deadline, ok := ctx.Deadline(); ok && p.now().Add(d).After(deadline) {
			return &notify.RetryAfterError{After: d, Err: ErrPaced}
		}
		if err := p.sleep(ctx, d); err != nil {
			return err
		}
	}
}

// reserve takes a slot and returns 0, or returns how long to wait for one.
func (p *pacer) reserve(apiURL, channel string, interval time.Duration, burst int) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.key(apiURL, channel)
	now := p.now()
	tat := p.tat[k]
	if tat.Before(now) {
		tat = now
	}
	allowAt := tat.Add(-time.Duration(burst-1) * interval)
	if now.Before(allowAt) {
		return allowAt.Sub(now)
	}
	p.tat[k] = tat.Add(interval)
	return 0
}

// pause holds every call to channel until after d from now (a 429's
// Retry-After), then lets one through per interval.
func (p *pacer) pause(apiURL, channel string, d, interval time.Duration, burst int) {
	if d <= 0 || interval <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.key(apiURL, channel)
	until := p.now().Add(d).Add(time.Duration(max(burst, 1)-1) * interval)
	if until.After(p.tat[k]) {
		p.tat[k] = until
	}
}
