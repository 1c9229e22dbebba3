package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error a decider returns wraps exactly one of them, so callers
// (the command API) can map it to a stable problem type with errors.Is; the concrete error
// types below carry the details through errors.As.
var (
	// ErrValidation: the command is malformed or breaks a business rule about its values.
	ErrValidation = errors.New("validation failed")
	// ErrNotFound: the command addresses an aggregate (or an item inside one) that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a create command hit an aggregate (or item) that already exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrOutOfStock: not enough available stock for a reservation or a stock removal.
	ErrOutOfStock = errors.New("out of stock")
	// ErrIllegalTransition: the command is not allowed in the aggregate's current state.
	ErrIllegalTransition = errors.New("illegal state transition")
	// ErrCouponExhausted: the coupon's global usage limit has been reached.
	ErrCouponExhausted = errors.New("coupon usage limit reached")
	// ErrCouponNotApplicable: the coupon is inactive, outside its validity window, or its
	// minimum subtotal or currency does not match.
	ErrCouponNotApplicable = errors.New("coupon not applicable")
	// ErrCurrencyMismatch: two amounts in different currencies were combined.
	ErrCurrencyMismatch = errors.New("currency mismatch")
	// ErrAmountOverflow: an amount does not fit in int64 minor units.
	ErrAmountOverflow = errors.New("amount overflow")
	// ErrUnknownEvent: the registry knows no such event name or schema version.
	ErrUnknownEvent = errors.New("unknown event")
)

// FieldProblem is one reason a command failed validation.
type FieldProblem struct {
	Field  string `json:"field"`  // JSON-style path of the offending value, e.g. "variants[1].price"
	Reason string `json:"reason"` // human-readable, safe to show to an API client
}

// ValidationError lists every problem found in a command. It wraps ErrValidation.
type ValidationError struct {
	Problems []FieldProblem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		if p.Field == "" {
			parts[i] = p.Reason
		} else {
			parts[i] = p.Field + ": " + p.Reason
		}
	}
	return ErrValidation.Error() + ": " + strings.Join(parts, "; ")
}

func (e *ValidationError) Unwrap() error { return ErrValidation }

// invalid returns a ValidationError with a single problem.
func invalid(field, format string, args ...any) error {
	return &ValidationError{Problems: []FieldProblem{{Field: field, Reason: fmt.Sprintf(format, args...)}}}
}

// problems collects field problems while validating a command.
type problems []FieldProblem

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldProblem{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// addErr records err under field; a nested ValidationError keeps its own fields, prefixed.
func (p *problems) addErr(field string, err error) {
	if err == nil {
		return
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		for _, q := range ve.Problems {
			f := field
			switch {
			case f == "":
				f = q.Field
			case q.Field != "":
				f = field + "." + q.Field
			}
			*p = append(*p, FieldProblem{Field: f, Reason: q.Reason})
		}
		return
	}
	*p = append(*p, FieldProblem{Field: field, Reason: err.Error()})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: append([]FieldProblem(nil), p...)}
}

// OutOfStockError reports a request for more units than are available. It wraps ErrOutOfStock.
type OutOfStockError struct {
	SKU       string
	Warehouse string // empty when the request spanned all warehouses
	Requested int64
	Available int64
}

func (e *OutOfStockError) Error() string {
	where := ""
	if e.Warehouse != "" {
		where = " in warehouse " + e.Warehouse
	}
	return fmt.Sprintf("%s: SKU %s has %d available%s, %d requested", ErrOutOfStock, e.SKU, e.Available, where, e.Requested)
}

func (e *OutOfStockError) Unwrap() error { return ErrOutOfStock }

// TransitionError reports a command that the aggregate's state does not allow.
// It wraps ErrIllegalTransition.
type TransitionError struct {
	Aggregate string // "order", "cart", …
	ID        string
	State     string // current state, e.g. "shipped"
	Action    string // what was attempted, e.g. "cancel"
	Reason    string // optional detail
}

func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("%s: cannot %s %s %s in state %q", ErrIllegalTransition, e.Action, e.Aggregate, e.ID, e.State)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

func (e *TransitionError) Unwrap() error { return ErrIllegalTransition }

func illegal(aggregate, id, state, action, reason string) error {
	return &TransitionError{Aggregate: aggregate, ID: id, State: state, Action: action, Reason: reason}
}

func notFound(what, id string) error {
	return fmt.Errorf("%w: %s %s does not exist", ErrNotFound, what, id)
}

func alreadyExists(what, id string) error {
	return fmt.Errorf("%w: %s %s already exists", ErrAlreadyExists, what, id)
}
