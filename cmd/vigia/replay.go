package main

import (
	"context"
	"io"
)

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usageError("replay: not wired yet")
}
