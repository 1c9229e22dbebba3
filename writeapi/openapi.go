package writeapi

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/privacy"
)

var (
	admin    = []string{"admin"}
	customer = []string{"customer", "admin"}
	str      = map[string]any{"type": "string"}
)

// Headers of a command's answer.
var resultHeaders = map[string]httpapi.Header{
	"ETag": {Description: "the aggregate's version: its 0-based stream version, quoted (\"0\" after its first event); send it in If-Match",
		Schema: str},
	HeaderPosition:  {Description: "global position committed; pass it as minPosition to reads", Schema: map[string]any{"type": "string", "pattern": "^[0-9]+$"}},
	"Cache-Control": {Description: "no-store", Schema: str},
}

func ok(status int, desc string, body any) map[int]httpapi.Response {
	return map[int]httpapi.Response{status: {Description: desc, Body: body, Headers: resultHeaders}}
}

func created(desc string, body any) map[int]httpapi.Response {
	r := ok(http.StatusCreated, desc, body)
	h := map[string]httpapi.Header{"Location": {Description: "the new resource", Schema: str}}
	for k, v := range resultHeaders {
		h[k] = v
	}
	r[http.StatusCreated] = httpapi.Response{Description: desc, Body: body, Headers: h}
	return r
}

var (
	pIdem = httpapi.Param{Name: HeaderIdempotencyKey, In: "header", Schema: map[string]any{"type": "string", "maxLength": 255},
		Description: "the first result is stored 24 h and replayed (Idempotent-Replayed: true); the same key with a different request → 422; while the first runs → 409"}
	pIfMatch = httpapi.Param{Name: "If-Match", In: "header", Schema: str,
		Description: "the ETag (0-based stream version) the aggregate must be at; 412 when it is not"}
	pWait = httpapi.Param{Name: "wait", In: "query", Schema: map[string]any{"type": "string", "pattern": "^[0-9.]+(ns|us|µs|ms|s|m|h)$"},
		Description: "how long to wait for the checkout to finish (Go duration, default 5s, at most 30s)"}
	pSignature = httpapi.Param{Name: payment.SignatureHeader, In: "header", Required: true, Schema: map[string]any{"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"},
		Description: "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\" with the webhook secret>; older than the tolerance (5 min) → 400"}
)

// Error sets.
var (
	errsCreate = []int{400, 409, 413, 415, 422}
	errsUpdate = []int{400, 404, 409, 412, 413, 415, 422}
	errsCart   = []int{400, 404, 409, 412, 413, 415, 422, 429}
)

// inventoryView is the stock of a SKU as the command API answers it.
type inventoryView struct {
	SKU        string                       `json:"sku"`
	OnHand     int64                        `json:"onHand"`
	Reserved   int64                        `json:"reserved"`
	Available  int64                        `json:"available"`
	Warehouses map[string]domain.StockLevel `json:"warehouses,omitempty"`
}

// placedOrder is POST /v1/orders's answer: the order and its checkout's progress.
type placedOrder struct {
	Checkout checkout.Status `json:"checkout"`
	Order    domain.Order    `json:"order"`
}

// OpenAPIOps describes the command API's routes, naming their types in s.
// TestOpenAPIMatchesRouter keeps them and the router equal.
func OpenAPIOps(s *httpapi.Schemas) []httpapi.Op {
	s.Name(createProductBody{}, "CreateProduct").Name(updateProductBody{}, "UpdateProduct").Name(variantBody{}, "NewVariant").
		Name(updateVariantBody{}, "UpdateVariant").Name(archiveBody{}, "ArchiveProduct").Name(receiptBody{}, "StockReceipt").
		Name(adjustmentBody{}, "StockAdjustment").Name(promotionBody{}, "CreatePromotion").Name(createCartBody{}, "CreateCart").
		Name(addItemBody{}, "AddItem").Name(quantityBody{}, "ChangeQuantity").Name(couponBody{}, "ApplyCoupon").
		Name(placeOrderBody{}, "PlaceOrder").Name(cancelBody{}, "CancelOrder").Name(shipmentBody{}, "ShipOrder").
		Name(fulfillmentBody{}, "FulfilOrder").Name(lineBody{}, "LineQuantityRequest").Name(returnBody{}, "RequestReturn").
		Name(returnLineBody{}, "ReturnLineRequest").Name(rejectBody{}, "RejectReturn").Name(receiveBody{}, "ReceiveReturn").
		Name(receiveLineBody{}, "ReceiveLineRequest").Name(refundLineBody{}, "RefundLineRequest").Name(domain.Return{}, "Return").
		Name(refundBody{}, "RefundOrder").Name(inventoryView{}, "Inventory").Name(domain.Promotion{}, "PromotionState").
		Name(checkout.Status{}, "CheckoutStatus").Name(placedOrder{}, "PlacedOrder").Name(struct {
		Token string `json:"token"`
	}{}, "PaymentToken")
	s.Name(payment.WebhookEvent{}, "PaymentWebhook")
	enum := func(vals ...any) map[string]any { return map[string]any{"enum": vals} }
	s.Annotate("Order", "status", enum(domain.OrderStatusPending, domain.OrderStatusPaid, domain.OrderStatusShipped,
		domain.OrderStatusDelivered, domain.OrderStatusCancelled, domain.OrderStatusPartiallyFulfilled, domain.OrderStatusFulfilled,
		domain.OrderStatusPartiallyReturned, domain.OrderStatusReturned)).
		Annotate("Return", "status", enum(domain.ReturnRequested, domain.ReturnApproved, domain.ReturnRejected, domain.ReturnReceived)).
		Annotate("Order", "paymentStatus", enum(domain.PaymentStatusPending, domain.PaymentStatusAuthorized, domain.PaymentStatusFailed,
			domain.PaymentStatusVoided, domain.PaymentStatusCaptured, domain.PaymentStatusPartiallyRefunded, domain.PaymentStatusRefunded)).
		Annotate("Order", "fulfillmentStatus", enum(domain.FulfillmentUnfulfilled, domain.FulfillmentPartial, domain.FulfillmentShipped, domain.FulfillmentDelivered)).
		Annotate("Cart", "status", enum(domain.CartStatusOpen, domain.CartStatusCheckedOut)).
		Annotate("CreatePromotion", "kind", enum(domain.CouponPercent, domain.CouponFixed)).
		Annotate("CheckoutStatus", "step", enum(checkout.StepPending, checkout.StepReserveStock, checkout.StepRedeemCoupon,
			checkout.StepAuthorizePayment, checkout.StepAwaitingPayment, checkout.StepConfirm, checkout.StepCompensate, checkout.StepCompleted)).
		Annotate("CheckoutStatus", "outcome", enum(checkout.OutcomeConfirmed, checkout.OutcomeCancelled))
	cat, stock, promo, carts, orders, fulfil := "Catalog", "Stock", "Promotions", "Carts", "Orders", "Fulfilment"
	idem := []httpapi.Param{pIdem}
	idemMatch := []httpapi.Param{pIdem, pIfMatch}
	match := []httpapi.Param{pIfMatch}
	placed := map[string]httpapi.Header{
		"Location": {Description: "/v1/orders/{id} (201) or /v1/orders/{id}/checkout to poll (202)", Schema: str},
	}
	for k, v := range resultHeaders {
		placed[k] = v
	}
	accepted := map[string]httpapi.Header{"Retry-After": {Description: "seconds before polling Location", Schema: map[string]any{"type": "integer"}}}
	for k, v := range placed {
		accepted[k] = v
	}
	return []httpapi.Op{
		{Method: "GET", Path: "/v1/openapi.json", Tag: "Meta", Summary: "This document",
			Description: "The OpenAPI 3.1 document of the command and read APIs.",
			Errors:      []int{405},
			Responses:   map[int]httpapi.Response{200: {Description: "the document", Content: map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}}},
		{Method: "POST", Path: "/v1/webhooks/payments", Tag: "Payments", Summary: "Payment gateway webhook",
			Description: "Gateway notifications (authorised, captured, failed…). No bearer token: the HMAC-SHA256 signature in " + payment.SignatureHeader + " is the authentication; a bad or stale signature is a 400 webhook-rejected and changes nothing; a body over the limit (64 KiB) is a 413. A redelivered event answers duplicate: true.",
			Security:    []any{map[string]any{"paymentSignature": []any{}}},
			Params:      []httpapi.Param{pSignature}, Body: payment.WebhookEvent{},
			Responses: ok(200, "applied (or a duplicate)", checkout.WebhookResult{}), Errors: []int{400, 413, 503}},

		{Method: "POST", Path: "/v1/products", Tag: cat, Summary: "Create a product", Roles: admin, Params: idem, Body: createProductBody{},
			Responses: created("the product", domain.Product{}), Errors: errsCreate},
		{Method: "PATCH", Path: "/v1/products/{id}", Tag: cat, Summary: "Update a product's details or base price", Roles: admin, Params: match,
			Body: updateProductBody{}, Responses: ok(200, "the product", domain.Product{}), Errors: errsUpdate},
		{Method: "POST", Path: "/v1/products/{id}/variants", Tag: cat, Summary: "Add a variant", Roles: admin, Params: idemMatch,
			Body: variantBody{}, Responses: ok(201, "the product", domain.Product{}), Errors: errsUpdate},
		{Method: "PATCH", Path: "/v1/products/{id}/variants/{sku}", Tag: cat, Summary: "Update a variant's attributes or price", Roles: admin,
			Params: match, Body: updateVariantBody{}, Responses: ok(200, "the product", domain.Product{}), Errors: errsUpdate},
		{Method: "POST", Path: "/v1/products/{id}/archive", Tag: cat, Summary: "Stop selling a product", Roles: admin, Params: idemMatch,
			Body: archiveBody{}, Responses: ok(200, "the product", domain.Product{}), Errors: errsUpdate},
		{Method: "POST", Path: "/v1/inventory/{sku}/receipts", Tag: stock, Summary: "Receive stock into a warehouse", Roles: admin,
			Params: idemMatch, Body: receiptBody{}, Responses: ok(201, "the SKU's stock", inventoryView{}), Errors: errsUpdate},
		{Method: "POST", Path: "/v1/inventory/{sku}/adjustments", Tag: stock, Summary: "Correct on-hand stock, with a reason", Roles: admin,
			Params: idemMatch, Body: adjustmentBody{}, Responses: ok(201, "the SKU's stock", inventoryView{}), Errors: errsUpdate},
		{Method: "POST", Path: "/v1/promotions", Tag: promo, Summary: "Create a coupon", Roles: admin, Params: idem, Body: promotionBody{},
			Responses: created("the promotion", domain.Promotion{}), Errors: errsCreate},
		{Method: "POST", Path: "/v1/orders/{id}/shipments", Tag: fulfil, Summary: "Ship an order (captures the payment)", Roles: admin,
			Params: idemMatch, Body: shipmentBody{}, Responses: ok(200, "the order", domain.Order{}), Errors: append(errsUpdate, 503)},
		{Method: "POST", Path: "/v1/orders/{id}/deliveries", Tag: fulfil, Summary: "Mark an order delivered", Roles: admin, Params: idemMatch,
			Responses: ok(200, "the order", domain.Order{}), Errors: []int{400, 404, 409, 412, 503}},
		{Method: "POST", Path: "/v1/orders/{id}/refunds", Tag: fulfil, Summary: "Refund an order: an amount, or lines", Roles: admin,
			Description: "Either {amount} or {lines, refundShipping?} (a goodwill refund by line without a return; restock marks units that came back). Never more than captured and not yet refunded, per line and in total (409).",
			Params:      idemMatch, Body: refundBody{}, Responses: ok(200, "the order", domain.Order{}), Errors: append(errsUpdate, 503)},
		{Method: "POST", Path: "/v1/orders/{id}/fulfillments", Tag: fulfil, Summary: "Ship a parcel of some units", Roles: admin,
			Description: "Captures the lines' share of the authorization (the shipping with the first parcel); the order becomes partially_fulfilled or fulfilled. More than is left to fulfil → 409.",
			Params:      idemMatch, Body: fulfillmentBody{}, Responses: created("the order", domain.Order{}), Errors: append(errsUpdate, 503)},
		{Method: "POST", Path: "/v1/orders/{id}/fulfillments/{fid}/delivery", Tag: fulfil, Summary: "Mark a parcel delivered", Roles: admin,
			Description: "The order is delivered when every unit has shipped and every parcel arrived.",
			Params:      idemMatch, Responses: ok(200, "the order", domain.Order{}), Errors: []int{400, 404, 409, 412, 503}},
		{Method: "POST", Path: "/v1/returns/{rid}/approve", Tag: fulfil, Summary: "Approve a return", Roles: admin, Params: idem,
			Responses: ok(200, "the return", domain.Return{}), Errors: []int{400, 404, 409, 503}},
		{Method: "POST", Path: "/v1/returns/{rid}/reject", Tag: fulfil, Summary: "Reject a return", Roles: admin, Params: idem,
			Body: rejectBody{}, Responses: ok(200, "the return", domain.Return{}), Errors: []int{400, 404, 409, 413, 415, 422, 503}},
		{Method: "POST", Path: "/v1/returns/{rid}/receive", Tag: fulfil, Summary: "Receive a return: restock and refund", Roles: admin,
			Description: "Units marked restock go back to the warehouse (sellable at once); the received units are refunded (unit price after its discount share, plus its tax share; the shipping only with refundShipping). The order becomes partially_returned or returned.",
			Params:      idem, Body: receiveBody{}, Responses: ok(200, "the return", domain.Return{}), Errors: []int{400, 404, 409, 413, 415, 422, 503}},
		{Method: "POST", Path: "/v1/customers/{id}/erasure", Tag: "Privacy", Summary: "Erase a customer (GDPR art. 17)", Roles: admin,
			Description: "Destroys the customer's data key and records customer.erased: from then on every personal value sealed under it (addresses, payment tokens, cancel reasons, stored idempotent responses) reads as \"[erased]\" in every answer, read model and export, also after a rebuild. The events stay; totals, stock and the hash chain are untouched. Repeating it answers alreadyErased: true. See docs/privacy.md.",
			Responses:   ok(200, "the erasure", privacy.Erasure{}), Errors: []int{400, 422, 503}},

		{Method: "POST", Path: "/v1/carts", Tag: carts, Summary: "Open a cart", Roles: customer, Params: idem, Body: createCartBody{},
			Description: "A customer's cart is theirs (customerId may only name an admin's customer). The server chooses the id (with an Idempotency-Key, one derived from it under a server key that no client can compute). A customer with the maximum of open carts (--max-open-carts, default 20) gets a 409 open-cart-limit.",
			Responses:   created("the cart", domain.Cart{}), Errors: append(errsCreate, 429)},
		{Method: "GET", Path: "/v1/carts/{id}", Tag: carts, Summary: "Read a cart", Roles: customer,
			Responses: ok(200, "the cart", domain.Cart{}), Errors: []int{404}},
		{Method: "POST", Path: "/v1/carts/{id}/items", Tag: carts, Summary: "Add an item (price from the catalog)", Roles: customer,
			Params: idemMatch, Body: addItemBody{}, Responses: ok(200, "the cart", domain.Cart{}), Errors: errsCart},
		{Method: "PATCH", Path: "/v1/carts/{id}/items/{sku}", Tag: carts, Summary: "Change an item's quantity (0 removes it)", Roles: customer,
			Params: match, Body: quantityBody{}, Responses: ok(200, "the cart", domain.Cart{}), Errors: errsCart},
		{Method: "DELETE", Path: "/v1/carts/{id}/items/{sku}", Tag: carts, Summary: "Remove an item", Roles: customer, Params: match,
			Responses: ok(200, "the cart", domain.Cart{}), Errors: []int{400, 404, 409, 412, 429}},
		{Method: "POST", Path: "/v1/carts/{id}/coupons", Tag: carts, Summary: "Apply a coupon", Roles: customer, Params: idemMatch,
			Body: couponBody{}, Responses: ok(200, "the cart", domain.Cart{}), Errors: errsCart},
		{Method: "DELETE", Path: "/v1/carts/{id}/coupons/{code}", Tag: carts, Summary: "Remove a coupon", Roles: customer, Params: match,
			Responses: ok(200, "the cart", domain.Cart{}), Errors: []int{400, 404, 409, 412, 429}},
		{Method: "PUT", Path: "/v1/carts/{id}/shipping-address", Tag: carts, Summary: "Set the shipping address", Roles: customer,
			Params: match, Body: domain.Address{}, Responses: ok(200, "the cart", domain.Cart{}), Errors: errsCart},
		{Method: "POST", Path: "/v1/orders", Tag: orders, Summary: "Place an order from a cart and run the checkout", Roles: customer,
			Description: "Places the order and waits (up to wait) for the checkout: 201 with the confirmed or cancelled order, or 202 while it still runs (poll Location). ETag and Orderengine-Position are the order's.",
			Params:      []httpapi.Param{pIdem, pWait}, Body: placeOrderBody{},
			Responses: map[int]httpapi.Response{
				201: {Description: "the checkout finished (outcome confirmed or cancelled)", Body: placedOrder{}, Headers: placed},
				202: {Description: "the checkout is still running; poll Location", Body: placedOrder{}, Headers: accepted},
			},
			Errors: []int{400, 404, 409, 413, 415, 422, 429, 503}},
		{Method: "GET", Path: "/v1/orders/{id}/checkout", Tag: orders, Summary: "The checkout's progress", Roles: customer,
			Responses: map[int]httpapi.Response{200: {Description: "the checkout", Body: checkout.Status{},
				Headers: map[string]httpapi.Header{"Cache-Control": {Description: "no-store", Schema: str}}}},
			Errors: []int{404, 503}},
		{Method: "POST", Path: "/v1/orders/{id}/cancel", Tag: orders, Summary: "Cancel an order, or some of its unfulfilled units", Roles: customer,
			Description: "Without lines: the whole order when nothing has shipped, else every unfulfilled unit. With lines: those units (their stock goes back, their share of the authorization is released, the totals shrink).",
			Params:      idemMatch, Body: cancelBody{}, BodyOptional: true, Responses: ok(200, "the order", domain.Order{}), Errors: append(errsUpdate, 503)},
		{Method: "POST", Path: "/v1/orders/{id}/returns", Tag: orders, Summary: "Request a return", Roles: customer,
			Description: "By the owning customer within the return window after delivery, or by an admin. At most what shipped and is not already returned (409).",
			Params:      idem, Body: returnBody{}, Responses: created("the return", domain.Return{}), Errors: append(errsUpdate, 503)},
	}
}

// Tags of the merged document.
var tags = []any{
	map[string]any{"name": "Carts", "description": "Customers build carts; prices come from the catalog."},
	map[string]any{"name": "Orders", "description": "Placing orders (the checkout: reserve stock, authorise payment), cancelling, and the order history."},
	map[string]any{"name": "Fulfilment", "description": "Shipping, delivery and refunds (admins)."},
	map[string]any{"name": "Catalog", "description": "Products and variants: public reads, admin writes."},
	map[string]any{"name": "Stock", "description": "Stock per SKU and warehouse."},
	map[string]any{"name": "Promotions", "description": "Coupons."},
	map[string]any{"name": "Search", "description": "Full-text product search and autocomplete (public)."},
	map[string]any{"name": "Payments", "description": "The payment gateway's webhook."},
	map[string]any{"name": "Privacy", "description": "Erasure of a customer's personal data."},
	map[string]any{"name": "Admin", "description": "Projections, rebuilds and the event log export."},
	map[string]any{"name": "Webhooks", "description": "Outgoing events: webhook endpoints, their deliveries and replays (admins)."},
	map[string]any{"name": "Meta", "description": "This document."},
}

// license is the SPDX identifier the document states; keep it equal to the repository's
// LICENSE.
const license = "Apache-2.0"

// Document is the OpenAPI document of the command API and of the other APIs' ops (see
// Config.OpenAPIMerge).
func Document(extra ...func(*httpapi.Schemas) []httpapi.Op) map[string]any {
	s := httpapi.NewSchemas()
	ops := append(OpenAPIOps(s), editOps(s)...)
	for _, f := range extra {
		ops = append(ops, f(s)...)
	}
	info := map[string]any{
		"title":   "orderengine API",
		"version": "1",
		"description": "The command API (carts, checkout, catalog, stock, promotions, fulfilment) and the read API (catalog, search, orders, history, projections). " +
			"Errors are RFC 9457 problem documents (application/problem+json). Request bodies are strict: an unknown field is a 400, a missing required field a 422. " +
			"Writes answer the aggregate's 0-based stream version as ETag and the committed global position in Orderengine-Position; reads take that position as minPosition.",
		"contact": map[string]any{"name": "orderengine maintainers", "url": "https://github.com/orderengine/orderengine"},
		"license": map[string]any{"name": license, "identifier": license},
	}
	servers := []any{map[string]any{"url": "/", "description": "the server that serves this document (make run: http://localhost:8080)"}}
	schemes := map[string]any{"paymentSignature": map[string]any{"type": "apiKey", "in": "header", "name": payment.SignatureHeader,
		"description": "HMAC-SHA256 signature of the webhook body: t=<unix seconds>,v1=<hex HMAC of \"t.body\">"}}
	return httpapi.Document(info, servers, tags, httpapi.Paths(ops, s), s, schemes)
}

// mergedOpenAPI is the served document, built once.
func mergedOpenAPI(extra []func(*httpapi.Schemas) []httpapi.Op) func() []byte {
	return sync.OnceValue(func() []byte {
		b, err := json.MarshalIndent(Document(extra...), "", "  ")
		if err != nil {
			panic(err) // maps of strings and numbers: cannot fail
		}
		return b
	})
}

func (a *API) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(a.openapi())
}

// Operation is one documented route (exported for tests and tooling).
type Operation struct {
	Method, Path string
	// Roles that may call it; empty for routes without a bearer token.
	Roles []string
}

// Operations lists the documented routes.
func Operations() []Operation {
	s := httpapi.NewSchemas()
	ops := append(OpenAPIOps(s), editOps(s)...)
	out := make([]Operation, len(ops))
	for i, op := range ops {
		out[i] = Operation{Method: op.Method, Path: op.Path, Roles: op.Roles}
	}
	return out
}
