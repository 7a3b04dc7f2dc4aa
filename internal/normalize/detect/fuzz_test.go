package detect

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// seeds are the hand-written fixtures alone and in every envelope.
func seeds(tb testing.TB) [][]byte {
	records := []string{k8sEvent, k8sEvent2, cloudTrailRecord, gcpEntry, azureAdministrative, dockerLine, criLine,
		string(mustJSON(tb, aksRecord("kube-audit", k8sEvent))), `{"foo":1}`, `{"auditID":"x","verb":"get"}`, ""}
	var out [][]byte
	for _, r := range records {
		b := []byte(r)
		out = append(out, b, gz(tb, b), pubSubPush(tb, b), pubSubPulled(tb, b), cloudWatch(tb, "/aws/eks/c/cluster", r),
			eventHubs(tb, aksRecord("kube-audit", r)), eventHubs(tb, aksRecord("kube-audit-admin", raw(orNull(r)))))
	}
	out = append(out,
		[]byte("["+strings.Join([]string{k8sEvent, cloudTrailRecord, gcpEntry, azureAdministrative, dockerLine}, ",")+"]"),
		lines(k8sEvent, cloudTrailRecord, criLine, gcpEntry),
		mustJSON(tb, map[string]any{"Records": []any{raw(cloudTrailRecord)}}),
		mustJSON(tb, map[string]any{"kind": "EventList", "items": []any{raw(k8sEvent)}}),
		eventHubs(tb, raw(azureAdministrative), aksRecord("kube-audit", k8sEvent), 1),
		mustJSON(tb, map[string]any{"messageType": "CONTROL_MESSAGE", "logEvents": []any{}}),
		[]byte("2024-05-01T10:00:06Z stdout P part one \n2024-05-01T10:00:06Z stdout F part two"),
		[]byte("{\n \"a\": tru\n}"),
	)
	return out
}

// orNull returns r when it is a JSON object, else null.
func orNull(r string) string {
	if strings.HasPrefix(r, "{") {
		return r
	}
	return "null"
}

// FuzzNormalize: no message makes the dispatcher panic, every event
// names its source, and every error is short.
func FuzzNormalize(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	n, err := New(Auto, normalize.Options{Raw: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		evs, errs := n.Normalize(msg, normalize.Meta{File: logFile})
		evs = append(evs, Flush()...)
		for _, ev := range evs {
			if ev == nil {
				t.Fatal("nil event")
			}
			if !slices.Contains(event.Sources, ev.Source) {
				t.Fatalf("event with source %q: %+v", ev.Source, ev)
			}
			// Every event serializes (alerts and JSON outputs carry it).
			if _, err := json.Marshal(ev); err != nil {
				t.Fatalf("event does not marshal: %v", err)
			}
		}
		// Input is never silently dropped: a message with content yields
		// events or errors (a held-back partial line comes out of Flush).
		if len(evs) == 0 && len(errs) == 0 && !emptyInput(msg) {
			t.Fatalf("no event and no error for %q", msg)
		}
		for _, err := range errs {
			if err == nil {
				t.Fatal("nil error")
			}
			if s := err.Error(); len(s) > 2048 {
				t.Fatalf("error of %d bytes: %.300s", len(s), s)
			}
		}
	})
}

// emptyInput reports messages that legitimately hold no event: blank, an
// empty JSON array or list envelope.
func emptyInput(msg []byte) bool {
	var v any
	if json.Unmarshal(msg, &v) == nil {
		switch v := v.(type) {
		case []any:
			return len(v) == 0
		case map[string]any:
			for _, k := range []string{"Records", "records", "items", "logEvents"} {
				if l, ok := v[k].([]any); ok && len(l) == 0 {
					return true
				}
			}
		}
	}
	return len(bytes.TrimSpace(msg)) == 0
}
