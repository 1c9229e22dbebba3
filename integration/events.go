// Package integration is the public event contract: documented, versioned integration
// events that outside systems (email, ERP, warehouse, tax, analytics) receive, derived from
// the domain events of the log.
//
// The contract is separate from the domain events on purpose. Domain events are stored
// data shaped for deciders; integration events are an API shaped for integrators, and they
// never carry internal fields (payment tokens, gateway references, hash chains, actors,
// correlation or idempotency data, cart ids). A domain event may change shape with an
// upcaster; the integration event keeps its version until a breaking change, which ships as
// a new version beside the old.
//
// Every event travels in the same envelope (Event): id, type, version, occurredAt, the
// global log position, the order or product it is about, and data. The catalogue is
// Definitions; the AsyncAPI 3.0 document (AsyncAPI) and the JSON schemas are generated from
// the same Go types, so the document cannot drift from what is sent.
package integration

import (
	"time"
)

// Money is an amount in minor units of an ISO 4217 currency (cents for EUR).
type Money struct {
	Amount   int64  `json:"amount" doc:"Amount in the currency's minor units (e.g. cents)."`
	Currency string `json:"currency" doc:"ISO 4217 code." pattern:"^[A-Z]{3}$"`
}

// Address is a postal address.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postalCode"`
	Country    string `json:"country" doc:"ISO 3166-1 alpha-2." pattern:"^[A-Z]{2}$"`
	Phone      string `json:"phone,omitempty"`
}

// OrderLine is one SKU of an order with its amounts, computed once at checkout.
type OrderLine struct {
	SKU       string `json:"sku"`
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice Money  `json:"unitPrice" doc:"Catalog price of one unit when the line was added."`
	Subtotal  Money  `json:"subtotal" doc:"unitPrice × quantity."`
	Discount  Money  `json:"discount"`
	Net       Money  `json:"net"`
	Tax       Money  `json:"tax"`
	Gross     Money  `json:"gross"`
	TaxRate   int64  `json:"taxRate" doc:"Tax rate in basis points (1900 = 19 %)."`
}

// Totals of an order; every field but shipping and grandTotal is the sum over the lines.
type Totals struct {
	Subtotal   Money `json:"subtotal"`
	Discount   Money `json:"discount"`
	Net        Money `json:"net"`
	Tax        Money `json:"tax"`
	Gross      Money `json:"gross"`
	Shipping   Money `json:"shipping"`
	GrandTotal Money `json:"grandTotal" doc:"gross + shipping: what the customer pays."`
}

// Variant is one sellable version of a product.
type Variant struct {
	SKU        string            `json:"sku"`
	Attributes map[string]string `json:"attributes,omitempty" doc:"e.g. colour=red, size=M."`
	Price      Money             `json:"price"`
}

// OrderPlaced: a customer placed an order; stock and payment are being secured.
type OrderPlaced struct {
	CustomerID      string      `json:"customerId"`
	Currency        string      `json:"currency" pattern:"^[A-Z]{3}$"`
	Lines           []OrderLine `json:"lines"`
	Totals          Totals      `json:"totals"`
	CouponCode      string      `json:"couponCode,omitempty"`
	ShippingAddress Address     `json:"shippingAddress"`
	BillingAddress  Address     `json:"billingAddress"`
	PlacedAt        time.Time   `json:"placedAt"`
}

// OrderConfirmed: stock is reserved and the payment authorized; the order is paid and can
// be fulfilled.
type OrderConfirmed struct {
	ConfirmedAt time.Time `json:"confirmedAt"`
}

// OrderCancelled: the order was cancelled (by the customer, an admin, or the checkout
// after a declined payment or missing stock).
type OrderCancelled struct {
	Reason      string    `json:"reason"`
	CancelledAt time.Time `json:"cancelledAt"`
}

// OrderFulfilled: the whole order was handed to a carrier (the payment is captured).
type OrderFulfilled struct {
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"trackingNumber"`
	FulfilledAt    time.Time `json:"fulfilledAt"`
}

// OrderDelivered: the carrier delivered the order.
type OrderDelivered struct {
	DeliveredAt time.Time `json:"deliveredAt"`
}

// RefundSucceeded: money was given back on an order.
type RefundSucceeded struct {
	RefundID   string    `json:"refundId"`
	Amount     Money     `json:"amount"`
	Reason     string    `json:"reason,omitempty"`
	RefundedAt time.Time `json:"refundedAt"`
}

// PaymentAuthorized: the order's payment was authorized (not yet captured).
type PaymentAuthorized struct {
	PaymentID    string    `json:"paymentId"`
	Amount       Money     `json:"amount"`
	AuthorizedAt time.Time `json:"authorizedAt"`
}

// PaymentCaptured: the authorized money was captured (at fulfilment).
type PaymentCaptured struct {
	Amount     Money     `json:"amount"`
	CapturedAt time.Time `json:"capturedAt"`
}

// PaymentFailed: the payment was declined or the gateway failed; the order will be
// cancelled.
type PaymentFailed struct {
	Reason   string    `json:"reason"`
	FailedAt time.Time `json:"failedAt"`
}

// ProductCreated: a product was added to the catalog.
type ProductCreated struct {
	SKU         string    `json:"sku" doc:"SKU of the base variant."`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Category    string    `json:"category"`
	Brand       string    `json:"brand"`
	Images      []string  `json:"images,omitempty" doc:"Image URLs."`
	Price       Money     `json:"price"`
	Variants    []Variant `json:"variants,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// ProductUpdated: a product's descriptive fields changed; data holds all of them after
// the change.
type ProductUpdated struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Category    string    `json:"category"`
	Brand       string    `json:"brand"`
	Images      []string  `json:"images,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// ProductVariantAdded: a sellable variant was added to a product.
type ProductVariantAdded struct {
	Variant Variant   `json:"variant"`
	AddedAt time.Time `json:"addedAt"`
}

// ProductVariantUpdated: a variant's attributes changed (prices change through
// product.price_changed).
type ProductVariantUpdated struct {
	SKU        string            `json:"sku"`
	Attributes map[string]string `json:"attributes,omitempty"`
	UpdatedAt  time.Time         `json:"updatedAt"`
}

// ProductPriceChanged: the catalog price of a SKU changed.
type ProductPriceChanged struct {
	SKU       string    `json:"sku"`
	OldPrice  Money     `json:"oldPrice"`
	NewPrice  Money     `json:"newPrice"`
	ChangedAt time.Time `json:"changedAt"`
}

// ProductArchived: a product is no longer sold.
type ProductArchived struct {
	Reason     string    `json:"reason,omitempty"`
	ArchivedAt time.Time `json:"archivedAt"`
}

// Ping is what POST /v1/webhook-endpoints/{id}/test sends.
type Ping struct {
	EndpointID string    `json:"endpointId"`
	SentAt     time.Time `json:"sentAt"`
}

// InventoryLowStock: a SKU's available stock (on hand − reserved, over every warehouse)
// fell to or below the low-stock threshold.
type InventoryLowStock struct {
	Available int64     `json:"available" doc:"Units available after the change, over every warehouse."`
	Threshold int64     `json:"threshold" doc:"The low-stock threshold: low means available ≤ threshold."`
	Cause     string    `json:"cause" doc:"What lowered it: reserved (an order) or adjusted (a stock correction)."`
	At        time.Time `json:"at"`
}
