package writeapi

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/orderops"
)

// OrderEdits stages and applies edits of paid orders (*orderops.Edits).
type OrderEdits interface {
	Open(ctx context.Context, orderID string, meta commands.Meta) (orderops.EditView, error)
	Get(ctx context.Context, orderID, editID string) (orderops.EditView, error)
	AddItem(ctx context.Context, orderID, editID, sku string, qty int64, meta commands.Meta) (orderops.EditView, error)
	SetQuantity(ctx context.Context, orderID, editID, sku string, qty int64, meta commands.Meta) (orderops.EditView, error)
	SetShippingAddress(ctx context.Context, orderID, editID string, a domain.Address, meta commands.Meta) (orderops.EditView, error)
	Cancel(ctx context.Context, orderID, editID string, meta commands.Meta) (orderops.EditView, error)
	Confirm(ctx context.Context, orderID, editID string, meta commands.Meta) (orderops.EditView, error)
}

// editBody is the answer of every edit route: the edit, its preview (the recorded plan
// once confirming or applied) and the order's version (also the ETag).
type editBody struct {
	OrderID      string             `json:"orderId"`
	OrderVersion uint64             `json:"orderVersion"`
	Edit         domain.OrderEdit   `json:"edit"`
	Preview      domain.EditPreview `json:"preview"`
}

type editQuantityBody struct {
	Quantity int64 `json:"quantity"`
}

// registerEdits adds the edit routes (admin only).
func (a *API) registerEdits(r chi.Router) {
	r.Post("/v1/orders/{id}/edits", a.idempotent(a.openEdit))
	r.Get("/v1/orders/{id}/edits/{eid}", a.getEdit)
	r.Post("/v1/orders/{id}/edits/{eid}/items", a.idempotent(a.addEditItem))
	r.Patch("/v1/orders/{id}/edits/{eid}/items/{sku}", a.changeEditItem)
	r.Put("/v1/orders/{id}/edits/{eid}/shipping-address", a.setEditAddress)
	r.Post("/v1/orders/{id}/edits/{eid}/confirm", a.idempotent(a.confirmEdit))
	r.Post("/v1/orders/{id}/edits/{eid}/cancel", a.idempotent(a.cancelEdit))
}

// editOp checks the caller, decodes body, runs op and answers with the edit.
func (a *API) editOp(w http.ResponseWriter, r *http.Request, body any, status int, op func(ctx context.Context, id, eid string, meta commands.Meta) (orderops.EditView, error)) {
	if !available(w, r, a.edits != nil, "order edits") {
		return
	}
	var v orderops.EditView
	ok := a.orderCheck(w, r, body, func(ctx context.Context, id string, meta commands.Meta) error {
		var err error
		v, err = op(ctx, id, chi.URLParam(r, "eid"), meta)
		return err
	})
	if !ok {
		return
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", "/v1/orders/"+v.Order.State.ID+"/edits/"+v.Edit.ID)
	}
	writeResult(w, status, v.Order.Version, v.Order.Position, editBody{OrderID: v.Order.State.ID, OrderVersion: v.Order.Version, Edit: v.Edit, Preview: v.Preview})
}

// openEdit requires If-Match: an edit is decided against the order the admin saw.
func (a *API) openEdit(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("If-Match") == "" {
		a.fail(w, r, &httpapi.RequestError{Status: http.StatusPreconditionRequired, Slug: "precondition-required", Detail: "opening an edit needs If-Match with the order's version (its ETag)"})
		return
	}
	a.editOp(w, r, nil, http.StatusCreated, func(ctx context.Context, id, _ string, meta commands.Meta) (orderops.EditView, error) {
		return a.edits.Open(ctx, id, meta)
	})
}

func (a *API) getEdit(w http.ResponseWriter, r *http.Request) {
	a.editOp(w, r, nil, http.StatusOK, func(ctx context.Context, id, eid string, _ commands.Meta) (orderops.EditView, error) {
		return a.edits.Get(ctx, id, eid)
	})
}

func (a *API) addEditItem(w http.ResponseWriter, r *http.Request) {
	var b lineBody
	a.editOp(w, r, &b, http.StatusOK, func(ctx context.Context, id, eid string, meta commands.Meta) (orderops.EditView, error) {
		return a.edits.AddItem(ctx, id, eid, b.SKU, b.Quantity, meta)
	})
}

func (a *API) changeEditItem(w http.ResponseWriter, r *http.Request) {
	var b editQuantityBody
	a.editOp(w, r, &b, http.StatusOK, func(ctx context.Context, id, eid string, meta commands.Meta) (orderops.EditView, error) {
		return a.edits.SetQuantity(ctx, id, eid, chi.URLParam(r, "sku"), b.Quantity, meta)
	})
}

func (a *API) setEditAddress(w http.ResponseWriter, r *http.Request) {
	var b domain.Address
	a.editOp(w, r, &b, http.StatusOK, func(ctx context.Context, id, eid string, meta commands.Meta) (orderops.EditView, error) {
		return a.edits.SetShippingAddress(ctx, id, eid, b, meta)
	})
}

func (a *API) confirmEdit(w http.ResponseWriter, r *http.Request) {
	a.editOp(w, r, nil, http.StatusOK, func(ctx context.Context, id, eid string, meta commands.Meta) (orderops.EditView, error) {
		return a.edits.Confirm(ctx, id, eid, meta)
	})
}

func (a *API) cancelEdit(w http.ResponseWriter, r *http.Request) {
	a.editOp(w, r, nil, http.StatusOK, func(ctx context.Context, id, eid string, meta commands.Meta) (orderops.EditView, error) {
		return a.edits.Cancel(ctx, id, eid, meta)
	})
}

// editOps describes the routes above in the OpenAPI document.
func editOps(s *httpapi.Schemas) []httpapi.Op {
	s.Name(editBody{}, "OrderEditView").Name(editQuantityBody{}, "EditQuantity")
	s.Annotate("OrderEditView", "orderVersion", map[string]any{"description": "the order's 0-based stream version (also the ETag)"})
	const tag = "Fulfilment"
	idem := []httpapi.Param{pIdem}
	idemMatch := []httpapi.Param{pIdem, pIfMatch}
	match := []httpapi.Param{pIfMatch}
	edit := func(status int) map[int]httpapi.Response {
		if status == http.StatusCreated {
			return created("the edit and its preview", editBody{})
		}
		return ok(status, "the edit and its preview", editBody{})
	}
	stage := []int{400, 404, 409, 412, 413, 415, 422, 503}
	return []httpapi.Op{
		{Method: "POST", Path: "/v1/orders/{id}/edits", Tag: tag, Summary: "Open an edit of a paid order", Roles: admin,
			Description: "Only a paid order that is not fully fulfilled and has no money movement pending; one open edit per order (409). If-Match with the order's version is required (428 without).",
			Params:      []httpapi.Param{pIdem, {Name: "If-Match", In: "header", Required: true, Schema: str, Description: pIfMatch.Description}},
			Responses:   edit(http.StatusCreated), Errors: []int{400, 404, 409, 412, 428, 503}},
		{Method: "GET", Path: "/v1/orders/{id}/edits/{eid}", Tag: tag, Summary: "An edit and its preview", Roles: admin,
			Description: "The new lines and totals, tax, and the money to authorize (added units) or release (removed units); the recorded plan once confirming or applied.",
			Responses:   edit(http.StatusOK), Errors: []int{404, 503}},
		{Method: "POST", Path: "/v1/orders/{id}/edits/{eid}/items", Tag: tag, Summary: "Stage a new line", Roles: admin,
			Description: "At today's catalog price and the order's tax rate; a percent coupon of the order discounts it, a fixed one does not.",
			Params:      idemMatch, Body: lineBody{}, Responses: edit(http.StatusOK), Errors: stage},
		{Method: "PATCH", Path: "/v1/orders/{id}/edits/{eid}/items/{sku}", Tag: tag, Summary: "Stage a line's quantity", Roles: admin,
			Description: "0 removes the line's unfulfilled units; shipped units cannot be removed and a line with shipped or cancelled units cannot grow (409).",
			Params:      match, Body: editQuantityBody{}, Responses: edit(http.StatusOK), Errors: stage},
		{Method: "PUT", Path: "/v1/orders/{id}/edits/{eid}/shipping-address", Tag: tag, Summary: "Stage a new shipping address", Roles: admin,
			Description: "Within the order's country (its tax priced the order).",
			Params:      match, Body: domain.Address{}, Responses: edit(http.StatusOK), Errors: stage},
		{Method: "POST", Path: "/v1/orders/{id}/edits/{eid}/confirm", Tag: tag, Summary: "Apply the edit, all or nothing", Roles: admin,
			Description: "Reserves the added units, raises the authorization by what they cost, puts removed units back, applies the edit, then releases what removed units cost. Out of stock → 409, declined → 402: nothing changed and the edit stays open. Repeating it resumes an interrupted confirmation.",
			Params:      idem, Responses: edit(http.StatusOK), Errors: []int{400, 402, 404, 409, 503}},
		{Method: "POST", Path: "/v1/orders/{id}/edits/{eid}/cancel", Tag: tag, Summary: "Drop the staged edit", Roles: admin,
			Params: idem, Responses: edit(http.StatusOK), Errors: []int{400, 404, 409, 503}},
	}
}
