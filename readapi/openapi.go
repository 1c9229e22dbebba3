package readapi

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/orderengine/orderengine/auth"
)

// operation describes one route of the read API for the OpenAPI document.
type operation struct {
	method, path, summary string
	roles                 []auth.Role // nil: public, no token
	params                []param     // query parameters: also the route's allow-list
	body                  string      // request schema, "" for none
	ok                    int
	result                string // response schema
	description           string
}

// operations is the read API. TestOpenAPIMatchesRouter keeps it and the router equal, and
// the handlers accept exactly the documented query parameters.
var operations = []operation{
	{"GET", "/v1/products", "List the catalog", nil, productsParams, "", 200, "CatalogProductPage",
		"Public. Active products with filters, a sort and cursor pagination; archived products are hidden."},
	{"GET", "/v1/products/{id}", "A product with its variants, prices and availability", nil, productParams, "", 200, "CatalogProduct", "Public."},
	{"GET", "/v1/search", "Full-text product search with facets", nil, searchParams, "", 200, "SearchResult",
		"Public. Items, facet counts over the whole result, and the total. Orderengine-Position is the search index's."},
	{"GET", "/v1/search/suggest", "Autocomplete", nil, suggestParams, "", 200, "Suggestions", "Public."},

	{"GET", "/v1/orders", "Order history, newest first", rolesOrders, ordersParams, "", 200, "OrderPage",
		"A customer gets only their own orders (customerId= naming anyone else → 403); admins and auditors see every order and may filter by customerId. Lines are left out; read an order for them."},
	{"GET", "/v1/orders/{id}", "An order, now or as it stood at a past time or version", rolesOrders, orderParams, "", 200, "OrderView",
		"Someone else's order answers 404 to a customer. With asOf or version the order is rebuilt from its event stream (not the read model) and Orderengine-Position is the log's head."},
	{"GET", "/v1/orders/{id}/events", "The order's full event history", rolesOrders, orderEventsParams, "", 200, "OrderHistory",
		"Every event of order-{id}, checkout-{id} (the saga), checkoutrequest-{id} and the order's payment stream, plus the events of its SKUs' inventory streams and its coupon's promotion stream whose correlationId or data.orderId is the order id, in global position order, with metadata (actor, correlation, causation, recorded time, chain hash) and a chain check of each stream read. Read from the event store: never stale."},

	{"GET", "/v1/inventory", "Stock by SKU, lowest available first", rolesInventory, stockListParams, "", 200, "StockItemPage", ""},
	{"GET", "/v1/inventory/{sku}", "A SKU's stock in total and per warehouse", rolesInventory, stockParams, "", 200, "StockItem", ""},

	{"GET", "/v1/admin/projections", "Every projection's position, head, lag and state", rolesAdmin, noParams, "", 200, "ProjectionList",
		"Includes the last rebuild this server started for each."},
	{"GET", "/v1/admin/projections/{name}", "A projection's status and rebuild progress", rolesAdmin, noParams, "", 200, "ProjectionStatus", ""},
	{"POST", "/v1/admin/projections/{name}/rebuild", "Rebuild a projection from the log", rolesAdmin, noParams, "RebuildOptions", 202, "RebuildJob",
		"Builds a new generation from position 0 in the background while the live one serves, then switches. Answers 202 with Location: /v1/admin/projections/{name}, where the progress shows; 409 while a rebuild of it runs. The body is optional."},
	{"GET", "/v1/admin/events", "The global event log, for export", rolesExport, eventsParams, "", 200, "EventPage",
		"JSON pages, or with Accept: application/x-ndjson one event per line, streamed (continue after the last line's position; fewer lines than limit means the end of the log)."},
}

// required lists the query parameters a route cannot do without.
var required = map[string][]string{"/v1/search/suggest": {"q"}}

func roleNames(rs []auth.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// Schema helpers.
var (
	str      = map[string]any{"type": "string"}
	integer  = map[string]any{"type": "integer", "format": "int64"}
	number   = map[string]any{"type": "number"}
	boolean  = map[string]any{"type": "boolean"}
	dateTime = map[string]any{"type": "string", "format": "date-time"}
	strMap   = map[string]any{"type": "object", "additionalProperties": str}
)

type props map[string]any

func strPattern(p string) map[string]any { return map[string]any{"type": "string", "pattern": p} }
func arr(items any) map[string]any       { return map[string]any{"type": "array", "items": items} }
func ref(name string) map[string]any     { return map[string]any{"$ref": "#/components/schemas/" + name} }
func enum(vals ...string) map[string]any { return map[string]any{"type": "string", "enum": vals} }
func intRange(lo, hi int) map[string]any {
	return map[string]any{"type": "integer", "minimum": lo, "maximum": hi}
}

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

func page(item string) map[string]any {
	return obj(props{"items": arr(ref(item)), "nextCursor": str, "position": integer}, "items", "position")
}

// schemas are the read API's components. "Problem" and "Money" are shared with the
// command API and defined identically; every other name is the read API's own.
func schemas() map[string]any {
	money := ref("Money")
	line := obj(props{"sku": str, "productId": str, "name": str, "quantity": integer, "unitPrice": money,
		"subtotal": money, "discount": money, "net": money, "tax": money, "gross": money,
		"taxRate": map[string]any{"type": "integer", "description": "basis points"}, "taxInclusive": boolean})
	order := props{
		"id": str, "customerId": str, "cartId": str, "status": enum(orderStatuses...), "paymentStatus": str,
		"fulfillmentStatus": str, "currency": str, "totals": ref("OrderTotals"), "authorized": money, "captured": money,
		"refunded": money, "couponCode": str, "paymentId": str, "shippingAddress": ref("OrderAddress"),
		"billingAddress": ref("OrderAddress"), "shipment": ref("OrderShipment"), "deliveredAt": dateTime,
		"cancelledAt": dateTime, "cancelReason": str, "paymentFailure": str, "refunds": arr(ref("OrderRefund")),
		"lineCount": integer, "itemCount": integer, "lines": arr(ref("OrderLine")), "placedAt": dateTime, "updatedAt": dateTime,
		"version":  map[string]any{"type": "integer", "description": "number of the order's events folded (stream version + 1)"},
		"position": map[string]any{"type": "integer", "description": "global position of the order's last event"},
	}
	view := maps.Clone(order)
	view["asOf"] = dateTime
	view["atVersion"] = integer
	event := props{
		"id": str, "stream": str, "type": str, "version": integer, "position": integer, "recordedAt": dateTime,
		"actor": str, "correlationId": str, "causationId": str, "idempotencyKey": str, "occurredAt": dateTime,
		"schemaVersion": integer, "chainHash": str,
		"data":     map[string]any{"description": "the event's JSON as stored"},
		"metadata": map[string]any{"description": "the metadata as stored, chainHash first (see eventstore.SplitChainHash)"},
	}
	failure := obj(props{"position": integer, "stream": str, "type": str, "eventId": str, "error": str, "attempts": integer})
	projection := obj(props{"name": str, "state": enum("starting", "standby", "running", "caught-up", "failed", "stopped"),
		"generation": integer, "position": integer, "checkpoint": integer, "head": integer, "lag": integer, "lagSeconds": number,
		"lastEventAt": dateTime, "applied": integer, "failure": failure, "lastError": str, "rebuild": ref("RebuildJob")}, "name", "state")
	return map[string]any{
		"Problem": obj(props{"type": str, "title": str, "status": integer, "detail": str, "instance": str}, "type", "title", "status"),
		"Money":   obj(props{"amount": integer, "currency": strPattern("^[A-Z]{3}$")}, "amount", "currency"),
		"CatalogVariant": obj(props{"sku": str, "attributes": strMap, "price": money, "available": integer, "inStock": boolean},
			"sku", "price", "available", "inStock"),
		"CatalogProduct": obj(props{"id": str, "sku": str, "name": str, "description": str, "category": str, "brand": str,
			"images": arr(str), "metadata": strMap, "price": money, "minPrice": money, "maxPrice": money,
			"variants": arr(ref("CatalogVariant")), "status": enum("active", "archived"), "available": integer, "inStock": boolean,
			"createdAt": dateTime, "updatedAt": dateTime, "version": integer, "position": integer},
			"id", "sku", "name", "price", "variants", "status", "available", "inStock"),
		"CatalogProductPage": page("CatalogProduct"),
		"SearchHit": obj(props{"id": str, "sku": str, "name": str, "description": str, "brand": str, "category": str,
			"images": arr(str), "minPrice": money, "maxPrice": money, "inStock": boolean, "score": number}, "id", "name"),
		"FacetBucket": obj(props{"value": str, "count": integer, "from": integer, "to": integer}, "value", "count"),
		"SearchResult": obj(props{"items": arr(ref("SearchHit")), "total": integer,
			"facets":     map[string]any{"type": "object", "additionalProperties": arr(ref("FacetBucket"))},
			"nextCursor": str, "position": integer}, "items", "total", "position"),
		"Suggestion":    obj(props{"text": str, "productId": str}, "text"),
		"Suggestions":   obj(props{"items": arr(ref("Suggestion")), "position": integer}, "items", "position"),
		"OrderAddress":  obj(props{"name": str, "line1": str, "line2": str, "city": str, "region": str, "postalCode": str, "country": str, "phone": str}),
		"OrderTotals":   obj(props{"subtotal": money, "discount": money, "net": money, "tax": money, "gross": money, "shipping": money, "grandTotal": money}),
		"OrderLine":     line,
		"OrderShipment": obj(props{"carrier": str, "trackingNumber": str, "shippedAt": dateTime}),
		"OrderRefund":   obj(props{"refundId": str, "amount": money, "reason": str, "at": dateTime}),
		"OrderView":     obj(view, "id", "customerId", "status", "version", "position"),
		"OrderSummary":  obj(order, "id", "customerId", "status", "version", "position"),
		"OrderPage":     page("OrderSummary"),
		"WarehouseStock": obj(props{"warehouse": str, "onHand": integer, "reserved": integer, "available": integer,
			"lowStock": boolean, "updatedAt": dateTime}),
		"StockItem": obj(props{"sku": str, "onHand": integer, "reserved": integer, "available": integer, "lowStock": boolean,
			"warehouses": arr(ref("WarehouseStock")), "updatedAt": dateTime, "version": integer, "position": integer},
			"sku", "onHand", "reserved", "available"),
		"StockItemPage": page("StockItem"),
		"StoredEvent":   obj(event, "id", "stream", "type", "version", "position", "recordedAt", "data", "metadata"),
		"StreamCheck": obj(props{"stream": str, "fromVersion": integer, "toVersion": integer, "complete": boolean,
			"included": integer, "chainVerified": boolean, "brokenAtVersion": integer, "problem": str}),
		"OrderHistory": obj(props{"orderId": str, "events": arr(ref("StoredEvent")), "streams": arr(ref("StreamCheck")),
			"position": integer}, "orderId", "events", "streams", "position"),
		"EventPage": obj(props{"items": arr(ref("StoredEvent")), "nextAfter": integer, "head": integer}, "items", "head"),
		"RebuildOptions": map[string]any{"type": "object", "additionalProperties": false,
			"properties": props{"dryRun": map[string]any{"type": "boolean", "description": "build and compare, then drop the new generation"}}},
		"RebuildProgress": obj(props{"generation": integer, "events": integer, "total": integer, "position": integer, "head": integer,
			"percent": number, "eventsPerSecond": number, "etaSeconds": number, "elapsedSeconds": number, "phase": enum("build", "switch", "done")}),
		"RebuildReport": map[string]any{"type": "object", "description": "projections.RebuildReport: generations, tables compared (rows, hashes), differs, switched"},
		"RebuildJob": obj(props{"projection": str, "state": enum(JobRunning, JobSucceeded, JobFailed), "dryRun": boolean,
			"requestedBy": str, "startedAt": dateTime, "finishedAt": dateTime, "progress": ref("RebuildProgress"),
			"report": ref("RebuildReport"), "error": str}, "projection", "state"),
		"ProjectionStatus": projection,
		"ProjectionList":   obj(props{"items": arr(ref("ProjectionStatus"))}, "items"),
	}
}

// OpenAPIPaths is the read API's paths object, to merge with the command API's into one
// document at /v1/openapi.json (no path is in both).
func OpenAPIPaths() map[string]any {
	paths := map[string]any{}
	problemResp := map[string]any{"description": "problem", "content": map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}}}
	for _, op := range operations {
		item, _ := paths[op.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.path] = item
		}
		o := map[string]any{"summary": op.summary, "operationId": operationID(op)}
		if op.description != "" {
			o["description"] = op.description
		}
		var params []any
		for _, seg := range strings.Split(op.path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": str})
			}
		}
		hasMin := false
		for _, p := range op.params {
			s := p.schema
			if p.repeat {
				s = arr(p.schema)
			}
			params = append(params, map[string]any{"name": p.name, "in": "query", "schema": s, "description": p.desc,
				"required": slices.Contains(required[op.path], p.name)})
			hasMin = hasMin || p.name == "minPosition"
		}
		if hasMin {
			params = append(params, map[string]any{"name": HeaderPosition, "in": "header", "schema": str,
				"description": "same as minPosition (the higher of the two counts)"})
		}
		if op.method == "GET" {
			params = append(params, map[string]any{"name": "If-None-Match", "in": "header", "schema": str, "description": "an ETag of this API: 304 when unchanged"})
		}
		if op.path == "/v1/admin/events" {
			params = append(params, map[string]any{"name": "Accept", "in": "header", "schema": str, "description": "application/x-ndjson for one event per line"})
		}
		o["parameters"] = params
		if op.body != "" {
			o["requestBody"] = map[string]any{"required": false, "content": map[string]any{"application/json": map[string]any{"schema": ref(op.body)}}}
		}
		content := map[string]any{"application/json": map[string]any{"schema": ref(op.result)}}
		if op.path == "/v1/admin/events" {
			content[ndjson] = map[string]any{"schema": ref("StoredEvent"), "x-ndjson": true}
		}
		headers := map[string]any{
			"ETag":      map[string]any{"schema": str, "description": "validator of the representation; send back in If-None-Match"},
			HeaderStale: map[string]any{"schema": enum("true"), "description": "the projection had not reached minPosition within the wait bound"},
			HeaderPosition: map[string]any{"schema": str,
				"description": "position of the projection (catalog, orders, inventory or search index; the log's head for event-store reads) the answer reflects"},
		}
		resp := map[string]any{"description": "success", "content": content, "headers": headers}
		if op.ok == 202 {
			resp["headers"] = map[string]any{"Location": map[string]any{"schema": str, "description": "where the progress shows"}}
		}
		responses := map[string]any{strconv.Itoa(op.ok): resp, "default": problemResp}
		if op.method == "GET" {
			responses["304"] = map[string]any{"description": "not modified (If-None-Match)"}
		}
		o["responses"] = responses
		if op.roles != nil {
			o["security"] = []any{map[string]any{"bearer": []any{}}}
			o["x-roles"] = roleNames(op.roles)
		} else {
			o["security"] = []any{} // public
		}
		item[strings.ToLower(op.method)] = o
	}
	return paths
}

// OpenAPISchemas is the read API's components.schemas, to merge with the command API's.
func OpenAPISchemas() map[string]any { return schemas() }

// OpenAPI returns the read API's own OpenAPI 3.1 document.
func OpenAPI() map[string]any {
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "orderengine read API", "version": "1",
			"description": "Catalog, search, order history and event history, stock, projections and the log export. Errors are RFC 9457 problem documents; unknown query parameters are rejected; reads accept minPosition for read-your-writes."},
		"paths": OpenAPIPaths(),
		"components": map[string]any{
			"schemas":         OpenAPISchemas(),
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
		},
	}
}

func operationID(op operation) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.method))
	for _, seg := range strings.Split(op.path, "/")[2:] {
		seg = strings.Trim(seg, "{}")
		if seg != "" {
			b.WriteString(strings.ToUpper(seg[:1]) + seg[1:])
		}
	}
	return b.String()
}

// Operation is one documented route.
type Operation struct {
	Method, Path string
	// Roles that may call it; empty for public routes.
	Roles []string
	// Query lists the accepted query parameters, Required those that must be given, and
	// Examples a valid value of each.
	Query    []string
	Required []string
	Examples map[string]string
}

// Operations lists the documented routes.
func Operations() []Operation {
	out := make([]Operation, len(operations))
	for i, op := range operations {
		o := Operation{Method: op.method, Path: op.path, Required: required[op.path], Examples: map[string]string{}}
		if op.roles != nil {
			o.Roles = roleNames(op.roles)
		}
		for _, p := range op.params {
			o.Query = append(o.Query, p.name)
			o.Examples[p.name] = p.example
		}
		out[i] = o
	}
	return out
}
