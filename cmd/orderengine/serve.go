package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/problem"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c Config
	fs := newFlagSet("serve", "serve [flags]", getenv, stderr)
	commonFlags(fs, &c)
	fs.stringVar(&c.Addr, "addr", "ORDERENGINE_ADDR", ":8080", "HTTP listen address")
	fs.durationVar(&c.ShutdownTimeout, "shutdown-timeout", "ORDERENGINE_SHUTDOWN_TIMEOUT", 15*time.Second, "time in-flight requests get to finish on SIGTERM")
	if err := fs.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if err := c.Validate(); err != nil {
		return usagef("%v", err)
	}
	log := newLogger(c, stderr)

	store, err := openEventStore(ctx, c, log)
	if err != nil {
		return fmt.Errorf("open event store %s: %w", redactURL(c.Events), err)
	}
	defer store.Close()

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	srv := &http.Server{
		Handler:           newRouter(store, log),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("orderengine serving", "addr", ln.Addr().String(), "events", redactURL(c.Events), "version", version)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", c.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// newRouter is the HTTP surface: health and readiness now; the /v1 APIs mount here.
func newRouter(store eventstore.Store, log *slog.Logger) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, middleware.Recoverer)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		head, err := store.Head(ctx)
		if err != nil {
			log.Warn("readiness check failed", "err", err)
			problem.Write(w, problem.New(http.StatusServiceUnavailable, "not-ready", "Not ready", "event store unreachable: "+err.Error()))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "eventsHead": head})
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.NotFound("no route for "+r.Method+" "+r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", r.Method+" is not allowed on "+r.URL.Path))
	})
	return r
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
