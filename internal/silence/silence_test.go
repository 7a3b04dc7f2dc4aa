package silence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigia-dev/vigia/internal/redistest"
)

var t0 = time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)

func mustMatchers(t testing.TB, exprs ...string) []*Silence {
	t.Helper()
	ms, err := ParseMatchers(exprs...)
	if err != nil {
		t.Fatal(err)
	}
	return []*Silence{{ID: "s1", Matchers: ms, StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: "ana", Comment: "maintenance"}}
}

func TestMatches(t *testing.T) {
	alert := map[string]string{"rule": "k8s-pod-exec-attach", "namespace": "dev", "severity": "high", "tags": "attack.execution,attack.t1609"}
	in := t0.Add(10 * time.Minute)
	for _, tc := range []struct {
		name     string
		matchers []string
		lbls     map[string]string
		at       time.Time
		want     bool
	}{
		{"equality", []string{`rule="k8s-pod-exec-attach"`}, alert, in, true},
		{"equality other value", []string{`rule="k8s-secret-read"`}, alert, in, false},
		{"all must match", []string{`rule="k8s-pod-exec-attach"`, `namespace="prod"`}, alert, in, false},
		{"several in one expression", []string{`{rule="k8s-pod-exec-attach", namespace="dev"}`}, alert, in, true},
		{"regex", []string{`namespace=~"dev|staging"`}, alert, in, true},
		{"regex is anchored", []string{`namespace=~"de"`}, alert, in, false},
		{"regex on comma separated tags", []string{`tags=~".*attack.t1609.*"`}, alert, in, true},
		{"not equal", []string{`rule="k8s-pod-exec-attach"`, `namespace!="prod"`}, alert, in, true},
		{"not equal fails", []string{`rule="k8s-pod-exec-attach"`, `namespace!="dev"`}, alert, in, false},
		{"not regex", []string{`rule="k8s-pod-exec-attach"`, `severity!~"high|critical"`}, alert, in, false},
		{"missing label is empty", []string{`rule="k8s-pod-exec-attach"`, `pod!=""`}, alert, in, false},
		{"missing label matches empty", []string{`rule="k8s-pod-exec-attach"`, `pod=""`}, alert, in, true},
		{"starts inclusive", []string{`namespace="dev"`}, alert, t0, true},
		{"before start", []string{`namespace="dev"`}, alert, t0.Add(-time.Nanosecond), false},
		{"ends exclusive", []string{`namespace="dev"`}, alert, t0.Add(time.Hour), false},
		{"just before end", []string{`namespace="dev"`}, alert, t0.Add(time.Hour - time.Nanosecond), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustMatchers(t, tc.matchers...)[0]
			if got := s.Matches(tc.lbls, tc.at); got != tc.want {
				t.Fatalf("Matches(%v) at %s = %v, want %v", tc.matchers, tc.at.Sub(t0), got, tc.want)
			}
		})
	}
}

func TestState(t *testing.T) {
	s := mustMatchers(t, `rule="x"`)[0]
	for at, want := range map[time.Time]string{t0.Add(-time.Second): StatePending, t0: StateActive, t0.Add(time.Hour): StateExpired} {
		if got := s.State(at); got != want {
			t.Errorf("State at %s = %s, want %s", at.Sub(t0), got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(s *Silence)
		fields []string // substrings the error must hold; none: valid
	}{
		{"valid", func(*Silence) {}, nil},
		{"no matchers", func(s *Silence) { s.Matchers = nil }, []string{"matchers: at least one matcher"}},
		{"all match empty", func(s *Silence) { s.Matchers, _ = ParseMatchers(`namespace=~".*"`, `pod!="x"`) }, []string{"matchers: every matcher matches the empty string"}},
		{"one required value is enough", func(s *Silence) { s.Matchers, _ = ParseMatchers(`namespace=~".*"`, `rule=~".+"`) }, nil},
		{"ends before start", func(s *Silence) { s.EndsAt = s.StartsAt.Add(-time.Minute) }, []string{"ends_at:", "is not after starts_at"}},
		{"ends at start", func(s *Silence) { s.EndsAt = s.StartsAt }, []string{"ends_at:"}},
		{"no start", func(s *Silence) { s.StartsAt = time.Time{} }, []string{"starts_at: is required"}},
		{"no author", func(s *Silence) { s.CreatedBy = "  " }, []string{"created_by: the author is required"}},
		{"no comment", func(s *Silence) { s.Comment = "" }, []string{"comment: the reason is required"}},
		{"long comment", func(s *Silence) { s.Comment = strings.Repeat("é", MaxComment+1) }, []string{"comment: 4097 characters"}},
		{"several at once", func(s *Silence) { s.CreatedBy, s.Comment = "", "" }, []string{"created_by:", "comment:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustMatchers(t, `rule="k8s-pod-exec-attach"`)[0]
			tc.edit(s)
			err := s.Validate()
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q lacks %q", err, f)
				}
			}
		})
	}
}

func TestParseMatchersErrors(t *testing.T) {
	for _, e := range []string{`rule`, `=x`, `rule=~"("`, `rule=="x"`, `{}`} {
		if _, err := ParseMatchers(`namespace="dev"`, e); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "matchers[1]") {
			t.Errorf("ParseMatchers(%q) = %v, want ErrInvalid naming matchers[1]", e, err)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	s := mustMatchers(t, `summary="say \"hi\", then \\ leave"`, `namespace=~"dev|qa"`, `pod!~"job-.*"`)[0]
	s.CreatedAt, s.UpdatedAt = t0, t0
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Silence
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got, want := MatcherStrings(back.Matchers), MatcherStrings(s.Matchers); !slices.Equal(got, want) {
		t.Fatalf("matchers %q, want %q", got, want)
	}
	if back.Matchers[0].Value != `say "hi", then \ leave` {
		t.Fatalf("value %q", back.Matchers[0].Value)
	}
	if !back.EndsAt.Equal(s.EndsAt) || back.Comment != s.Comment || back.CreatedBy != s.CreatedBy {
		t.Fatalf("round trip %+v, want %+v", back, s)
	}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newSilence(t testing.TB, d time.Duration, exprs ...string) *Silence {
	t.Helper()
	ms, err := ParseMatchers(exprs...)
	if err != nil {
		t.Fatal(err)
	}
	return &Silence{Matchers: ms, EndsAt: t0.Add(d), CreatedBy: "ana", Comment: "maintenance window"}
}

func TestSilencerCreateMuteExpire(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st, err := OpenFile(t.TempDir(), FileOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	s := New(st, Options{Now: clk.Now})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := newSilence(t, 2*time.Hour, `rule="k8s-pod-exec-attach"`, `namespace="dev"`)
	in.Comment = "maintenance; token Authorization: Bearer abcdef0123456789abcdef0123456789"
	created, err := s.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || !created.StartsAt.Equal(t0) || !created.CreatedAt.Equal(t0) {
		t.Fatalf("created %+v", created)
	}
	if strings.Contains(created.Comment, "abcdef0123456789") {
		t.Fatalf("credential kept in comment: %q", created.Comment)
	}
	dev := map[string]string{"rule": "k8s-pod-exec-attach", "namespace": "dev"}
	prod := map[string]string{"rule": "k8s-pod-exec-attach", "namespace": "prod"}
	if got := s.Muted(dev, t0.Add(time.Minute)); !slices.Equal(got, []string{created.ID}) {
		t.Fatalf("Muted(dev) = %v, want [%s]", got, created.ID)
	}
	if got := s.Muted(prod, t0.Add(time.Minute)); got != nil {
		t.Fatalf("Muted(prod) = %v", got)
	}
	if got := s.Muted(dev, t0.Add(2*time.Hour)); got != nil {
		t.Fatalf("Muted after the end = %v", got)
	}
	if a, p := s.Counts(t0); a != 1 || p != 0 {
		t.Fatalf("Counts = %d active, %d pending", a, p)
	}

	// A silence starting later is pending, and listed.
	later := newSilence(t, 5*time.Hour, `rule="k8s-secret-read"`)
	later.StartsAt = t0.Add(3 * time.Hour)
	pending, err := s.Create(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Muted(map[string]string{"rule": "k8s-secret-read"}, t0); got != nil {
		t.Fatalf("pending silence mutes: %v", got)
	}
	list, err := s.List(ctx, false)
	if err != nil || len(list) != 2 || list[0].ID != created.ID || list[1].ID != pending.ID {
		t.Fatalf("List = %v, %v", ids(list), err)
	}

	clk.Add(10 * time.Minute)
	exp, err := s.Expire(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.EndsAt.Equal(clk.Now()) {
		t.Fatalf("expired EndsAt %s, want now", exp.EndsAt)
	}
	if got := s.Muted(dev, clk.Now()); got != nil {
		t.Fatalf("Muted after expire = %v", got)
	}
	if _, err := s.Expire(ctx, created.ID); !errors.Is(err, ErrExpired) {
		t.Fatalf("second expire: %v, want ErrExpired", err)
	}
	if _, err := s.Expire(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expire unknown: %v, want ErrNotFound", err)
	}
	// Expiring a pending silence ends it before it starts.
	exp, err = s.Expire(ctx, pending.ID)
	if err != nil || !exp.StartsAt.Equal(clk.Now()) || !exp.EndsAt.Equal(clk.Now()) {
		t.Fatalf("expire pending: %+v, %v", exp, err)
	}
	if list, _ := s.List(ctx, false); len(list) != 0 {
		t.Fatalf("List without expired = %v", ids(list))
	}
	if list, _ := s.List(ctx, true); len(list) != 2 {
		t.Fatalf("List with expired = %v", ids(list))
	}

	// Validation errors reach the caller and store nothing.
	bad := newSilence(t, time.Hour, `namespace=~".*"`)
	if _, err := s.Create(ctx, bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Create(all-empty matchers) = %v", err)
	}
	past := newSilence(t, -time.Hour, `rule="x"`)
	if _, err := s.Create(ctx, past); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Create(ending in the past) = %v", err)
	}
	if list, _ := s.List(ctx, true); len(list) != 2 {
		t.Fatalf("invalid silences stored: %v", ids(list))
	}
}

func ids(ss []*Silence) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func TestFileStorePersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	clk := &clock{t: t0}
	st, err := OpenFile(dir, FileOptions{Now: clk.Now, Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s := New(st, Options{Now: clk.Now})
	keep, err := s.Create(ctx, newSilence(t, 48*time.Hour, `rule="k8s-pod-exec-attach"`, `namespace=~"dev|qa"`))
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.Create(ctx, newSilence(t, time.Hour, `rule="k8s-secret-read"`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expire(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	st.Close()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != fileName {
		t.Fatalf("data dir holds %v, want only %s (no temporary files)", entries, fileName)
	}

	reopen := func() *Silencer {
		st, err := OpenFile(dir, FileOptions{Now: clk.Now, Retention: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		s := New(st, Options{Now: clk.Now})
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	s2 := reopen()
	all, err := s2.List(ctx, true)
	if err != nil || len(all) != 2 {
		t.Fatalf("after reopen: %v, %v", ids(all), err)
	}
	got, err := s2.Get(ctx, keep.ID)
	if err != nil || !slices.Equal(MatcherStrings(got.Matchers), MatcherStrings(keep.Matchers)) || !got.EndsAt.Equal(keep.EndsAt) || got.Comment != keep.Comment {
		t.Fatalf("reopened %+v (%v), want %+v", got, err, keep)
	}
	if m := s2.Muted(map[string]string{"rule": "k8s-pod-exec-attach", "namespace": "qa"}, t0.Add(time.Hour)); !slices.Equal(m, []string{keep.ID}) {
		t.Fatalf("Muted after reopen = %v", m)
	}
	// Past the retention, the expired silence is dropped on open.
	clk.Add(25 * time.Hour)
	s3 := reopen()
	if all, _ := s3.List(ctx, true); len(all) != 1 || all[0].ID != keep.ID {
		t.Fatalf("after retention: %v", ids(all))
	}
}

func TestFileStoreRejectsCorruptFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, fileName), []byte(`{"silences":[{"id":"x","matchers":["rule=~\"(\""]}]}`), 0o600)
	if _, err := OpenFile(dir, FileOptions{}); err == nil || !strings.Contains(err.Error(), fileName) {
		t.Fatalf("OpenFile(corrupt) = %v, want an error naming the file", err)
	}
}

// storeContract exercises the Store methods on any implementation.
func storeContract(t *testing.T, st Store) {
	ctx := context.Background()
	ms, _ := ParseMatchers(`rule="k8s-pod-exec-attach"`, `namespace!~"prod|payments"`)
	s := &Silence{ID: newID(), Matchers: ms, StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: "ana", Comment: "ação de manutenção", CreatedAt: t0, UpdatedAt: t0}
	v0, err := st.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	v1, _ := st.Version(ctx)
	if v1 == v0 {
		t.Fatalf("Version unchanged after Put: %s", v1)
	}
	got, err := st.Get(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != s.ID || !slices.Equal(MatcherStrings(got.Matchers), MatcherStrings(ms)) || !got.StartsAt.Equal(s.StartsAt) ||
		!got.EndsAt.Equal(s.EndsAt) || got.Comment != s.Comment || got.CreatedBy != "ana" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("Get = %+v, want %+v", got, s)
	}
	if _, err := st.Get(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) = %v", err)
	}
	at := t0.Add(30 * time.Minute)
	exp, err := st.Expire(ctx, s.ID, at)
	if err != nil || !exp.EndsAt.Equal(at) || !exp.StartsAt.Equal(t0) {
		t.Fatalf("Expire = %+v, %v", exp, err)
	}
	if got, _ := st.Get(ctx, s.ID); !got.EndsAt.Equal(at) {
		t.Fatalf("stored EndsAt %s after expire", got.EndsAt)
	}
	if v2, _ := st.Version(ctx); v2 == v1 {
		t.Fatal("Version unchanged after Expire")
	}
	if _, err := st.Expire(ctx, s.ID, at.Add(time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("Expire(expired) = %v", err)
	}
	if _, err := st.Expire(ctx, "missing", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Expire(missing) = %v", err)
	}
	list, err := st.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != s.ID {
		t.Fatalf("List = %v, %v", ids(list), err)
	}
}

func TestFileStoreContract(t *testing.T) {
	st, err := OpenFile(t.TempDir(), FileOptions{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	storeContract(t, st)
}

func redisStore(t *testing.T, opts RedisOptions) (*redis.Client, *Redis) {
	addr := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c, NewRedis(c, opts)
}

func TestRedisStoreContract(t *testing.T) {
	// t0 is in the past relative to the server's clock in some runs and
	// the future in others; a long retention keeps the keys either way.
	_, st := redisStore(t, RedisOptions{Prefix: "test:", Retention: 100 * 365 * 24 * time.Hour})
	storeContract(t, st)
}

func TestRedisSharedByTwoSilencers(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	now := time.Now().Truncate(time.Second)
	clk := &clock{t: now}
	open := func() *Silencer {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		s := New(NewRedis(c, RedisOptions{Prefix: "vigia:", Retention: time.Hour}), Options{Now: clk.Now})
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	a, b := open(), open()
	ms, _ := ParseMatchers(`rule="k8s-pod-exec-attach"`, `namespace="dev"`)
	created, err := a.Create(ctx, &Silence{Matchers: ms, EndsAt: now.Add(2 * time.Hour), CreatedBy: "ana", Comment: "maintenance window"})
	if err != nil {
		t.Fatal(err)
	}
	lbls := map[string]string{"rule": "k8s-pod-exec-attach", "namespace": "dev", "pod": "web-1"}
	if got := a.Muted(lbls, now); !slices.Equal(got, []string{created.ID}) {
		t.Fatalf("writer's Muted = %v", got)
	}
	if got := b.Muted(lbls, now); got != nil {
		t.Fatalf("b muted before its refresh: %v", got)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.Muted(lbls, now); !slices.Equal(got, []string{created.ID}) {
		t.Fatalf("b's Muted after refresh = %v", got)
	}
	if list, err := b.List(ctx, false); err != nil || len(list) != 1 || list[0].Comment != "maintenance window" {
		t.Fatalf("b.List = %v, %v", ids(list), err)
	}

	// The hash expires Retention after the silence ends.
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ttl, err := c.TTL(ctx, "vigia:silence:"+created.ID).Result()
	if err != nil || ttl <= 2*time.Hour || ttl > 3*time.Hour+time.Minute {
		t.Fatalf("TTL %s (%v), want about 3h", ttl, err)
	}

	clk.Add(time.Minute)
	if _, err := b.Expire(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.Muted(lbls, clk.Now()); got != nil {
		t.Fatalf("a still mutes after b expired it: %v", got)
	}
	if ttl, _ := c.TTL(ctx, "vigia:silence:"+created.ID).Result(); ttl > time.Hour+time.Minute {
		t.Fatalf("TTL after expire %s, want about the 1h retention", ttl)
	}

	// A hash gone from Redis (expired) leaves the index on the next List.
	if err := c.Del(ctx, "vigia:silence:"+created.ID).Err(); err != nil {
		t.Fatal(err)
	}
	if list, err := a.List(ctx, true); err != nil || len(list) != 0 {
		t.Fatalf("List after the hash expired = %v, %v", ids(list), err)
	}
	if n, _ := c.SCard(ctx, "vigia:silences").Result(); n != 0 {
		t.Fatalf("index still holds %d ids", n)
	}
}

func TestRedisListSkipsUnreadable(t *testing.T) {
	ctx := context.Background()
	c, st := redisStore(t, RedisOptions{})
	now := time.Now()
	ms, _ := ParseMatchers(`rule="x"`)
	good := &Silence{ID: newID(), Matchers: ms, StartsAt: now, EndsAt: now.Add(time.Hour), CreatedBy: "ana", Comment: "c", CreatedAt: now, UpdatedAt: now}
	if err := st.Put(ctx, good); err != nil {
		t.Fatal(err)
	}
	c.HSet(ctx, "vigia:silence:broken", "matchers", "not json")
	c.SAdd(ctx, "vigia:silences", "broken")
	list, err := st.List(ctx)
	if len(list) != 1 || list[0].ID != good.ID || err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("List = %v, %v; want the good one and an error naming the broken one", ids(list), err)
	}
	s := New(st, Options{})
	err = s.Start(ctx)
	defer s.Close()
	if err == nil {
		t.Fatal("Start hid the unreadable silence")
	}
	if got := s.Muted(map[string]string{"rule": "x"}, now); len(got) != 1 {
		t.Fatalf("readable silence not in force: %v", got)
	}
}

func TestCloseWithoutStartAndTwice(t *testing.T) {
	st, _ := OpenFile(t.TempDir(), FileOptions{})
	s := New(st, Options{Refresh: time.Millisecond})
	s.Close()
	s.Close()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2 := New(st, Options{Refresh: time.Millisecond})
	if err := s2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	s2.Close()
}

// TestIndexAgreesWithScan checks the indexed Muted against trying every
// silence, over random silences and label sets.
func TestIndexAgreesWithScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{"rule", "namespace", "pod", "severity"}
	values := []string{"a", "b", "c", ""}
	ops := []string{"=", "!=", "=~", "!~"}
	var all []*Silence
	for i := range 500 {
		var exprs []string
		for range 1 + r.IntN(3) {
			exprs = append(exprs, fmt.Sprintf(`%s%s"%s"`, names[r.IntN(len(names))], ops[r.IntN(len(ops))], values[r.IntN(len(values))]))
		}
		ms, err := ParseMatchers(exprs...)
		if err != nil {
			t.Fatal(err)
		}
		start := t0.Add(time.Duration(r.IntN(120)-60) * time.Minute)
		all = append(all, &Silence{ID: fmt.Sprintf("s%03d", i), Matchers: ms, StartsAt: start, EndsAt: start.Add(time.Duration(1+r.IntN(120)) * time.Minute)})
	}
	idx := buildIndex(all, t0)
	for range 2000 {
		lbls := map[string]string{}
		for _, n := range names {
			if v := values[r.IntN(len(values))]; v != "" || r.IntN(2) == 0 {
				lbls[n] = v
			}
		}
		at := t0.Add(time.Duration(r.IntN(60)) * time.Minute)
		var want []string
		for _, s := range all {
			if s.Matches(lbls, at) {
				want = append(want, s.ID)
			}
		}
		if got := idx.muted(lbls, at); !slices.Equal(got, want) {
			t.Fatalf("labels %v at %s: index %v, scan %v", lbls, at.Sub(t0), got, want)
		}
	}
}

func BenchmarkMuted(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var all []*Silence
			for i := range n {
				exprs := []string{fmt.Sprintf(`rule="rule-%d"`, i%200), fmt.Sprintf(`namespace="ns-%d"`, i)}
				if i%10 == 0 { // some without an equality matcher
					exprs = []string{fmt.Sprintf(`namespace=~"team-%d-.*"`, i)}
				}
				ms, _ := ParseMatchers(exprs...)
				all = append(all, &Silence{ID: fmt.Sprint(i), Matchers: ms, StartsAt: t0, EndsAt: t0.Add(time.Hour)})
			}
			idx := buildIndex(all, t0)
			lbls := map[string]string{"rule": "rule-7", "namespace": "ns-7", "severity": "high", "pod": "web-1"}
			b.Run("index", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if len(idx.muted(lbls, t0)) != 1 {
						b.Fatal("want one silence")
					}
				}
			})
			b.Run("scan", func(b *testing.B) { // the baseline the index saves
				b.ReportAllocs()
				for b.Loop() {
					n := 0
					for _, s := range all {
						if s.Matches(lbls, t0) {
							n++
						}
					}
					if n != 1 {
						b.Fatal("want one silence")
					}
				}
			})
		})
	}
}

// FuzzSilenceJSON checks that whatever the stored form accepts survives a
// write and a read unchanged.
func FuzzSilenceJSON(f *testing.F) {
	f.Add(`{"id":"x","matchers":["rule=\"a\"","namespace=~\"dev|qa\""],"starts_at":"2026-03-10T14:00:00Z","ends_at":"2026-03-10T15:00:00Z","created_by":"ana","comment":"c"}`)
	f.Add(`{"matchers":["{summary=\"say \\\"hi\\\", then leave\"}"]}`)
	f.Add(`{"matchers":["pod!~\"job-.*\"", "\"odd name\"=\"v\""]}`)
	f.Fuzz(func(t *testing.T, in string) {
		var s Silence
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		b, err := json.Marshal(&s)
		if err != nil {
			t.Fatalf("marshal %+v: %v", s, err)
		}
		var back Silence
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s does not read back: %v", b, err)
		}
		if got, want := MatcherStrings(back.Matchers), MatcherStrings(s.Matchers); !slices.Equal(got, want) {
			t.Fatalf("matchers %q became %q", want, got)
		}
		for i, m := range s.Matchers {
			if bm := back.Matchers[i]; bm.Name != m.Name || bm.Value != m.Value || bm.Type != m.Type {
				t.Fatalf("matcher %d: %+v became %+v", i, m, bm)
			}
		}
	})
}
