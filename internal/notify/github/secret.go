package github

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// credential reads a secret from an environment variable or a file, again
// on every call, so that a rotated Kubernetes Secret (a file updated in
// place) applies without a restart. Errors name the variable or file,
// never the value.
type credential struct {
	field string // configuration name, for errors
	env   string
	file  string
}

func (c credential) get() (string, error) {
	var v string
	switch {
	case c.env != "":
		v = os.Getenv(c.env)
		if v == "" {
			return "", fmt.Errorf("%s: environment variable %s is empty or unset", c.field, c.env)
		}
	case c.file != "":
		b, err := os.ReadFile(c.file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fmt.Errorf("%s: reading %s: %w", c.field, c.file, err)
		}
		v = strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s: file %s is empty", c.field, c.file)
		}
	default:
		return "", fmt.Errorf("%s: not configured", c.field)
	}
	v = strings.TrimSpace(v)
	if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", fmt.Errorf("%s: the credential contains control characters", c.field)
	}
	return v, nil
}
