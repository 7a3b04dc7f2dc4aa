package containerlog

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

func text(t *testing.T, d *Decoder, o normalize.Options, file string, lines ...string) []*event.Event {
	t.Helper()
	evs, errs := d.DecodeText([]byte(strings.Join(lines, "\n")), o, normalize.Meta{File: file})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return evs
}

func messages(evs []*event.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Message)
	}
	return out
}

func TestReassembleAcrossMessages(t *testing.T) {
	d := New(Limits{})
	const a, b = "/var/log/containers/a-1_ns_app.log", "/var/log/containers/b-1_ns_app.log"
	if evs := text(t, d, normalize.Options{}, a, "2024-05-14T13:15:00Z stdout P hello "); len(evs) != 0 {
		t.Fatalf("a partial line yields %v", messages(evs))
	}
	// Another file's stream and the other stream of the same file do not mix in.
	if evs := text(t, d, normalize.Options{}, b, "2024-05-14T13:15:00Z stdout P other "); len(evs) != 0 {
		t.Fatalf("b partial: %v", messages(evs))
	}
	evs := text(t, d, normalize.Options{}, a, "2024-05-14T13:15:00.5Z stderr F err line")
	if got := messages(evs); len(got) != 1 || got[0] != "err line" {
		t.Fatalf("stderr line: %q", got)
	}
	if d.Pending() != 2 {
		t.Fatalf("pending = %d, want 2", d.Pending())
	}
	evs = text(t, d, normalize.Options{}, a, "2024-05-14T13:15:01Z stdout P big ", "2024-05-14T13:15:02Z stdout F world")
	if got := messages(evs); len(got) != 1 || got[0] != "hello big world" {
		t.Fatalf("reassembled: %q", got)
	}
	if !evs[0].Time.Equal(ts("2024-05-14T13:15:00Z")) || evs[0].K8s.Pod != "a-1" {
		t.Errorf("reassembled line: time %v pod %q, want the first part's", evs[0].Time, evs[0].K8s.Pod)
	}
	evs = text(t, d, normalize.Options{}, b, "2024-05-14T13:15:03Z stdout F side")
	if got := messages(evs); len(got) != 1 || got[0] != "other side" {
		t.Fatalf("b: %q", got)
	}
	if d.Pending() != 0 {
		t.Errorf("pending = %d", d.Pending())
	}
}

func TestDockerChunks(t *testing.T) {
	d := New(Limits{})
	chunk := strings.Repeat("x", dockerChunk)
	rec := func(log string) *fastjson.Value {
		return fastjson.MustParse(`{"log":` + quote(log) + `,"stream":"stdout","time":"2024-05-14T13:15:00Z"}`)
	}
	m := normalize.Meta{File: "/var/log/containers/web-1_shop_app.log"}
	for i := 0; i < 2; i++ {
		if evs, errs := d.Decode(rec(chunk), normalize.Options{}, m); len(evs) != 0 || len(errs) != 0 {
			t.Fatalf("chunk %d: %d events, %v", i, len(evs), errs)
		}
	}
	evs, _ := d.Decode(rec("tail\n"), normalize.Options{}, m)
	if len(evs) != 1 || evs[0].Message != chunk+chunk+"tail" {
		t.Fatalf("got %d events", len(evs))
	}
	// A short line without a newline is complete: docker splits at 16 KiB only.
	evs, _ = d.Decode(rec("no newline"), normalize.Options{}, m)
	if len(evs) != 1 || evs[0].Message != "no newline" {
		t.Fatalf("short line: %q", messages(evs))
	}
	// The fluentd logging driver marks its parts.
	part := func(log, last string) *fastjson.Value {
		return fastjson.MustParse(`{"log":` + quote(log) + `,"stream":"stderr","time":"2024-05-14T13:15:00Z","partial_message":"true","partial_id":"p1","partial_last":"` + last + `"}`)
	}
	if evs, _ := d.Decode(part("a", "false"), normalize.Options{}, m); len(evs) != 0 {
		t.Fatal("fluentd part yields an event")
	}
	evs, _ = d.Decode(part("b", "true"), normalize.Options{}, m)
	if len(evs) != 1 || evs[0].Message != "ab" {
		t.Fatalf("fluentd parts: %q", messages(evs))
	}
}

func TestFluentBitLogtag(t *testing.T) {
	d := New(Limits{})
	rec := func(tag, msg string) *fastjson.Value {
		return fastjson.MustParse(`{"time":"2024-05-14T13:15:00Z","stream":"stdout","logtag":"` + tag + `","message":` + quote(msg) + `,"kubernetes":{"pod_name":"web-1","namespace_name":"shop","container_name":"app"}}`)
	}
	if evs, _ := d.Decode(rec("P", "one "), normalize.Options{}, normalize.Meta{}); len(evs) != 0 {
		t.Fatal("P record yields an event")
	}
	evs, _ := d.Decode(rec("F", "two"), normalize.Options{}, normalize.Meta{})
	if len(evs) != 1 || evs[0].Message != "one two" || evs[0].Log.Format != "fluentbit" {
		t.Fatalf("got %q", messages(evs))
	}
}

func TestMaxLineBytes(t *testing.T) {
	d := New(Limits{MaxLineBytes: 10})
	o := normalize.Options{Raw: true}
	const f = "/var/log/containers/web-1_shop_app.log"
	var got []*event.Event
	for _, p := range []string{"aaaa", "bbbb", "cccc", "dddd"} {
		got = append(got, text(t, d, o, f, "2024-05-14T13:15:00Z stdout P "+p)...)
	}
	got = append(got, text(t, d, o, f, "2024-05-14T13:15:01Z stdout F eeee")...)
	if m := messages(got); strings.Join(m, "|") != "aaaabbbb|ccccdddd|eeee" {
		t.Fatalf("pieces %q", m)
	}
	for i, ev := range got {
		if ev.RawMap()[RawPartial] != true {
			t.Errorf("piece %d not marked partial: %v", i, ev.RawMap())
		}
	}
	// One part beyond the limit is delivered at once, whole.
	got = text(t, d, o, f, "2024-05-14T13:15:02Z stdout P "+strings.Repeat("z", 30))
	if len(got) != 1 || len(got[0].Message) != 30 || got[0].RawMap()[RawPartial] != true {
		t.Fatalf("oversized part: %q", messages(got))
	}
	// A complete line is never marked.
	got = text(t, d, o, f, "2024-05-14T13:15:03Z stdout F "+strings.Repeat("y", 30))
	if len(got) != 1 || got[0].RawMap()[RawPartial] != nil {
		t.Fatalf("complete line: %v", got[0].RawMap())
	}
}

func TestMaxPendingAndFlush(t *testing.T) {
	d := New(Limits{MaxPending: 2})
	o := normalize.Options{Raw: true, Cluster: "c1"}
	for _, pod := range []string{"a", "b"} {
		if evs := text(t, d, o, "/var/log/containers/"+pod+"_ns_app.log", "2024-05-14T13:15:00Z stdout P "+pod); len(evs) != 0 {
			t.Fatal(messages(evs))
		}
	}
	// Extending a moves it to the back: b is now the least recently extended.
	text(t, d, o, "/var/log/containers/a_ns_app.log", "2024-05-14T13:15:01Z stdout P +")
	evs := text(t, d, o, "/var/log/containers/c_ns_app.log", "2024-05-14T13:15:02Z stdout P c")
	if len(evs) != 1 || evs[0].Message != "b" || evs[0].K8s.Pod != "b" || evs[0].RawMap()[RawPartial] != true || evs[0].K8s.Cluster != "c1" {
		t.Fatalf("room made by delivering %q", messages(evs))
	}
	evs = d.Flush()
	if got := strings.Join(messages(evs), "|"); got != "a+|c" {
		t.Fatalf("flush: %q", got)
	}
	if d.Pending() != 0 || len(d.Flush()) != 0 {
		t.Error("flush left lines pending")
	}
}

func TestReassembleConcurrent(t *testing.T) {
	d := New(Limits{})
	const workers, lines = 8, 200
	var wg sync.WaitGroup
	results := make([][]*event.Event, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			file := fmt.Sprintf("/var/log/containers/pod-%d_ns_app.log", w)
			for i := range lines {
				for _, part := range []string{"P a", "P b", "F c"} {
					msg := fmt.Sprintf("2024-05-14T13:15:%02d.%09dZ stdout %s%d", i%60, i, part, i)
					evs, errs := d.DecodeText([]byte(msg), normalize.Options{}, normalize.Meta{File: file})
					if len(errs) > 0 {
						t.Error(errs)
						return
					}
					results[w] = append(results[w], evs...)
				}
			}
		}()
	}
	wg.Wait()
	for w, evs := range results {
		if len(evs) != lines {
			t.Errorf("worker %d: %d events, want %d", w, len(evs), lines)
			continue
		}
		for i, ev := range evs {
			if want := fmt.Sprintf("a%db%dc%d", i, i, i); ev.Message != want || ev.K8s.Pod != fmt.Sprintf("pod-%d", w) {
				t.Errorf("worker %d line %d: %q from %s", w, i, ev.Message, ev.K8s.Pod)
				break
			}
		}
	}
	if d.Pending() != 0 {
		t.Errorf("pending = %d", d.Pending())
	}
}
