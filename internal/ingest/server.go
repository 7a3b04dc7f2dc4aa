package ingest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigia-dev/vigia/internal/config"
)

// reloadInterval is how often, at most, certificate, CA and token files
// are checked for changes (a rotated Secret), on use.
var reloadInterval = 10 * time.Second

// Server serves a Handler on the configured path, over TLS when
// configured. Start returns once listening; Shutdown stops accepting,
// lets in-flight requests finish, and is safe without Start and twice.
type Server struct {
	cfg     config.Ingest
	handler http.Handler
	log     *slog.Logger
	srv     *http.Server
	addr    string
	tlsCfg  *tls.Config
	once    sync.Once
}

// NewServer checks the TLS files and returns a server for h; h is served
// on cfg.Path, every other path answers 404.
func NewServer(cfg config.Ingest, h http.Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, handler: h, log: log}
	if cfg.TLS.CertFile != "" {
		tc, err := TLSConfig(cfg.TLS, reloadInterval, log)
		if err != nil {
			return nil, err
		}
		s.tlsCfg = tc
	}
	return s, nil
}

// Start listens on cfg.Listen and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("ingest.listen: %w", err)
	}
	s.addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle(s.cfg.Path, s.handler)
	s.srv = &http.Server{
		Handler:           mux,
		TLSConfig:         s.tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.tlsCfg != nil {
		ln = tls.NewListener(ln, s.tlsCfg)
	}
	go s.srv.Serve(ln)
	return nil
}

// Addr returns the listening address once started.
func (s *Server) Addr() string { return s.addr }

// TLS reports whether the server speaks HTTPS.
func (s *Server) TLS() bool { return s.tlsCfg != nil }

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		if s.srv == nil {
			return
		}
		if err = s.srv.Shutdown(ctx); err != nil {
			err = errors.Join(err, s.srv.Close())
		}
	})
	return err
}

// TLSConfig returns a server TLS configuration over the files of cfg:
// the key pair and, when ClientCAFile is set, the CAs client certificates
// must chain to (the client certificate is then required). Files are read
// now, so a missing or bad file fails the start, and re-read when they
// change, checked at most every interval, so rotated certificates are
// picked up without a restart; a bad rotated file keeps the previous one
// in use and is logged.
func TLSConfig(cfg config.IngestTLS, interval time.Duration, log *slog.Logger) (*tls.Config, error) {
	files := []string{cfg.CertFile, cfg.KeyFile}
	if cfg.ClientCAFile != "" {
		files = append(files, cfg.ClientCAFile)
	}
	state, err := newWatched(files, interval, log, func() (*tlsState, error) {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ingest.tls: %w", err)
		}
		st := &tlsState{cert: &cert}
		if cfg.ClientCAFile != "" {
			pem, err := os.ReadFile(cfg.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("ingest.tls.client_ca_file: %w", err)
			}
			st.cas = x509.NewCertPool()
			if !st.cas.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ingest.tls.client_ca_file %s: no PEM certificate found", cfg.ClientCAFile)
			}
		}
		return st, nil
	})
	if err != nil {
		return nil, err
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := state.get()
			c := base.Clone()
			c.Certificates = []tls.Certificate{*st.cert}
			if st.cas != nil {
				c.ClientAuth = tls.RequireAndVerifyClientCert
				c.ClientCAs = st.cas
			}
			return c, nil
		},
	}, nil
}

type tlsState struct {
	cert *tls.Certificate
	cas  *x509.CertPool
}

// TokenFunc returns the bearer token of file, re-read when it changes
// (checked at most every interval). The file must hold a non-empty token.
func TokenFunc(file string, interval time.Duration, log *slog.Logger) (func() []byte, error) {
	w, err := newWatched([]string{file}, interval, log, func() (*[]byte, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("ingest.token_file: %w", err)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			return nil, fmt.Errorf("ingest.token_file %s: empty", file)
		}
		return &b, nil
	})
	if err != nil {
		return nil, err
	}
	return func() []byte { return *w.get() }, nil
}

// watched is a value loaded from files and reloaded when one of them
// changes (size or modification time; Kubernetes Secret volumes swap a
// symlink, which Stat follows).
type watched[T any] struct {
	files    []string
	interval time.Duration
	load     func() (*T, error)
	log      *slog.Logger

	cur   atomic.Pointer[T]
	next  atomic.Int64 // unix nanos of the next check
	mu    sync.Mutex   // one reload at a time
	stamp string
}

func newWatched[T any](files []string, interval time.Duration, log *slog.Logger, load func() (*T, error)) (*watched[T], error) {
	if log == nil {
		log = slog.Default()
	}
	w := &watched[T]{files: files, interval: interval, load: load, log: log}
	w.stamp = w.stat()
	v, err := load()
	if err != nil {
		return nil, err
	}
	w.cur.Store(v)
	w.next.Store(time.Now().Add(interval).UnixNano())
	return w, nil
}

func (w *watched[T]) stat() string {
	var b []byte
	for _, f := range w.files {
		fi, err := os.Stat(f)
		if err != nil {
			b = fmt.Appendf(b, "%s:missing;", f)
			continue
		}
		b = fmt.Appendf(b, "%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return string(b)
}

func (w *watched[T]) get() *T {
	now := time.Now().UnixNano()
	if next := w.next.Load(); now < next || !w.next.CompareAndSwap(next, now+int64(w.interval)) {
		return w.cur.Load()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if stamp := w.stat(); stamp != w.stamp {
		v, err := w.load()
		if err != nil {
			w.log.Error("rotated file not usable; keeping the previous one", "files", w.files, "err", err)
		} else {
			w.cur.Store(v)
			w.log.Info("reloaded rotated files", "files", w.files)
		}
		w.stamp = stamp
	}
	return w.cur.Load()
}
