package readapi

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/projections/readmodel"
)

var returnsParams = []param{pMinPosition}

// ReturnList is GET /v1/orders/{id}/returns.
type ReturnList struct {
	Items    []domain.Return `json:"items"`
	Position uint64          `json:"position"`
}

// ownOrder reads an order the caller may see from the read model: the owner, admins and
// auditors; someone else's order is as if absent. It answers the failure itself.
func (a *API) ownOrder(w http.ResponseWriter, r *http.Request, id string) (readmodel.Order, uint64, bool) {
	q, err := parseQuery(r, returnsParams)
	if err != nil {
		a.fail(w, r, err)
		return readmodel.Order{}, 0, false
	}
	atLeast := q.minPosition(r)
	if err := q.err(); err != nil {
		a.fail(w, r, err)
		return readmodel.Order{}, 0, false
	}
	if err := a.await(r.Context(), projOrders, atLeast); err != nil {
		a.fail(w, r, err)
		return readmodel.Order{}, 0, false
	}
	o, pos, err := a.reader.Order(r.Context(), id)
	p, ownOnly := principal(r)
	if err == nil && ownOnly && o.CustomerID != p.Subject {
		err = fmt.Errorf("order %s: %w", id, readmodel.ErrNotFound)
	}
	if err != nil {
		a.failAt(w, r, err, pos, atLeast)
		return readmodel.Order{}, 0, false
	}
	return o, pos, true
}

// listReturns: GET /v1/orders/{id}/returns.
func (a *API) listReturns(w http.ResponseWriter, r *http.Request) {
	o, pos, ok := a.ownOrder(w, r, chi.URLParam(r, "id"))
	if !ok {
		return
	}
	items := o.Returns
	if items == nil {
		items = []domain.Return{}
	}
	a.write(w, r, reply{body: ReturnList{Items: items, Position: pos}, position: pos})
}

// getReturn: GET /v1/returns/{rid}; the return id names its order.
func (a *API) getReturn(w http.ResponseWriter, r *http.Request) {
	rid := chi.URLParam(r, "rid")
	notFound := fmt.Errorf("return %s: %w", rid, readmodel.ErrNotFound)
	orderID, ok := domain.ReturnOrderID(rid)
	if !ok {
		if _, err := parseQuery(r, returnsParams); err != nil { // a bad query is 400 first
			a.fail(w, r, err)
			return
		}
		a.fail(w, r, notFound)
		return
	}
	o, pos, ok := a.ownOrder(w, r, orderID)
	if !ok {
		return
	}
	for _, ret := range o.Returns {
		if ret.ID == rid {
			a.write(w, r, reply{body: ret, position: pos})
			return
		}
	}
	a.failAt(w, r, notFound, pos, 0)
}
