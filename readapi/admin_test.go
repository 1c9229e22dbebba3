package readapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/readapi"
)

const ndjson = "application/x-ndjson"

func ndjsonLines(t *testing.T, r resp) []readapi.Event {
	t.Helper()
	if r.status != 200 || r.header.Get("Content-Type") != ndjson {
		t.Fatalf("NDJSON: %d %v %s", r.status, r.header, r.body)
	}
	var out []readapi.Event
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e readapi.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestEventExport(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	all, err := s.store.ReadAll(s.ctx, 0, 10000, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}

	// NDJSON in two requests: 5 lines, then the rest after the last line's position.
	first := ndjsonLines(t, s.do("GET", "/v1/admin/events?limit=5", "auditor", "Accept", ndjson))
	if len(first) != 5 {
		t.Fatalf("%d lines, want 5", len(first))
	}
	rest := ndjsonLines(t, s.do("GET", "/v1/admin/events?limit=5000&after="+itoa(first[4].Position), "auditor", "Accept", "application/json;q=0.5, "+ndjson))
	exported := append(first, rest...)
	if len(exported) != len(all) {
		t.Fatalf("exported %d events, the log holds %d", len(exported), len(all))
	}
	// The export is the log, byte for byte where it matters: every chain re-verifies from it.
	prev := map[string][32]byte{}
	for i, e := range exported {
		rec := all[i]
		if e.Position != rec.Position || e.Stream != rec.Stream || e.Type != rec.Type || e.ID != rec.ID.String() {
			t.Fatalf("line %d: %+v, log %+v", i, e, rec)
		}
		stored, orig, err := eventstore.SplitChainHash(e.Metadata)
		if err != nil {
			t.Fatalf("line %d metadata: %v", i, err)
		}
		if eventstore.ChainHash(prev[e.Stream], uuid.MustParse(e.ID), e.Type, e.Data, orig) != stored {
			t.Fatalf("line %d (%s v%d): the chain does not verify from the export", i, e.Stream, *e.Version)
		}
		prev[e.Stream] = stored
	}

	// JSON pages, following nextAfter.
	var paged []readapi.Event
	next := "/v1/admin/events?limit=7"
	for i := 0; next != ""; i++ {
		var p readapi.EventPage
		r := s.must(200, s.do("GET", next, "admin"))
		r.decode(t, &p)
		paged = append(paged, p.Items...)
		next = ""
		if p.NextAfter != nil {
			next = r.header.Get("Link")
			next = next[1:strings.Index(next, ">")]
			if !strings.Contains(next, "after="+itoa(*p.NextAfter)) {
				t.Fatalf("Link %q, nextAfter %d", next, *p.NextAfter)
			}
		}
		if p.Head < sh.head || i > 100 {
			t.Fatalf("page %d: head %d", i, p.Head)
		}
	}
	if len(paged) != len(all) || paged[len(paged)-1].Position != all[len(all)-1].Position {
		t.Fatalf("paged %d events, the log holds %d", len(paged), len(all))
	}
	// Filters.
	var placed readapi.EventPage
	s.must(200, s.do("GET", "/v1/admin/events?category=order&type=order.placed&type=order.cancelled", "auditor")).decode(t, &placed)
	types := map[string]int{}
	for _, e := range placed.Items {
		types[e.Type]++
	}
	if types["order.placed"] != 3 || types["order.cancelled"] != 1 || len(types) != 2 {
		t.Fatalf("filtered export: %v", types)
	}
	// Limits and roles.
	s.must(400, s.do("GET", "/v1/admin/events?limit=101", "auditor"))
	s.must(400, s.do("GET", "/v1/admin/events?limit=10001", "auditor", "Accept", ndjson))
	s.must(403, s.do("GET", "/v1/admin/events", "alice", "Accept", ndjson))
	s.must(401, s.do("GET", "/v1/admin/events", "none", "Accept", ndjson))
	if r := s.do("GET", "/v1/admin/events", "auditor", "Accept", ndjson+";q=0"); r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("q=0 NDJSON: %v", r.header)
	}
}

func TestProjectionStatusAndRebuild(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	s.caughtUp(sh.head)

	var list struct{ Items []readapi.ProjectionView }
	// A runner's status (head, position) refreshes on its own idle check: poll briefly.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s.must(200, s.do("GET", "/v1/admin/projections", "analyst")).decode(t, &list)
		ok := len(list.Items) == 3
		for _, p := range list.Items {
			ok = ok && p.Position >= sh.head
		}
		if ok || time.Now().After(deadline) {
			break
		}
	}
	if len(list.Items) != 3 {
		t.Fatalf("projections %+v", list.Items)
	}
	for _, p := range list.Items {
		if p.Position < sh.head || p.Head < p.Position || p.State == "" || p.Lag != p.Head-p.Position {
			t.Fatalf("status %+v", p)
		}
	}
	s.must(404, s.do("GET", "/v1/admin/projections/nope", "admin"))
	s.must(404, s.do("POST", "/v1/admin/projections/nope/rebuild", "admin"))

	// Rebuild the catalog while it serves; follow the status URL to the end.
	r := s.must(202, s.do("POST", "/v1/admin/projections/catalog/rebuild", "analyst"))
	loc := r.header.Get("Location")
	var job readapi.RebuildJob
	r.decode(t, &job)
	if loc != "/v1/admin/projections/catalog" || job.State != readapi.JobRunning || job.RequestedBy != "ann" {
		t.Fatalf("202: %s %s", loc, r.body)
	}
	var v readapi.ProjectionView
	for deadline := time.Now().Add(20 * time.Second); ; {
		v = readapi.ProjectionView{}
		s.must(200, s.do("GET", loc, "admin")).decode(t, &v)
		if v.Rebuild == nil {
			t.Fatalf("no rebuild in %+v", v)
		}
		if v.Rebuild.State != readapi.JobRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rb := v.Rebuild
	if rb.State != readapi.JobSucceeded || rb.Report == nil || !rb.Report.Switched || rb.Report.Differs || rb.Progress == nil || rb.FinishedAt.IsZero() {
		t.Fatalf("rebuild: %+v", rb)
	}
	// The catalog still answers, from the new generation.
	s.must(200, s.do("GET", "/v1/products/p-tee", ""))

	// A dry run; an unknown body field is refused.
	s.must(400, s.doBody("POST", "/v1/admin/projections/orders/rebuild", "admin", strings.NewReader(`{"dry":true}`), "Content-Type", "application/json"))
	s.must(415, s.doBody("POST", "/v1/admin/projections/orders/rebuild", "admin", strings.NewReader(`dryRun`), "Content-Type", "text/plain"))
	r = s.must(202, s.doBody("POST", "/v1/admin/projections/orders/rebuild", "admin", strings.NewReader(`{"dryRun":true}`), "Content-Type", "application/json"))
	r.decode(t, &job)
	if !job.DryRun {
		t.Fatalf("dry run: %s", r.body)
	}
	s.must(403, s.do("POST", "/v1/admin/projections/orders/rebuild", "auditor"))
	s.must(403, s.do("GET", "/v1/admin/projections", "alice"))
}

// blockingRebuilder reports progress, then waits to be released.
type blockingRebuilder struct{ release chan struct{} }

func (b blockingRebuilder) Rebuildable() []string { return []string{"catalog"} }

func (b blockingRebuilder) Rebuild(ctx context.Context, req readapi.RebuildRequest) (*projections.RebuildReport, error) {
	req.Progress(projections.Progress{Projection: req.Projection, Generation: 2, Events: 50, Total: 100, Position: 40, Head: 80,
		Rate: 1000, ETA: 50 * time.Millisecond, Phase: "build"})
	select {
	case <-b.release:
		return &projections.RebuildReport{Projection: req.Projection, Switched: true}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestRebuildConflictAndProgress(t *testing.T) {
	b := blockingRebuilder{release: make(chan struct{})}
	s := newStack(t, func(c *readapi.Config) { c.Rebuilder = b })
	s.must(202, s.do("POST", "/v1/admin/projections/catalog/rebuild", "admin"))
	r := s.must(409, s.do("POST", "/v1/admin/projections/catalog/rebuild", "analyst"))
	if r.header.Get("Location") != "/v1/admin/projections/catalog" {
		t.Fatalf("409 without Location: %v", r.header)
	}
	var v readapi.ProjectionView
	for deadline := time.Now().Add(5 * time.Second); v.Rebuild == nil || v.Rebuild.Progress == nil; {
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
		s.must(200, s.do("GET", "/v1/admin/projections/catalog", "admin")).decode(t, &v)
	}
	if p := v.Rebuild.Progress; p.Percent != 50 || p.Events != 50 || p.Phase != "build" || v.Rebuild.State != readapi.JobRunning {
		t.Fatalf("progress %+v", v.Rebuild)
	}
	close(b.release)
	for deadline := time.Now().Add(5 * time.Second); v.Rebuild.State == readapi.JobRunning; {
		if time.Now().After(deadline) {
			t.Fatal("rebuild did not finish")
		}
		v = readapi.ProjectionView{}
		s.must(200, s.do("GET", "/v1/admin/projections/catalog", "admin")).decode(t, &v)
	}
	if v.Rebuild.State != readapi.JobSucceeded || v.Rebuild.Progress.Phase != "done" {
		t.Fatalf("finished %+v", v.Rebuild)
	}
	// Another can start now; Close (at cleanup) cancels it.
	s.must(202, s.do("POST", "/v1/admin/projections/catalog/rebuild", "admin"))
}

func TestInventory(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	var it struct {
		SKU                         string
		OnHand, Reserved, Available int64
		LowStock                    bool
		Warehouses                  []struct{ Warehouse string }
	}
	r := s.must(200, s.do("GET", "/v1/inventory/TEE-1?minPosition="+itoa(sh.head), "analyst"))
	r.decode(t, &it)
	if it.OnHand != 7 || it.Reserved != 0 || it.Available != 7 || it.LowStock || len(it.Warehouses) != 1 || r.header.Get("Orderengine-Stale") != "" {
		t.Fatalf("TEE-1: %+v", it)
	}
	var page struct{ Items []struct{ SKU string } }
	s.must(200, s.do("GET", "/v1/inventory?lowStock=true", "auditor")).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].SKU != "MUG-1" {
		t.Fatalf("low stock: %+v", page)
	}
	s.must(404, s.do("GET", "/v1/inventory/NOPE-1", "admin"))
	s.must(403, s.do("GET", "/v1/inventory/TEE-1", "alice"))
}

// bigLog is an event store of n synthetic events (positions 1…n).
type bigLog struct{ n uint64 }

func (b bigLog) ReadStream(context.Context, string, eventstore.Direction, uint64, int) ([]eventstore.RecordedEvent, error) {
	return nil, eventstore.ErrStreamNotFound
}

func (b bigLog) ReadAll(_ context.Context, from uint64, limit int, _ eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for p := from + 1; p <= b.n && len(out) < limit; p++ {
		out = append(out, eventstore.RecordedEvent{ID: uuid.New(), Stream: "order-x", Type: "order.placed", Version: p - 1, Position: p,
			Data: []byte(`{"n":"<&>"}`), Metadata: []byte(`{"actor":"a"}`), RecordedAt: time.Unix(0, int64(p))})
	}
	return out, nil
}

func (b bigLog) Head(context.Context) (uint64, error) { return b.n, nil }

func TestNDJSONStreamsManyPages(t *testing.T) {
	s := newStack(t, func(c *readapi.Config) { c.Events = bigLog{n: 2500} })
	lines := ndjsonLines(t, s.do("GET", "/v1/admin/events?after=10&limit=2100", "auditor", "Accept", ndjson))
	if len(lines) != 2100 || lines[0].Position != 11 || lines[2099].Position != 2110 {
		t.Fatalf("%d lines, %d…%d", len(lines), lines[0].Position, lines[len(lines)-1].Position)
	}
	if string(lines[0].Data) != `{"n":"<&>"}` {
		t.Fatalf("data re-encoded: %s", lines[0].Data)
	}
	lines = ndjsonLines(t, s.do("GET", "/v1/admin/events?after=2000", "auditor", "Accept", ndjson))
	if len(lines) != 500 {
		t.Fatalf("tail: %d lines", len(lines))
	}
}
