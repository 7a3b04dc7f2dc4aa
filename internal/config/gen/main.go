// Command gen writes the configuration reference, generated from the
// config structs, to internal/config/reference.md (embedded in the binary,
// printed by `vigia config reference`) and docs/config.md. Run it with
// `go generate ./internal/config`; gen's test fails when either file no
// longer matches the structs.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	dir := flag.String("dir", ".", "the internal/config directory")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: gen [-dir DIR] OUTPUT...")
		os.Exit(2)
	}
	ref, err := reference(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for _, out := range flag.Args() {
		if err := os.WriteFile(out, []byte(ref), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}
