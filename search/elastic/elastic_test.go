package elastic

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/catalogfold"
	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/search/internal/docs"
	"github.com/orderengine/orderengine/search/internal/plan"
	"github.com/orderengine/orderengine/search/searchtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares v's indented JSON (or raw bytes) with testdata/name.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var got []byte
	if b, ok := v.([]byte); ok {
		got = b
	} else {
		var err error
		if got, err = json.MarshalIndent(v, "", "  "); err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
	}
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

func ptr(v int64) *int64 { return &v }

func mustPlan(t *testing.T, q search.Query) *plan.Plan {
	t.Helper()
	p, err := plan.New(q)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIndexBodyGolden(t *testing.T) {
	c := &client{alias: DefaultAlias, shards: 1}
	golden(t, "index.json", c.indexBody())
}

func TestSearchBodyGolden(t *testing.T) {
	cursor := plan.Cursor{Sort: search.SortRelevance, Score: 3.25, ID: "p07"}.Encode()
	golden(t, "search_text.json", searchBody(mustPlan(t, search.Query{
		Text: "Blue t-shirt", Brands: []string{"Globex", "Acme"}, Categories: []string{"tops"},
		Attributes: map[string][]string{"colour": {"blue", "navy"}, "size.eu": {"M"}},
		MinPrice:   ptr(1000), MaxPrice: ptr(5000), InStock: true, Currency: "EUR",
		Facets:      []string{"brand", "category", "price", "attr.colour", "attr.size.eu"},
		PriceRanges: []search.PriceRange{{To: 2000}, {From: 2000, To: 4000}, {From: 4000}},
		Limit:       10, Cursor: cursor,
	})))
	nameCursor := plan.Cursor{Sort: search.SortPriceDesc, N: 4999, ID: "p04"}.Encode()
	golden(t, "search_browse.json", searchBody(mustPlan(t, search.Query{Sort: search.SortPriceDesc, Cursor: nameCursor})))
	golden(t, "search_created.json", searchBody(mustPlan(t, search.Query{Sort: search.SortCreated, Limit: 5, Facets: []string{"price"}})))
	golden(t, "suggest.json", suggestBody("blue co", 5, false))
	golden(t, "suggest_fuzzy.json", suggestBody("bkue", 5, true))
	golden(t, "hash.json", hashBody(kindStock, "sku-p01", 1000))
}

func TestBulkBodyGolden(t *testing.T) {
	at := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	b := docs.NewBatch()
	p := &catalogfold.Product{Product: domain.Product{ID: "p1", SKU: "sku-p1", Price: domain.MustMoney(1999, "EUR"),
		ProductDetails: domain.ProductDetails{Name: "Blue <Shirt> & Co", Brand: "Acme", Category: "tops", Description: "Soft."},
		Variants:       []domain.Variant{{SKU: "sku-p1-m", Attributes: map[string]string{"colour": "blue", "size": "M"}, Price: domain.MustMoney(1999, "EUR")}},
		Status:         domain.ProductStatusActive, CreatedAt: at, UpdatedAt: at}, Version: 1, Position: 12, CreatedPosition: 10}
	b.AddProduct(p)
	b.AddStock(&catalogfold.Stock{SKU: "sku-p1-m", OnHand: 5, Reserved: 1, Owners: []string{"p1"}, Position: 12})
	body := bulkBody("orderengine-products-g1", []bulkOp{
		{ID: productID("p1"), Version: 12, Doc: toProductDoc(b.Document(p), p.Product)},
		{ID: stockID("sku-p1-m"), Version: 12, Doc: stockDoc{Kind: kindStock, SKU: "sku-p1-m", OnHand: 5, Reserved: 1, Owners: []string{"p1"}, Position: 12}},
	})
	golden(t, "bulk.ndjson", body)
}

func TestBulkResponse(t *testing.T) {
	parse := func(s string) *bulkResponse {
		var r bulkResponse
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	ok := parse(`{"errors":false,"items":[{"index":{"_id":"p:1","status":201}},{"index":{"_id":"s:1","status":200}}]}`)
	if err := ok.check(2); err != nil {
		t.Errorf("all created: %v", err)
	}
	if err := ok.check(3); err == nil {
		t.Error("fewer items than actions: no error")
	}
	conflict := parse(`{"errors":true,"items":[{"index":{"_id":"p:1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[p:1]: version conflict, current version [14] is higher or equal to the one provided [12]"}}},{"index":{"_id":"s:1","status":201}}]}`)
	if err := conflict.check(2); err != nil {
		t.Errorf("a version conflict is a stale write, not an error: %v", err)
	}
	bad := parse(`{"errors":true,"items":[{"index":{"_id":"p:1","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [price]"}}}]}`)
	err := bad.check(1)
	if err == nil || (&sink{}).Transient(err) || !strings.Contains(err.Error(), "mapper_parsing_exception") {
		t.Errorf("mapping error: %v (transient %v)", err, (&sink{}).Transient(err))
	}
	busy := parse(`{"errors":true,"items":[{"index":{"_id":"p:1","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},{"index":{"_id":"p:2","status":409}}]}`)
	if err := busy.check(2); err == nil || !(&sink{}).Transient(err) {
		t.Errorf("rejected execution: %v, want a transient error", err)
	}
}

const canned = `{
  "took": 3, "timed_out": false,
  "hits": {"total": {"value": 42, "relation": "eq"}, "max_score": null, "hits": [
    {"_index": "orderengine-products-g3", "_id": "p:p01", "_score": 7.5, "_source": {"productId": "p01", "sku": "sku-p01", "name": "Blue <Cotton> T-Shirt",
      "nameKey": "blue <cotton> t-shirt", "description": "Soft.", "brand": "Acme", "category": "tops", "images": ["https://img/1.jpg"],
      "attributes": {"colour": ["blue"]}, "currency": "EUR", "price": 1999, "maxPrice": 2199, "available": 30, "inStock": true,
      "created": 1735722060000000000, "createdAt": "2025-01-01T09:01:00Z", "position": 17},
      "highlight": {"name": ["Blue <Cotton> T-\ue000Shirt\ue001"]}, "sort": [7.5, "p01"]},
    {"_index": "orderengine-products-g3", "_id": "p:p02", "_score": 7.25, "_source": {"productId": "p02", "sku": "sku-p02", "name": "Classic White T-Shirt",
      "nameKey": "classic white t-shirt", "description": "", "brand": "Globex", "category": "tops", "images": [], "attributes": {},
      "currency": "EUR", "price": 1499, "maxPrice": 1499, "available": 0, "inStock": false, "created": 1735722120000000000, "position": 21},
      "sort": [7.25, "p02"]},
    {"_index": "orderengine-products-g3", "_id": "p:p03", "_score": 2.0, "_source": {"productId": "p03", "name": "Striped Linen Shirt", "price": 3999, "currency": "EUR"}, "sort": [2.0, "p03"]}
  ]},
  "aggregations": {
    "f0": {"doc_count": 40, "values": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [{"key": "Acme", "doc_count": 20}, {"key": "Globex", "doc_count": 20}, {"key": "Stark", "doc_count": 2}]}},
    "f1": {"doc_count": 42, "values": {"buckets": [{"key": "0-2000", "to": 2000.0, "doc_count": 12}, {"key": "2000-4000", "from": 2000.0, "to": 4000.0, "doc_count": 0}, {"key": "4000-", "from": 4000.0, "doc_count": 30}]}},
    "f2": {"doc_count": 42, "values": {"buckets": [{"key": "colour=blue", "doc_count": 9}, {"key": "colour=red", "doc_count": 9}, {"key": "colour=navy", "doc_count": 1}]}}
  }
}`

func TestSearchAgainstFake(t *testing.T) {
	f, srv := newFakeES(t)
	ctx := context.Background()
	b, err := New(ctx, srv.URL+"?index=shop", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// No index yet: nothing found, position 0.
	res, err := b.Search(ctx, search.Query{Text: "shirt", Facets: []string{"price"}})
	if err != nil || res.Total != 0 || len(res.Items) != 0 || res.Position != 0 || len(res.Facets["price"]) != len(search.DefaultPriceRanges) {
		t.Fatalf("before the index exists: %+v, %v", res, err)
	}
	if _, err := b.c.ensureLive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.c.setCheckpoint(ctx, "shop-g1", Checkpoint{Position: 99}); err != nil {
		t.Fatal(err)
	}
	var seen map[string]any
	f.searchHandler = func(index string, body map[string]any) (int, any) {
		if index != "shop-g1" {
			t.Errorf("search on %s", index)
		}
		seen = body
		return 200, json.RawMessage(canned)
	}
	q := search.Query{Text: "shirt", Facets: []string{"brand", "price", "attr.colour"}, FacetSize: 2, Limit: 2,
		PriceRanges: []search.PriceRange{{To: 2000}, {From: 2000, To: 4000}, {From: 4000}}}
	res, err = b.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if seen["size"] != float64(3) {
		t.Errorf("size %v, want limit+1", seen["size"])
	}
	if res.Position != 99 || res.Total != 42 || len(res.Items) != 2 {
		t.Fatalf("result %+v", res)
	}
	h := res.Items[0]
	want := search.Hit{ID: "p01", SKU: "sku-p01", Name: "Blue <Cotton> T-Shirt", Description: "Soft.", Brand: "Acme", Category: "tops",
		Images: []string{"https://img/1.jpg"}, Attributes: map[string][]string{"colour": {"blue"}},
		MinPrice: domain.MustMoney(1999, "EUR"), MaxPrice: domain.MustMoney(2199, "EUR"), Available: 30, InStock: true,
		CreatedAt: time.Date(2025, 1, 1, 9, 1, 0, 0, time.UTC), Score: 7.5,
		Highlight: "Blue &lt;Cotton&gt; T-<mark>Shirt</mark>", Position: 17}
	if fmt.Sprintf("%+v", h) != fmt.Sprintf("%+v", want) {
		t.Errorf("hit\n%+v\nwant\n%+v", h, want)
	}
	if res.Items[1].Images != nil || res.Items[1].Attributes != nil || res.Items[1].Highlight != "" || res.Items[1].InStock {
		t.Errorf("second hit %+v", res.Items[1])
	}
	c, err := plan.DecodeCursor(res.NextCursor, search.SortRelevance)
	if err != nil || c.ID != "p02" || c.Score != 7.25 {
		t.Errorf("cursor %+v %v", c, err)
	}
	wantFacets := map[string][]search.FacetCount{
		"brand": {{Value: "Acme", Count: 20}, {Value: "Globex", Count: 20}},
		"price": {{Value: "0-2000", Count: 12, From: ptr(0), To: ptr(2000)}, {Value: "2000-4000", Count: 0, From: ptr(2000), To: ptr(4000)},
			{Value: "4000-", Count: 30, From: ptr(4000)}},
		"attr.colour": {{Value: "blue", Count: 9}, {Value: "red", Count: 9}},
	}
	gotJSON, _ := json.Marshal(res.Facets)
	wantJSON, _ := json.Marshal(wantFacets)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("facets %s\nwant %s", gotJSON, wantJSON)
	}
	// The next page sends the cursor as search_after.
	q.Cursor = res.NextCursor
	if _, err := b.Search(ctx, q); err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(seen["search_after"]); string(after) != `[7.25,"p02"]` {
		t.Errorf("search_after %s", after)
	}
	// Errors of the server.
	f.searchHandler = func(string, map[string]any) (int, any) {
		return 503, errorBody(503, "search_phase_execution_exception", "all shards failed")
	}
	if _, err := b.Search(ctx, search.Query{Text: "x"}); !errors.Is(err, search.ErrUnavailable) {
		t.Errorf("503: %v, want ErrUnavailable", err)
	}
	if _, err := b.Search(ctx, search.Query{Sort: "bogus"}); !errors.Is(err, search.ErrBadRequest) {
		t.Errorf("bad sort: %v", err)
	}
	// Suggest retries fuzzily when nothing starts with the prefix.
	var bodies []map[string]any
	f.searchHandler = func(_ string, body map[string]any) (int, any) {
		bodies = append(bodies, body)
		if len(bodies) == 1 {
			return 200, json.RawMessage(`{"hits":{"total":{"value":0},"hits":[]}}`)
		}
		return 200, json.RawMessage(`{"hits":{"total":{"value":1},"hits":[{"_id":"p:p01","_score":1,"_source":{"productId":"p01","name":"Blue Cotton T-Shirt"}}]}}`)
	}
	sg, err := b.Suggest(ctx, "Bkue!", 3)
	if err != nil || len(sg) != 1 || sg[0] != (search.Suggestion{Text: "Blue Cotton T-Shirt", ProductID: "p01"}) || len(bodies) != 2 {
		t.Errorf("suggest: %+v %v after %d requests", sg, err, len(bodies))
	}
	// Unreachable.
	down, err := New(ctx, "http://127.0.0.1:1", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Search(ctx, search.Query{}); !errors.Is(err, search.ErrUnavailable) {
		t.Errorf("unreachable: %v, want ErrUnavailable", err)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, "http://elastic:secret@localhost:9200?index=shop-search", search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eb, ok := b.(*Backend)
	if !ok || eb.Kind() != "elasticsearch" || eb.Alias() != "shop-search" {
		t.Fatalf("open: %T %+v", b, b)
	}
	if err := b.Run(ctx); err == nil {
		t.Error("Run without an event store: no error")
	}
	for _, u := range []string{"http://", "http://host?index=Upper", "http://host?index=_x"} {
		if _, err := Open(ctx, u, search.Options{}); err == nil {
			t.Errorf("%s: no error", u)
		}
	}
}

// seeded returns an event store holding the conformance catalog.
func seeded(t testing.TB) (*projectionstest.Seeder, eventstore.Store) {
	store := projectionstest.EventStore(t)
	s := projectionstest.NewSeeder(store, 7)
	if err := searchtest.Seed(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s, store
}

func fastRunner() projections.RunnerOptions {
	return projections.RunnerOptions{Registry: domain.NewDomainRegistry(), BatchSize: 7, IdleCheck: 10 * time.Millisecond, Backoff: 5 * time.Millisecond,
		MaxBackoff: 20 * time.Millisecond, MaxAttempts: 3}
}

// running starts b's runner until the test ends.
func running(t *testing.T, b *Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

func waitCaughtUp(t *testing.T, b *Backend, store eventstore.Store) uint64 {
	t.Helper()
	head, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ok, pos, err := b.WaitPosition(context.Background(), head, 20*time.Second)
	if err != nil || !ok {
		t.Fatalf("position %d, want %d (%v); status %+v", pos, head, err, b.Status())
	}
	return head
}

func head(t testing.TB, store eventstore.Store) uint64 {
	h, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// expected folds the whole log in one batch into the documents the index must hold.
func expected(t *testing.T, store eventstore.Store) map[string]string {
	return expectedUpTo(t, store, ^uint64(0))
}

// expectedUpTo folds the log up to a position.
func expectedUpTo(t *testing.T, store eventstore.Store, upTo uint64) map[string]string {
	t.Helper()
	recs, err := store.ReadAll(context.Background(), 0, 1<<20, docs.Filter())
	if err != nil {
		t.Fatal(err)
	}
	reg := domain.NewDomainRegistry()
	var events []projections.Event
	for _, rec := range recs {
		if rec.Position > upTo {
			break
		}
		d, md, err := envelope.Decode(reg, rec)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, projections.Event{RecordedEvent: rec, Data: d, Metadata: md})
	}
	b := docs.NewBatch()
	if err := b.Apply(events); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range b.DirtyProducts() {
		src, _ := json.Marshal(toProductDoc(b.Document(p), p.Product))
		out[productID(p.ID)] = fmt.Sprintf("v%d %s", p.Position, src)
	}
	for _, s := range b.DirtyStock() {
		owners := s.Owners
		if owners == nil {
			owners = []string{}
		}
		src, _ := json.Marshal(stockDoc{Kind: kindStock, SKU: s.SKU, OnHand: s.OnHand, Reserved: s.Reserved, Owners: owners, Position: s.Position})
		out[stockID(s.SKU)] = fmt.Sprintf("v%d %s", s.Position, src)
	}
	return out
}

// documents is the index's product and stock documents (no checkpoint).
func documents(f *fakeES, index string) map[string]string {
	s := f.snapshot(index)
	delete(s, checkpointID)
	return s
}

func diffDocs(t *testing.T, got, want map[string]string) {
	t.Helper()
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if got[id] != want[id] {
			t.Errorf("%s:\n got %s\nwant %s", id, got[id], want[id])
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected document %s", id)
		}
	}
}

func TestRunnerWritesDocuments(t *testing.T) {
	f, srv := newFakeES(t)
	_, store := seeded(t)
	b, err := New(context.Background(), srv.URL, store, Options{Alias: "shop", Runner: fastRunner()})
	if err != nil {
		t.Fatal(err)
	}
	running(t, b)
	head := waitCaughtUp(t, b, store)
	if len(f.requestsTo("/_bulk")) < 5 {
		t.Errorf("%d bulk requests for batches of 7", len(f.requestsTo("/_bulk")))
	}
	if live, _ := b.c.liveIndex(context.Background()); live != "shop-g1" {
		t.Errorf("alias → %q", live)
	}
	diffDocs(t, documents(f, "shop"), expected(t, store))
	var p01 productDoc
	if err := json.Unmarshal(f.source("shop", "p:p01"), &p01); err != nil {
		t.Fatal(err)
	}
	if p01.Price != 1999 || p01.MaxPrice != 2199 || p01.Available != 30 || !p01.InStock || !p01.Active ||
		!slices.Equal(p01.Attrs, []string{"colour=blue", "size=L", "size=M", "size=S"}) || p01.NameKey != "blue cotton t-shirt" {
		t.Errorf("p01 %+v", p01)
	}
	var p31, p15 productDoc
	_ = json.Unmarshal(f.source("shop", "p:p31"), &p31)
	_ = json.Unmarshal(f.source("shop", "p:p15"), &p15)
	if p31.Active || p15.InStock || p15.Available != 0 {
		t.Errorf("archived p31 active %v; reserved p15 in stock %v (%d)", p31.Active, p15.InStock, p15.Available)
	}
	var cp Checkpoint
	_ = json.Unmarshal(f.source("shop", checkpointID), &cp)
	if cp.Position != head || cp.Kind != kindCheckpoint || cp.LastEventAt == 0 {
		t.Errorf("checkpoint %+v, want position %d", cp, head)
	}
	st := b.Status()
	for deadline := time.Now().Add(5 * time.Second); st.State != projections.StateCaughtUp && time.Now().Before(deadline); st = b.Status() {
		time.Sleep(5 * time.Millisecond)
	}
	if st.State != projections.StateCaughtUp || st.Checkpoint != head || st.Generation != 1 || st.Applied == 0 {
		t.Errorf("status %+v", st)
	}
}

func TestRunnerReplayIsIdempotent(t *testing.T) {
	f, srv := newFakeES(t)
	_, store := seeded(t)
	ctx := context.Background()
	b, err := New(ctx, srv.URL, store, Options{Alias: "shop", Runner: fastRunner()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	waitCaughtUp(t, b, store)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	before := documents(f, "shop")
	// A crash before any checkpoint was written: the whole log comes again.
	f.mu.Lock()
	delete(f.indices["shop-g1"].docs, checkpointID)
	bulks := f.bulks
	f.mu.Unlock()
	b2, err := New(ctx, srv.URL, store, Options{Alias: "shop", Runner: fastRunner()})
	if err != nil {
		t.Fatal(err)
	}
	running(t, b2)
	waitCaughtUp(t, b2, store)
	if after := documents(f, "shop"); !maps.Equal(before, after) {
		t.Error("replaying the log changed documents")
	}
	f.mu.Lock()
	if f.bulks != bulks {
		t.Errorf("replay sent %d bulk requests: every document already reflects the events", f.bulks-bulks)
	}
	f.mu.Unlock()
}

func TestRunnerSurvivesFailures(t *testing.T) {
	f, srv := newFakeES(t)
	_, store := seeded(t)
	var failures atomic.Int32
	// Bulk 3 is refused as a whole (503), then bulk 5 loses one item to a full queue
	// (429) and bulk 8 one to a mapping error (400) once.
	f.failBulk = func(n int, ids []string) (int, string) {
		if n == 3 {
			failures.Add(1)
			return 503, "unavailable"
		}
		return 0, ""
	}
	var lost atomic.Value
	f.failItem = func(n int, id string) int {
		switch {
		case n == 5 && lost.Load() == nil:
			lost.Store(id)
			failures.Add(1)
			return 429
		case n == 8 && strings.HasPrefix(id, "p:"):
			failures.Add(1)
			return 400
		}
		return 0
	}
	b, err := New(context.Background(), srv.URL, store, Options{Alias: "shop", Runner: fastRunner()})
	if err != nil {
		t.Fatal(err)
	}
	running(t, b)
	waitCaughtUp(t, b, store)
	if failures.Load() < 3 {
		t.Fatalf("%d injected failures", failures.Load())
	}
	diffDocs(t, documents(f, "shop"), expected(t, store))
	if st := b.Status(); st.LastError == "" {
		t.Errorf("status %+v: want the last transient error", st)
	}
}

func TestCheckpointWaitsForBulk(t *testing.T) {
	f, srv := newFakeES(t)
	_, store := seeded(t)
	var allow atomic.Bool
	f.failBulk = func(n int, ids []string) (int, string) {
		if n > 1 && !allow.Load() {
			return 500, "down"
		}
		return 0, ""
	}
	b, err := New(context.Background(), srv.URL, store, Options{Alias: "shop", Runner: fastRunner()})
	if err != nil {
		t.Fatal(err)
	}
	running(t, b)
	deadline := time.Now().Add(5 * time.Second)
	for b.Status().LastError == "" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	pos, err := b.Position(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint covers exactly what was acknowledged: the documents are the fold
	// of the events up to it, and no further.
	if pos == 0 || pos >= head(t, store) {
		t.Fatalf("checkpoint %d while bulk requests fail", pos)
	}
	diffDocs(t, documents(f, "shop"), expectedUpTo(t, store, pos))
	if st := b.Status(); st.State == projections.StateFailed || !strings.Contains(st.LastError, "500") {
		t.Errorf("status %+v: want retrying with the last error", st)
	}
	allow.Store(true)
	waitCaughtUp(t, b, store)
	diffDocs(t, documents(f, "shop"), expected(t, store))
}

func TestRunnerFailsOnABadEvent(t *testing.T) {
	_, srv := newFakeES(t)
	store := projectionstest.EventStore(t)
	s := projectionstest.NewSeeder(store, 1)
	ctx := context.Background()
	// A price change of a product never created.
	if err := s.Append(ctx, "product-ghost", domain.ProductPriceChanged{ProductID: "ghost", SKU: "sku-ghost",
		NewPrice: domain.MustMoney(100, "EUR"), At: s.Now()}); err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, srv.URL, store, Options{Alias: "shop", Runner: fastRunner()})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(ctx)
	var fe *projections.FailedError
	if !errors.As(err, &fe) || fe.Failure.Position != 1 || fe.Failure.Type != "product.price_changed" ||
		!strings.Contains(fe.Failure.Error, "does not exist") || fe.Failure.Attempts != 3 {
		t.Fatalf("run: %v", err)
	}
	if st := b.Status(); st.State != projections.StateFailed || st.Failure == nil {
		t.Errorf("status %+v", st)
	}
}

func TestRebuildSwapsAlias(t *testing.T) {
	f, srv := newFakeES(t)
	seeder, store := seeded(t)
	ctx := context.Background()
	b, err := New(ctx, srv.URL, store, Options{Alias: "shop", Runner: fastRunner()})
	if err != nil {
		t.Fatal(err)
	}
	running(t, b)
	waitCaughtUp(t, b, store)
	var progress []projections.Progress
	rep, err := b.Rebuild(ctx, projections.RebuildOptions{BatchSize: 11, Progress: func(p projections.Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Switched || rep.Differs || !rep.Comparable || rep.OldGeneration != 1 || rep.NewGeneration != 2 || len(rep.Tables) != 2 ||
		rep.Tables[0].NewRows != int64(len(searchtest.Catalog)) || rep.Tables[0].NewHash == "" || rep.Events == 0 {
		t.Errorf("report %+v", rep)
	}
	if len(progress) == 0 || progress[len(progress)-1].Phase != "done" {
		t.Errorf("progress %+v", progress)
	}
	if live, _ := b.c.liveIndex(ctx); live != "shop-g2" {
		t.Fatalf("alias → %s after the rebuild", live)
	}
	swaps := f.requestsTo("/_aliases")
	last := swaps[len(swaps)-1]
	var actions struct {
		Actions []map[string]map[string]any `json:"actions"`
	}
	_ = json.Unmarshal(last.Body, &actions)
	if len(actions.Actions) != 2 || actions.Actions[0]["remove"]["index"] != "shop-g1" || actions.Actions[1]["add"]["index"] != "shop-g2" {
		t.Errorf("alias swap %s: want remove g1 and add g2 in one request", last.Body)
	}
	if !maps.Equal(documents(f, "shop-g1"), documents(f, "shop-g2")) {
		t.Error("the new generation's documents differ from the old one's")
	}
	// The live runner follows the alias: new events land in g2.
	name := "Renamed Poncho"
	if err := seeder.RunProduct(ctx, domain.UpdateProductDetails{ProductID: "p29", Name: &name}); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, b, store)
	var p29 productDoc
	_ = json.Unmarshal(f.source("shop-g2", "p:p29"), &p29)
	if p29.Name != name {
		t.Errorf("p29 in g2: %q", p29.Name)
	}
	if st := b.Status(); st.Generation != 2 {
		t.Errorf("status %+v, want generation 2", st)
	}
	// A dry run compares and deletes its index; the next rebuild drops g1.
	rep, err = b.Rebuild(ctx, projections.RebuildOptions{DryRun: true})
	if err != nil || rep.Switched || rep.Differs {
		t.Fatalf("dry run %+v %v", rep, err)
	}
	f.mu.Lock()
	names := slices.Sorted(maps.Keys(f.indices))
	f.mu.Unlock()
	if !slices.Equal(names, []string{"shop-g2"}) {
		t.Errorf("indices after the dry run: %v", names)
	}
}

// TestConformance runs the search conformance suite on a real Elasticsearch.
func TestConformance(t *testing.T) {
	url := os.Getenv("ORDERENGINE_TEST_ELASTICSEARCH_URL")
	if url == "" {
		t.Skip("set ORDERENGINE_TEST_ELASTICSEARCH_URL (e.g. http://localhost:9200) to run the search conformance suite on Elasticsearch")
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	alias := "oetest-" + hex.EncodeToString(rnd[:])
	searchtest.Run(t, func(t *testing.T, events eventstore.Store) search.Backend {
		b, err := Open(context.Background(), url, search.Options{Events: events, Index: alias,
			Runner: projections.RunnerOptions{Registry: domain.NewDomainRegistry(), IdleCheck: 20 * time.Millisecond, Backoff: 20 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// By name: wildcard deletes are refused by default (action.destructive_requires_name).
			c := b.(*Backend).c
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			gens, err := c.generations(ctx)
			if err != nil {
				t.Logf("list %s-g*: %v", alias, err)
			}
			for _, g := range gens {
				if err := c.deleteIndex(ctx, g); err != nil {
					t.Logf("delete %s: %v", g, err)
				}
			}
		})
		return b
	})
}

// TestBusyRunnerFollowsTheAlias: a runner that never goes idle (events keep coming)
// must still notice that a rebuild moved the alias; otherwise the next rebuild deletes
// the index it writes to and a real cluster re-creates it on the next bulk request, a
// "zombie" index with dynamic mappings that nobody reads (issue 14, item 6).
func TestBusyRunnerFollowsTheAlias(t *testing.T) {
	f, srv := newFakeES(t)
	seeder, store := seeded(t)
	ctx := context.Background()
	opt := fastRunner()
	opt.IdleCheck = 5 * time.Second // never idle while the events below keep coming
	b, err := New(ctx, srv.URL, store, Options{Alias: "shop", Runner: opt})
	if err != nil {
		t.Fatal(err)
	}
	running(t, b)
	waitCaughtUp(t, b, store)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
			name := fmt.Sprintf("Poncho %d", i)
			if err := seeder.RunProduct(ctx, domain.UpdateProductDetails{ProductID: "p29", Name: &name}); err != nil {
				done <- err
				return
			}
		}
	}()
	for gen := int64(2); gen <= 3; gen++ {
		rep, err := b.Rebuild(ctx, projections.RebuildOptions{})
		if err != nil || !rep.Switched || rep.NewGeneration != gen {
			t.Fatalf("rebuild to generation %d: %+v, %v", gen, rep, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for b.Status().Generation != gen && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if st := b.Status(); st.Generation != gen {
			t.Fatalf("the busy runner did not follow the alias to generation %d: %+v", gen, st)
		}
	}
	time.Sleep(300 * time.Millisecond) // a few more batches into the live index
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, b, store)
	f.mu.Lock()
	zombies, names := slices.Clone(f.autoCreated), slices.Sorted(maps.Keys(f.indices))
	f.mu.Unlock()
	if len(zombies) > 0 {
		t.Errorf("writes re-created deleted indices %v (indices now %v)", zombies, names)
	}
	if !slices.Equal(names, []string{"shop-g2", "shop-g3"}) {
		t.Errorf("indices %v, want shop-g2 (kept until the next rebuild) and shop-g3", names)
	}
	if got, want := documents(f, "shop-g3"), expected(t, store); !maps.Equal(got, want) {
		t.Errorf("live index differs from the log's fold:\n%v\n%v", got, want)
	}
}

// TestReadYourWritesWithoutRefreshCap: the runner does not wait for refreshes (on a
// real cluster refresh=wait_for waits for the next scheduled refresh, 1 s by default,
// and caps the runner at one batch a second); a minPosition read refreshes instead
// (issue 14, item 8). The fake's scheduled refresh never comes during the test.
func TestReadYourWritesWithoutRefreshCap(t *testing.T) {
	f, srv := newFakeES(t)
	f.refreshEvery = time.Hour
	seeder, store := seeded(t)
	ctx := context.Background()
	b, err := New(ctx, srv.URL, store, Options{Alias: "shop", Runner: fastRunner()})
	if err != nil {
		t.Fatal(err)
	}
	running(t, b)
	name := "Renamed Poncho"
	if err := seeder.RunProduct(ctx, domain.UpdateProductDetails{ProductID: "p29", Name: &name}); err != nil {
		t.Fatal(err)
	}
	want := head(t, store)
	ok, pos, err := b.WaitPosition(ctx, want, 20*time.Second)
	if err != nil || !ok || pos < want {
		t.Fatalf("WaitPosition(%d): %v %d %v; status %+v", want, ok, pos, err, b.Status())
	}
	if got, err := b.Position(ctx); err != nil || got < want {
		t.Errorf("Position %d, %v after the wait, want ≥ %d", got, err, want)
	}
	f.mu.Lock()
	waited := f.bulkRefresh["wait_for"]
	var visible string
	if d := f.indices["shop-g1"].visible["p:p29"]; d != nil {
		visible = string(d.source)
	}
	f.mu.Unlock()
	if waited > 0 {
		t.Errorf("%d bulk requests waited for a refresh", waited)
	}
	if !strings.Contains(visible, name) {
		t.Errorf("p29 as searches see it after the wait: %s", visible)
	}
}

// BenchmarkCatchUpWithRefreshDelay measures the runner against a cluster refreshing
// every 200 ms (the fake): a runner that waited for refreshes would manage about five
// batches a second.
func BenchmarkCatchUpWithRefreshDelay(b *testing.B) {
	for i := 0; i < b.N; i++ {
		f, srv := newFakeES(b)
		f.refreshEvery = 200 * time.Millisecond
		_, store := seeded(b)
		be, err := New(context.Background(), srv.URL, store, Options{Alias: "shop", Runner: fastRunner()})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- be.Run(ctx) }()
		want := head(b, store)
		if ok, _, err := be.WaitPosition(context.Background(), want, time.Minute); !ok || err != nil {
			b.Fatalf("not caught up: %v", err)
		}
		b.ReportMetric(float64(be.Status().Applied)/time.Since(start).Seconds(), "events/s")
		cancel()
		<-done
	}
}
