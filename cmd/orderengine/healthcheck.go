package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// runHealthcheck probes /healthz of a running server; container images have no curl.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var addr string
	fs := newFlagSet("healthcheck", "healthcheck [--addr ADDR]", getenv, stdout)
	fs.stringVar(&addr, "addr", "ORDERENGINE_ADDR", ":8080", "address the server listens on")
	if err := fs.parse(args); err != nil {
		return err
	}
	host := addr
	if strings.HasPrefix(host, ":") {
		host = "127.0.0.1" + host
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/healthz", nil)
	if err != nil {
		return usagef("--addr %q: %v", addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", host, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
