package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/integration"
	"github.com/orderengine/orderengine/webhooks"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// verify is a Standard Webhooks verifier written from the specification, independent of
// the sender's code: secret = base64 after "whsec_"; signed content "id.timestamp.body";
// HMAC-SHA256; header holds space-separated "v1,<base64>" signatures, any may match;
// timestamps more than 5 minutes away are rejected.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || math.Abs(float64(now.Unix()-sec)) > 300 {
		return fmt.Errorf("bad timestamp %q", ts)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no valid signature")
}

// received is one request a receiver accepted.
type received struct {
	header http.Header
	id     string
	sigs   []string
	body   []byte
	ev     struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Position uint64 `json:"position"`
		OrderID  string `json:"orderId"`
	}
}

// receiver is a real HTTP server that verifies every request's signature and answers with
// what status returns.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []received // accepted (2xx) requests, in arrival order
	calls  int
	bad    int // requests whose signature did not verify
	status func(r received) int
	delay  time.Duration
	now    func() time.Time
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{t: t, status: func(received) int { return 204 }, now: time.Now}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var rv received
		rv.header = r.Header.Clone()
		rv.id, rv.body, rv.sigs = r.Header.Get("webhook-id"), body, strings.Split(r.Header.Get("webhook-signature"), " ")
		_ = json.Unmarshal(body, &rv.ev)
		rc.mu.Lock()
		secret, delay, status, now := rc.secret, rc.delay, rc.status, rc.now
		rc.calls++
		rc.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		if err := verify(secret, r.Header, body, now()); err != nil {
			rc.mu.Lock()
			rc.bad++
			rc.mu.Unlock()
			w.WriteHeader(401)
			return
		}
		code := status(rv)
		if code >= 200 && code < 300 {
			rc.mu.Lock()
			rc.got = append(rc.got, rv)
			rc.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setStatus(f func(received) int) {
	rc.mu.Lock()
	rc.status = f
	rc.mu.Unlock()
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// distinct is the set of webhook-ids received.
func (rc *receiver) distinct() map[string]received {
	m := map[string]received{}
	for _, r := range rc.received() {
		if _, ok := m[r.id]; !ok {
			m[r.id] = r
		}
	}
	return m
}

type env struct {
	t     testing.TB
	store eventstore.Store
	eps   *webhooks.Endpoints
	cfg   webhooks.WorkerConfig
	clock *clock
}

// clock is a settable clock (real time plus an offset).
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func newEnv(t testing.TB) *env {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := &clock{}
	eps, err := webhooks.NewEndpoints(webhooks.EndpointsConfig{Store: store, SecretKey: testKey,
		Security: webhooks.Security{AllowHTTP: true, AllowPrivate: true}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: store, eps: eps, clock: clk, cfg: webhooks.WorkerConfig{
		Store: store, Endpoints: eps, Lease: webhooks.NewLocalLease(),
		Translator:   integration.NewTranslator(domain.NewDomainRegistry()),
		Timeout:      2 * time.Second,
		Schedule:     []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
		PollInterval: 10 * time.Millisecond, CheckpointEvery: 5 * time.Millisecond, Now: clk.Now,
	}}
}

// start runs a worker until the returned stop is called (which waits for it).
func (e *env) start(cfg webhooks.WorkerConfig) (stop func()) {
	e.t.Helper()
	w, err := webhooks.NewWorker(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			e.t.Errorf("worker: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	return stop
}

// register creates an endpoint for rc and gives rc its secret.
func (e *env) register(rc *receiver, types ...string) webhooks.Endpoint {
	e.t.Helper()
	ep, secret, err := e.eps.Create(context.Background(), webhooks.NewEndpoint{URL: rc.srv.URL + "/hook", EventTypes: types})
	if err != nil {
		e.t.Fatal(err)
	}
	rc.mu.Lock()
	rc.secret = secret
	rc.mu.Unlock()
	return ep
}

// append stores domain events in their stream, as the command side would.
func (e *env) append(stream string, evs ...domain.Event) uint64 {
	e.t.Helper()
	reg := domain.NewDomainRegistry()
	data := make([]eventstore.EventData, len(evs))
	for i, ev := range evs {
		d, err := envelope.Encode(reg, uuid.New(), ev, envelope.Metadata{Actor: "test", OccurredAt: time.Now()})
		if err != nil {
			e.t.Fatal(err)
		}
		data[i] = d
	}
	res, err := e.store.Append(context.Background(), stream, eventstore.Any, data...)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Position
}

// orderLife appends the next step of an order's life (placed, authorized, confirmed,
// captured, fulfilled, delivered) by index.
func (e *env) orderStep(orderID string, step int) uint64 {
	at := time.Now()
	eur := domain.MustMoney(1000, "EUR")
	addr := domain.Address{Name: "A", Line1: "1 St", City: "B", PostalCode: "1", Country: "DE"}
	var ev domain.Event
	switch step % 6 {
	case 0:
		ev = domain.OrderPlaced{OrderID: orderID, CustomerID: "alice", Currency: "EUR", Totals: domain.Totals{GrandTotal: eur}, ShippingAddress: addr, BillingAddress: addr, At: at}
	case 1:
		ev = domain.OrderPaymentAuthorized{OrderID: orderID, PaymentID: "pay-" + orderID, Amount: eur, At: at}
	case 2:
		ev = domain.OrderConfirmed{OrderID: orderID, At: at}
	case 3:
		ev = domain.OrderPaymentCaptured{OrderID: orderID, Amount: eur, At: at}
	case 4:
		ev = domain.OrderShipped{OrderID: orderID, Carrier: "DHL", TrackingNumber: "T", At: at}
	default:
		ev = domain.OrderDelivered{OrderID: orderID, At: at}
	}
	return e.append("order-"+orderID, ev)
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkOrder asserts that, taking the first arrival of each webhook-id, every order's
// events arrived in log order.
func checkOrder(t *testing.T, got []received) {
	t.Helper()
	seen := map[string]bool{}
	last := map[string]uint64{}
	for _, r := range got {
		if seen[r.id] {
			continue
		}
		seen[r.id] = true
		if r.ev.OrderID == "" {
			continue
		}
		if r.ev.Position <= last[r.ev.OrderID] {
			t.Fatalf("order %s: position %d arrived after %d", r.ev.OrderID, r.ev.Position, last[r.ev.OrderID])
		}
		last[r.ev.OrderID] = r.ev.Position
	}
}

// mustEndpoint returns the id of the only endpoint.
func (e *env) mustEndpoint(t testing.TB) string {
	eps, err := e.eps.List(context.Background())
	if err != nil || len(eps) != 1 {
		t.Fatalf("%d endpoints, %v", len(eps), err)
	}
	return eps[0].ID
}
