package source

import "fmt"

func fmtArgs(msg string, args []any) string { return fmt.Sprintf(msg, args...) }
