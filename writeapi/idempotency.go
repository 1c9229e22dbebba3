package writeapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/idempotency"
	"github.com/orderengine/orderengine/problem"
)

// ReplayObserver counts idempotent replays (telemetry.Business implements it).
type ReplayObserver interface {
	IdempotentReplay()
}

// IdempotencyStore keeps Idempotency-Key results (see package idempotency).
type IdempotencyStore interface {
	Begin(ctx context.Context, scope, key string, requestHash [32]byte) (idempotency.Outcome, error)
	Complete(ctx context.Context, c *idempotency.Claim, status int, header http.Header, body []byte) error
	Release(ctx context.Context, c *idempotency.Claim) error
}

type ctxKeyEventKey struct{}

// eventKey is the commands' idempotency key for a request: a digest of the caller and
// the client's key, so two callers' keys never derive the same event ids.
func eventKey(r *http.Request) string {
	if k, ok := r.Context().Value(ctxKeyEventKey{}).(string); ok {
		return k
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	if key == "" {
		return ""
	}
	p, _ := auth.FromContext(r.Context())
	return idempotency.EventKey(p.Subject, key)
}

// idempotent gives a POST Stripe's Idempotency-Key semantics: the first result (status,
// headers, body) is stored and replayed for later requests with the key; the same key with
// a different request → 422; while the first is still running → 409. Server errors are not
// stored, so the client can retry them.
func (a *API) idempotent(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(HeaderIdempotencyKey)
		if key == "" || a.idem == nil {
			next(w, r)
			return
		}
		if err := idempotency.ValidateKey(key); err != nil {
			httpapi.WriteProblem(w, r, problem.New(http.StatusBadRequest, "validation", "Invalid Idempotency-Key", err.Error()))
			return
		}
		body, err := httpapi.ReadBody(w, r, a.maxBody)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		p, _ := auth.FromContext(r.Context())
		out, err := a.idem.Begin(r.Context(), p.Subject, key, idempotency.HashRequest(r.Method, r.URL.RequestURI(), body))
		switch {
		case errors.Is(err, idempotency.ErrInFlight):
			httpapi.WriteProblem(w, r, problem.New(http.StatusConflict, "idempotency-in-flight", "Request in progress",
				"a request with this Idempotency-Key is still being processed; retry later"))
			return
		case errors.Is(err, idempotency.ErrMismatch):
			httpapi.WriteProblem(w, r, problem.New(http.StatusUnprocessableEntity, "idempotency-mismatch", "Idempotency-Key reused",
				"this Idempotency-Key was used with a different request"))
			return
		case err != nil:
			a.fail(w, r, err)
			return
		}
		if !out.Proceed() {
			if a.replays != nil {
				a.replays.IdempotentReplay()
			}
			for k, vs := range out.Replay.Header {
				w.Header()[k] = vs
			}
			w.Header().Set("Idempotent-Replayed", "true")
			// Every answer of this API is no-store; the store keeps only a few headers.
			w.Header().Set("Cache-Control", "no-store")
			if out.Replay.Status == http.StatusAccepted && w.Header().Get("Retry-After") == "" {
				w.Header().Set("Retry-After", "1")
			}
			w.WriteHeader(out.Replay.Status)
			w.Write(out.Replay.Body)
			return
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		r2 := r.WithContext(context.WithValue(r.Context(), ctxKeyEventKey{}, idempotency.EventKey(p.Subject, key)))
		r2.Body = io.NopCloser(bytes.NewReader(body))
		next(rec, r2)
		// Store with a context that outlives a client that hung up: the work is done.
		sctx := context.WithoutCancel(r.Context())
		if rec.status >= 500 {
			if err := a.idem.Release(sctx, out.Claim); err != nil {
				a.log.Warn("idempotency release failed", "err", err)
			}
		} else if err := a.idem.Complete(sctx, out.Claim, rec.status, rec.header, rec.body.Bytes()); err != nil {
			a.log.Warn("idempotency record not stored", "err", err)
		}
		for k, vs := range rec.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
	}
}

// recorder buffers a response so it can be stored before it is sent.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
