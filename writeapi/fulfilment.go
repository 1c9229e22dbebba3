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

// Parcels fulfils orders in parts and records their delivery (*orderops.Ops).
type Parcels interface {
	Fulfil(ctx context.Context, orderID string, in orderops.FulfilInput, meta commands.Meta) (commands.Result[domain.Order], error)
	DeliverFulfillment(ctx context.Context, orderID, fulfillmentID string, meta commands.Meta) (commands.Result[domain.Order], error)
}

// LineCancellations cancels unfulfilled units of orders (*orderops.Ops).
type LineCancellations interface {
	CancelLines(ctx context.Context, orderID string, lines []domain.LineQuantity, reason string, meta commands.Meta) (commands.Result[domain.Order], error)
}

// Returns runs returns (*orderops.Ops).
type Returns interface {
	RequestReturn(ctx context.Context, orderID string, lines []domain.ReturnLine, meta commands.Meta) (commands.Result[domain.Order], domain.Return, error)
	ApproveReturn(ctx context.Context, returnID string, meta commands.Meta) (commands.Result[domain.Order], domain.Return, error)
	RejectReturn(ctx context.Context, returnID, reason string, meta commands.Meta) (commands.Result[domain.Order], domain.Return, error)
	ReceiveReturn(ctx context.Context, returnID string, lines []domain.ReceivedLine, refundShipping bool, meta commands.Meta) (commands.Result[domain.Order], domain.Return, error)
}

// LineRefunds refunds orders by line (*orderops.Ops).
type LineRefunds interface {
	RefundLines(ctx context.Context, orderID string, lines []domain.RefundLine, refundShipping bool, reason string, meta commands.Meta) (commands.Result[domain.Order], error)
}

type lineBody struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

func lineQuantities(ls []lineBody) []domain.LineQuantity {
	out := make([]domain.LineQuantity, len(ls))
	for i, l := range ls {
		out[i] = domain.LineQuantity{SKU: l.SKU, Quantity: l.Quantity}
	}
	return out
}

type fulfillmentBody struct {
	Lines          []lineBody `json:"lines"`
	Warehouse      string     `json:"warehouse,omitempty"`
	Carrier        string     `json:"carrier"`
	TrackingNumber string     `json:"trackingNumber"`
}

func (a *API) fulfilOrder(w http.ResponseWriter, r *http.Request) {
	if !available(w, r, a.parcels != nil, "fulfilment") {
		return
	}
	var b fulfillmentBody
	a.orderOpStatus(w, r, &b, http.StatusCreated, func(ctx context.Context, id string, meta commands.Meta) error {
		_, err := a.parcels.Fulfil(ctx, id, orderops.FulfilInput{Lines: lineQuantities(b.Lines), Warehouse: b.Warehouse, Carrier: b.Carrier, TrackingNumber: b.TrackingNumber}, meta)
		return err
	})
}

func (a *API) deliverFulfillment(w http.ResponseWriter, r *http.Request) {
	if !available(w, r, a.parcels != nil, "fulfilment") {
		return
	}
	a.orderOp(w, r, nil, func(ctx context.Context, id string, meta commands.Meta) error {
		_, err := a.parcels.DeliverFulfillment(ctx, id, chi.URLParam(r, "fid"), meta)
		return err
	})
}

type returnLineBody struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
	Reason   string `json:"reason,omitempty"`
}

type returnBody struct {
	Lines []returnLineBody `json:"lines"`
}

// requestReturn opens a return: the owning customer (within the return window) or an admin.
func (a *API) requestReturn(w http.ResponseWriter, r *http.Request) {
	if !available(w, r, a.returns != nil, "returns") {
		return
	}
	var b returnBody
	var ret domain.Return
	var res commands.Result[domain.Order]
	ok := a.orderCheck(w, r, &b, func(ctx context.Context, id string, meta commands.Meta) error {
		lines := make([]domain.ReturnLine, len(b.Lines))
		for i, l := range b.Lines {
			lines[i] = domain.ReturnLine{SKU: l.SKU, Quantity: l.Quantity, Reason: l.Reason}
		}
		var err error
		res, ret, err = a.returns.RequestReturn(ctx, id, lines, meta)
		return err
	})
	if ok {
		w.Header().Set("Location", "/v1/returns/"+ret.ID)
		writeResult(w, http.StatusCreated, res.Version, res.Position, ret)
	}
}

type rejectBody struct {
	Reason string `json:"reason"`
}

type receiveLineBody struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	Restock   bool   `json:"restock"`
	Warehouse string `json:"warehouse,omitempty"`
}

type receiveBody struct {
	Lines          []receiveLineBody `json:"lines"`
	RefundShipping bool              `json:"refundShipping,omitempty"`
}

// returnOp runs an admin operation on a return and answers with the return.
func (a *API) returnOp(w http.ResponseWriter, r *http.Request, body any, op func(ctx context.Context, rid string, meta commands.Meta) (commands.Result[domain.Order], domain.Return, error)) {
	if !available(w, r, a.returns != nil, "returns") {
		return
	}
	meta, err := a.meta(r)
	if err == nil && body != nil {
		err = a.decode(w, r, body)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, ret, err := op(r.Context(), chi.URLParam(r, "rid"), meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/returns/"+ret.ID)
	writeResult(w, http.StatusOK, res.Version, res.Position, ret)
}

func (a *API) approveReturn(w http.ResponseWriter, r *http.Request) {
	a.returnOp(w, r, nil, func(ctx context.Context, rid string, meta commands.Meta) (commands.Result[domain.Order], domain.Return, error) {
		return a.returns.ApproveReturn(ctx, rid, meta)
	})
}

func (a *API) rejectReturn(w http.ResponseWriter, r *http.Request) {
	var b rejectBody
	a.returnOp(w, r, &b, func(ctx context.Context, rid string, meta commands.Meta) (commands.Result[domain.Order], domain.Return, error) {
		return a.returns.RejectReturn(ctx, rid, b.Reason, meta)
	})
}

func (a *API) receiveReturn(w http.ResponseWriter, r *http.Request) {
	var b receiveBody
	a.returnOp(w, r, &b, func(ctx context.Context, rid string, meta commands.Meta) (commands.Result[domain.Order], domain.Return, error) {
		lines := make([]domain.ReceivedLine, len(b.Lines))
		for i, l := range b.Lines {
			lines[i] = domain.ReceivedLine{SKU: l.SKU, Quantity: l.Quantity, Restock: l.Restock, Warehouse: l.Warehouse}
		}
		return a.returns.ReceiveReturn(ctx, rid, lines, b.RefundShipping, meta)
	})
}

// orderOpStatus is orderOp answering with another status.
func (a *API) orderOpStatus(w http.ResponseWriter, r *http.Request, body any, status int, op func(ctx context.Context, id string, meta commands.Meta) error) {
	if a.orderCheck(w, r, body, op) {
		meta, _ := a.meta(r)
		a.writeOrder(w, r, chi.URLParam(r, "id"), meta, status, nil)
	}
}

// errUnavailable answers 503 for an operation this server is not wired for.
func errUnavailable(what string) error {
	return &httpapi.RequestError{Status: http.StatusServiceUnavailable, Slug: "checkout-unavailable", Detail: "this server runs no " + what}
}
