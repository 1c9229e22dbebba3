package writeapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/problem"
)

// Checkout places orders into the checkout saga and reports on them (*checkout.Checkout).
type Checkout interface {
	// Start begins a placed order's checkout now instead of when the bus delivers
	// order.placed (idempotent: the bus's delivery then changes nothing).
	Start(ctx context.Context, orderID string) error
	// Status is the checkout's progress; domain.ErrNotFound when there is none.
	Status(ctx context.Context, orderID string) (checkout.Status, error)
	// Wait blocks until the checkout is terminal or max has passed.
	Wait(ctx context.Context, orderID string, max time.Duration) (checkout.Status, error)
}

// PaymentWebhooks takes the payment gateway's notifications (*checkout.Checkout).
type PaymentWebhooks interface {
	// HandleWebhook verifies and applies a webhook; errors wrapping
	// payment.ErrInvalidWebhook mean it was rejected and changed nothing.
	HandleWebhook(ctx context.Context, header http.Header, body []byte) (checkout.WebhookResult, error)
}

// Cancellations cancels orders (*orderops.Ops).
type Cancellations interface {
	Cancel(ctx context.Context, orderID, reason string, meta commands.Meta) (checkout.Status, error)
}

// Fulfilment ships and delivers orders (*orderops.Ops).
type Fulfilment interface {
	Ship(ctx context.Context, orderID, carrier, tracking string, meta commands.Meta) (commands.Result[domain.Order], error)
	Deliver(ctx context.Context, orderID string, meta commands.Meta) (commands.Result[domain.Order], error)
}

// Refunds refunds orders (*orderops.Ops).
type Refunds interface {
	Refund(ctx context.Context, orderID string, amount domain.Money, reason string, meta commands.Meta) (commands.Result[domain.Order], error)
}

// available answers 503 when the port a route needs is not configured.
func available(w http.ResponseWriter, r *http.Request, configured bool, what string) bool {
	if !configured {
		httpapi.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, "checkout-unavailable", "Checkout unavailable", "this server runs no "+what))
	}
	return configured
}

type placeOrderBody struct {
	CartID          string          `json:"cartId"`
	ShippingAddress *domain.Address `json:"shippingAddress,omitempty"`
	BillingAddress  *domain.Address `json:"billingAddress,omitempty"`
	Payment         struct {
		Token string `json:"token"`
	} `json:"payment"`
}

// placeOrder starts the checkout and waits (bounded) for it: 201 with the confirmed or
// cancelled order, else 202 with Location to poll.
func (a *API) placeOrder(w http.ResponseWriter, r *http.Request) {
	if !available(w, r, a.co != nil, "checkout") {
		return
	}
	wait := a.wait
	if q := r.URL.Query().Get("wait"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d < 0 {
			a.fail(w, r, badRequest("wait must be a duration such as 5s"))
			return
		}
		wait = min(d, a.maxWait)
	}
	var b placeOrderBody
	meta, err := a.meta(r)
	if err == nil {
		err = a.decode(w, r, &b)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.PlaceOrder(r.Context(), commands.PlaceOrderInput{
		CartID: b.CartID, ShippingAddress: b.ShippingAddress, BillingAddress: b.BillingAddress, PaymentToken: b.Payment.Token,
	}, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id := res.State.ID
	if err := a.co.Start(r.Context(), id); err != nil {
		// The bus will start it; the order is placed either way.
		a.log.Warn("starting checkout inline failed; the bus will start it", "order", id, "err", err)
	}
	st, err := a.co.Wait(r.Context(), id, wait)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		a.fail(w, r, err)
		return
	}
	if !st.Terminal {
		w.Header().Set("Location", "/v1/orders/"+id+"/checkout")
		w.Header().Set("Retry-After", "1")
		writeResult(w, http.StatusAccepted, res.Version, res.Position, placedOrder{Order: res.State, Checkout: st})
		return
	}
	a.writeOrder(w, r, id, meta, http.StatusCreated, &st)
}

// writeOrder answers with the order as it stands now.
func (a *API) writeOrder(w http.ResponseWriter, r *http.Request, id string, meta commands.Meta, status int, st *checkout.Status) {
	meta.IfMatch = nil
	l, err := a.svc.Order(r.Context(), id, meta)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/orders/"+id)
	body := any(l.State)
	if st != nil {
		body = placedOrder{Order: l.State, Checkout: *st}
	}
	writeResult(w, status, l.Version, l.Position, body)
}

func (a *API) checkoutStatus(w http.ResponseWriter, r *http.Request) {
	if !available(w, r, a.co != nil, "checkout") {
		return
	}
	meta, err := a.meta(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	// Ownership first: someone else's order is 404, like a missing one.
	if _, err := a.svc.Order(r.Context(), id, meta); err != nil {
		a.fail(w, r, err)
		return
	}
	st, err := a.co.Status(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

type reasonBody struct {
	Reason string `json:"reason,omitempty"`
}

// cancelBody cancels the whole order, or with lines only those unfulfilled units.
type cancelBody struct {
	Reason string     `json:"reason,omitempty"`
	Lines  []lineBody `json:"lines,omitempty"`
}

// orderOp runs an operation on an order the caller may reach, then answers with the
// order.
func (a *API) orderOp(w http.ResponseWriter, r *http.Request, body any, op func(ctx context.Context, id string, meta commands.Meta) error) {
	if a.orderCheck(w, r, body, op) {
		meta, _ := a.meta(r)
		a.writeOrder(w, r, chi.URLParam(r, "id"), meta, http.StatusOK, nil)
	}
}

// orderCheck decodes body, checks that the caller may reach the order (and If-Match), and
// runs op; on failure it answers with the problem and returns false.
func (a *API) orderCheck(w http.ResponseWriter, r *http.Request, body any, op func(ctx context.Context, id string, meta commands.Meta) error) bool {
	meta, err := a.meta(r)
	if err == nil && body != nil {
		err = a.decode(w, r, body)
	}
	if err != nil {
		a.fail(w, r, err)
		return false
	}
	id := chi.URLParam(r, "id")
	l, err := a.svc.Order(r.Context(), id, meta)
	if err == nil && meta.IfMatch != nil && l.Version != *meta.IfMatch {
		err = fmt.Errorf("%w: order %s is at version %d, not %d", commands.ErrPreconditionFailed, id, l.Version, *meta.IfMatch)
	}
	if err == nil {
		err = op(r.Context(), id, meta)
	}
	if err != nil {
		a.fail(w, r, err)
		return false
	}
	return true
}

func (a *API) cancelOrder(w http.ResponseWriter, r *http.Request) {
	if !available(w, r, a.cancels != nil, "order cancellation") {
		return
	}
	var b cancelBody
	a.orderOp(w, r, &b, func(ctx context.Context, id string, meta commands.Meta) error {
		reason := b.Reason
		if reason == "" {
			reason = "cancelled by " + meta.Actor
		}
		if len(b.Lines) > 0 {
			if a.lineCancels == nil {
				return errUnavailable("line cancellation")
			}
			_, err := a.lineCancels.CancelLines(ctx, id, lineQuantities(b.Lines), reason, meta)
			return err
		}
		_, err := a.cancels.Cancel(ctx, id, reason, meta)
		return err
	})
}

type shipmentBody struct {
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"trackingNumber"`
}

func (a *API) shipOrder(w http.ResponseWriter, r *http.Request) {
	if !available(w, r, a.fulfil != nil, "fulfilment") {
		return
	}
	var b shipmentBody
	a.orderOp(w, r, &b, func(ctx context.Context, id string, meta commands.Meta) error {
		_, err := a.fulfil.Ship(ctx, id, b.Carrier, b.TrackingNumber, meta)
		return err
	})
}

func (a *API) deliverOrder(w http.ResponseWriter, r *http.Request) {
	if !available(w, r, a.fulfil != nil, "fulfilment") {
		return
	}
	a.orderOp(w, r, nil, func(ctx context.Context, id string, meta commands.Meta) error {
		_, err := a.fulfil.Deliver(ctx, id, meta)
		return err
	})
}

// refundBody refunds an amount, or lines (with refundShipping) — exactly one of the two.
type refundBody struct {
	Amount         *domain.Money    `json:"amount,omitempty"`
	Lines          []refundLineBody `json:"lines,omitempty"`
	RefundShipping bool             `json:"refundShipping,omitempty"`
	Reason         string           `json:"reason,omitempty"`
}

type refundLineBody struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
	Restock  bool   `json:"restock,omitempty"`
}

func (a *API) refundOrder(w http.ResponseWriter, r *http.Request) {
	if !available(w, r, a.refunds != nil, "refunds") {
		return
	}
	var b refundBody
	a.orderOp(w, r, &b, func(ctx context.Context, id string, meta commands.Meta) error {
		switch {
		case (b.Amount == nil) == (len(b.Lines) == 0):
			return &domain.ValidationError{Problems: []domain.FieldProblem{{Field: "amount", Reason: "give either amount or lines"}}}
		case b.Amount != nil:
			_, err := a.refunds.Refund(ctx, id, *b.Amount, b.Reason, meta)
			return err
		case a.lineRefunds == nil:
			return errUnavailable("refunds by line")
		}
		lines := make([]domain.RefundLine, len(b.Lines))
		for i, l := range b.Lines {
			lines[i] = domain.RefundLine{SKU: l.SKU, Quantity: l.Quantity, Restock: l.Restock}
		}
		_, err := a.lineRefunds.RefundLines(ctx, id, lines, b.RefundShipping, b.Reason, meta)
		return err
	})
}

// paymentWebhook takes gateway notifications. It needs no JWT: the HMAC signature is the
// authentication, checked by the checkout before anything changes.
func (a *API) paymentWebhook(w http.ResponseWriter, r *http.Request) {
	if !available(w, r, a.webhooks != nil, "payment webhooks") {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		a.fail(w, r, &httpapi.RequestError{Status: http.StatusRequestEntityTooLarge, Slug: "too-large",
			Detail: fmt.Sprintf("the webhook body is over the limit of %d bytes", a.maxBody)})
		return
	}
	if err != nil {
		a.fail(w, r, badRequest("reading the webhook body: %v", err))
		return
	}
	res, err := a.webhooks.HandleWebhook(r.Context(), r.Header, body)
	if err != nil {
		if errors.Is(err, payment.ErrInvalidWebhook) {
			httpapi.WriteProblem(w, r, problem.New(http.StatusBadRequest, "webhook-rejected", "Webhook rejected", err.Error()))
			return
		}
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
