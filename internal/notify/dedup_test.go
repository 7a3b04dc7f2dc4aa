package notify

import (
	"strings"
	"testing"
)

func TestDedupKey(t *testing.T) {
	hex := "9f86d081884c7d659a2feaa0c55ad015"
	for _, k := range []string{hex, hex + "a3bf4f1b", strings.ToUpper(hex) + "/x"} {
		if got := DedupKey(k); got != "vigia-"+hex {
			t.Errorf("DedupKey(%q) = %q", k, got)
		}
	}
	seen := map[string]string{}
	for _, k := range []string{"", "x", "receiver/route/not hex", hex[:31], hex[:31] + "g", "é" + hex} {
		got := DedupKey(k)
		if len(got) != len("vigia-")+32 || strings.ContainsFunc(got[6:], notHex) || got != strings.ToLower(got) {
			t.Errorf("DedupKey(%q) = %q: not vigia- and 32 lower-case hex digits", k, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("DedupKey(%q) = DedupKey(%q) = %q", k, other, got)
		}
		seen[got] = k
	}
}
