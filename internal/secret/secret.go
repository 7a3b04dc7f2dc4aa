// Package secret reads credentials from where the configuration says they
// are: an environment variable or a file (a mounted Kubernetes Secret).
// Values are trimmed of surrounding white space; errors name the variable
// or the file, never the value.
package secret

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Read returns the value of the environment variable env or, when env is
// "", the contents of file, trimmed of surrounding white space. A variable
// that is unset or blank, or a file that cannot be read or is blank, is an
// error. Read returns "" and no error when both env and file are "" (the
// credential is optional and not configured).
func Read(env, file string) (string, error) {
	switch {
	case env != "":
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty or unset", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			// The path is named once, by this message.
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fmt.Errorf("reading %s: %w", file, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("file %s is empty", file)
		}
		return v, nil
	}
	return "", nil
}

// Source is a credential that must be configured and is read again on
// every Get, so that a rotated Kubernetes Secret (a file updated in place)
// applies without a restart.
type Source struct {
	// Field is the credential's configuration name, the prefix of errors
	// ("jira: api_token").
	Field string
	// Env names the environment variable holding the credential.
	Env string
	// File names the file holding it, when Env is "".
	File string
}

// Get reads the credential. Besides Read's errors, a Source with neither
// Env nor File and a credential with control characters (which cannot go
// into an HTTP header) are errors.
func (s Source) Get() (string, error) {
	if s.Env == "" && s.File == "" {
		return "", fmt.Errorf("%s: not configured", s.Field)
	}
	v, err := Read(s.Env, s.File)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Field, err)
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", fmt.Errorf("%s: the credential contains control characters", s.Field)
	}
	return v, nil
}

// Setting reads a setting that the configuration gives inline (name), by
// environment variable (name_env) or by file (name_file): it returns the
// value (inline as given, else as Read returns it) and the configuration
// name it came from, for errors, also when there is an error.
func Setting(name, inline, env, file string) (value, field string, err error) {
	switch {
	case env != "":
		field = name + "_env"
	case file != "":
		field = name + "_file"
	default:
		return inline, name, nil
	}
	value, err = Read(env, file)
	return value, field, err
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidEnv reports whether s is an environment variable name.
func ValidEnv(s string) bool { return envName.MatchString(s) }

// Check reports what is wrong with where the configuration says a
// required credential is: exactly one of name_env (env) and name_file
// (file) must be set, or neither when a program set the value itself
// (inline), and env must be an environment variable name. It returns the
// configuration name at fault and the problem, or "" and "".
func Check(name, env, file, inline string) (field, problem string) {
	sources := 0
	for _, s := range []string{env, file, inline} {
		if s != "" {
			sources++
		}
	}
	switch {
	case sources == 0:
		return name + "_env", "or " + name + "_file is required"
	case sources > 1:
		return name + "_env", "and " + name + "_file are mutually exclusive"
	case env != "" && !ValidEnv(env):
		return name + "_env", fmt.Sprintf("must be an environment variable name, got %q", env)
	}
	return "", ""
}
