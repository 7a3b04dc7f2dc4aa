package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  s3cr3t-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	blank := filepath.Join(dir, "blank")
	if err := os.WriteFile(blank, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIA_TEST_SECRET", " s3cr3t-env\n")
	t.Setenv("VIGIA_TEST_SECRET_BLANK", "  ")
	tests := []struct {
		name, env, file, want, err string
	}{
		{"env", "VIGIA_TEST_SECRET", "", "s3cr3t-env", ""},
		{"env wins", "VIGIA_TEST_SECRET", file, "s3cr3t-env", ""},
		{"file", "", file, "s3cr3t-file", ""},
		{"neither", "", "", "", ""},
		{"unset env", "VIGIA_TEST_SECRET_UNSET", "", "", "environment variable VIGIA_TEST_SECRET_UNSET is empty or unset"},
		{"blank env", "VIGIA_TEST_SECRET_BLANK", "", "", "environment variable VIGIA_TEST_SECRET_BLANK is empty or unset"},
		{"missing file", "", filepath.Join(dir, "nope"), "", "reading " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"blank file", "", blank, "", "file " + blank + " is empty"},
	}
	for _, tt := range tests {
		got, err := Read(tt.env, tt.file)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		case got != tt.want:
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestSourceRereads(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	s := Source{Field: "test: token", File: file}
	for _, v := range []string{"first", "rotated"} {
		if err := os.WriteFile(file, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(); err != nil || got != v {
			t.Errorf("Get() = %q, %v; want %q", got, err, v)
		}
	}
}

func TestSourceErrors(t *testing.T) {
	t.Setenv("VIGIA_TEST_SECRET_CTRL", "ab\x01cd")
	for _, tt := range []struct {
		s    Source
		want string
	}{
		{Source{Field: "x: token"}, "x: token: not configured"},
		{Source{Field: "x: token", Env: "VIGIA_TEST_SECRET_UNSET"}, "x: token: environment variable VIGIA_TEST_SECRET_UNSET is empty or unset"},
		{Source{Field: "x: token", Env: "VIGIA_TEST_SECRET_CTRL"}, "x: token: the credential contains control characters"},
	} {
		_, err := tt.s.Get()
		if err == nil || err.Error() != tt.want {
			t.Errorf("%+v: error %v, want %q", tt.s, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "ab\x01cd") {
			t.Errorf("error shows the value: %v", err)
		}
	}
}
