// Package writeapi is the command API (REST under /v1): checkout calls it to build carts
// and place orders, admins to run the catalog, stock, promotions and fulfilment. Every
// write answers with the aggregate version as ETag and the committed global position in
// Orderengine-Position; errors are RFC 9457 problem documents. The HTTP plumbing it
// shares with the read API (strict bodies, problems, 404/405, the OpenAPI builder) is
// package httpapi; /v1/openapi.json is built from the routes' Go types (openapi.go).
package writeapi

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/httpapi"
)

// Config wires the API to the application.
type Config struct {
	Service  *commands.Service
	Verifier *auth.Verifier
	// Idempotency stores Idempotency-Key results; nil disables the header's replay.
	Idempotency IdempotencyStore
	// Checkout runs placed orders' checkouts; PaymentWebhooks takes the gateway's
	// notifications; Cancellations, Fulfilment and Refunds run operations on orders after
	// checkout. A nil one leaves its routes answering 503.
	Checkout        Checkout
	PaymentWebhooks PaymentWebhooks
	Cancellations   Cancellations
	Fulfilment      Fulfilment
	Refunds         Refunds
	// Parcels, LineCancellations, Returns and LineRefunds run fulfilment in parts,
	// cancellation of lines, returns and refunds by line.
	Parcels           Parcels
	LineCancellations LineCancellations
	Returns           Returns
	LineRefunds       LineRefunds
	// Edits stages and applies order edits (*orderops.Edits); nil answers 503.
	Edits OrderEdits
	// Replays, if set, counts requests answered from the idempotency store.
	Replays ReplayObserver
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64
	// RateLimit bounds cart and order writes (zero value: DefaultRateLimit()).
	RateLimit RateLimit
	// OrderWait is the default and MaxOrderWait the longest time POST /v1/orders waits for
	// the checkout to finish (defaults 5 s and 30 s).
	OrderWait, MaxOrderWait time.Duration
	Logger                  *slog.Logger
	Now                     func() time.Time
	// Erasure erases customers (crypto-shredding, *privacy.Store); nil leaves
	// POST /v1/customers/{id}/erasure answering 503.
	Erasure Eraser
	// OpenAPIMerge adds other APIs' paths and schemas to the document served at
	// /v1/openapi.json, for APIs registered on the same router.
	OpenAPIMerge []func(*httpapi.Schemas) []httpapi.Op
}

// API is the command API's HTTP handler.
type API struct {
	svc         *commands.Service
	ver         *auth.Verifier
	idem        IdempotencyStore
	co          Checkout
	webhooks    PaymentWebhooks
	cancels     Cancellations
	fulfil      Fulfilment
	refunds     Refunds
	parcels     Parcels
	lineCancels LineCancellations
	returns     Returns
	lineRefunds LineRefunds
	edits       OrderEdits
	erasure     Eraser
	maxBody     int64
	limit       *rateLimiter
	wait        time.Duration
	maxWait     time.Duration
	log         *slog.Logger
	now         func() time.Time
	router      chi.Router
	openapi     func() []byte
	replays     ReplayObserver
}

// New builds the API.
func New(c Config) (*API, error) {
	if c.Service == nil || c.Verifier == nil {
		return nil, errors.New("writeapi: Service and Verifier are required")
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.RateLimit == (RateLimit{}) {
		c.RateLimit = DefaultRateLimit()
	}
	if c.OrderWait <= 0 {
		c.OrderWait = 5 * time.Second
	}
	if c.MaxOrderWait <= 0 {
		c.MaxOrderWait = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	a := &API{
		svc: c.Service, ver: c.Verifier, idem: c.Idempotency, co: c.Checkout,
		webhooks: c.PaymentWebhooks, cancels: c.Cancellations, fulfil: c.Fulfilment, refunds: c.Refunds,
		parcels: c.Parcels, lineCancels: c.LineCancellations, returns: c.Returns, lineRefunds: c.LineRefunds, edits: c.Edits, erasure: c.Erasure,
		maxBody: c.MaxBodyBytes, limit: newRateLimiter(c.RateLimit, c.Now),
		wait: c.OrderWait, maxWait: c.MaxOrderWait, log: c.Logger, now: c.Now,
		openapi: mergedOpenAPI(c.OpenAPIMerge), replays: c.Replays,
	}
	a.router = a.routes()
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// Router exposes the routes (for the OpenAPI agreement test and for mounting).
func (a *API) Router() chi.Router { return a.router }

func (a *API) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	a.Register(r)
	httpapi.Route(r)
	return r
}

// Register adds the command API's routes to r, so one router can serve several APIs.
func (a *API) Register(r chi.Router) {
	r.Get("/v1/openapi.json", a.serveOpenAPI)
	r.Post("/v1/webhooks/payments", a.paymentWebhook)

	r.Group(func(r chi.Router) {
		r.Use(a.ver.Middleware)

		// Catalog, stock, promotions and fulfilment: admins only.
		r.Group(func(r chi.Router) {
			r.Use(auth.Require(auth.RoleAdmin))
			r.Post("/v1/products", a.idempotent(a.createProduct()))
			r.Patch("/v1/products/{id}", a.updateProduct())
			r.Post("/v1/products/{id}/variants", a.idempotent(a.addVariant()))
			r.Patch("/v1/products/{id}/variants/{sku}", a.updateVariant())
			r.Post("/v1/products/{id}/archive", a.idempotent(a.archiveProduct()))
			r.Post("/v1/inventory/{sku}/receipts", a.idempotent(a.receiveStock()))
			r.Post("/v1/inventory/{sku}/adjustments", a.idempotent(a.adjustStock()))
			r.Post("/v1/promotions", a.idempotent(a.createPromotion()))
			r.Post("/v1/orders/{id}/shipments", a.idempotent(a.shipOrder))
			r.Post("/v1/orders/{id}/deliveries", a.idempotent(a.deliverOrder))
			r.Post("/v1/orders/{id}/refunds", a.idempotent(a.refundOrder))
			r.Post("/v1/orders/{id}/fulfillments", a.idempotent(a.fulfilOrder))
			r.Post("/v1/orders/{id}/fulfillments/{fid}/delivery", a.idempotent(a.deliverFulfillment))
			r.Post("/v1/returns/{rid}/approve", a.idempotent(a.approveReturn))
			r.Post("/v1/returns/{rid}/reject", a.idempotent(a.rejectReturn))
			r.Post("/v1/returns/{rid}/receive", a.idempotent(a.receiveReturn))
			a.registerEdits(r)
			r.Post("/v1/customers/{id}/erasure", a.eraseCustomer)
		})

		// Carts and checkout: customers (their own) and admins (any).
		r.Group(func(r chi.Router) {
			r.Use(auth.Require(auth.RoleCustomer, auth.RoleAdmin))
			r.Get("/v1/carts/{id}", a.getCart)
			r.Get("/v1/orders/{id}/checkout", a.checkoutStatus)
			r.Group(func(r chi.Router) {
				r.Use(a.limit.middleware)
				r.Post("/v1/carts", a.idempotent(a.createCart()))
				r.Post("/v1/carts/{id}/items", a.idempotent(a.addCartItem()))
				r.Patch("/v1/carts/{id}/items/{sku}", a.changeCartItem())
				r.Delete("/v1/carts/{id}/items/{sku}", a.removeCartItem())
				r.Post("/v1/carts/{id}/coupons", a.idempotent(a.applyCoupon()))
				r.Delete("/v1/carts/{id}/coupons/{code}", a.removeCoupon())
				r.Put("/v1/carts/{id}/shipping-address", a.setShippingAddress())
				r.Post("/v1/orders", a.idempotent(a.placeOrder))
				r.Post("/v1/orders/{id}/cancel", a.idempotent(a.cancelOrder))
				r.Post("/v1/orders/{id}/returns", a.idempotent(a.requestReturn))
			})
		})
	})
}

// meta builds the command metadata of a request: who acts, for which customer, the
// correlation id, the idempotency key and If-Match.
func (a *API) meta(r *http.Request) (commands.Meta, error) {
	p, _ := auth.FromContext(r.Context())
	m := commands.Meta{
		Actor:          p.Subject,
		CorrelationID:  r.Header.Get("X-Correlation-Id"),
		IdempotencyKey: eventKey(r),
	}
	if m.CorrelationID == "" {
		m.CorrelationID = uuid.NewString()
	}
	if !p.Has(auth.RoleAdmin) {
		m.Customer = p.Subject
	}
	im, err := ifMatch(r)
	if err != nil {
		return m, err
	}
	m.IfMatch = im
	return m, nil
}

// decode reads and strictly decodes the body into dst.
func (a *API) decode(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := httpapi.ReadBody(w, r, a.maxBody)
	if err != nil {
		return err
	}
	return httpapi.DecodeStrict(body, dst, false)
}
