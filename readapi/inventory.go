package readapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/projections/readmodel"
)

var stockListParams = []param{
	{"lowStock", boolean, "only SKUs at or below the low-stock threshold", "true", false},
	pLimit, pCursor, pMinPosition,
}

var stockParams = []param{pMinPosition}

// listStock: GET /v1/inventory — SKUs by available stock, lowest first.
func (a *API) listStock(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, stockListParams)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sq := readmodel.StockQuery{LowOnly: q.bool("lowStock"), Limit: q.limit(DefaultLimit, MaxLimit), Cursor: q.str("cursor", 1000)}
	atLeast := q.minPosition(r)
	if err := q.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.await(r.Context(), projInventory, atLeast); err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.reader.StockItems(r.Context(), sq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, reply{body: page, tag: pageTag(page.Items, page.NextCursor), position: page.Position, min: atLeast,
		link: nextLink(r, "cursor", page.NextCursor)})
}

// getStock: GET /v1/inventory/{sku} — on hand, reserved, available, per warehouse.
func (a *API) getStock(w http.ResponseWriter, r *http.Request) {
	getOne(a, w, r, stockParams, projInventory, false, a.reader.Stock, chi.URLParam(r, "sku"))
}
