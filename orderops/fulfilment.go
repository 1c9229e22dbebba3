package orderops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

// Fulfilment in parts, cancellation of lines, returns and refunds by line.
//
// Each operation first records its decision on the order stream (what it fulfils,
// cancels or refunds, and the money that goes with it), then moves money at the gateway
// and records the outcome on the payment and the order (see domain/order_fulfilment.go).
// Because quantities are counted by the first event, two concurrent requests cannot take
// the same units (the loser's append conflicts, is re-decided, and finds nothing left:
// ErrIllegalTransition). A crash after the first event leaves a pending step; the next
// operation on the order (or a retry) settles it with the same ids, and the gateway calls
// carry keys derived from those ids, so money never moves twice.

// PartsGateway is the part of the gateway fulfilment in parts needs.
type PartsGateway interface {
	CapturePart(ctx context.Context, req payment.CaptureRequest) (payment.Result, error)
	VoidPart(ctx context.Context, req payment.PartialVoidRequest) (payment.Result, error)
}

// DefaultReturnWindow is how long after delivery a customer may request a return.
const DefaultReturnWindow = 30 * 24 * time.Hour

// FulfilInput is one parcel.
type FulfilInput struct {
	Lines          []domain.LineQuantity
	Warehouse      string // optional: where the units ship from; must hold the order's units
	Carrier        string
	TrackingNumber string
}

type orderResult = commands.Result[domain.Order]

// derivedID is a stable id for a request: from the caller's idempotency key when there is
// one, otherwise random.
func derivedID(prefix, orderID, key, step string) string {
	if key == "" {
		return prefix + uuid.NewString()
	}
	return prefix + uuid.NewSHA1(uuid.NameSpaceOID, []byte(orderID+"\x00"+key+"\x00"+step)).String()
}

// firstMeta is the metadata of the step that records the caller's decision: it carries the
// caller's If-Match and ownership.
func firstMeta(orderID string, m commands.Meta, step string) commands.Meta {
	out := callerMeta(orderID, m, step)
	out.IfMatch, out.Customer = m.IfMatch, m.Customer
	return out
}

// stepMeta is the metadata of a settling step: its idempotency key derives from the ids
// recorded on the order, so a resumed step is recognised whoever resumes it.
func stepMeta(orderID string, m commands.Meta, key string) commands.Meta {
	actor := m.Actor
	if actor == "" {
		actor = checkout.Actor
	}
	return commands.Meta{CorrelationID: orderID, CausationID: m.CausationID, Actor: actor, IdempotencyKey: "order:" + orderID + ":" + key}
}

func (o *Ops) parts() (PartsGateway, error) {
	pg, ok := o.gw.(PartsGateway)
	if !ok {
		return nil, errors.New("orderops: the payment gateway cannot capture or void in parts")
	}
	return pg, nil
}

func (o *Ops) load(ctx context.Context, orderID string) (orderResult, error) {
	l, err := commands.Load(ctx, o.rt, orders, orderID)
	if err != nil {
		return orderResult{}, err
	}
	r := orderResult{State: l.State, Stream: l.Stream, Version: l.Version, Position: l.Position}
	if !l.Exists {
		return r, fmt.Errorf("%w: order %s does not exist", domain.ErrNotFound, orderID)
	}
	return r, nil
}

// notCancelling fails when the order's checkout is being cancelled.
func (o *Ops) notCancelling(ctx context.Context, orderID, action string) error {
	st, err := o.co.Status(ctx, orderID)
	if err != nil && !errors.Is(err, domain.ErrNotFound) { // no checkout: the order decides
		return err
	}
	if st.Code != "" {
		return &domain.TransitionError{Aggregate: "order", ID: orderID, State: "cancelling", Action: action, Reason: "the order is being cancelled"}
	}
	return nil
}

// Fulfil ships a parcel of a paid order: it records the fulfilment, then captures the
// lines' share of the authorization (and the shipping with the first parcel). Quantities
// beyond what is left fail with domain.ErrIllegalTransition (409). The stock was committed
// when the order was paid; Warehouse must be one the order's units were taken from.
func (o *Ops) Fulfil(ctx context.Context, orderID string, in FulfilInput, meta commands.Meta) (orderResult, error) {
	defer o.locks.Lock(orderID)()
	return o.fulfil(ctx, orderID, derivedID("f-", orderID, meta.IdempotencyKey, "fulfil"), in, meta)
}

func (o *Ops) fulfil(ctx context.Context, orderID, fid string, in FulfilInput, meta commands.Meta) (orderResult, error) {
	if err := o.settle(ctx, orderID, meta); err != nil {
		return orderResult{}, err
	}
	if err := o.notCancelling(ctx, orderID, "fulfil"); err != nil {
		return orderResult{}, err
	}
	if in.Warehouse != "" {
		if err := o.checkWarehouse(ctx, orderID, in.Lines, in.Warehouse); err != nil {
			return orderResult{}, err
		}
	}
	cmd := domain.FulfilOrder{OrderID: orderID, FulfillmentID: fid, Lines: in.Lines, Warehouse: in.Warehouse, Carrier: in.Carrier, TrackingNumber: in.TrackingNumber}
	if _, err := commands.Execute(ctx, o.rt, orders, cmd, firstMeta(orderID, meta, "fulfil")); err != nil {
		return orderResult{}, err
	}
	if err := o.settle(ctx, orderID, meta); err != nil {
		return orderResult{}, err
	}
	return o.load(ctx, orderID)
}

// checkWarehouse verifies that the order's committed units of each line were taken from w.
func (o *Ops) checkWarehouse(ctx context.Context, orderID string, lines []domain.LineQuantity, w string) error {
	for i, l := range lines {
		inv, err := commands.Load(ctx, o.rt, domain.NewInventoryDecider(), l.SKU)
		if err != nil {
			return err
		}
		st, ok := inv.State.Settled[orderID]
		var held int64
		for _, a := range st.Allocations {
			if a.Warehouse == w {
				held += a.Quantity
			}
		}
		if !ok || st.Outcome != domain.ReservationCommitted || held < l.Quantity {
			return &domain.ValidationError{Problems: []domain.FieldProblem{{Field: "warehouse",
				Reason: fmt.Sprintf("warehouse %s holds %d of line %d (%s) for this order", w, held, i, l.SKU)}}}
		}
	}
	return nil
}

// Ship fulfils everything that is left in one parcel. Repeating it with the same carrier
// and tracking number is a no-op (the parcel's id derives from them).
func (o *Ops) Ship(ctx context.Context, orderID, carrier, tracking string, meta commands.Meta) (orderResult, error) {
	defer o.locks.Lock(orderID)()
	fid := "ship-" + uuid.NewSHA1(uuid.NameSpaceOID, []byte(orderID+"\x00"+carrier+"\x00"+tracking)).String()
	cur, err := o.load(ctx, orderID)
	if err != nil {
		return cur, err
	}
	if _, done := cur.State.Fulfillment(fid); done {
		return cur, o.settle(ctx, orderID, meta)
	}
	lines := cur.State.UnfulfilledLines()
	if len(lines) == 0 && cur.State.Status != domain.OrderStatusPending {
		return cur, &domain.TransitionError{Aggregate: "order", ID: orderID, State: string(cur.State.Status), Action: "ship", Reason: "nothing is left to ship"}
	}
	return o.fulfil(ctx, orderID, fid, FulfilInput{Lines: lines, Carrier: carrier, TrackingNumber: tracking}, meta)
}

// DeliverFulfillment marks one parcel delivered; the order is delivered once every unit
// shipped and every parcel arrived.
func (o *Ops) DeliverFulfillment(ctx context.Context, orderID, fid string, meta commands.Meta) (orderResult, error) {
	defer o.locks.Lock(orderID)()
	return commands.Execute(ctx, o.rt, orders, domain.DeliverFulfillment{OrderID: orderID, FulfillmentID: fid}, firstMeta(orderID, meta, "deliver:"+fid))
}

// CancelLines cancels unfulfilled units of a paid order (every unfulfilled unit when lines
// is empty): it records the cancellation (totals shrink), puts the units' stock back, and
// releases their share of the authorization. Cancelling everything of an order that has
// shipped nothing is a whole cancellation (Cancel), done by the checkout saga.
func (o *Ops) CancelLines(ctx context.Context, orderID string, lines []domain.LineQuantity, reason string, meta commands.Meta) (orderResult, error) {
	unlock := o.locks.Lock(orderID)
	cur, err := o.load(ctx, orderID)
	if err != nil {
		unlock()
		return cur, err
	}
	if whole(cur.State, lines) {
		unlock() // Cancel takes the lock itself
		if _, err := o.Cancel(ctx, orderID, reason, meta); err != nil {
			return orderResult{}, err
		}
		return o.load(ctx, orderID)
	}
	defer unlock()
	if err := o.settle(ctx, orderID, meta); err != nil {
		return orderResult{}, err
	}
	if reason == "" {
		reason = "cancelled on request"
	}
	cmd := domain.CancelOrderLines{OrderID: orderID, CancellationID: derivedID("x-", orderID, meta.IdempotencyKey, "cancel"), Lines: lines, Reason: clip(reason)}
	if _, err := commands.Execute(ctx, o.rt, orders, cmd, firstMeta(orderID, meta, "cancel_lines")); err != nil {
		return orderResult{}, err
	}
	if err := o.settle(ctx, orderID, meta); err != nil {
		return orderResult{}, err
	}
	return o.load(ctx, orderID)
}

// whole reports whether cancelling lines of s cancels the whole order: nothing shipped and
// every open unit asked for.
func whole(s domain.Order, lines []domain.LineQuantity) bool {
	if len(s.Fulfillments) > 0 || !(s.Status == domain.OrderStatusPending || s.Status == domain.OrderStatusPaid) {
		return false
	}
	if len(lines) == 0 {
		return true
	}
	asked := map[string]int64{}
	for _, l := range lines {
		asked[l.SKU] += l.Quantity
	}
	for _, p := range s.Progress {
		if asked[p.SKU] < p.Open() {
			return false
		}
	}
	return true
}

// RequestReturn opens a return of fulfilled units: by the owning customer (meta.Customer)
// within the return window after delivery, or by an admin at any time.
func (o *Ops) RequestReturn(ctx context.Context, orderID string, lines []domain.ReturnLine, meta commands.Meta) (orderResult, domain.Return, error) {
	defer o.locks.Lock(orderID)()
	rid := domain.NewReturnID(orderID, strings.ReplaceAll(derivedID("", orderID, meta.IdempotencyKey, "return"), "-", "")[:16])
	cmd := domain.RequestReturn{OrderID: orderID, ReturnID: rid, Lines: lines, ByAdmin: meta.Customer == "", Window: o.returnWindow()}
	r, err := commands.Execute(ctx, o.rt, orders, cmd, firstMeta(orderID, meta, "return"))
	if err != nil {
		return r, domain.Return{}, err
	}
	ret, _ := r.State.Return(rid)
	return r, ret, nil
}

// ReturnOrder is the order a return id belongs to.
func ReturnOrder(returnID string) (string, error) {
	id, ok := domain.ReturnOrderID(returnID)
	if !ok {
		return "", fmt.Errorf("%w: return %s does not exist", domain.ErrNotFound, returnID)
	}
	return id, nil
}

func (o *Ops) returnWindow() time.Duration {
	if o.window > 0 {
		return o.window
	}
	return DefaultReturnWindow
}

// ApproveReturn approves a requested return.
func (o *Ops) ApproveReturn(ctx context.Context, returnID string, meta commands.Meta) (orderResult, domain.Return, error) {
	return o.onReturn(ctx, returnID, meta, "approve", func(orderID string) domain.OrderCommand {
		return domain.ApproveReturn{OrderID: orderID, ReturnID: returnID}
	})
}

// RejectReturn rejects a requested or approved return.
func (o *Ops) RejectReturn(ctx context.Context, returnID, reason string, meta commands.Meta) (orderResult, domain.Return, error) {
	return o.onReturn(ctx, returnID, meta, "reject", func(orderID string) domain.OrderCommand {
		return domain.RejectReturn{OrderID: orderID, ReturnID: returnID, Reason: clip(reason)}
	})
}

func (o *Ops) onReturn(ctx context.Context, returnID string, meta commands.Meta, step string, cmd func(string) domain.OrderCommand) (orderResult, domain.Return, error) {
	orderID, err := ReturnOrder(returnID)
	if err != nil {
		return orderResult{}, domain.Return{}, err
	}
	defer o.locks.Lock(orderID)()
	cur, err := o.load(ctx, orderID)
	if err != nil {
		return cur, domain.Return{}, err
	}
	if _, ok := cur.State.Return(returnID); !ok {
		return cur, domain.Return{}, fmt.Errorf("%w: return %s does not exist", domain.ErrNotFound, returnID)
	}
	r, err := commands.Execute(ctx, o.rt, orders, cmd(orderID), firstMeta(orderID, meta, step+":"+returnID))
	if err != nil {
		return r, domain.Return{}, err
	}
	if err := o.settle(ctx, orderID, meta); err != nil {
		return r, domain.Return{}, err
	}
	if r, err = o.load(ctx, orderID); err != nil {
		return r, domain.Return{}, err
	}
	ret, _ := r.State.Return(returnID)
	return r, ret, nil
}

// ReceiveReturn records what came back of an approved return, puts the units marked
// restock back on the shelf (sellable at once) and refunds the received units: each unit
// its price after its discount share plus its tax share; the shipping only with
// refundShipping. Repeating it is a no-op.
func (o *Ops) ReceiveReturn(ctx context.Context, returnID string, lines []domain.ReceivedLine, refundShipping bool, meta commands.Meta) (orderResult, domain.Return, error) {
	r, ret, err := o.onReturn(ctx, returnID, meta, "receive", func(orderID string) domain.OrderCommand {
		return domain.ReceiveReturn{OrderID: orderID, ReturnID: returnID, RefundID: "rf-" + uuid.NewSHA1(uuid.NameSpaceOID, []byte(returnID)).String(),
			Lines: lines, RefundShipping: refundShipping}
	})
	if err != nil {
		return r, ret, err
	}
	// A return that refunds nothing has no pending refund for settle to restock after.
	defer o.locks.Lock(r.State.ID)()
	return r, ret, o.restockReturn(ctx, r.State, returnID, meta)
}

// RefundLines refunds fulfilled units without a return (goodwill); units marked restock
// came back anyway and go back on the shelf. Never more than captured and not yet refunded,
// per line and in total.
func (o *Ops) RefundLines(ctx context.Context, orderID string, lines []domain.RefundLine, refundShipping bool, reason string, meta commands.Meta) (orderResult, error) {
	defer o.locks.Lock(orderID)()
	if err := o.settle(ctx, orderID, meta); err != nil {
		return orderResult{}, err
	}
	cmd := domain.RefundOrderLines{OrderID: orderID, RefundID: derivedID("rf-", orderID, meta.IdempotencyKey, "refund"), Lines: lines, RefundShipping: refundShipping, Reason: clip(reason)}
	if _, err := commands.Execute(ctx, o.rt, orders, cmd, firstMeta(orderID, meta, "refund_lines")); err != nil {
		return orderResult{}, err
	}
	if err := o.settle(ctx, orderID, meta); err != nil {
		return orderResult{}, err
	}
	return o.load(ctx, orderID)
}

// Settle finishes whatever a crash left pending on an order: captures of recorded
// fulfilments, releases and restocks of cancelled lines, restocks and refunds of received
// returns and refunds by line.
func (o *Ops) Settle(ctx context.Context, orderID string, meta commands.Meta) error {
	defer o.locks.Lock(orderID)()
	return o.settle(ctx, orderID, meta)
}

func (o *Ops) settle(ctx context.Context, orderID string, meta commands.Meta) error {
	cur, err := o.load(ctx, orderID)
	if err != nil {
		return err
	}
	s := cur.State
	if !s.Pending() {
		return nil
	}
	pay, err := commands.Load(ctx, o.rt, payments, orderID)
	if err != nil {
		return err
	}
	ref := pay.State.GatewayRef
	for _, f := range s.Fulfillments {
		if f.Captured {
			continue
		}
		pg, err := o.parts()
		if err != nil {
			return err
		}
		res, err := pg.CapturePart(ctx, payment.CaptureRequest{OrderID: orderID, GatewayRef: ref, Amount: f.Amount, IdempotencyKey: "order:" + orderID + ":capture:" + f.ID})
		if err != nil {
			return err
		}
		if res.Status != payment.StatusSucceeded {
			return fmt.Errorf("%w: capture of fulfilment %s: %s", payment.ErrRefused, f.ID, res.Reason)
		}
		if _, err := commands.Execute(ctx, o.rt, payments, domain.CapturePaymentPart{PaymentID: orderID, CaptureID: f.ID, Amount: f.Amount}, stepMeta(orderID, meta, "capture_payment:"+f.ID)); err != nil {
			return err
		}
		if _, err := commands.Execute(ctx, o.rt, orders, domain.MarkFulfillmentCaptured{OrderID: orderID, FulfillmentID: f.ID}, stepMeta(orderID, meta, "captured:"+f.ID)); err != nil {
			return err
		}
	}
	for _, r := range s.PendingReleases {
		for _, l := range r.Lines {
			if err := o.restock(ctx, orderID, l.SKU, l.Quantity, "", "cancelled", stepMeta(orderID, meta, "cancel:"+r.CancellationID+":restock:"+l.SKU)); err != nil {
				return err
			}
		}
		if r.Amount.IsPositive() {
			pg, err := o.parts()
			if err != nil {
				return err
			}
			res, err := pg.VoidPart(ctx, payment.PartialVoidRequest{OrderID: orderID, GatewayRef: ref, Amount: r.Amount, IdempotencyKey: "order:" + orderID + ":release:" + r.CancellationID})
			if err != nil {
				return err
			}
			if res.Status != payment.StatusSucceeded {
				return fmt.Errorf("%w: release of cancellation %s: %s", payment.ErrRefused, r.CancellationID, res.Reason)
			}
			if _, err := commands.Execute(ctx, o.rt, payments, domain.ReleaseAuthorizationPart{PaymentID: orderID, ReleaseID: r.CancellationID, Amount: r.Amount}, stepMeta(orderID, meta, "release_payment:"+r.CancellationID)); err != nil {
				return err
			}
		}
		if _, err := commands.Execute(ctx, o.rt, orders, domain.MarkAuthorizationReleased{OrderID: orderID, CancellationID: r.CancellationID}, stepMeta(orderID, meta, "released:"+r.CancellationID)); err != nil {
			return err
		}
	}
	for _, r := range s.PendingRefunds {
		if r.ReturnID != "" {
			if err := o.restockReturn(ctx, s, r.ReturnID, meta); err != nil {
				return err
			}
		}
		for _, l := range r.Lines {
			if l.Restock {
				if err := o.restock(ctx, orderID, l.SKU, l.Quantity, "", "refund "+r.RefundID, stepMeta(orderID, meta, "refund:"+r.RefundID+":restock:"+l.SKU)); err != nil {
					return err
				}
			}
		}
		if err := o.refund(ctx, orderID, ref, r, meta); err != nil {
			return err
		}
	}
	return nil
}

// restockReturn puts back the units of a received return marked restock, to the warehouse
// given on receipt (default: where they were taken from). Repeats are no-ops.
func (o *Ops) restockReturn(ctx context.Context, s domain.Order, returnID string, meta commands.Meta) error {
	ret, ok := s.Return(returnID)
	if !ok || ret.Status != domain.ReturnReceived {
		return nil
	}
	for _, l := range ret.Received {
		if l.Restock {
			if err := o.restock(ctx, s.ID, l.SKU, l.Quantity, l.Warehouse, "return "+ret.ID, stepMeta(s.ID, meta, "return:"+ret.ID+":restock:"+l.SKU)); err != nil {
				return err
			}
		}
	}
	return nil
}

// restock puts units of a sale back on hand; its idempotency key makes a repeat a no-op.
func (o *Ops) restock(ctx context.Context, orderID, sku string, qty int64, warehouse, reason string, meta commands.Meta) error {
	_, err := commands.Execute(ctx, o.rt, domain.NewInventoryDecider(), domain.RestockReturn{SKU: sku, OrderID: orderID, Quantity: qty, Warehouse: warehouse, Reason: clip(reason)}, meta)
	return err
}

// refund settles a refund recorded on the order: gateway, payment, then the order.
func (o *Ops) refund(ctx context.Context, orderID, ref string, r domain.PendingRefund, meta commands.Meta) error {
	res, err := o.gw.Refund(ctx, payment.RefundRequest{OrderID: orderID, GatewayRef: ref, Amount: r.Amount, IdempotencyKey: "checkout:" + orderID + ":refund:" + r.RefundID})
	if err != nil {
		return err
	}
	if res.Status != payment.StatusSucceeded {
		return fmt.Errorf("%w: refund %s: %s", payment.ErrRefused, r.RefundID, res.Reason)
	}
	if _, err := commands.Execute(ctx, o.rt, payments, domain.RefundPayment{PaymentID: orderID, RefundID: r.RefundID, Amount: r.Amount, Reason: r.Reason}, stepMeta(orderID, meta, "refund_payment:"+r.RefundID)); err != nil {
		return err
	}
	_, err = commands.Execute(ctx, o.rt, orders, domain.RefundOrder{OrderID: orderID, RefundID: r.RefundID, Amount: r.Amount, Reason: r.Reason}, stepMeta(orderID, meta, "refunded:"+r.RefundID))
	return err
}
