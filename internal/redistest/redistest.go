// Package redistest starts a throwaway redis-server for tests.
//
// Each call to Start runs its own redis-server on a free loopback port,
// with persistence off and its working directory in the test's temporary
// directory, and stops it when the test ends. Tests that need Redis call
// it instead of expecting a shared server:
//
//	addr := redistest.Start(t)
//	client := redis.NewClient(&redis.Options{Addr: addr})
//
// When redis-server is not on PATH the test is skipped, or fails when the
// environment variable VIGIA_REQUIRE_REDIS is set (CI sets it, so a missing
// server cannot turn the Redis tests into silent skips there).
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing redis-server
// from a skip into a failure.
const RequireEnv = "VIGIA_REQUIRE_REDIS"

const (
	startTimeout = 15 * time.Second // for the server to answer PING
	stopTimeout  = 10 * time.Second // after SIGTERM, before SIGKILL
	attempts     = 3                // tries with a fresh port when one was taken in between
)

// Start starts a redis-server and returns its address ("127.0.0.1:PORT").
// The server is stopped, and its directory removed, when the test and its
// subtests end.
func Start(t testing.TB) (addr string) {
	t.Helper()
	return StartArgs(t)
}

// StartArgs is Start with extra redis-server arguments (a TLS port, ACL
// users). The plain port must still answer an unauthenticated PING.
func StartArgs(t testing.TB, args ...string) (addr string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("redistest: redis-server not found on PATH and %s is set: %v", RequireEnv, err)
			return ""
		}
		t.Skipf("redistest: redis-server not found on PATH (install it, e.g. apt-get install redis-server; set %s=1 to fail instead of skipping)", RequireEnv)
		return ""
	}
	var errs []error
	for range attempts {
		addr, err := start(t, bin, args)
		if err == nil {
			return addr
		}
		errs = append(errs, err)
	}
	t.Fatalf("redistest: %v", errors.Join(errs...))
	return ""
}

// start makes one attempt on a port that was free a moment ago.
func start(t testing.TB, bin string, args []string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
	}, args...)...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(exited) }() // closed after, so waitReady and stop can both see the exit

	if err := waitReady(addr, exited); err != nil {
		stop(cmd, exited)
		return "", fmt.Errorf("redis-server on %s: %w; log: %s", addr, err, tail(logPath))
	}
	t.Cleanup(func() { stop(cmd, exited) })
	return addr, nil
}

// FreePort returns a loopback port that was free a moment ago (for a
// second listener given through StartArgs).
func FreePort() (int, error) { return freePort() }

// freePort asks the kernel for a free loopback port. Another process may
// take it before redis-server binds it; Start then tries again.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls addr with PING until it answers PONG, the process exits
// or startTimeout passes.
func waitReady(addr string, exited <-chan error) error {
	deadline := time.Now().Add(startTimeout)
	delay := 5 * time.Millisecond
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited before answering PING: %v", err)
		default:
		}
		if last = ping(addr); last == nil {
			return nil
		}
		time.Sleep(delay)
		delay = min(2*delay, 200*time.Millisecond)
	}
	return fmt.Errorf("no answer to PING within %s: %v", startTimeout, last)
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// stop terminates the server and waits for it to exit, so that its port is
// closed when the test's cleanup returns.
func stop(cmd *exec.Cmd, exited <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// tail returns the end of the server's log, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	if len(b) == 0 {
		return "(empty)"
	}
	return string(b)
}

// PersistentServer is a redis-server with its data on disk (an append-only
// file, fsynced on every write), which a test can kill and start again on
// the same port: a Redis restart that keeps the data, for the fault tests
// (Server restarts empty).
type PersistentServer struct {
	// Addr is "127.0.0.1:PORT", the same across restarts.
	Addr string

	t      testing.TB
	bin    string
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan error
}

// StartPersistent starts a PersistentServer; it is stopped when the test ends. Like
// Start it skips (or fails under VIGIA_REQUIRE_REDIS) without redis-server.
func StartPersistent(t testing.TB) *PersistentServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("redistest: redis-server not found on PATH and %s is set: %v", RequireEnv, err)
		}
		t.Skipf("redistest: redis-server not found on PATH (install it, e.g. apt-get install redis-server; set %s=1 to fail instead of skipping)", RequireEnv)
	}
	var errs []error
	for range attempts {
		port, err := freePort()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s := &PersistentServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), t: t, bin: bin, dir: t.TempDir(), port: port}
		if err := s.start(); err != nil {
			errs = append(errs, err)
			continue
		}
		t.Cleanup(func() {
			if s.cmd != nil {
				stop(s.cmd, s.exited)
			}
		})
		return s
	}
	t.Fatalf("redistest: %v", errors.Join(errs...))
	return nil
}

func (s *PersistentServer) start() error {
	logPath := filepath.Join(s.dir, "redis.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	)
	cmd.Dir = s.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := waitReady(s.Addr, exited); err != nil {
		stop(cmd, exited)
		return fmt.Errorf("redis-server on %s: %w; log: %s", s.Addr, err, tail(logPath))
	}
	s.cmd, s.exited = cmd, exited
	return nil
}

// Kill kills the server with SIGKILL (no shutdown save) and waits for it
// to exit.
func (s *PersistentServer) Kill() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the killed server again on the same port and data
// directory, and waits until it answers (it reloads its append-only file
// first). A port taken in between fails the test.
func (s *PersistentServer) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		s.Kill()
	}
	var err error
	for range attempts {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}
