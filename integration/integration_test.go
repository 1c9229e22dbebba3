package integration_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/integration"
)

var update = flag.Bool("update", false, "rewrite docs/asyncapi.json from the code")

const docPath = "../docs/asyncapi.json"

// TestAsyncAPIDocumentMatchesCode keeps docs/asyncapi.json equal to the document generated
// from the Go definitions (run with -update after changing the catalogue).
func TestAsyncAPIDocumentMatchesCode(t *testing.T) {
	got, err := json.MarshalIndent(integration.AsyncAPI(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(docPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (run go test ./integration -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/asyncapi.json differs from the code; run go test ./integration -update and review the diff")
	}
	var doc struct {
		AsyncAPI   string `json:"asyncapi"`
		Components struct {
			Messages map[string]any `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.AsyncAPI != "3.0.0" {
		t.Fatalf("asyncapi %q", doc.AsyncAPI)
	}
	var names []string
	for n := range doc.Components.Messages {
		names = append(names, n)
	}
	want2 := append(integration.Types(), integration.PingType)
	sort.Strings(names)
	sort.Strings(want2)
	if !slices.Equal(names, want2) {
		t.Fatalf("messages %v, catalogue %v", names, want2)
	}
}

// TestExamplesMatchSchemas validates every definition's example envelope against the
// message payload schema of the generated document: no undocumented field, every required
// one present, types right.
func TestExamplesMatchSchemas(t *testing.T) {
	doc := roundTrip(t, integration.AsyncAPI())
	comps := doc["components"].(map[string]any)
	schemas := comps["schemas"].(map[string]any)
	msgs := comps["messages"].(map[string]any)
	for _, d := range integration.Definitions() {
		m := msgs[d.Type].(map[string]any)
		ex := m["examples"].([]any)[0].(map[string]any)["payload"]
		if err := validate(m["payload"], ex, schemas, d.Type); err != nil {
			t.Errorf("%s: %v", d.Type, err)
		}
	}
	// And the validator is not blind: an extra field or a wrong type fails.
	m := msgs["order.confirmed"].(map[string]any)
	bad := map[string]any{"id": "x", "type": "order.confirmed", "version": 1.0, "occurredAt": "2026-01-01T00:00:00Z", "position": 1.0, "orderId": "o",
		"data": map[string]any{"confirmedAt": "2026-01-01T00:00:00Z", "paymentToken": "tok_visa"}}
	if err := validate(m["payload"], bad, schemas, "bad"); err == nil {
		t.Fatal("an undocumented field passed the schema")
	}
}

func roundTrip(t *testing.T, v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func validate(schema any, v any, defs map[string]any, path string) error {
	s := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		return validate(defs[strings.TrimPrefix(ref, "#/components/schemas/")], v, defs, path)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			if err := validate(sub, v, defs, path); err != nil {
				return err
			}
		}
	}
	if c, ok := s["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		return fmt.Errorf("%s: %v is not the constant %v", path, v, c)
	}
	switch s["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: not an object", path)
		}
		if props, ok := s["properties"].(map[string]any); ok {
			for k, fv := range obj {
				ps, ok := props[k]
				if !ok {
					return fmt.Errorf("%s.%s is not in the schema", path, k)
				}
				if err := validate(ps, fv, defs, path+"."+k); err != nil {
					return err
				}
			}
		}
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			for k, fv := range obj {
				if err := validate(ap, fv, defs, path+"."+k); err != nil {
					return err
				}
			}
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s.%s is required", path, r)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: not an array", path)
		}
		for i, it := range arr {
			if err := validate(s["items"], it, defs, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: not a string", path)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: not an integer", path)
		}
	}
	return nil
}

func record(t *testing.T, stream string, pos uint64, e domain.Event) eventstore.RecordedEvent {
	t.Helper()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	data, err := envelope.Encode(domain.NewDomainRegistry(), uuid.New(), e, envelope.Metadata{
		Actor: "alice", CorrelationID: "corr-secret", IdempotencyKey: "idem-secret", OccurredAt: at})
	if err != nil {
		t.Fatal(err)
	}
	md := append([]byte(`{"chainHash":"deadbeefchain",`), data.Metadata[1:]...)
	return eventstore.RecordedEvent{ID: data.ID, Stream: stream, Type: data.Type, Position: pos, Data: data.Data, Metadata: md, RecordedAt: at}
}

// TestTranslateCarriesNoInternalFields derives every mapped event from real domain events
// and checks the envelope, the schema, and that nothing internal leaks.
func TestTranslateCarriesNoInternalFields(t *testing.T) {
	tr := integration.NewTranslator(domain.NewDomainRegistry())
	eur := func(n int64) domain.Money { return domain.MustMoney(n, "EUR") }
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	addr := domain.Address{Name: "Alice", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}
	cases := []struct {
		stream string
		ev     domain.Event
		typ    string
	}{
		{"order-o1", domain.OrderPlaced{OrderID: "o1", CustomerID: "alice", CartID: "cart-internal", Currency: "EUR",
			Lines:  []domain.Line{{SKU: "S", ProductID: "p", Name: "n", Quantity: 1, UnitPrice: eur(100)}},
			Totals: domain.Totals{GrandTotal: eur(100)}, ShippingAddress: addr, BillingAddress: addr, At: at}, "order.placed"},
		{"order-o1", domain.OrderPaymentAuthorized{OrderID: "o1", PaymentID: "pay1", Amount: eur(100), At: at}, "payment.authorized"},
		{"order-o1", domain.OrderConfirmed{OrderID: "o1", At: at}, "order.confirmed"},
		{"order-o1", domain.OrderPaymentCaptured{OrderID: "o1", Amount: eur(100), At: at}, "payment.captured"},
		{"order-o1", domain.OrderShipped{OrderID: "o1", Carrier: "DHL", TrackingNumber: "T", At: at}, "order.fulfilled"},
		{"order-o1", domain.OrderDelivered{OrderID: "o1", At: at}, "order.delivered"},
		{"order-o1", domain.OrderRefunded{OrderID: "o1", RefundID: "r", Amount: eur(10), At: at}, "refund.succeeded"},
		{"order-o2", domain.OrderPaymentFailed{OrderID: "o2", Reason: "declined", At: at}, "payment.failed"},
		{"order-o2", domain.OrderCancelled{OrderID: "o2", Reason: "declined", At: at}, "order.cancelled"},
		{"product-p", domain.ProductCreated{ProductID: "p", SKU: "S", ProductDetails: domain.ProductDetails{Name: "n", Metadata: map[string]string{"internal": "x"}}, Price: eur(100), At: at}, "product.created"},
		{"product-p", domain.ProductDetailsUpdated{ProductID: "p", ProductDetails: domain.ProductDetails{Name: "m"}, At: at}, "product.updated"},
		{"product-p", domain.ProductVariantAdded{ProductID: "p", Variant: domain.Variant{SKU: "S2", Price: eur(5)}, At: at}, "product.variant_added"},
		{"product-p", domain.ProductVariantUpdated{ProductID: "p", SKU: "S2", At: at}, "product.variant_updated"},
		{"product-p", domain.ProductPriceChanged{ProductID: "p", SKU: "S", OldPrice: eur(1), NewPrice: eur(2), At: at}, "product.price_changed"},
		{"product-p", domain.ProductArchived{ProductID: "p", At: at}, "product.archived"},
	}
	doc := roundTrip(t, integration.AsyncAPI())
	comps := doc["components"].(map[string]any)
	covered := map[string]bool{}
	for i, c := range cases {
		rec := record(t, c.stream, uint64(i+1), c.ev)
		ev, err := tr.Translate(rec)
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		if ev.Type != c.typ || ev.Position != uint64(i+1) || ev.ID != rec.ID.String() || ev.Version != 1 || !ev.OccurredAt.Equal(at) {
			t.Fatalf("%s: envelope %+v", c.typ, ev)
		}
		b, _ := ev.Marshal()
		for _, leak := range []string{"cart-internal", "corr-secret", "idem-secret", "deadbeefchain", "alice\",\"actor", "internal", "chainHash", "cartId"} {
			if bytes.Contains(b, []byte(leak)) {
				t.Fatalf("%s leaks %q: %s", c.typ, leak, b)
			}
		}
		var payload any
		_ = json.Unmarshal(b, &payload)
		msg := comps["messages"].(map[string]any)[c.typ].(map[string]any)
		if err := validate(msg["payload"], payload, comps["schemas"].(map[string]any), c.typ); err != nil {
			t.Fatalf("%s: %v\n%s", c.typ, err, b)
		}
		covered[c.typ] = true
	}
	covered["inventory.low_stock"] = true // TestLowStock
	for _, typ := range integration.Types() {
		if !covered[typ] {
			t.Errorf("no translation test for %s", typ)
		}
	}
	// Payment-stream events carry the gateway reference: they are not part of the contract.
	_, err := tr.Translate(record(t, "payment-x", 99, domain.PaymentAuthorized{PaymentID: "x", OrderID: "o1", GatewayRef: "gw-secret", Amount: eur(1), At: at}))
	if !errors.Is(err, integration.ErrNotIntegration) {
		t.Fatalf("payment.authorized (domain) translated: %v", err)
	}
	if got := integration.SourceTypes([]string{"order.placed", "product.created"}); !slices.Equal(got, []string{"order.placed", "product.created"}) {
		t.Fatalf("SourceTypes %v", got)
	}
}
