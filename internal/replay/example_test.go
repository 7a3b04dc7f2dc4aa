package replay_test

import (
	"fmt"
	"strings"

	"github.com/vigia-dev/vigia/internal/replay"
)

func ExampleReadFrom() {
	in := strings.NewReader(`{"verb":"get"}
{"verb":
{"verb":"list"}
`)
	replay.ReadFrom(in, "audit.jsonl", func(r replay.Record) error {
		fmt.Printf("%s %s\n", r.Origin, r.Data)
		return nil
	})
	// Output:
	// audit.jsonl:1 {"verb":"get"}
	// audit.jsonl:2 {"verb":
	// audit.jsonl:3 {"verb":"list"}
}
