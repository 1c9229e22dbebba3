package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		c Config
		f appFlags
	)
	fs := newFlagSet("serve", "serve [flags]", getenv, stderr)
	commonFlags(fs, &c)
	f.register(fs)
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

	a, err := newApp(ctx, c, f, log)
	if err != nil {
		return err
	}
	defer a.close()

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("orderengine serving", "addr", ln.Addr().String(), "events", redactURL(c.Events), "version", version)

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
		return fmt.Errorf("checkout stopped: %w", err)
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
		log.Warn("checkout stopped with an error", "err", err)
	}
	log.Info("stopped")
	return nil
}
