package writeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/problem"
)

// Headers the command API speaks.
const (
	HeaderPosition       = "Orderengine-Position"
	HeaderIdempotencyKey = "Idempotency-Key"
)

// errBadRequest marks request-shape problems found before any command ran.
type requestError struct {
	status int
	slug   string
	detail string
}

func (e *requestError) Error() string { return e.detail }

func badRequest(format string, args ...any) error {
	return &requestError{http.StatusBadRequest, "validation", fmt.Sprintf(format, args...)}
}

// readBody reads a size-limited JSON request body.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, &requestError{http.StatusUnsupportedMediaType, "unsupported-media-type", "send the body as application/json"}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &requestError{http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the request body is over the limit of %d bytes", max)}
	}
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	return body, nil
}

// decodeStrict decodes one JSON object into dst, rejecting unknown fields (so a client
// cannot send a price or a status) and trailing data.
func decodeStrict(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return badRequest("malformed JSON at byte %d", syn.Offset)
		case errors.As(err, &typ):
			return badRequest("field %q must be %s", typ.Field, typ.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return badRequest("%s is not accepted", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return badRequest("invalid JSON: %v", err)
		}
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}

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

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// problemFor maps an error to its problem document. Every domain sentinel has a stable
// problem type; anything unknown is a 500 that is logged, not shown.
func problemFor(err error, log *slog.Logger) problem.Details {
	var re *requestError
	var ve *domain.ValidationError
	var oos *domain.OutOfStockError
	var wev *eventstore.WrongExpectedVersionError
	switch {
	case errors.As(err, &re):
		return problem.New(re.status, re.slug, http.StatusText(re.status), re.detail)
	case errors.As(err, &ve):
		return problem.New(http.StatusUnprocessableEntity, "validation", "Invalid command", ve.Error()).With("errors", ve.Problems)
	case errors.Is(err, domain.ErrValidation):
		return problem.New(http.StatusUnprocessableEntity, "validation", "Invalid command", err.Error())
	case errors.Is(err, checkout.ErrGatewayRefused):
		return problem.New(http.StatusUnprocessableEntity, "payment-refused", "Payment gateway refused", err.Error())
	case errors.Is(err, commands.ErrForbidden):
		return problem.Forbidden(err.Error())
	case errors.Is(err, domain.ErrNotFound):
		return problem.NotFound(err.Error())
	case errors.Is(err, domain.ErrAlreadyExists):
		return problem.New(http.StatusConflict, "already-exists", "Already exists", err.Error())
	case errors.As(err, &oos):
		return problem.New(http.StatusConflict, "out-of-stock", "Out of stock", err.Error()).With("sku", oos.SKU)
	case errors.Is(err, domain.ErrOutOfStock):
		return problem.New(http.StatusConflict, "out-of-stock", "Out of stock", err.Error())
	case errors.Is(err, domain.ErrIllegalTransition):
		return problem.New(http.StatusConflict, "illegal-transition", "Not allowed in the current state", err.Error())
	case errors.Is(err, domain.ErrCouponExhausted):
		return problem.New(http.StatusUnprocessableEntity, "coupon-exhausted", "Coupon used up", err.Error())
	case errors.Is(err, domain.ErrCouponNotApplicable):
		return problem.New(http.StatusUnprocessableEntity, "coupon-not-applicable", "Coupon not applicable", err.Error())
	case errors.Is(err, domain.ErrCurrencyMismatch):
		return problem.New(http.StatusUnprocessableEntity, "currency-mismatch", "Currency mismatch", err.Error())
	case errors.Is(err, domain.ErrAmountOverflow):
		return problem.New(http.StatusUnprocessableEntity, "validation", "Invalid command", err.Error())
	case errors.Is(err, commands.ErrPreconditionFailed):
		return problem.New(http.StatusPreconditionFailed, "precondition-failed", "Version mismatch", err.Error())
	case errors.As(err, &wev), errors.Is(err, commands.ErrConflict):
		return problem.New(http.StatusConflict, "version-conflict", "Concurrent change", err.Error())
	case errors.Is(err, eventstore.ErrInvalidEvent):
		return problem.New(http.StatusUnprocessableEntity, "validation", "Invalid command", err.Error())
	default:
		log.Error("command failed", "err", err)
		return problem.Internal()
	}
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	d := problemFor(err, a.log.With("method", r.Method, "path", r.URL.Path))
	d.Instance = r.URL.Path
	problem.Write(w, d)
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
