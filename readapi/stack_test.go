package readapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/readmodel"
	"github.com/orderengine/orderengine/readapi"
	"github.com/orderengine/orderengine/search"
)

var secret = []byte(strings.Repeat("r", 32))

var home = domain.Address{Name: "Alice", Line1: "Hauptstr. 1", City: "Berlin", PostalCode: "10115", Country: "DE"}

// stack is the real thing on SQLite: event store, command service, checkout saga (run
// inline, without a bus), projection runners in the background, and the read API over
// HTTP with a fake search index.
type stack struct {
	t       *testing.T
	ctx     context.Context
	store   *sqlite.Store
	svc     *commands.Service
	rt      *commands.Runtime
	co      *checkout.Checkout
	db      *projections.DB
	runners []*projections.Runner
	search  *fakeSearch
	api     *readapi.API
	srv     *httptest.Server
	tokens  map[string]string
}

func newStack(t *testing.T, cfg func(*readapi.Config)) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt := commands.NewRuntime(store, eventregistry.New(), commands.RuntimeOptions{})
	svc, err := commands.NewService(rt, commands.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sim := payment.NewSimulator(payment.SimulatorConfig{})
	co, err := checkout.New(checkout.Config{Runtime: rt, Store: store, Gateway: sim, TTL: time.Minute, GatewayTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db, err := projections.Open(ctx, "sqlite:", projections.Options{SQLitePath: filepath.Join(dir, "readmodels.db")})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, ctx: ctx, store: store, svc: svc, rt: rt, co: co, db: db, search: &fakeSearch{}}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range readmodel.All() {
		r, err := projections.NewRunner(db, store, p, projections.RunnerOptions{Registry: domain.NewDomainRegistry(), IdleCheck: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s.runners = append(s.runners, r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(runCtx); err != nil {
				t.Errorf("runner %s: %v", r.Name(), err)
			}
		}()
	}
	ver, err := auth.NewVerifier(auth.Config{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	c := readapi.Config{
		Reader:    readmodel.NewReader(db, readmodel.ReaderOptions{LowStockThreshold: 5}),
		Positions: db, Verifier: ver, Events: store, Search: s.search,
		Status:    readapi.StatusFunc(s.status),
		Rebuilder: rebuilder{db: db, store: store},
		MaxWait:   2 * time.Second,
	}
	if cfg != nil {
		cfg(&c)
	}
	s.api, err = readapi.New(c)
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewServer(s.api)
	s.tokens = map[string]string{
		"none":     "",
		"alice":    token(t, "alice", auth.RoleCustomer),
		"bob":      token(t, "bob", auth.RoleCustomer),
		"admin":    token(t, "root", auth.RoleAdmin),
		"auditor":  token(t, "audrey", auth.RoleAuditor),
		"analyst":  token(t, "ann", auth.RoleAnalyst),
		"customer": token(t, "carol", auth.RoleCustomer),
	}
	t.Cleanup(func() {
		s.srv.Close()
		s.api.Close()
		stop()
		wg.Wait()
		sim.Close()
		db.Close()
		store.Close()
		cancel()
	})
	return s
}

func (s *stack) status(context.Context) ([]projections.Status, error) {
	out := make([]projections.Status, len(s.runners))
	for i, r := range s.runners {
		out[i] = r.Status()
	}
	return out, nil
}

// rebuilder is what the lead wires: projections.Rebuild by name.
type rebuilder struct {
	db    *projections.DB
	store eventstore.Store
}

func (b rebuilder) Rebuildable() []string {
	var out []string
	for _, p := range readmodel.All() {
		out = append(out, p.Name())
	}
	return out
}

func (b rebuilder) Rebuild(ctx context.Context, req readapi.RebuildRequest) (*projections.RebuildReport, error) {
	for _, p := range readmodel.All() {
		if p.Name() == req.Projection {
			return projections.Rebuild(ctx, b.db, b.store, p, projections.RebuildOptions{Registry: domain.NewDomainRegistry(), DryRun: req.DryRun, Progress: req.Progress})
		}
	}
	return nil, projections.ErrUnknownProjection
}

func token(t *testing.T, sub string, roles ...auth.Role) string {
	t.Helper()
	tok, err := auth.Signer{Secret: secret}.Sign(sub, roles, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var admin = commands.Meta{Actor: "root"}

func eur(minor int64) domain.Money { return domain.MustMoney(minor, "EUR") }

// product creates a product with stock.
func (s *stack) product(id, sku, name, category, brand string, price, stock int64) uint64 {
	s.t.Helper()
	res, err := s.svc.CreateProduct(s.ctx, domain.CreateProduct{ProductID: id, SKU: sku, Price: eur(price),
		ProductDetails: domain.ProductDetails{Name: name, Category: category, Brand: brand}}, admin)
	if err != nil {
		s.t.Fatalf("product %s: %v", id, err)
	}
	pos := res.Position
	if stock > 0 {
		r, err := s.svc.ReceiveStock(s.ctx, domain.ReceiveStock{SKU: sku, Warehouse: "main", Quantity: stock}, admin)
		if err != nil {
			s.t.Fatalf("stock %s: %v", sku, err)
		}
		pos = r.Position
	}
	return pos
}

type item struct {
	sku string
	qty int64
}

// place places an order as customer without running its checkout; it returns the order
// id and the position order.placed committed.
func (s *stack) place(customer, payToken string, items ...item) (string, uint64) {
	s.t.Helper()
	meta := commands.Meta{Actor: customer, Customer: customer, CorrelationID: "req-" + customer}
	c, err := s.svc.CreateCart(s.ctx, domain.CreateCart{Currency: "EUR"}, meta)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, it := range items {
		if _, err := s.svc.AddCartItem(s.ctx, c.State.ID, it.sku, it.qty, meta); err != nil {
			s.t.Fatal(err)
		}
	}
	r, err := s.svc.PlaceOrder(s.ctx, commands.PlaceOrderInput{CartID: c.State.ID, ShippingAddress: &home, PaymentToken: payToken}, meta)
	if err != nil {
		s.t.Fatal(err)
	}
	return r.State.ID, r.Position
}

// checkout runs an order's checkout to its end and returns the log's head.
func (s *stack) checkout(orderID string) uint64 {
	s.t.Helper()
	if err := s.co.Start(s.ctx, orderID); err != nil {
		s.t.Fatal(err)
	}
	st, err := s.co.Wait(s.ctx, orderID, 20*time.Second)
	if err != nil || !st.Terminal {
		s.t.Fatalf("checkout %s: %+v %v", orderID, st, err)
	}
	head, err := s.store.Head(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return head
}

// order places an order and runs its checkout.
func (s *stack) order(customer, payToken string, items ...item) (string, uint64) {
	s.t.Helper()
	id, _ := s.place(customer, payToken, items...)
	return id, s.checkout(id)
}

// shop is the standard fixture: four products, alice's two orders (one confirmed, one
// declined) and bob's one.
type shop struct {
	aliceOrder, aliceDeclined, bobOrder string
	aliceReturn                         string // a return requested of alice's shipped order
	head                                uint64
}

func (s *stack) seedShop() shop {
	s.t.Helper()
	s.product("p-tee", "TEE-1", "Blue Tee", "tees", "Acme", 1999, 10)
	s.product("p-mug", "MUG-1", "Coffee Mug", "mugs", "Acme", 900, 5)
	s.product("p-hat", "HAT-1", "Sun Hat", "hats", "Globex", 2500, 0)
	s.product("p-sock", "SOCK-1", "Wool Sock", "socks", "Globex", 300, 20)
	var sh shop
	sh.aliceOrder, _ = s.order("alice", payment.TokenVisa, item{"TEE-1", 2}, item{"MUG-1", 1})
	sh.bobOrder, _ = s.order("bob", payment.TokenVisa, item{"TEE-1", 1})
	sh.aliceDeclined, _ = s.order("alice", payment.TokenDecline, item{"SOCK-1", 1})
	sh.aliceReturn, sh.head = s.shipAndReturn(sh.aliceOrder)
	return sh
}

// caughtUp waits until every projection has reached pos.
func (s *stack) caughtUp(pos uint64) {
	s.t.Helper()
	for _, p := range readmodel.All() {
		ok, at, err := s.db.WaitPosition(s.ctx, p.Name(), pos, 20*time.Second)
		if err != nil || !ok {
			s.t.Fatalf("projection %s at %d, not %d: %v", p.Name(), at, pos, err)
		}
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// do sends a request as who (a key of tokens) with header pairs.
func (s *stack) do(method, path, who string, headers ...string) resp {
	s.t.Helper()
	return s.doBody(method, path, who, nil, headers...)
}

func (s *stack) doBody(method, path, who string, body io.Reader, headers ...string) resp {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.ctx, method, s.srv.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if tok := s.tokens[who]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (s *stack) must(want int, r resp) resp {
	s.t.Helper()
	if r.status != want {
		s.t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	if want >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
		s.t.Fatalf("status %d with content type %q", r.status, r.header.Get("Content-Type"))
	}
	return r
}

// fakeSearch records queries and answers a fixed result at a settable position.
type fakeSearch struct {
	mu      sync.Mutex
	queries []search.Query
	pos     uint64
	err     error
}

func (f *fakeSearch) setPosition(p uint64) {
	f.mu.Lock()
	f.pos = p
	f.mu.Unlock()
}

func (f *fakeSearch) last() search.Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[len(f.queries)-1]
}

func (f *fakeSearch) Search(_ context.Context, q search.Query) (search.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.err != nil {
		return search.Result{}, f.err
	}
	res := search.Result{Total: 2, Position: f.pos, Items: []search.Hit{
		{ID: "p-tee", SKU: "TEE-1", Name: "Blue Tee", Brand: "Acme", MinPrice: eur(1999), MaxPrice: eur(1999), InStock: true, Score: 2.5},
		{ID: "p-mug", SKU: "MUG-1", Name: "Coffee Mug", Brand: "Acme", MinPrice: eur(900), MaxPrice: eur(900), InStock: true, Score: 1},
	}}
	if q.Cursor == "" {
		res.NextCursor = "page2"
	}
	if slices.Contains(q.Facets, readapi.FacetBrand) {
		res.Facets = map[string][]search.FacetCount{readapi.FacetBrand: {{Value: "Acme", Count: 2}}}
	}
	return res, nil
}

func (f *fakeSearch) Suggest(_ context.Context, prefix string, limit int) ([]search.Suggestion, error) {
	out := []search.Suggestion{{Text: prefix + "e", ProductID: "p-tee"}, {Text: prefix + "a"}}
	return out[:min(limit, len(out))], nil
}

func (f *fakeSearch) Position(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pos, nil
}

// shipAndReturn ships every line of an order in one parcel, delivers it and has an admin
// request the return of one unit; the money steps are recorded on the order only.
func (s *stack) shipAndReturn(orderID string) (string, uint64) {
	s.t.Helper()
	admin := commands.Meta{Actor: "admin", CorrelationID: orderID}
	o, err := commands.Load(s.ctx, s.rt, domain.NewOrderDecider(), orderID)
	if err != nil {
		s.t.Fatal(err)
	}
	rid := domain.NewReturnID(orderID, "r1")
	for _, c := range []domain.OrderCommand{
		domain.FulfilOrder{OrderID: orderID, FulfillmentID: "f1", Lines: o.State.UnfulfilledLines(), Carrier: "DHL", TrackingNumber: "T1"},
		domain.MarkFulfillmentCaptured{OrderID: orderID, FulfillmentID: "f1"},
		domain.DeliverFulfillment{OrderID: orderID, FulfillmentID: "f1"},
		domain.RequestReturn{OrderID: orderID, ReturnID: rid, Lines: []domain.ReturnLine{{SKU: o.State.Lines[0].SKU, Quantity: 1, Reason: "too small"}}, ByAdmin: true},
	} {
		if _, err := commands.Execute(s.ctx, s.rt, domain.NewOrderDecider(), c, admin); err != nil {
			s.t.Fatalf("%T: %v", c, err)
		}
	}
	head, err := s.store.Head(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return rid, head
}
