package writeapi

import (
	"net/http"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/idempotency"
)

// ReplayObserver counts idempotent replays (telemetry.Business implements it).
type ReplayObserver interface {
	IdempotentReplay()
}

// IdempotencyStore keeps Idempotency-Key results (see package idempotency).
type IdempotencyStore = httpapi.IdempotencyStore

// eventKey is the commands' idempotency key for a request: a digest of the caller and
// the client's key, so two callers' keys never derive the same event ids.
func eventKey(r *http.Request) string {
	if k, ok := httpapi.IdempotencyEventKey(r); ok {
		return k
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	if key == "" {
		return ""
	}
	p, _ := auth.FromContext(r.Context())
	return idempotency.EventKey(p.Subject, key)
}

// idempotent gives a POST Stripe's Idempotency-Key semantics (httpapi.Idempotency): the
// first result is stored and replayed; the same key with a different request → 422; while
// the first is still running → 409; server errors are not stored.
func (a *API) idempotent(next http.HandlerFunc) http.HandlerFunc {
	return httpapi.Idempotency{
		Store: a.idem, MaxBody: a.maxBody, Logger: a.log, Fail: a.fail,
		Replayed: func(h http.Header, status int) {
			if a.replays != nil {
				a.replays.IdempotentReplay()
			}
			// Every answer of this API is no-store; the store keeps only a few headers.
			h.Set("Cache-Control", "no-store")
			if status == http.StatusAccepted && h.Get("Retry-After") == "" {
				h.Set("Retry-After", "1")
			}
		},
	}.Wrap(next)
}
