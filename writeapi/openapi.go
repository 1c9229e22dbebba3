package writeapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
)

// operation describes one route of the command API for the OpenAPI document.
type operation struct {
	method, path, summary string
	roles                 []string // empty: no bearer token (webhook, document)
	body                  string   // request schema name, "" for none
	ok                    int      // success status
	result                string   // response schema name
	idempotent            bool     // accepts Idempotency-Key
}

// operations is the command API. TestOpenAPIMatchesRouter keeps it and the router equal.
var operations = []operation{
	{"GET", "/v1/openapi.json", "This document", nil, "", 200, "", false},
	{"POST", "/v1/webhooks/payments", "Payment gateway webhook (HMAC-SHA256 signed)", nil, "PaymentWebhook", 200, "", false},

	{"POST", "/v1/products", "Create a product", admin, "CreateProduct", 201, "Product", true},
	{"PATCH", "/v1/products/{id}", "Update a product's details or base price", admin, "UpdateProduct", 200, "Product", false},
	{"POST", "/v1/products/{id}/variants", "Add a variant", admin, "Variant", 201, "Product", true},
	{"PATCH", "/v1/products/{id}/variants/{sku}", "Update a variant's attributes or price", admin, "UpdateVariant", 200, "Product", false},
	{"POST", "/v1/products/{id}/archive", "Stop selling a product", admin, "Archive", 200, "Product", true},
	{"POST", "/v1/inventory/{sku}/receipts", "Receive stock into a warehouse", admin, "Receipt", 201, "Inventory", true},
	{"POST", "/v1/inventory/{sku}/adjustments", "Correct on-hand stock, with a reason", admin, "Adjustment", 201, "Inventory", true},
	{"POST", "/v1/promotions", "Create a coupon", admin, "Promotion", 201, "PromotionState", true},
	{"POST", "/v1/orders/{id}/shipments", "Ship an order (captures the payment)", admin, "Shipment", 200, "Order", true},
	{"POST", "/v1/orders/{id}/deliveries", "Mark an order delivered", admin, "", 200, "Order", true},
	{"POST", "/v1/orders/{id}/refunds", "Refund an order, partly or fully", admin, "Refund", 200, "Order", true},

	{"POST", "/v1/carts", "Open a cart", customer, "CreateCart", 201, "Cart", true},
	{"GET", "/v1/carts/{id}", "Read a cart", customer, "", 200, "Cart", false},
	{"POST", "/v1/carts/{id}/items", "Add an item (price from the catalog)", customer, "AddItem", 200, "Cart", true},
	{"PATCH", "/v1/carts/{id}/items/{sku}", "Change an item's quantity (0 removes it)", customer, "Quantity", 200, "Cart", false},
	{"DELETE", "/v1/carts/{id}/items/{sku}", "Remove an item", customer, "", 200, "Cart", false},
	{"POST", "/v1/carts/{id}/coupons", "Apply a coupon", customer, "Coupon", 200, "Cart", true},
	{"DELETE", "/v1/carts/{id}/coupons/{code}", "Remove a coupon", customer, "", 200, "Cart", false},
	{"PUT", "/v1/carts/{id}/shipping-address", "Set the shipping address", customer, "Address", 200, "Cart", false},
	{"POST", "/v1/orders", "Place an order from a cart and run the checkout", customer, "PlaceOrder", 201, "Order", true},
	{"GET", "/v1/orders/{id}/checkout", "The checkout's progress", customer, "", 200, "CheckoutStatus", false},
	{"POST", "/v1/orders/{id}/cancel", "Cancel an order", customer, "Cancel", 200, "Order", true},
}

var (
	admin    = []string{"admin"}
	customer = []string{"customer", "admin"}
)

// schemas are the request bodies (strict: unknown fields are rejected) and the responses.
var schemas = map[string]any{
	"Problem": obj(props{"type": str, "title": str, "status": integer, "detail": str, "instance": str}, "type", "title", "status"),
	"Money":   obj(props{"amount": integer, "currency": strPattern("^[A-Z]{3}$")}, "amount", "currency"),
	"Address": strict(props{"name": str, "line1": str, "line2": str, "city": str, "region": str, "postalCode": str, "country": strPattern("^[A-Z]{2}$"), "phone": str}, "name", "line1", "city", "postalCode", "country"),
	"Variant": strict(props{"sku": str, "attributes": strMap, "price": ref("Money")}, "sku", "price"),
	"CreateProduct": strict(props{"id": str, "sku": str, "name": str, "description": str, "category": str, "brand": str,
		"images": arr(str), "metadata": strMap, "price": ref("Money"), "variants": arr(ref("Variant"))}, "sku", "name", "price"),
	"UpdateProduct": strict(props{"name": str, "description": str, "category": str, "brand": str, "images": arr(str), "metadata": strMap, "price": ref("Money")}),
	"UpdateVariant": strict(props{"attributes": strMap, "price": ref("Money")}),
	"Archive":       strict(props{"reason": str}),
	"Receipt":       strict(props{"warehouse": str, "quantity": integer, "reference": str}, "warehouse", "quantity"),
	"Adjustment":    strict(props{"warehouse": str, "delta": integer, "reason": str}, "warehouse", "delta", "reason"),
	"Promotion": strict(props{"code": str, "kind": enum("percent", "fixed"), "percentOff": integer, "amountOff": ref("Money"),
		"minSubtotal": ref("Money"), "startsAt": dateTime, "endsAt": dateTime, "usageLimit": integer}, "code", "kind"),
	"CreateCart": strict(props{"id": str, "currency": str, "customerId": str}, "currency"),
	"AddItem":    strict(props{"sku": str, "quantity": integer}, "sku", "quantity"),
	"Quantity":   strict(props{"quantity": integer}, "quantity"),
	"Coupon":     strict(props{"code": str}, "code"),
	"PlaceOrder": strict(props{"cartId": str, "shippingAddress": ref("Address"), "billingAddress": ref("Address"),
		"payment": strict(props{"token": str}, "token")}, "cartId", "payment"),
	"Cancel":         strict(props{"reason": str}),
	"Shipment":       strict(props{"carrier": str, "trackingNumber": str}, "carrier", "trackingNumber"),
	"Refund":         strict(props{"amount": ref("Money"), "reason": str}, "amount"),
	"PaymentWebhook": obj(props{"id": str, "type": str}, "id", "type"),
	"Product":        obj(nil),
	"Inventory":      obj(props{"sku": str, "onHand": integer, "reserved": integer, "available": integer}),
	"PromotionState": obj(nil),
	"Cart":           obj(nil),
	"Order":          obj(nil),
	"CheckoutStatus": obj(nil),
}

type props map[string]any

var (
	str      = map[string]any{"type": "string"}
	integer  = map[string]any{"type": "integer", "format": "int64"}
	dateTime = map[string]any{"type": "string", "format": "date-time"}
	strMap   = map[string]any{"type": "object", "additionalProperties": str}
)

func strPattern(p string) map[string]any { return map[string]any{"type": "string", "pattern": p} }
func arr(items any) map[string]any       { return map[string]any{"type": "array", "items": items} }
func ref(name string) map[string]any     { return map[string]any{"$ref": "#/components/schemas/" + name} }
func enum(vals ...string) map[string]any { return map[string]any{"type": "string", "enum": vals} }

func obj(p props, required ...string) map[string]any {
	o := map[string]any{"type": "object"}
	if p != nil {
		o["properties"] = p
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func strict(p props, required ...string) map[string]any {
	o := obj(p, required...)
	o["additionalProperties"] = false
	return o
}

// OpenAPI returns the command API's OpenAPI 3.1 document.
func OpenAPI() map[string]any {
	paths := map[string]any{}
	problemResp := map[string]any{"description": "problem", "content": map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}}}
	for _, op := range operations {
		item, _ := paths[op.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.path] = item
		}
		o := map[string]any{"summary": op.summary, "operationId": operationID(op)}
		var params []any
		for _, seg := range strings.Split(op.path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": str})
			}
		}
		if op.idempotent {
			params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "schema": map[string]any{"type": "string", "maxLength": 255},
				"description": "the first result is stored 24 h and replayed; a different body with the same key → 422; while the first runs → 409"})
		}
		if op.method == "PATCH" || op.method == "PUT" || op.method == "DELETE" || op.idempotent {
			if len(op.roles) > 0 && op.path != "/v1/products" && op.path != "/v1/carts" && op.path != "/v1/promotions" && op.path != "/v1/orders" {
				params = append(params, map[string]any{"name": "If-Match", "in": "header", "schema": str, "description": "aggregate version (ETag); 412 on mismatch"})
			}
		}
		if op.path == "/v1/orders" {
			params = append(params, map[string]any{"name": "wait", "in": "query", "schema": str, "description": "how long to wait for the checkout (Go duration, default 5s, at most 30s)"})
		}
		if op.path == "/v1/webhooks/payments" {
			params = append(params, map[string]any{"name": "Orderengine-Signature", "in": "header", "required": true, "schema": str, "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">"})
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.body != "" {
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(op.body)}}}
		}
		resp := map[string]any{"description": "success"}
		if op.result != "" {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": ref(op.result)}}
			resp["headers"] = map[string]any{
				"ETag":                 map[string]any{"schema": str, "description": "aggregate version"},
				"Orderengine-Position": map[string]any{"schema": str, "description": "global position committed; pass as minPosition to reads"},
			}
		}
		responses := map[string]any{itoa(op.ok): resp, "default": problemResp}
		if op.path == "/v1/orders" && op.method == "POST" {
			responses["202"] = map[string]any{"description": "checkout still running; poll Location"}
		}
		o["responses"] = responses
		if len(op.roles) > 0 {
			o["security"] = []any{map[string]any{"bearer": []any{}}}
			o["x-roles"] = op.roles
		}
		item[strings.ToLower(op.method)] = o
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "orderengine command API", "version": "1",
			"description": "Commands for carts, checkout, catalog, stock, promotions and fulfilment. Errors are RFC 9457 problem documents; unknown JSON fields are rejected."},
		"paths": paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
		},
	}
}

func operationID(op operation) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.method))
	for _, seg := range strings.Split(op.path, "/")[2:] {
		seg = strings.Trim(seg, "{}")
		seg = strings.ReplaceAll(seg, "-", "")
		seg = strings.ReplaceAll(seg, ".", "")
		if seg != "" {
			b.WriteString(strings.ToUpper(seg[:1]) + seg[1:])
		}
	}
	return b.String()
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// mergedOpenAPI is the served document: this API's, plus the paths and schemas of the
// other APIs sharing the router (Config.OpenAPIMerge), so /v1/openapi.json describes them all.
func mergedOpenAPI(extra []func() (paths, schemas map[string]any)) func() []byte {
	return sync.OnceValue(func() []byte {
		doc := OpenAPI()
		paths := doc["paths"].(map[string]any)
		comps := doc["components"].(map[string]any)
		sch := comps["schemas"].(map[string]any)
		merged := make(map[string]any, len(sch))
		for k, v := range sch {
			merged[k] = v
		}
		for _, f := range extra {
			p, s := f()
			for k, v := range p {
				if cur, ok := paths[k].(map[string]any); ok {
					for m, op := range v.(map[string]any) {
						cur[m] = op
					}
					continue
				}
				paths[k] = v
			}
			for k, v := range s {
				merged[k] = v
			}
		}
		comps["schemas"] = merged
		if len(extra) > 0 {
			doc["info"] = map[string]any{"title": "orderengine API", "version": "1",
				"description": "The command API (carts, checkout, catalog, stock, promotions, fulfilment) and the read API (catalog, search, orders, history, projections). Errors are RFC 9457 problem documents."}
		}
		b, _ := json.MarshalIndent(doc, "", "  ")
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
	out := make([]Operation, len(operations))
	for i, op := range operations {
		out[i] = Operation{Method: op.method, Path: op.path, Roles: op.roles}
	}
	return out
}
