package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
)

// Subject says what an event is about, and so which envelope field carries its id and
// which events keep their relative order (all events of one order, or of one product).
type Subject string

const (
	SubjectOrder   Subject = "order"
	SubjectProduct Subject = "product"
	// SubjectInventory events are about one SKU's stock (envelope field sku).
	SubjectInventory Subject = "inventory"
	SubjectNone      Subject = "" // ping
)

// Event is the envelope every integration event travels in.
type Event struct {
	// ID is unique per event (the id of the log event it derives from).
	ID      string `json:"id" doc:"Unique id of the event (the id of the log event it derives from)."`
	Type    string `json:"type" doc:"Event type, e.g. order.placed."`
	Version int    `json:"version" doc:"Schema version of data for this type."`
	// OccurredAt is when the change was decided.
	OccurredAt time.Time `json:"occurredAt"`
	// Position is the event's global position in the log: strictly increasing, so it orders
	// events and is what replay takes.
	Position  uint64 `json:"position" doc:"Global log position: strictly increasing; replays start from one."`
	OrderID   string `json:"orderId,omitempty" doc:"Set on order, payment and refund events."`
	ProductID string `json:"productId,omitempty" doc:"Set on product events."`
	SKU       string `json:"sku,omitempty" doc:"Set on inventory events."`
	// Data is one of the data types of Definitions.
	Data any `json:"data"`
}

// Key is the ordering key: events with the same key are delivered in log order.
func (e Event) Key() string {
	switch {
	case e.OrderID != "":
		return "order:" + e.OrderID
	case e.ProductID != "":
		return "product:" + e.ProductID
	case e.SKU != "":
		return "sku:" + e.SKU
	}
	return "event:" + e.ID
}

// Definition is one integration event type of the contract.
type Definition struct {
	Type    string
	Version int
	Subject Subject
	Summary string
	// Sources are the domain event types it is derived from.
	Sources []string
	// Data is a zero value of the data type (the schema is generated from it).
	Data any
	// Example is a representative data value (documentation and tests).
	Example any
}

var (
	exAt    = time.Date(2026, 11, 25, 21, 40, 0, 0, time.UTC)
	exMoney = Money{Amount: 3998, Currency: "EUR"}
	exAddr  = Address{Name: "Alice", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}
)

// definitions is the catalogue. Names and versions are API surface: never rename one; a
// breaking change is a new version.
var definitions = []Definition{
	{"order.placed", 1, SubjectOrder, "A customer placed an order; stock and payment are being secured.",
		[]string{domain.OrderPlaced{}.EventType()}, OrderPlaced{},
		OrderPlaced{CustomerID: "alice", Currency: "EUR", Lines: []OrderLine{{SKU: "TEE-RED-M", ProductID: "p1", Name: "Red tee", Quantity: 2,
			UnitPrice: Money{1999, "EUR"}, Subtotal: exMoney, Discount: Money{0, "EUR"}, Net: Money{3360, "EUR"}, Tax: Money{638, "EUR"}, Gross: exMoney, TaxRate: 1900}},
			Totals:          Totals{Subtotal: exMoney, Discount: Money{0, "EUR"}, Net: Money{3360, "EUR"}, Tax: Money{638, "EUR"}, Gross: exMoney, Shipping: Money{495, "EUR"}, GrandTotal: Money{4493, "EUR"}},
			ShippingAddress: exAddr, BillingAddress: exAddr, PlacedAt: exAt}},
	{"order.confirmed", 1, SubjectOrder, "Stock is reserved and the payment authorized: the order is paid and can be fulfilled.",
		[]string{domain.OrderConfirmed{}.EventType()}, OrderConfirmed{}, OrderConfirmed{ConfirmedAt: exAt}},
	{"order.cancelled", 1, SubjectOrder, "The order was cancelled (customer, admin, or the checkout after a declined payment or missing stock).",
		[]string{domain.OrderCancelled{}.EventType()}, OrderCancelled{}, OrderCancelled{Reason: "payment declined", CancelledAt: exAt}},
	{"order.fulfilled", 1, SubjectOrder, "The whole order was handed to a carrier; the payment is captured.",
		[]string{domain.OrderShipped{}.EventType()}, OrderFulfilled{}, OrderFulfilled{Carrier: "DHL", TrackingNumber: "JD0001", FulfilledAt: exAt}},
	{"order.delivered", 1, SubjectOrder, "The carrier delivered the order.",
		[]string{domain.OrderDelivered{}.EventType()}, OrderDelivered{}, OrderDelivered{DeliveredAt: exAt}},
	{"refund.succeeded", 1, SubjectOrder, "Money was given back on an order (partly or fully).",
		[]string{domain.OrderRefunded{}.EventType()}, RefundSucceeded{}, RefundSucceeded{RefundID: "r1", Amount: Money{1000, "EUR"}, Reason: "damaged", RefundedAt: exAt}},
	{"payment.authorized", 1, SubjectOrder, "The order's payment was authorized (not captured yet).",
		[]string{domain.OrderPaymentAuthorized{}.EventType()}, PaymentAuthorized{}, PaymentAuthorized{PaymentID: "pay_1", Amount: Money{4493, "EUR"}, AuthorizedAt: exAt}},
	{"payment.captured", 1, SubjectOrder, "The authorized money was captured (at fulfilment).",
		[]string{domain.OrderPaymentCaptured{}.EventType()}, PaymentCaptured{}, PaymentCaptured{Amount: Money{4493, "EUR"}, CapturedAt: exAt}},
	{"payment.failed", 1, SubjectOrder, "The payment was declined or the gateway failed; the order will be cancelled.",
		[]string{domain.OrderPaymentFailed{}.EventType()}, PaymentFailed{}, PaymentFailed{Reason: "declined", FailedAt: exAt}},
	{"product.created", 1, SubjectProduct, "A product was added to the catalog.",
		[]string{domain.ProductCreated{}.EventType()}, ProductCreated{},
		ProductCreated{SKU: "TEE-RED-M", Name: "Red tee", Category: "tees", Brand: "Acme", Price: Money{1999, "EUR"}, CreatedAt: exAt}},
	{"product.updated", 1, SubjectProduct, "A product's descriptive fields changed; data holds all of them after the change.",
		[]string{domain.ProductDetailsUpdated{}.EventType()}, ProductUpdated{}, ProductUpdated{Name: "Red tee", Category: "tees", Brand: "Acme", UpdatedAt: exAt}},
	{"product.variant_added", 1, SubjectProduct, "A sellable variant was added to a product.",
		[]string{domain.ProductVariantAdded{}.EventType()}, ProductVariantAdded{},
		ProductVariantAdded{Variant: Variant{SKU: "TEE-RED-L", Attributes: map[string]string{"size": "L"}, Price: Money{1999, "EUR"}}, AddedAt: exAt}},
	{"product.variant_updated", 1, SubjectProduct, "A variant's attributes changed (prices change through product.price_changed).",
		[]string{domain.ProductVariantUpdated{}.EventType()}, ProductVariantUpdated{},
		ProductVariantUpdated{SKU: "TEE-RED-L", Attributes: map[string]string{"size": "L"}, UpdatedAt: exAt}},
	{"product.price_changed", 1, SubjectProduct, "The catalog price of a SKU changed.",
		[]string{domain.ProductPriceChanged{}.EventType()}, ProductPriceChanged{},
		ProductPriceChanged{SKU: "TEE-RED-M", OldPrice: Money{1999, "EUR"}, NewPrice: Money{1799, "EUR"}, ChangedAt: exAt}},
	{"product.archived", 1, SubjectProduct, "A product is no longer sold.",
		[]string{domain.ProductArchived{}.EventType()}, ProductArchived{}, ProductArchived{Reason: "end of line", ArchivedAt: exAt}},
	{"inventory.low_stock", 1, SubjectInventory, "A SKU's available stock (over every warehouse) fell to or below the low-stock threshold.",
		[]string{domain.InventoryReserved{}.EventType(), domain.InventoryAdjusted{}.EventType()}, InventoryLowStock{},
		InventoryLowStock{Available: 4, Threshold: 5, Cause: "reserved", At: exAt}},
	{PingType, 1, SubjectNone, "Sent by POST /v1/webhook-endpoints/{id}/test to check an endpoint; never derived from the log.",
		nil, Ping{}, Ping{EndpointID: "0b7c1d2e-…", SentAt: exAt}},
}

// PingType is the test event's type.
const PingType = "ping"

// Definitions returns the catalogue, in documentation order.
func Definitions() []Definition { return slices.Clone(definitions) }

// Types lists every event type of the contract except ping.
func Types() []string {
	var out []string
	for _, d := range definitions {
		if d.Type != PingType {
			out = append(out, d.Type)
		}
	}
	return out
}

// Lookup returns the definition of a type.
func Lookup(typ string) (Definition, bool) {
	for _, d := range definitions {
		if d.Type == typ {
			return d, true
		}
	}
	return Definition{}, false
}

// SourceTypes lists the domain event types that feed the given integration types (all
// types when none are given), for a log read filtered by event type.
func SourceTypes(types []string) []string {
	var out []string
	for _, d := range definitions {
		if len(types) == 0 || slices.Contains(types, d.Type) {
			out = append(out, d.Sources...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ErrNotIntegration: the log event has no integration event (a saga step, a cart change,
// an internal record). Translate returns it for most of the log.
var ErrNotIntegration = errors.New("no integration event for this log event")

// Translator turns log events into integration events. It is safe for concurrent use.
type Translator struct {
	reg   *domain.Registry
	stock *stockFold // nil: no inventory.low_stock
}

// NewTranslator uses reg to decode (and upcast) stored domain events.
func NewTranslator(reg *domain.Registry) *Translator { return &Translator{reg: reg} }

// Translate derives the integration event of a recorded log event, or ErrNotIntegration.
// Internal fields never cross: the data is built field by field from the domain event.
func (t *Translator) Translate(rec eventstore.RecordedEvent) (Event, error) {
	return t.TranslateContext(context.Background(), rec)
}

// TranslateContext is Translate with a context for the reads inventory.low_stock makes.
func (t *Translator) TranslateContext(ctx context.Context, rec eventstore.RecordedEvent) (Event, error) {
	if !slices.Contains(allSources, rec.Type) {
		return Event{}, ErrNotIntegration
	}
	d, md, err := envelope.Decode(t.reg, rec)
	if err != nil {
		return Event{}, fmt.Errorf("translate %s at %d: %w", rec.Type, rec.Position, err)
	}
	ev := Event{ID: rec.ID.String(), Position: rec.Position, OccurredAt: md.OccurredAt.UTC()}
	switch e := d.(type) {
	case domain.OrderPlaced:
		lines := make([]OrderLine, len(e.Lines))
		for i, l := range e.Lines {
			lines[i] = OrderLine{SKU: l.SKU, ProductID: l.ProductID, Name: l.Name, Quantity: l.Quantity, UnitPrice: money(l.UnitPrice),
				Subtotal: money(l.Subtotal), Discount: money(l.Discount), Net: money(l.Net), Tax: money(l.Tax), Gross: money(l.Gross), TaxRate: int64(l.TaxRate)}
		}
		ev.Type, ev.OrderID = "order.placed", e.OrderID
		ev.Data = OrderPlaced{CustomerID: e.CustomerID, Currency: e.Currency, Lines: lines, Totals: totals(e.Totals), CouponCode: e.CouponCode,
			ShippingAddress: address(e.ShippingAddress), BillingAddress: address(e.BillingAddress), PlacedAt: e.At.UTC()}
	case domain.OrderConfirmed:
		ev.Type, ev.OrderID, ev.Data = "order.confirmed", e.OrderID, OrderConfirmed{ConfirmedAt: e.At.UTC()}
	case domain.OrderCancelled:
		ev.Type, ev.OrderID, ev.Data = "order.cancelled", e.OrderID, OrderCancelled{Reason: e.Reason, CancelledAt: e.At.UTC()}
	case domain.OrderShipped:
		ev.Type, ev.OrderID, ev.Data = "order.fulfilled", e.OrderID, OrderFulfilled{Carrier: e.Carrier, TrackingNumber: e.TrackingNumber, FulfilledAt: e.At.UTC()}
	case domain.OrderDelivered:
		ev.Type, ev.OrderID, ev.Data = "order.delivered", e.OrderID, OrderDelivered{DeliveredAt: e.At.UTC()}
	case domain.OrderRefunded:
		ev.Type, ev.OrderID, ev.Data = "refund.succeeded", e.OrderID, RefundSucceeded{RefundID: e.RefundID, Amount: money(e.Amount), Reason: e.Reason, RefundedAt: e.At.UTC()}
	case domain.OrderPaymentAuthorized:
		ev.Type, ev.OrderID, ev.Data = "payment.authorized", e.OrderID, PaymentAuthorized{PaymentID: e.PaymentID, Amount: money(e.Amount), AuthorizedAt: e.At.UTC()}
	case domain.OrderPaymentCaptured:
		ev.Type, ev.OrderID, ev.Data = "payment.captured", e.OrderID, PaymentCaptured{Amount: money(e.Amount), CapturedAt: e.At.UTC()}
	case domain.OrderPaymentFailed:
		ev.Type, ev.OrderID, ev.Data = "payment.failed", e.OrderID, PaymentFailed{Reason: e.Reason, FailedAt: e.At.UTC()}
	case domain.ProductCreated:
		vs := make([]Variant, len(e.Variants))
		for i, v := range e.Variants {
			vs[i] = variant(v)
		}
		if len(vs) == 0 {
			vs = nil
		}
		ev.Type, ev.ProductID = "product.created", e.ProductID
		ev.Data = ProductCreated{SKU: e.SKU, Name: e.Name, Description: e.Description, Category: e.Category, Brand: e.Brand,
			Images: e.Images, Price: money(e.Price), Variants: vs, CreatedAt: e.At.UTC()}
	case domain.ProductDetailsUpdated:
		ev.Type, ev.ProductID = "product.updated", e.ProductID
		ev.Data = ProductUpdated{Name: e.Name, Description: e.Description, Category: e.Category, Brand: e.Brand, Images: e.Images, UpdatedAt: e.At.UTC()}
	case domain.ProductVariantAdded:
		ev.Type, ev.ProductID, ev.Data = "product.variant_added", e.ProductID, ProductVariantAdded{Variant: variant(e.Variant), AddedAt: e.At.UTC()}
	case domain.ProductVariantUpdated:
		ev.Type, ev.ProductID, ev.Data = "product.variant_updated", e.ProductID, ProductVariantUpdated{SKU: e.SKU, Attributes: e.Attributes, UpdatedAt: e.At.UTC()}
	case domain.ProductPriceChanged:
		ev.Type, ev.ProductID, ev.Data = "product.price_changed", e.ProductID, ProductPriceChanged{SKU: e.SKU, OldPrice: money(e.OldPrice), NewPrice: money(e.NewPrice), ChangedAt: e.At.UTC()}
	case domain.ProductArchived:
		ev.Type, ev.ProductID, ev.Data = "product.archived", e.ProductID, ProductArchived{Reason: e.Reason, ArchivedAt: e.At.UTC()}
	case domain.InventoryReserved, domain.InventoryAdjusted:
		if t.stock == nil {
			return Event{}, ErrNotIntegration
		}
		low, err := t.stock.lowStock(ctx, rec, d)
		if err != nil {
			return Event{}, err
		}
		ev.Type, ev.SKU, ev.Data = low.Type, low.SKU, low.Data
	default:
		return Event{}, ErrNotIntegration
	}
	def, _ := Lookup(ev.Type)
	ev.Version = def.Version
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = rec.RecordedAt.UTC()
	}
	return ev, nil
}

var allSources = SourceTypes(nil)

// Marshal renders the envelope as sent.
func (e Event) Marshal() ([]byte, error) { return json.Marshal(e) }

func money(m domain.Money) Money { return Money{Amount: m.Amount, Currency: m.Currency} }

func totals(t domain.Totals) Totals {
	return Totals{Subtotal: money(t.Subtotal), Discount: money(t.Discount), Net: money(t.Net), Tax: money(t.Tax),
		Gross: money(t.Gross), Shipping: money(t.Shipping), GrandTotal: money(t.GrandTotal)}
}

func address(a domain.Address) Address {
	return Address{Name: a.Name, Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region, PostalCode: a.PostalCode, Country: a.Country, Phone: a.Phone}
}

func variant(v domain.Variant) Variant {
	return Variant{SKU: v.SKU, Attributes: v.Attributes, Price: money(v.Price)}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
