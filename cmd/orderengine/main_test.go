package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/eventstoretest"
	"github.com/orderengine/orderengine/eventstore/sqlite"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServeHealthAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		// The data dir comes from the environment, the address from a flag.
		done <- run(ctx, []string{"serve", "--addr", addr}, env("ORDERENGINE_DATA_DIR", dir, "ORDERENGINE_ADDR", "127.0.0.1:1"), io.Discard, &stderr)
	}()
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		resp, err = http.Get("http://" + addr + "/healthz")
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("server never answered: %v\n%s", err, stderr.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("/healthz: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + addr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + addr + "/nope")
	if err != nil || resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown route: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := run(ctx, []string{"healthcheck", "--addr", addr}, env(), io.Discard, io.Discard); err != nil {
		t.Fatalf("healthcheck against a running server: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second): // above serve's own 15 s shutdown timeout
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Fatalf("serve did not shut down; goroutines:\n%s", stacks.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no JSON shutdown log line in %s", stderr.String())
	}
	// A fresh data dir: the development secrets are generated, and the log says where.
	if !strings.Contains(stderr.String(), `"msg":"generated a development secret (kept for the next start)","path":"`+filepath.Join(dir, "jwt-secret")+`"`) {
		t.Fatalf("no log line naming the generated JWT secret in %s", stderr.String())
	}
	// The store was created in the data dir from the environment.
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := run(context.Background(), []string{"healthcheck", "--addr", addr}, env(), io.Discard, io.Discard); err == nil {
		t.Fatal("healthcheck succeeded with the server stopped")
	}
}

func TestBadInput(t *testing.T) {
	cases := [][]string{
		{},
		{"frobnicate"},
		{"serve", "--no-such-flag"},
		{"serve", "--events", "mysql://x"},
		{"serve", "--log-level", "loud"},
		{"serve", "--return-window", "-1h"},
		{"serve", "extra-arg"},
		{"audit"},
		{"audit", "verify", "--stream", "not a stream"},
		{"bench"},
	}
	for _, args := range cases {
		err := run(context.Background(), args, env("ORDERENGINE_DATA_DIR", t.TempDir()), io.Discard, io.Discard)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	err := run(context.Background(), []string{"serve"}, env("ORDERENGINE_SHUTDOWN_TIMEOUT", "soon"), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ORDERENGINE_SHUTDOWN_TIMEOUT") {
		t.Fatalf("bad env var: %v", err)
	}
}

func TestAuditVerify(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		stream := fmt.Sprintf("order-%d", i)
		for v := 0; v < 4; v++ {
			exp := eventstore.Exact(uint64(v - 1))
			if v == 0 {
				exp = eventstore.NoStream
			}
			if _, err := s.Append(ctx, stream, exp, eventstoretest.NewEvent("order.noted", v)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"audit", "verify", "--data-dir", dir}, env(), &out, io.Discard); err != nil {
		t.Fatalf("clean log: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "OK: 12 events in 3 streams") {
		t.Fatalf("clean log output: %s", out.String())
	}
	// Alter one stored byte of order-2 version 2.
	if _, err := s.DB().Exec(`UPDATE events SET data = replace(data, '"n":2', '"n":3') WHERE stream_id = 'order-2' AND version = 2`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out.Reset()
	err = run(ctx, []string{"audit", "verify", "--data-dir", dir}, env(), &out, io.Discard)
	if !errors.Is(err, errAuditFailed) {
		t.Fatalf("tampered log: %v", err)
	}
	if !strings.Contains(out.String(), "stream order-2, version 2") {
		t.Fatalf("tampered log output does not name the link: %s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify", "--data-dir", dir, "--stream", "order-1"}, env(), &out, io.Discard); err != nil {
		t.Fatalf("untouched stream: %v %s", err, out.String())
	}
}

func TestTokenUsesTheEmbeddedSecret(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"token", "--sub", "alice", "--role", "customer,auditor", "--data-dir", dir}, env(), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	secret, err := auth.LoadOrCreateSecret(filepath.Join(dir, "jwt-secret"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), strings.TrimSpace(out.String()))
	if err != nil || p.Subject != "alice" || !p.Has(auth.RoleAuditor) {
		t.Fatalf("token %q: %+v %v", out.String(), p, err)
	}
	for _, args := range [][]string{
		{"token", "--data-dir", dir},
		{"token", "--sub", "x", "--role", "root", "--data-dir", dir},
		{"token", "--sub", "x", "--events", "postgres://h/db"},
	} {
		var u usageError
		if err := run(context.Background(), args, env(), io.Discard, io.Discard); !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
