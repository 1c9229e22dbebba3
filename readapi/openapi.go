package readapi

import (
	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/readmodel"
	"github.com/orderengine/orderengine/search"
)

// operation describes one route of the read API for the OpenAPI document.
type operation struct {
	method, path, summary string
	tag                   string
	roles                 []auth.Role // nil: public, no token
	params                []param     // query parameters: also the route's allow-list
	body                  any         // request body's Go type, nil for none
	ok                    int
	result                any // the answer's Go type
	description           string
	errors                []int // problems besides 400 (query) and 401/403 (roles)
}

// operations is the read API. TestOpenAPIMatchesRouter keeps it and the router equal, and
// the handlers accept exactly the documented query parameters.
var operations = []operation{
	{"GET", "/v1/products", "List the catalog", "Catalog", nil, productsParams, nil, 200, readmodel.Page[readmodel.Product]{},
		"Public. Active products with filters, a sort and cursor pagination; archived products are hidden.", nil},
	{"GET", "/v1/products/{id}", "A product with its variants, prices and availability", "Catalog", nil, productParams, nil, 200, readmodel.Product{},
		"Public. version is the product stream's 0-based version (the command API's ETag).", []int{404}},
	{"GET", "/v1/search", "Full-text product search with facets", "Search", nil, searchParams, nil, 200, search.Result{},
		"Public. Items, facet counts over the whole result, and the total. Orderengine-Position is the search index's.", []int{503}},
	{"GET", "/v1/search/suggest", "Autocomplete", "Search", nil, suggestParams, nil, 200, Suggestions{}, "Public.", []int{503}},

	{"GET", "/v1/orders", "Order history, newest first", "Orders", rolesOrders, ordersParams, nil, 200, readmodel.Page[readmodel.Order]{},
		"A customer gets only their own orders (customerId= naming anyone else → 403); admins and auditors see every order and may filter by customerId. Lines are left out; read an order for them.", nil},
	{"GET", "/v1/orders/{id}", "An order, now or as it stood at a past time or version", "Orders", rolesOrders, orderParams, nil, 200, OrderView{},
		"Someone else's order answers 404 to a customer. version is the order stream's 0-based version, the command API's ETag. With asOf or version the order is rebuilt from its event stream (not the read model) and Orderengine-Position is the log's head.", []int{404, 503}},
	{"GET", "/v1/orders/{id}/events", "The order's full event history", "Orders", rolesOrders, orderEventsParams, nil, 200, OrderHistory{},
		"Every event of order-{id}, checkout-{id} (the saga), checkoutrequest-{id} and the order's payment stream, plus the events of its SKUs' inventory streams and its coupon's promotion stream whose correlationId or data.orderId is the order id, in global position order, with metadata (actor, correlation, causation, recorded time, chain hash) and a chain check of each stream read. Read from the event store: never stale. Admins and auditors get the stored bytes; the owning customer gets a redacted form (redacted: true): no metadata, chain hashes, idempotency keys or payment tokens, staff subjects shown as \"staff\", and for shared streams (inventory, promotion) no version, chain check or allocations (docs/privacy.md).", []int{404, 503}},

	{"GET", "/v1/orders/{id}/returns", "The order's returns", "Orders", rolesOrders, returnsParams, nil, 200, ReturnList{},
		"The owner, admins and auditors; someone else's order answers 404 to a customer. From the orders read model.", []int{404, 503}},
	{"GET", "/v1/returns/{rid}", "A return", "Orders", rolesOrders, returnsParams, nil, 200, domain.Return{},
		"The owner, admins and auditors (someone else's return answers 404 to a customer). A return id is <orderId>.ret-<suffix>. From the orders read model.", []int{404, 503}},

	{"GET", "/v1/inventory", "Stock by SKU, lowest available first", "Stock", rolesInventory, stockListParams, nil, 200, readmodel.Page[readmodel.StockItem]{}, "", nil},
	{"GET", "/v1/inventory/{sku}", "A SKU's stock in total and per warehouse", "Stock", rolesInventory, stockParams, nil, 200, readmodel.StockItem{}, "", []int{404}},

	{"GET", "/v1/admin/projections", "Every projection's position, head, lag and state", "Admin", rolesAdmin, noParams, nil, 200, ProjectionList{},
		"Includes the last rebuild this server started for each.", []int{503}},
	{"GET", "/v1/admin/projections/{name}", "A projection's status and rebuild progress", "Admin", rolesAdmin, noParams, nil, 200, ProjectionView{}, "", []int{404, 503}},
	{"POST", "/v1/admin/projections/{name}/rebuild", "Rebuild a projection from the log", "Admin", rolesAdmin, noParams, rebuildBody{}, 202, RebuildJob{},
		"Builds a new generation from position 0 in the background while the live one serves, then switches. Answers 202 with Location: /v1/admin/projections/{name}, where the progress shows; 409 while a rebuild of it runs. The body is optional.", []int{404, 409, 413, 415, 503}},
	{"GET", "/v1/admin/events", "The global event log, for export", "Admin", rolesExport, eventsParams, nil, 200, EventPage{},
		"JSON pages, or with Accept: application/x-ndjson one event per line, streamed (continue after the last line's position; fewer lines than limit means the end of the log). Admins and auditors get the stored bytes (the chain re-verifies from them); analysts get events marked redacted: true without metadata, with addresses reduced to their country and payment tokens, customers' free text and idempotency response bodies replaced by \"[redacted]\" (docs/privacy.md).", []int{503}},
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

// Schema helpers for query parameters.
var (
	str      = map[string]any{"type": "string"}
	integer  = map[string]any{"type": "integer", "format": "int64"}
	boolean  = map[string]any{"type": "boolean"}
	dateTime = map[string]any{"type": "string", "format": "date-time"}
)

func strPattern(p string) map[string]any { return map[string]any{"type": "string", "pattern": p} }
func arr(items any) map[string]any       { return map[string]any{"type": "array", "items": items} }
func enum(vals ...string) map[string]any { return map[string]any{"type": "string", "enum": vals} }
func intRange(lo, hi int) map[string]any {
	return map[string]any{"type": "integer", "minimum": lo, "maximum": hi}
}

// OpenAPIOps describes the read API's routes for the merged document at
// /v1/openapi.json (writeapi.Config.OpenAPIMerge), naming their types in s.
func OpenAPIOps(s *httpapi.Schemas) []httpapi.Op {
	s.Name(readmodel.Product{}, "CatalogProduct").Name(readmodel.Variant{}, "CatalogVariant").
		Name(readmodel.Page[readmodel.Product]{}, "CatalogProductPage").Name(readmodel.Order{}, "OrderSummary").
		Name(readmodel.Page[readmodel.Order]{}, "OrderPage").Name(readmodel.Page[readmodel.StockItem]{}, "StockItemPage").
		Name(search.Result{}, "SearchResult").Name(search.Hit{}, "SearchHit").Name(search.Suggestion{}, "Suggestion").
		Name(Event{}, "StoredEvent").Name(rebuildBody{}, "RebuildOptions").Name(projections.Status{}, "ProjectionState").
		Name(ProjectionView{}, "ProjectionStatus").Name(domain.Return{}, "Return")
	s.Annotate("OrderSummary", "status", map[string]any{"enum": orderStatuses}).
		Annotate("OrderView", "status", map[string]any{"enum": orderStatuses}).
		Annotate("OrderSummary", "version", map[string]any{"description": "the order stream's 0-based version (the command API's ETag)"}).
		Annotate("OrderView", "version", map[string]any{"description": "the order stream's 0-based version (the command API's ETag)"}).
		Annotate("RebuildJob", "state", map[string]any{"enum": []string{JobRunning, JobSucceeded, JobFailed}})
	readHeaders := map[string]httpapi.Header{
		"ETag":      {Description: "validator of the representation; send it back in If-None-Match", Schema: str},
		HeaderStale: {Description: "the projection had not reached minPosition within the wait bound", Schema: enum("true")},
		HeaderPosition: {Description: "position of the projection (catalog, orders, inventory or search index; the log's head for event-store reads) the answer reflects",
			Schema: strPattern("^[0-9]+$")},
		"Cache-Control": {Description: "public, no-cache (catalog) or private, no-cache", Schema: str},
	}
	ops := make([]httpapi.Op, 0, len(operations))
	for _, op := range operations {
		o := httpapi.Op{Method: op.method, Path: op.path, Summary: op.summary, Description: op.description, Tag: op.tag,
			Body: op.body, BodyOptional: op.body != nil, Errors: append([]int{400}, op.errors...)}
		if op.roles != nil {
			o.Roles = roleNames(op.roles)
		}
		hasMin := false
		for _, p := range op.params {
			sch := p.schema
			if p.repeat {
				sch = arr(p.schema)
			}
			req := false
			for _, n := range required[op.path] {
				req = req || n == p.name
			}
			o.Params = append(o.Params, httpapi.Param{Name: p.name, In: "query", Schema: sch, Description: p.desc, Required: req})
			hasMin = hasMin || p.name == "minPosition"
		}
		if hasMin {
			o.Params = append(o.Params, httpapi.Param{Name: HeaderPosition, In: "header", Schema: strPattern("^[0-9]+$"),
				Description: "same as minPosition (the higher of the two counts)"})
		}
		if op.method == "GET" {
			o.Params = append(o.Params, httpapi.Param{Name: "If-None-Match", In: "header", Schema: str, Description: "an ETag of this API: 304 when unchanged"})
		}
		if op.path == "/v1/admin/events" {
			o.Params = append(o.Params, httpapi.Param{Name: "Accept", In: "header", Schema: str, Description: "application/x-ndjson for one event per line"})
		}
		resp := httpapi.Response{Description: "success", Body: op.result, Headers: readHeaders}
		if op.path == "/v1/admin/events" {
			resp.Content = map[string]any{
				"application/json": map[string]any{"schema": s.Ref(op.result)},
				ndjson:             map[string]any{"schema": s.Ref(Event{})}, // one StoredEvent per line
			}
		}
		if op.ok == 202 {
			resp = httpapi.Response{Description: "the rebuild started", Body: op.result, Headers: map[string]httpapi.Header{
				"Location":      {Description: "where the progress shows", Schema: str},
				"Cache-Control": {Description: "no-store", Schema: str}}}
		}
		o.Responses = map[int]httpapi.Response{op.ok: resp}
		if op.method == "GET" {
			o.Responses[304] = httpapi.Response{Description: "not modified (If-None-Match)"}
		}
		ops = append(ops, o)
	}
	return ops
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
