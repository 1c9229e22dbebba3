package domain

import (
	"fmt"
	"slices"
	"time"
)

// An order edit changes a paid, not fully fulfilled order: it is opened, changes are
// staged and previewed, and it is confirmed (applied all or nothing) or cancelled. One
// edit is open per order at a time.
//
// Confirmation records its plan first (OrderEditConfirmRequested: the new lines, totals
// and the money to move, with the id of the extra authorization), then the caller reserves
// the added units and authorizes the extra amount, and settles with OrderEditApplied or
// OrderEditFailed. While an edit is confirming, fulfilments, line cancellations and the
// cancellation of the order are refused, so nothing can be half applied; a crash leaves
// the edit confirming and is resumed with the same ids.
//
// Pricing policy (docs/commands.md, "Order edits"):
//
//   - Units already on the order keep their unit price, discount and tax. Removed units
//     leave from the back of their line, like a line cancellation, and take their
//     cumulative-floor share of the line's discount and tax with them
//     (order_allocation.go).
//   - Added lines take the catalog price of the day given when staging and the order's tax
//     rate (every line of an order has the destination's rate).
//   - A line grows only while none of its units has shipped or been cancelled; its unit
//     price stays, the extra units are priced like added units.
//   - Coupon: a percent coupon gives its percent off every added unit (rounded half to
//     even once per line for the added units); a fixed-amount coupon is kept as it is and
//     gives nothing to added units. A coupon's minimum subtotal is re-checked against the
//     new subtotal: an edit that goes below it cannot be confirmed.
//   - The shipping charge is kept. The shipping address may change within its country
//     only (the tax rate is the country's).
//
// Money is not netted: what added (and grown) lines cost is authorized in addition (a
// second authorization), what removed units cost is released from the first (a partial
// void, settled like a line cancellation); the difference to the current grand total is
// shown as well.

// OrderEditStatus is an edit's lifecycle: open → confirming → applied, or back to open
// when the confirmation failed (out of stock, declined); open → cancelled.
type OrderEditStatus string

const (
	EditOpen       OrderEditStatus = "open"
	EditConfirming OrderEditStatus = "confirming"
	EditApplied    OrderEditStatus = "applied"
	EditCancelled  OrderEditStatus = "cancelled"
)

// EditProduct is the catalog snapshot of an SKU added by an edit.
type EditProduct struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	UnitPrice Money  `json:"unitPrice"`
}

// EditRestock is removed units of an SKU put back from one sale (the order's own, or the
// stock an earlier edit reserved, see EditStockOwner).
type EditRestock struct {
	SKU      string `json:"sku"`
	Owner    string `json:"owner"`
	Quantity int64  `json:"quantity"`
}

// EditStockOwner is the inventory owner of the units a confirmation reserves: the order
// itself may hold one reservation per SKU only.
func EditStockOwner(orderID, confirmationID string) string { return orderID + "." + confirmationID }

// EditItem is a staged target quantity of one SKU (the active units: ordered minus
// cancelled). Product is set for an SKU that is not on the order yet.
type EditItem struct {
	SKU      string       `json:"sku"`
	Quantity int64        `json:"quantity"`
	Product  *EditProduct `json:"product,omitempty"`
}

// EditLineChange is what an edit does to one line.
type EditLineChange struct {
	SKU    string `json:"sku"`
	From   int64  `json:"from"`   // active units before
	To     int64  `json:"to"`     // active units after
	Amount Money  `json:"amount"` // change of what the customer pays for the line (signed)
}

// EditPreview is what confirming an edit would do.
type EditPreview struct {
	Lines           []Line           `json:"lines"`   // every line after the edit, as on the order
	Changes         []EditLineChange `json:"changes"` // lines whose active units change
	Previous        Totals           `json:"previous"`
	Totals          Totals           `json:"totals"`
	Difference      Money            `json:"difference"`  // ToAuthorize − ToRelease
	ToAuthorize     Money            `json:"toAuthorize"` // what added units cost: a second authorization
	ToRelease       Money            `json:"toRelease"`   // what removed units cost: a partial void
	Reserve         []LineQuantity   `json:"reserve,omitempty"`
	Release         []LineQuantity   `json:"release,omitempty"`
	ShippingAddress *Address         `json:"shippingAddress,omitempty"`
	// Blocked says why it cannot be confirmed (e.g. a coupon minimum no longer met).
	Blocked string `json:"blocked,omitempty"`
}

// OrderEdit is an edit of an order.
type OrderEdit struct {
	ID              string          `json:"id"`
	Status          OrderEditStatus `json:"status"`
	OpenedBy        string          `json:"openedBy"`
	OpenedAt        time.Time       `json:"openedAt"`
	Coupon          *Coupon         `json:"coupon,omitempty"` // the order's coupon terms, for the policy
	Items           []EditItem      `json:"items,omitempty"`
	ShippingAddress *Address        `json:"shippingAddress,omitempty"`
	Attempts        int             `json:"attempts,omitempty"`       // confirmations requested
	ConfirmationID  string          `json:"confirmationId,omitempty"` // of the current or last attempt
	Plan            *EditPreview    `json:"plan,omitempty"`           // recorded when confirming
	Restock         []EditRestock   `json:"restock,omitempty"`        // recorded when confirming
	Reason          string          `json:"reason,omitempty"`         // why it failed or was cancelled
	ClosedBy        string          `json:"closedBy,omitempty"`
	ClosedAt        *time.Time      `json:"closedAt,omitempty"`
}

// AppliedEdit is an edit applied to the order and the money it moved.
type AppliedEdit struct {
	EditID         string    `json:"editId"`
	ConfirmationID string    `json:"confirmationId"` // owns the stock it reserved
	Authorized     Money     `json:"authorized"`     // incremental authorization
	Released       Money     `json:"released"`       // partial void
	By             string    `json:"by"`
	At             time.Time `json:"at"`
}

// Commands.
type (
	// OpenOrderEdit opens an edit. Coupon is the terms of the order's coupon (nil without).
	OpenOrderEdit struct {
		OrderID string
		EditID  string
		By      string
		Coupon  *Coupon
	}
	// StageEditItem sets the target quantity of an SKU; Product is required for an SKU
	// that is not on the order (an added line). Quantity 0 removes the line's open units.
	StageEditItem struct {
		OrderID  string
		EditID   string
		SKU      string
		Quantity int64
		Product  *EditProduct
		Add      bool // adding: the SKU must not be on the order or staged already
	}
	// StageEditAddress sets the new shipping address.
	StageEditAddress struct {
		OrderID string
		EditID  string
		Address Address
	}
	// CancelOrderEdit drops an open edit.
	CancelOrderEdit struct {
		OrderID string
		EditID  string
		By      string
		Reason  string
	}
	// RequestEditConfirmation records the plan of an open edit under a new confirmation id
	// (EditConfirmationID), which keys its reservations and gateway calls. Restock says
	// from which sales the removed units go back on hand (the caller reads the inventory);
	// it must cover the plan's removed units exactly.
	RequestEditConfirmation struct {
		OrderID string
		EditID  string
		By      string
		Restock []EditRestock
	}
	// CompleteOrderEdit applies a confirming edit once its units are reserved and its
	// extra amount authorized.
	CompleteOrderEdit struct {
		OrderID string
		EditID  string
	}
	// FailOrderEdit ends a confirmation without change (out of stock, declined): the
	// edit is open again, to be changed, confirmed again or cancelled.
	FailOrderEdit struct {
		OrderID string
		EditID  string
		Reason  string
	}
)

func (c OpenOrderEdit) AggregateID() string           { return c.OrderID }
func (c StageEditItem) AggregateID() string           { return c.OrderID }
func (c StageEditAddress) AggregateID() string        { return c.OrderID }
func (c CancelOrderEdit) AggregateID() string         { return c.OrderID }
func (c RequestEditConfirmation) AggregateID() string { return c.OrderID }
func (c CompleteOrderEdit) AggregateID() string       { return c.OrderID }
func (c FailOrderEdit) AggregateID() string           { return c.OrderID }
func (OpenOrderEdit) orderCommand()                   {}
func (StageEditItem) orderCommand()                   {}
func (StageEditAddress) orderCommand()                {}
func (CancelOrderEdit) orderCommand()                 {}
func (RequestEditConfirmation) orderCommand()         {}
func (CompleteOrderEdit) orderCommand()               {}
func (FailOrderEdit) orderCommand()                   {}

// Events.
type (
	OrderEditOpened struct {
		OrderID string    `json:"orderId"`
		EditID  string    `json:"editId"`
		By      string    `json:"by"`
		Coupon  *Coupon   `json:"coupon,omitempty"`
		At      time.Time `json:"at"`
	}
	OrderEditItemStaged struct {
		OrderID string    `json:"orderId"`
		EditID  string    `json:"editId"`
		Item    EditItem  `json:"item"`
		At      time.Time `json:"at"`
	}
	OrderEditAddressStaged struct {
		OrderID string `json:"orderId"`
		// CustomerID names whose personal data (the address) this carries: sealed under their key.
		CustomerID string    `json:"customerId,omitempty" privacy:"subject"`
		EditID     string    `json:"editId"`
		Address    Address   `json:"address"`
		At         time.Time `json:"at"`
	}
	OrderEditCancelled struct {
		OrderID string    `json:"orderId"`
		EditID  string    `json:"editId"`
		By      string    `json:"by"`
		Reason  string    `json:"reason,omitempty"`
		At      time.Time `json:"at"`
	}
	OrderEditConfirmRequested struct {
		OrderID string `json:"orderId"`
		// CustomerID names whose personal data (the address) this carries: sealed under their key.
		CustomerID     string        `json:"customerId,omitempty" privacy:"subject"`
		EditID         string        `json:"editId"`
		ConfirmationID string        `json:"confirmationId"`
		By             string        `json:"by"`
		Plan           EditPreview   `json:"plan"`
		Restock        []EditRestock `json:"restock,omitempty"`
		At             time.Time     `json:"at"`
	}
	OrderEditApplied struct {
		OrderID string `json:"orderId"`
		// CustomerID names whose personal data (the address) this carries: sealed under their key.
		CustomerID     string      `json:"customerId,omitempty" privacy:"subject"`
		EditID         string      `json:"editId"`
		ConfirmationID string      `json:"confirmationId"`
		By             string      `json:"by"`
		Plan           EditPreview `json:"plan"`
		At             time.Time   `json:"at"`
	}
	OrderEditFailed struct {
		OrderID        string    `json:"orderId"`
		EditID         string    `json:"editId"`
		ConfirmationID string    `json:"confirmationId"`
		Reason         string    `json:"reason"`
		At             time.Time `json:"at"`
	}
)

func (OrderEditOpened) EventType() string           { return "order.edit_opened" }
func (OrderEditItemStaged) EventType() string       { return "order.edit_item_staged" }
func (OrderEditAddressStaged) EventType() string    { return "order.edit_address_staged" }
func (OrderEditCancelled) EventType() string        { return "order.edit_cancelled" }
func (OrderEditConfirmRequested) EventType() string { return "order.edit_confirm_requested" }
func (OrderEditApplied) EventType() string          { return "order.edit_applied" }
func (OrderEditFailed) EventType() string           { return "order.edit_failed" }

// EditConfirming reports whether an edit of the order is being confirmed: other changes
// to its lines wait.
func (s Order) EditConfirming() bool { return s.Edit != nil && s.Edit.Status == EditConfirming }

// editable reports why the order cannot be edited now, or "".
func (s Order) editable() string {
	switch {
	case s.Status != OrderStatusPaid && s.Status != OrderStatusPartiallyFulfilled:
		return "only a paid order that is not fully fulfilled can be edited"
	case s.PaymentStatus != PaymentStatusAuthorized && s.PaymentStatus != PaymentStatusCaptured:
		return "its payment is " + string(s.PaymentStatus)
	case s.Pending():
		return "a money movement is still being settled"
	}
	return ""
}

// editGuard refuses commands that change lines or money while an edit is confirming.
func editGuard(s Order, c OrderCommand) error {
	if !s.EditConfirming() {
		return nil
	}
	switch c.(type) {
	case FulfilOrder, CancelOrderLines, CancelOrder, RequestReturn, RefundOrderLines, RefundOrder:
		return illegal("order", s.ID, string(s.Status), "change", "edit "+s.Edit.ID+" is being confirmed")
	}
	return nil
}

func isEditCommand(c OrderCommand) bool {
	switch c.(type) {
	case OpenOrderEdit, StageEditItem, StageEditAddress, CancelOrderEdit, RequestEditConfirmation, CompleteOrderEdit, FailOrderEdit:
		return true
	}
	return false
}

// decideOrderEdit decides the edit commands.
func decideOrderEdit(s Order, c OrderCommand, now time.Time) ([]Event, error) {
	no := func(action, reason string) error { return illegal("order", s.ID, string(s.Status), action, reason) }
	if open, ok := c.(OpenOrderEdit); ok {
		if s.Edit != nil && s.Edit.ID == open.EditID {
			return nil, nil
		}
		var p problems
		p.addErr("editId", ValidateID("", open.EditID))
		if open.Coupon != nil && open.Coupon.Code != s.CouponCode {
			p.add("coupon", "the order's coupon is %q", s.CouponCode)
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		if s.Edit != nil && (s.Edit.Status == EditOpen || s.Edit.Status == EditConfirming) {
			return nil, no("open an edit of", "edit "+s.Edit.ID+" is already open")
		}
		if why := s.editable(); why != "" {
			return nil, no("edit", why)
		}
		return []Event{OrderEditOpened{OrderID: s.ID, EditID: open.EditID, By: open.By, Coupon: open.Coupon, At: now}}, nil
	}
	var editID string
	switch c := c.(type) {
	case StageEditItem:
		editID = c.EditID
	case StageEditAddress:
		editID = c.EditID
	case CancelOrderEdit:
		editID = c.EditID
	case RequestEditConfirmation:
		editID = c.EditID
	case CompleteOrderEdit:
		editID = c.EditID
	case FailOrderEdit:
		editID = c.EditID
	}
	if s.Edit == nil || s.Edit.ID != editID {
		return nil, notFound("order edit", editID)
	}
	ed := *s.Edit
	closed := func(action string) error {
		return illegal("order edit", ed.ID, string(ed.Status), action, "")
	}
	switch c := c.(type) {
	case StageEditItem:
		if ed.Status != EditOpen {
			return nil, closed("stage changes to")
		}
		var p problems
		p.addErr("sku", ValidateSKU("", c.SKU))
		if c.Quantity < 0 || c.Quantity > MaxLineQuantity || c.Add && c.Quantity < 1 {
			p.add("quantity", "must be between %d and %d", map[bool]int64{true: 1, false: 0}[c.Add], MaxLineQuantity)
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		idx := s.lineIndex(c.SKU)
		staged := slices.IndexFunc(ed.Items, func(it EditItem) bool { return it.SKU == c.SKU })
		item := EditItem{SKU: c.SKU, Quantity: c.Quantity}
		switch {
		case c.Add && (idx >= 0 || staged >= 0 && ed.Items[staged].Product != nil && ed.Items[staged].Quantity > 0):
			return nil, no("add", c.SKU+" is already a line; change its quantity instead")
		case idx < 0 && c.Add:
			if c.Product == nil {
				return nil, invalid("sku", "%s is not in the catalog", c.SKU)
			}
			pr := *c.Product
			if pr.UnitPrice.Currency != s.Currency || pr.UnitPrice.IsNegative() {
				return nil, invalid("sku", "%s has no %s price", c.SKU, s.Currency)
			}
			item.Product = &pr
		case idx < 0:
			if staged < 0 || ed.Items[staged].Product == nil {
				return nil, notFound("order line", c.SKU)
			}
			item.Product = ed.Items[staged].Product
		default:
			pr := s.Progress[idx]
			if c.Quantity < pr.Fulfilled {
				return nil, s.beyond("remove", c.SKU, pr.Ordered-pr.Cancelled-c.Quantity, pr.Open(), "unfulfilled")
			}
			if c.Quantity > pr.Ordered-pr.Cancelled && (pr.Fulfilled > 0 || pr.Cancelled > 0) {
				return nil, no("grow line "+c.SKU+" of", "some of its units have shipped or been cancelled; add a line in a new order")
			}
		}
		return []Event{OrderEditItemStaged{OrderID: s.ID, EditID: ed.ID, Item: item, At: now}}, nil

	case StageEditAddress:
		if ed.Status != EditOpen {
			return nil, closed("stage changes to")
		}
		if err := c.Address.Validate(); err != nil {
			return nil, fmt.Errorf("shippingAddress: %w", err)
		}
		if c.Address.Country != s.ShippingAddress.Country {
			return nil, invalid("shippingAddress.country", "an edit cannot change the country (%s): its tax rate priced the order", s.ShippingAddress.Country)
		}
		return []Event{OrderEditAddressStaged{OrderID: s.ID, CustomerID: s.CustomerID, EditID: ed.ID, Address: c.Address, At: now}}, nil

	case CancelOrderEdit:
		if ed.Status == EditCancelled {
			return nil, nil
		}
		if ed.Status != EditOpen {
			return nil, closed("cancel")
		}
		return []Event{OrderEditCancelled{OrderID: s.ID, EditID: ed.ID, By: c.By, Reason: c.Reason, At: now}}, nil

	case RequestEditConfirmation:
		if ed.Status == EditConfirming || ed.Status == EditApplied {
			return nil, nil
		}
		if ed.Status != EditOpen {
			return nil, closed("confirm")
		}
		if why := s.editable(); why != "" {
			return nil, no("confirm an edit of", why)
		}
		plan, err := PreviewOrderEdit(s, ed)
		if err != nil {
			return nil, err
		}
		if plan.Blocked != "" {
			return nil, no("confirm edit "+ed.ID+" of", plan.Blocked)
		}
		if len(plan.Changes) == 0 && plan.ShippingAddress == nil {
			return nil, no("confirm edit "+ed.ID+" of", "it changes nothing")
		}
		want := map[string]int64{}
		for _, r := range plan.Release {
			want[r.SKU] += r.Quantity
		}
		for _, r := range c.Restock {
			want[r.SKU] -= r.Quantity
			if r.Quantity < 1 || ValidateID("", r.Owner) != nil {
				return nil, invalid("restock", "%d of %s from %q", r.Quantity, r.SKU, r.Owner)
			}
		}
		for sku, n := range want {
			if n != 0 {
				return nil, invalid("restock", "does not cover the %s units removed (off by %d)", sku, n)
			}
		}
		return []Event{OrderEditConfirmRequested{OrderID: s.ID, CustomerID: s.CustomerID, EditID: ed.ID, ConfirmationID: EditConfirmationID(ed.ID, ed.Attempts+1), By: c.By,
			Plan: plan, Restock: cloneSlice(c.Restock), At: now}}, nil

	case CompleteOrderEdit:
		if ed.Status == EditApplied {
			return nil, nil
		}
		if ed.Status != EditConfirming {
			return nil, closed("apply")
		}
		return []Event{OrderEditApplied{OrderID: s.ID, CustomerID: s.CustomerID, EditID: ed.ID, ConfirmationID: ed.ConfirmationID, By: ed.ClosedBy, Plan: *ed.Plan, At: now}}, nil

	case FailOrderEdit:
		if ed.Status != EditConfirming {
			return nil, closed("fail the confirmation of")
		}
		var p problems
		validateText(&p, "reason", c.Reason, MaxNameLength, true)
		if err := p.err(); err != nil {
			return nil, err
		}
		return []Event{OrderEditFailed{OrderID: s.ID, EditID: ed.ID, ConfirmationID: ed.ConfirmationID, Reason: c.Reason, At: now}}, nil
	}
	return nil, invalid("", "unsupported order edit command %T", c)
}

// PreviewOrderEdit prices an edit's staged changes against the order under the policy
// documented above.
func PreviewOrderEdit(s Order, ed OrderEdit) (EditPreview, error) {
	cur := s.Currency
	pv := EditPreview{Previous: s.Totals, ShippingAddress: ed.ShippingAddress}
	target := map[string]EditItem{}
	for _, it := range ed.Items {
		target[it.SKU] = it
	}
	var rate TaxRate
	if len(s.Lines) > 0 {
		rate = TaxRate{Rate: s.Lines[0].TaxRate, Inclusive: s.Lines[0].TaxInclusive}
	}
	pct := BasisPoints(0)
	if ed.Coupon != nil && ed.Coupon.Kind == CouponPercent {
		pct = ed.Coupon.PercentOff
	}
	// active is what the customer pays for a line's active units, as on the order.
	active := func(l Line, pr OrderLineProgress) UnitShare {
		return l.UnitsShare(0, pr.Ordered-pr.Cancelled)
	}
	var activeLines []UnitShare
	for i, l := range s.Lines {
		pr := s.Progress[i]
		a := pr.Ordered - pr.Cancelled
		it, ok := target[l.SKU]
		nl := l
		switch {
		case !ok || it.Quantity == a:
			activeLines = append(activeLines, active(l, pr))
		case it.Quantity < a:
			if it.Quantity < pr.Fulfilled { // shipped since it was staged
				return pv, s.beyond("remove", l.SKU, a-it.Quantity, pr.Open(), "unfulfilled")
			}
			keep := l.UnitsShare(0, it.Quantity)
			gone := l.UnitsShare(it.Quantity, a-it.Quantity)
			activeLines = append(activeLines, keep)
			pv.Changes = append(pv.Changes, EditLineChange{SKU: l.SKU, From: a, To: it.Quantity, Amount: Money{-gone.Amount.Amount, cur}})
			pv.Release = append(pv.Release, LineQuantity{SKU: l.SKU, Quantity: a - it.Quantity})
		default: // grows: nothing shipped or cancelled (checked when staged, and again here)
			if pr.Fulfilled > 0 || pr.Cancelled > 0 {
				return pv, illegal("order", s.ID, string(s.Status), "grow line "+l.SKU+" of", "some of its units have shipped or been cancelled")
			}
			extra, err := l.UnitPrice.Mul(it.Quantity - a)
			if err != nil {
				return pv, fmt.Errorf("%w: %v", ErrValidation, err)
			}
			d, err := extra.ApplyRate(pct)
			if err != nil {
				return pv, fmt.Errorf("%w: %v", ErrValidation, err)
			}
			if nl.LineAmounts, err = priceLine(l.UnitPrice, it.Quantity, Money{l.Discount.Amount + d.Amount, cur}, TaxRate{Rate: l.TaxRate, Inclusive: l.TaxInclusive}); err != nil {
				return pv, fmt.Errorf("%w: %v", ErrValidation, err)
			}
			nl.Quantity = it.Quantity
			after := nl.UnitsShare(0, it.Quantity)
			activeLines = append(activeLines, after)
			pv.Changes = append(pv.Changes, EditLineChange{SKU: l.SKU, From: a, To: it.Quantity, Amount: Money{after.Amount.Amount - active(l, pr).Amount.Amount, cur}})
			pv.Reserve = append(pv.Reserve, LineQuantity{SKU: l.SKU, Quantity: it.Quantity - a})
		}
		pv.Lines = append(pv.Lines, nl)
	}
	for _, it := range ed.Items { // added lines, in the order they were staged
		if s.lineIndex(it.SKU) >= 0 || it.Quantity == 0 || it.Product == nil {
			continue
		}
		sub, err := it.Product.UnitPrice.Mul(it.Quantity)
		if err != nil {
			return pv, fmt.Errorf("%w: %v", ErrValidation, err)
		}
		d, err := sub.ApplyRate(pct)
		if err != nil {
			return pv, fmt.Errorf("%w: %v", ErrValidation, err)
		}
		l := Line{SKU: it.SKU, ProductID: it.Product.ProductID, Name: it.Product.Name, Quantity: it.Quantity, UnitPrice: it.Product.UnitPrice}
		if l.LineAmounts, err = priceLine(l.UnitPrice, l.Quantity, d, rate); err != nil {
			return pv, fmt.Errorf("%w: %v", ErrValidation, err)
		}
		pv.Lines = append(pv.Lines, l)
		sh := l.UnitsShare(0, l.Quantity)
		activeLines = append(activeLines, sh)
		pv.Changes = append(pv.Changes, EditLineChange{SKU: l.SKU, From: 0, To: l.Quantity, Amount: sh.Amount})
		pv.Reserve = append(pv.Reserve, LineQuantity{SKU: l.SKU, Quantity: l.Quantity})
	}
	// New totals: the active units of every line, shipping kept.
	z := Zero(cur)
	t := Totals{Subtotal: z, Discount: z, Net: z, Tax: z, Gross: z, Shipping: s.Totals.Shipping}
	for _, a := range activeLines {
		t.Subtotal.Amount += a.Subtotal.Amount
		t.Discount.Amount += a.Discount.Amount
		t.Tax.Amount += a.Tax.Amount
		t.Gross.Amount += a.Amount.Amount
		t.Net.Amount += a.Amount.Amount - a.Tax.Amount
	}
	t.GrandTotal = Money{t.Gross.Amount + t.Shipping.Amount, cur}
	pv.Totals = t
	pv.Difference = Money{t.GrandTotal.Amount - s.Totals.GrandTotal.Amount, cur}
	pv.ToAuthorize, pv.ToRelease = z, z
	for _, c := range pv.Changes {
		if c.Amount.IsNegative() {
			pv.ToRelease.Amount -= c.Amount.Amount
		} else {
			pv.ToAuthorize.Amount += c.Amount.Amount
		}
	}
	if ed.Coupon != nil && t.Discount.IsPositive() {
		if err := ed.Coupon.checkMinimum(t.Subtotal); err != nil {
			pv.Blocked = err.Error()
		}
	}
	if t.Subtotal.IsZero() && len(pv.Changes) > 0 && !s.fulfilledAny() {
		pv.Blocked = "an edit cannot remove every unit: cancel the order instead"
	}
	return pv, nil
}

func (s *Order) applyEdit(e Event) bool {
	switch e := e.(type) {
	case OrderEditOpened:
		s.Edit = &OrderEdit{ID: e.EditID, Status: EditOpen, OpenedBy: e.By, OpenedAt: e.At, Coupon: e.Coupon}
	case OrderEditItemStaged:
		ed := s.cloneEdit()
		if i := slices.IndexFunc(ed.Items, func(it EditItem) bool { return it.SKU == e.Item.SKU }); i >= 0 {
			ed.Items[i] = e.Item
		} else {
			ed.Items = append(ed.Items, e.Item)
		}
	case OrderEditAddressStaged:
		a := e.Address
		s.cloneEdit().ShippingAddress = &a
	case OrderEditCancelled:
		ed := s.cloneEdit()
		t := e.At
		ed.Status, ed.Reason, ed.ClosedBy, ed.ClosedAt = EditCancelled, e.Reason, e.By, &t
	case OrderEditConfirmRequested:
		ed := s.cloneEdit()
		plan := e.Plan
		ed.Status, ed.ConfirmationID, ed.Plan, ed.ClosedBy, ed.Reason = EditConfirming, e.ConfirmationID, &plan, e.By, ""
		ed.Restock = cloneSlice(e.Restock)
		ed.Attempts++
	case OrderEditFailed:
		ed := s.cloneEdit()
		ed.Status, ed.Reason, ed.Plan, ed.ClosedBy, ed.Restock = EditOpen, e.Reason, nil, "", nil
	case OrderEditApplied:
		ed := s.cloneEdit()
		t := e.At
		ed.Status, ed.ClosedAt = EditApplied, &t
		s.applyEditPlan(e)
	default:
		return false
	}
	s.UpdatedAt = editAt(e)
	return true
}

// cloneEdit replaces the edit by a copy (states are values; events must not alias them).
func (s *Order) cloneEdit() *OrderEdit {
	ed := *s.Edit
	ed.Items = cloneSlice(ed.Items)
	s.Edit = &ed
	return s.Edit
}

func (s *Order) applyEditPlan(e OrderEditApplied) {
	p := e.Plan
	cur := s.Currency
	changed := map[string]EditLineChange{}
	for _, c := range p.Changes {
		changed[c.SKU] = c
	}
	lines := cloneSlice(p.Lines)
	progress := make([]OrderLineProgress, len(lines))
	for i, l := range lines {
		if i < len(s.Progress) && s.Progress[i].SKU == l.SKU {
			progress[i] = s.Progress[i]
		} else {
			z := Zero(cur)
			progress[i] = OrderLineProgress{SKU: l.SKU, CapturedAmount: z, ReleasedAmount: z, RefundedAmount: z}
		}
		pr := &progress[i]
		c, ok := changed[l.SKU]
		switch {
		case !ok:
		case c.To < c.From: // removed from the back, like a cancellation
			pr.Cancelled += c.From - c.To
		default: // grown or added: the line was re-priced for its new quantity
			pr.Ordered = l.Quantity
		}
		if ok && c.Amount.IsNegative() {
			pr.ReleasedAmount.Amount -= c.Amount.Amount
		}
	}
	s.Lines, s.Progress, s.Totals = lines, progress, p.Totals
	if p.ShippingAddress != nil {
		s.ShippingAddress = *p.ShippingAddress
	}
	s.AppliedEdits = append(s.AppliedEdits, AppliedEdit{EditID: e.EditID, ConfirmationID: e.ConfirmationID, Authorized: p.ToAuthorize, Released: p.ToRelease, By: e.By, At: e.At})
	s.Authorized.Amount += p.ToAuthorize.Amount // the incremental authorization succeeded before
	if p.ToRelease.IsPositive() {
		// Released like a line cancellation: settled by MarkAuthorizationReleased. Its
		// lines are not listed: the edit put its removed units back before it was applied.
		s.PendingReleases = append(s.PendingReleases, PendingRelease{CancellationID: EditReleaseID(e.EditID), Amount: p.ToRelease})
	}
	s.recomputeStatus()
}

// EditReleaseID is the cancellation id under which an edit's release is settled.
func EditReleaseID(editID string) string { return editID + ".release" }

// EditConfirmationID is the id of an edit's n-th confirmation attempt.
func EditConfirmationID(editID string, n int) string { return fmt.Sprintf("%s.c%d", editID, n) }

func editAt(e Event) time.Time {
	switch e := e.(type) {
	case OrderEditOpened:
		return e.At
	case OrderEditItemStaged:
		return e.At
	case OrderEditAddressStaged:
		return e.At
	case OrderEditCancelled:
		return e.At
	case OrderEditConfirmRequested:
		return e.At
	case OrderEditApplied:
		return e.At
	case OrderEditFailed:
		return e.At
	}
	return time.Time{}
}
