package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orderengine/orderengine/telemetry"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		c Config
		f appFlags
		h httpLimits
	)
	fs := newFlagSet("serve", "serve [flags]", getenv, stdout)
	commonFlags(fs, &c)
	f.register(fs)
	fs.stringVar(&c.Addr, "addr", "ORDERENGINE_ADDR", ":8080", "HTTP listen address")
	fs.durationVar(&c.ShutdownTimeout, "shutdown-timeout", "ORDERENGINE_SHUTDOWN_TIMEOUT", 15*time.Second, "time in-flight requests get to finish on SIGTERM")
	h.register(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := errors.Join(c.Validate(), h.validate()); err != nil {
		return usagef("%v", err)
	}
	if err := f.validate(); err != nil {
		return err
	}
	log := newLogger(c, stderr)
	// Listen first: a port in use is one clear line, before anything else is opened or logged.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", c.Addr, err)
	}
	defer ln.Close()

	tracing, err := telemetry.FromEnv(ctx, getenv, version)
	if err != nil {
		return usagef("%v", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(sctx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	}()
	f.tracing = tracing
	generated := f.secretsToGenerate(c)
	a, err := newApp(ctx, c, f, log)
	if err != nil {
		return err
	}
	defer a.close()
	for _, path := range generated {
		hint := "payment webhooks are signed with it"
		if !strings.HasSuffix(path, "webhook-secret") {
			hint = "sign tokens with it: orderengine token --sub alice --role customer (same --data-dir)"
		}
		log.Info("generated a development secret (kept for the next start)", "path", path, "hint", hint)
	}
	return serveHTTP(ctx, a, ln, h.server(a.handler, log), c, log)
}

// serveHTTP serves until ctx ends, then shuts down gracefully: in-flight requests first,
// then the background work.
func serveHTTP(ctx context.Context, a *app, ln net.Listener, srv *http.Server, c Config, log *slog.Logger) error {
	log.Info("orderengine serving", "addr", ln.Addr().String(), "url", serveURL(ln.Addr()), "events", redactURL(c.Events), "version", version)

	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBg()
	bgDone := make(chan error, 1)
	go func() { bgDone <- a.run(bgCtx) }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case err := <-bgDone:
		// A background component failed for good: exit non-zero so that the process is
		// restarted (in-flight requests still get the shutdown timeout).
		sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return fmt.Errorf("background work stopped: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", c.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// In-flight requests are done; now stop the saga (it finishes its current steps).
	stopBg()
	if err := <-bgDone; err != nil {
		log.Warn("background work stopped with an error", "err", err)
	}
	log.Info("stopped")
	return nil
}

// httpLimits bound what one connection may hold: a client sending its body one byte at a
// time, or keeping idle connections open, must not pin descriptors and memory.
type httpLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

func (h *httpLimits) register(fs *flagSet) {
	fs.durationVar(&h.readHeader, "http-read-header-timeout", "ORDERENGINE_HTTP_READ_HEADER_TIMEOUT", 5*time.Second, "time a client gets to send the request headers")
	fs.durationVar(&h.read, "http-read-timeout", "ORDERENGINE_HTTP_READ_TIMEOUT", 15*time.Second, "time a client gets to send the whole request, body included")
	fs.durationVar(&h.write, "http-write-timeout", "ORDERENGINE_HTTP_WRITE_TIMEOUT", 30*time.Second, "time to write a response (streamed exports and waits get their own deadline)")
	fs.durationVar(&h.idle, "http-idle-timeout", "ORDERENGINE_HTTP_IDLE_TIMEOUT", 60*time.Second, "how long an idle keep-alive connection stays open")
	fs.intVar(&h.maxHeaderBytes, "http-max-header-bytes", "ORDERENGINE_HTTP_MAX_HEADER_BYTES", 64<<10, "largest request header block accepted, bytes")
}

func (h httpLimits) validate() error {
	if h.readHeader <= 0 || h.read <= 0 || h.write <= 0 || h.idle <= 0 {
		return errors.New("--http-*-timeout must be positive")
	}
	if h.maxHeaderBytes < 4096 {
		return errors.New("--http-max-header-bytes must be at least 4096")
	}
	return nil
}

func (h httpLimits) server(handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           streamDeadlines(handler, h.write),
		ReadHeaderTimeout: h.readHeader,
		ReadTimeout:       h.read,
		WriteTimeout:      h.write,
		IdleTimeout:       h.idle,
		MaxHeaderBytes:    h.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// maxStream bounds a streamed response (an NDJSON export, a rebuild's progress).
const maxStream = time.Hour

// streamDeadlines replaces the server's write timeout for responses that are meant to
// last: streamed NDJSON exports and admin rebuilds get maxStream, and a request that
// asks to wait (?wait=…) gets its wait on top of the usual write timeout. It must wrap
// the server's own ResponseWriter (outermost), where the deadline can be set.
func streamDeadlines(next http.Handler, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var extra time.Duration
		switch {
		case strings.Contains(r.Header.Get("Accept"), "application/x-ndjson"), strings.HasPrefix(r.URL.Path, "/v1/admin/"):
			extra = maxStream
		case r.URL.Query().Has("wait"):
			if d, err := time.ParseDuration(r.URL.Query().Get("wait")); err == nil && d > 0 {
				extra = min(d, 10*time.Minute)
			}
		}
		if extra > 0 {
			// Unsupported writers (HTTP/2 without deadlines, tests) keep the server's.
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(write + extra))
		}
		next.ServeHTTP(w, r)
	})
}

// validate checks serve's flags before anything is opened (exit 2 on bad values).
func (f appFlags) validate() error {
	var errs []error
	if !validBusURL(f.bus) {
		errs = append(errs, fmt.Errorf("--bus %q: want memory or nats://host:port", redactURL(f.bus)))
	}
	if f.projections != "on" && f.projections != "off" && f.projections != "" {
		errs = append(errs, fmt.Errorf("--projections %q: want on or off", f.projections))
	}
	if u := f.search; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") &&
		!strings.HasPrefix(u, "sqlite:") && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		errs = append(errs, fmt.Errorf("--search %q: want empty (the read-model database) or http(s)://… (Elasticsearch)", redactURL(u)))
	}
	if f.lowStock < 0 || f.lowStock > 1_000_000 {
		errs = append(errs, fmt.Errorf("--low-stock-threshold %d: want 0–1000000", f.lowStock))
	}
	if f.orderWait < 0 || f.orderWait > 5*time.Minute {
		errs = append(errs, fmt.Errorf("--order-wait %s: want 0s–5m", f.orderWait))
	}
	if f.reservationTTL < time.Second || f.reservationTTL > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("--reservation-ttl %s: want 1s–168h", f.reservationTTL))
	}
	// A short HMAC secret can be guessed; the generated one is 32 random bytes.
	if n := len(f.webhookSecret); n > 0 && n < 32 {
		errs = append(errs, fmt.Errorf("--payment-webhook-secret: %d bytes, want at least 32", n))
	}
	if _, err := f.webhooks.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return usagef("%v", errors.Join(errs...))
	}
	return nil
}

// secretsToGenerate are the development secret files newApp will create in the data dir.
func (f appFlags) secretsToGenerate(c Config) []string {
	var out []string
	missing := func(path string) {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			out = append(out, path)
		}
	}
	kind, _, _ := parseStoreURL(c.Events)
	switch {
	case f.auth.secret != "" || f.auth.jwksURL != "":
	case f.auth.secretFile != "":
		missing(f.auth.secretFile)
	case kind == kindSQLite:
		missing(filepath.Join(c.DataDir, "jwt-secret"))
	}
	if f.webhookSecret == "" {
		missing(filepath.Join(c.DataDir, "webhook-secret"))
	}
	return out
}

// serveURL is the address to reach the server at locally.
func serveURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
