package writeapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/problem"
)

// Headers the command API speaks.
const (
	HeaderPosition       = "Orderengine-Position"
	HeaderIdempotencyKey = "Idempotency-Key"
)

var badRequest = httpapi.BadRequest

// ifMatch parses an If-Match header holding an aggregate version ETag ("3" or W/"3").
func ifMatch(r *http.Request) (*uint64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return nil, nil
	}
	h = strings.TrimPrefix(h, "W/")
	v, err := strconv.ParseUint(strings.Trim(h, `"`), 10, 64)
	if err != nil {
		return nil, badRequest("If-Match must be an ETag returned by this API, such as \"3\"")
	}
	return &v, nil
}

// etag renders an aggregate version.
func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

// writeResult answers a command with its aggregate version and committed position.
func writeResult(w http.ResponseWriter, status int, version, position uint64, body any) {
	w.Header().Set("ETag", etag(version))
	w.Header().Set(HeaderPosition, strconv.FormatUint(position, 10))
	writeJSON(w, status, body)
}

var writeJSON = httpapi.WriteJSON

// commandProblem maps the command side's errors to problem documents: every domain
// sentinel has a stable problem type.
func commandProblem(err error) (problem.Details, bool) {
	var ve *domain.ValidationError
	var oos *domain.OutOfStockError
	var wev *eventstore.WrongExpectedVersionError
	switch {
	case errors.As(err, &ve):
		return problem.New(http.StatusUnprocessableEntity, "validation", "Invalid command", ve.Error()).With("errors", ve.Problems), true
	case errors.Is(err, domain.ErrValidation):
		return problem.New(http.StatusUnprocessableEntity, "validation", "Invalid command", err.Error()), true
	case errors.Is(err, payment.ErrDeclined):
		return problem.New(http.StatusPaymentRequired, "payment-declined", "Payment declined", err.Error()), true
	case errors.Is(err, payment.ErrRefused):
		return problem.New(http.StatusUnprocessableEntity, "payment-refused", "Payment gateway refused", err.Error()), true
	case errors.Is(err, commands.ErrForbidden):
		return problem.Forbidden(err.Error()), true
	case errors.Is(err, domain.ErrNotFound):
		return problem.NotFound(err.Error()), true
	case errors.Is(err, domain.ErrAlreadyExists):
		return problem.New(http.StatusConflict, "already-exists", "Already exists", err.Error()), true
	case errors.As(err, &oos):
		return problem.New(http.StatusConflict, "out-of-stock", "Out of stock", err.Error()).With("sku", oos.SKU), true
	case errors.Is(err, domain.ErrOutOfStock):
		return problem.New(http.StatusConflict, "out-of-stock", "Out of stock", err.Error()), true
	case errors.Is(err, domain.ErrIllegalTransition):
		return problem.New(http.StatusConflict, "illegal-transition", "Not allowed in the current state", err.Error()), true
	case errors.Is(err, domain.ErrCouponExhausted):
		return problem.New(http.StatusUnprocessableEntity, "coupon-exhausted", "Coupon used up", err.Error()), true
	case errors.Is(err, domain.ErrCouponNotApplicable):
		return problem.New(http.StatusUnprocessableEntity, "coupon-not-applicable", "Coupon not applicable", err.Error()), true
	case errors.Is(err, domain.ErrCurrencyMismatch):
		return problem.New(http.StatusUnprocessableEntity, "currency-mismatch", "Currency mismatch", err.Error()), true
	case errors.Is(err, domain.ErrAmountOverflow):
		return problem.New(http.StatusUnprocessableEntity, "validation", "Invalid command", err.Error()), true
	case errors.Is(err, commands.ErrTooManyOpenCarts):
		return problem.New(http.StatusConflict, "open-cart-limit", "Too many open carts", err.Error()), true
	case errors.Is(err, commands.ErrPreconditionFailed):
		return problem.New(http.StatusPreconditionFailed, "precondition-failed", "Version mismatch", err.Error()), true
	case errors.As(err, &wev), errors.Is(err, commands.ErrConflict):
		return problem.New(http.StatusConflict, "version-conflict", "Concurrent change", err.Error()), true
	case errors.Is(err, eventstore.ErrInvalidEvent):
		return problem.New(http.StatusUnprocessableEntity, "validation", "Invalid command", err.Error()), true
	}
	return problem.Details{}, false
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.Fail(w, r, a.log, err, commandProblem)
}

// noBody is the body type of commands that take none.
type noBody struct{}

// reply says how a command's result is answered.
type reply[S any] struct {
	status   int
	location func(S) string // Location header, if set
	view     func(S) any    // the body (default: the aggregate's state)
}

// command builds the usual write handler: read the request's metadata, decode the body
// strictly (unless B is noBody), run the command, answer with the aggregate's version,
// position and state — or a problem document.
func command[B, S any](a *API, rp reply[S], run func(r *http.Request, b *B, meta commands.Meta) (commands.Result[S], error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var b B
		meta, err := a.meta(r)
		if _, none := any(&b).(*noBody); err == nil && !none {
			err = a.decode(w, r, &b)
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		res, err := run(r, &b, meta)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if rp.location != nil {
			w.Header().Set("Location", rp.location(res.State))
		}
		var body any = res.State
		if rp.view != nil {
			body = rp.view(res.State)
		}
		writeResult(w, rp.status, res.Version, res.Position, body)
	}
}
