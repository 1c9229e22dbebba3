package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/eventstoretest"
	"github.com/orderengine/orderengine/eventstore/sqlite"
)

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, eventstoretest.Harness{
		New: func(t *testing.T) eventstore.Store {
			return openStore(t, filepath.Join(t.TempDir(), "events.db"))
		},
		Corrupt: func(t *testing.T, s eventstore.Store, stream string, version uint64) {
			db := s.(*sqlite.Store).DB()
			var data []byte
			if err := db.QueryRow(`SELECT data FROM events WHERE stream_id = ? AND version = ?`, stream, version).Scan(&data); err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 1 // one bit of one byte
			res, err := db.Exec(`UPDATE events SET data = ? WHERE stream_id = ? AND version = ?`, data, stream, version)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("corrupt touched %d rows", n)
			}
		},
		GapWriters: 16,
		GapAppends: 300,
	})
}

func TestReopenKeepsEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	ctx := context.Background()
	s := openStore(t, path)
	res, err := s.Append(ctx, "order-1", eventstore.NoStream, eventstoretest.NewEvent("order.placed", 1))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, path)
	defer s.Close()
	if _, err := s.Append(ctx, "order-1", eventstore.Exact(res.Version), eventstoretest.NewEvent("order.paid", 2)); err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
	rep, err := eventstore.VerifyChains(ctx, s, "", nil)
	if err != nil || rep.Broken != nil || rep.Events != 2 {
		t.Fatalf("verify after reopen: %+v %v", rep, err)
	}
}

func TestBadSynchronous(t *testing.T) {
	if _, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqlite.Options{Synchronous: "OFF"}); err == nil {
		t.Fatal("synchronous OFF accepted")
	}
}

// TestKill9 appends from a child process, kills it with SIGKILL mid-stream, and checks that
// every append the child saw acknowledged is in the file.
func TestKill9(t *testing.T) {
	if path := os.Getenv("ORDERENGINE_SQLITE_KILL_CHILD"); path != "" {
		killChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "events.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "ORDERENGINE_SQLITE_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "ACK "); ok {
			acked, _ = strconv.Atoi(n)
			if acked >= 300 {
				break
			}
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if acked < 300 {
		t.Fatalf("child acknowledged only %d appends", acked)
	}
	s := openStore(t, path)
	defer s.Close()
	evs, err := s.ReadStream(context.Background(), "order-kill", eventstore.Forward, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < acked+1 {
		t.Fatalf("child acknowledged %d appends, file holds %d events", acked+1, len(evs))
	}
	rep, err := eventstore.VerifyChains(context.Background(), s, "", nil)
	if err != nil || rep.Broken != nil {
		t.Fatalf("chain after kill -9: %+v %v", rep.Broken, err)
	}
}

func killChild(path string) {
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		exp := eventstore.Exact(uint64(i - 1))
		if i == 0 {
			exp = eventstore.NoStream
		}
		if _, err := s.Append(context.Background(), "order-kill", exp, eventstoretest.NewEvent("order.noted", i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintf(w, "ACK %d\n", i)
		w.Flush()
	}
}

func sqliteOpen(path string) (*sqlite.Store, error) {
	return sqlite.Open(context.Background(), path, sqlite.Options{})
}

// unsupported is a store whose atomic multi-stream append reports, at run time, that the
// backend lacks it (as a KurrentDB server older than the feature would).
type unsupported struct{ *sqlite.Store }

func (unsupported) AppendMulti(context.Context, ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	return nil, fmt.Errorf("server 24.10: %w", eventstore.ErrMultiAppendUnsupported)
}

func TestAppendMultiFallsBackWhenUnsupported(t *testing.T) {
	ctx := context.Background()
	s := unsupported{openStore(t, filepath.Join(t.TempDir(), "events.db"))}
	cat := eventstoretest.Category()
	res, err := eventstore.AppendMulti(ctx, s,
		eventstore.StreamAppend{Stream: cat + "-a", Expected: eventstore.NoStream, Events: []eventstore.EventData{eventstoretest.NewEvent("f.x", 0)}},
		eventstore.StreamAppend{Stream: cat + "-b", Expected: eventstore.NoStream, Events: []eventstore.EventData{eventstoretest.NewEvent("f.x", 1)}},
	)
	if err != nil || len(res) != 2 || res[1].Position <= res[0].Position {
		t.Fatalf("fallback after ErrMultiAppendUnsupported: %+v %v", res, err)
	}
	for _, st := range []string{cat + "-a", cat + "-b"} {
		if evs, err := s.ReadStream(ctx, st, eventstore.Forward, 0, 10); err != nil || len(evs) != 1 {
			t.Fatalf("%s: %d events, %v", st, len(evs), err)
		}
	}
}
