package kurrentdb_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/eventstoretest"
	"github.com/orderengine/orderengine/eventstore/kurrentdb"
)

// envURL names the KurrentDB server the conformance suite runs against, e.g.
// "kurrentdb://localhost:2113?tls=false" (docker compose up kurrentdb).
const envURL = "ORDERENGINE_TEST_KURRENTDB_URL"

func TestConformance(t *testing.T) {
	url := os.Getenv(envURL)
	if url == "" {
		t.Skipf("%s is not set: skipping the KurrentDB conformance suite (start one with `docker compose up -d kurrentdb` and set %s=kurrentdb://localhost:2113?tls=false)", envURL, envURL)
	}
	eventstoretest.Run(t, eventstoretest.Harness{
		// Tests use streams of their own random category, so they share one server.
		New: func(t *testing.T) eventstore.Store {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := kurrentdb.Open(ctx, url, kurrentdb.Options{Logger: testLogger(t)})
			if err != nil {
				t.Fatalf("open %s: %v", envURL, err)
			}
			return s
		},
		// Stored bytes cannot be altered behind KurrentDB's back: the tamper test only
		// checks that clean chains verify.
		Corrupt: nil,
	})
}

// TestConformanceFakeServer runs the suite against the in-process model of a KurrentDB
// node (fakeserver_test.go): it checks the adapter's use of the client library end to end,
// under the server behaviour documented there, where no real server can run.
func TestConformanceFakeServer(t *testing.T) {
	f, url := startFakeServer(t)
	eventstoretest.Run(t, eventstoretest.Harness{
		New: func(t *testing.T) eventstore.Store {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := kurrentdb.Open(ctx, url, kurrentdb.Options{Logger: testLogger(t)})
			if err != nil {
				t.Fatalf("open fake server: %v", err)
			}
			return s
		},
		Corrupt: func(t *testing.T, _ eventstore.Store, stream string, version uint64) {
			f.corrupt(t, stream, version)
		},
		GapWriters: 8,
		GapAppends: 250,
	})
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return nil
}

func TestOpenRejectsBadConnectionStrings(t *testing.T) {
	ctx := context.Background()
	for _, cs := range []string{
		"",
		"localhost:2113",
		"postgres://localhost:5432/db",
		"http://localhost:2113",
		"kurrentdb://",
	} {
		if s, err := kurrentdb.Open(ctx, cs, kurrentdb.Options{}); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded", cs)
		}
	}
}

// With nothing listening, Open fails within its context instead of hanging, and the
// error says that it could not connect.
func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	s, err := kurrentdb.Open(ctx, "kurrentdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1&discoveryInterval=10&gossipTimeout=1", kurrentdb.Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of an unreachable server succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Open took %v", d)
	}
	if !strings.Contains(err.Error(), "connect") {
		t.Fatalf("error does not say it could not connect: %v", err)
	}
}
