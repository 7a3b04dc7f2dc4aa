package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Server is a redis-server a test can stop and start again on the same
// port, to test what happens when Redis restarts (and loses its data:
// persistence is off).
type Server struct {
	Addr   string
	t      testing.TB
	bin    string
	port   int
	dir    string
	cmd    *exec.Cmd
	exited chan error
}

// StartServer starts a restartable redis-server; see Start for skipping.
func StartServer(t testing.TB) *Server {
	t.Helper()
	addr := Start(t) // reserves a port known to work, then frees it
	bin, _ := exec.LookPath("redis-server")
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	s := &Server{Addr: addr, t: t, bin: bin, port: port, dir: t.TempDir()}
	// Start's server stays up until the test ends; take its port over by
	// shutting it down through the protocol.
	if err := shutdown(addr); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Stop stops the server (SIGTERM, then SIGKILL).
func (s *Server) Stop() {
	if s.cmd != nil {
		stop(s.cmd, s.exited)
		s.cmd = nil
	}
}

// Restart starts the server again on its port, empty. It stops it first
// if it runs.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	log, err := os.Create(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", s.dir, "--daemonize", "no", "--logfile", "")
	cmd.Dir, cmd.Stdout, cmd.Stderr = s.dir, log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: restarting: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := waitReady(s.Addr, exited); err != nil {
		stop(cmd, exited)
		s.t.Fatalf("redistest: restarting on %s: %v; log: %s", s.Addr, err, tail(filepath.Join(s.dir, "redis.log")))
	}
	s.cmd, s.exited = cmd, exited
}

// shutdown asks the server at addr to exit and waits for its port to close.
func shutdown(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	_, _ = c.Write([]byte("SHUTDOWN NOSAVE\r\n"))
	buf := make([]byte, 64)
	_, _ = c.Read(buf) // the server closes the connection as it exits
	c.Close()
	for range 200 {
		if ping(addr) != nil {
			return nil
		}
		sleep()
	}
	return fmt.Errorf("redis-server on %s did not shut down", addr)
}

func sleep() { time.Sleep(10 * time.Millisecond) }
