package privacy_test

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/checkout/request"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/idempotency"
	"github.com/orderengine/orderengine/privacy"
)

var addr = domain.Address{Name: "Zelda Quixote", Line1: "Wisteria Lane 4", City: "Fairview", PostalCode: "90210", Country: "US"}

// TestStoreSealsAndErases: personal fields are sealed in the log and open on read; after
// erasure they read as [erased] everywhere, the chain still verifies, and no plaintext
// is left in the database file or its WAL.
func TestStoreSealsAndErases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	inner, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	keys, err := privacy.NewSQLiteKeys(ctx, inner.DB())
	if err != nil {
		t.Fatal(err)
	}
	reg := eventregistry.New()
	rules := privacy.Rules(reg)
	for _, typ := range []string{"order.placed", "cart.shipping_address_set", "checkoutrequest.recorded", "payment.authorization_requested", "order.cancelled", "idempotency.completed"} {
		if _, ok := rules[typ]; !ok {
			t.Fatalf("no privacy rule for %s (%v)", typ, rules)
		}
	}
	store := privacy.NewStore(inner, privacy.NewKeyring(keys, masterKey(t), privacy.Options{}), rules)

	placed := domain.OrderPlaced{OrderID: "o1", CustomerID: "zelda", Currency: "EUR", ShippingAddress: addr, BillingAddress: addr, At: time.Now()}
	cr := request.Recorded{OrderID: "o1", CustomerID: "zelda", PaymentToken: "tok_zelda_secret", At: time.Now()}
	other := domain.OrderPlaced{OrderID: "o2", CustomerID: "yann", Currency: "EUR", ShippingAddress: domain.Address{Name: "Yann Other", Line1: "Elm St 9", City: "Springfield", PostalCode: "1", Country: "US"}, At: time.Now()}
	for stream, e := range map[string]domain.Event{"order-o1": placed, "checkoutrequest-o1": cr, "order-o2": other} {
		ed, err := envelope.Encode(reg, uuid.New(), e, envelope.Metadata{Actor: "zelda"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, stream, eventstore.NoStream, ed); err != nil {
			t.Fatal(err)
		}
	}
	// A stored HTTP answer holding the address.
	idem := idempotency.New(store, idempotency.Options{})
	out, err := idem.Begin(ctx, "zelda", "k1", [32]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"shippingAddress":{"name":"Zelda Quixote"}}`)
	if err := idem.Complete(ctx, out.Claim, 201, http.Header{}, body); err != nil {
		t.Fatal(err)
	}

	secrets := []string{addr.Name, addr.Line1, addr.City, "tok_zelda_secret", "WmVsZGEgUXVpeG90ZS"} // the last: the body's base64
	raw, err := inner.ReadAll(ctx, 0, 100, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range raw {
		for _, s := range secrets {
			if strings.Contains(string(r.Data), s) {
				t.Fatalf("%s holds %q in clear: %s", r.Type, s, r.Data)
			}
		}
	}
	// Reads through the store see plaintext.
	recs, err := store.ReadStream(ctx, "order-o1", eventstore.Forward, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := envelope.Decode(reg, recs[0])
	if err != nil || e.(domain.OrderPlaced).ShippingAddress != addr {
		t.Fatalf("decoded %+v %v", e, err)
	}
	if rep, _ := idem.Begin(ctx, "zelda", "k1", [32]byte{1}); rep.Replay == nil || !bytes.Equal(rep.Replay.Body, body) {
		t.Fatalf("replay before erasure: %+v", rep)
	}

	er, err := store.Erase(ctx, "zelda", "root", time.Now())
	if err != nil || er.AlreadyErased {
		t.Fatalf("erase: %+v %v", er, err)
	}
	if again, err := store.Erase(ctx, "zelda", "root", time.Now()); err != nil || !again.AlreadyErased || again.Position != er.Position {
		t.Fatalf("second erasure: %+v %v (first %+v)", again, err, er)
	}
	all, err := store.ReadAll(ctx, 0, 100, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	sawErased := false
	for _, r := range all {
		ev, _, err := envelope.Decode(reg, r)
		if err != nil && !strings.HasPrefix(r.Type, "idempotency.") {
			t.Fatalf("decode %s after erasure: %v", r.Type, err)
		}
		switch ev := ev.(type) {
		case domain.OrderPlaced:
			if ev.CustomerID == "zelda" && (ev.ShippingAddress.Name != privacy.Erased || ev.ShippingAddress.Country != "US" || ev.BillingAddress.Line1 != privacy.Erased) {
				t.Fatalf("zelda's order after erasure: %+v", ev)
			}
			if ev.CustomerID == "yann" && ev.ShippingAddress.Name != "Yann Other" {
				t.Fatalf("yann's order after zelda's erasure: %+v", ev)
			}
		case request.Recorded:
			if ev.PaymentToken != privacy.Erased {
				t.Fatalf("token after erasure: %+v", ev)
			}
		case domain.CustomerErased:
			sawErased = ev.CustomerID == "zelda"
		}
	}
	if !sawErased {
		t.Fatal("no customer.erased in the log")
	}
	if rep, _ := idem.Begin(ctx, "zelda", "k1", [32]byte{1}); rep.Replay == nil || string(rep.Replay.Body) != `"[erased]"` {
		t.Fatalf("replay after erasure: %+v", rep)
	}
	if rep, err := eventstore.VerifyChains(ctx, inner, "", nil); err != nil || rep.Broken != nil {
		t.Fatalf("audit after erasure: %+v %v", rep, err)
	}
	for _, s := range secrets {
		if inFiles(t, path, []byte(s)) {
			t.Fatalf("%q is in the database files", s)
		}
	}
}

// TestStoreSealsMultiAppends: a multi-stream append through the store is sealed too.
func TestStoreSealsMultiAppends(t *testing.T) {
	ctx := context.Background()
	inner, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	keys, err := privacy.NewSQLiteKeys(ctx, inner.DB())
	if err != nil {
		t.Fatal(err)
	}
	reg := eventregistry.New()
	store := privacy.NewStore(inner, privacy.NewKeyring(keys, masterKey(t), privacy.Options{}), privacy.Rules(reg))
	ed, err := envelope.Encode(reg, uuid.New(), domain.OrderPlaced{OrderID: "o9", CustomerID: "zelda", Currency: "EUR", ShippingAddress: addr, At: time.Now()}, envelope.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := envelope.Encode(reg, uuid.New(), request.Recorded{OrderID: "o9", CustomerID: "zelda", PaymentToken: "tok_multi_secret", At: time.Now()}, envelope.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eventstore.AppendMulti(ctx, store, eventstore.StreamAppend{Stream: "order-o9", Expected: eventstore.NoStream, Events: []eventstore.EventData{ed}},
		eventstore.StreamAppend{Stream: "checkoutrequest-o9", Expected: eventstore.NoStream, Events: []eventstore.EventData{cr}}); err != nil {
		t.Fatal(err)
	}
	raw, err := inner.ReadAll(ctx, 0, 10, eventstore.Filter{})
	if err != nil || len(raw) != 2 {
		t.Fatalf("%d events, %v", len(raw), err)
	}
	for _, r := range raw {
		if strings.Contains(string(r.Data), addr.Line1) || strings.Contains(string(r.Data), "tok_multi_secret") {
			t.Fatalf("%s in clear: %s", r.Type, r.Data)
		}
	}
	opened, err := store.ReadStream(ctx, "checkoutrequest-o9", eventstore.Forward, 0, 1)
	if err != nil || !strings.Contains(string(opened[0].Data), "tok_multi_secret") {
		t.Fatalf("opened: %v %v", opened, err)
	}
}
