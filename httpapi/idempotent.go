package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/idempotency"
	"github.com/orderengine/orderengine/problem"
)

// IdempotencyStore keeps Idempotency-Key results (package idempotency's Store).
type IdempotencyStore interface {
	Begin(ctx context.Context, scope, key string, requestHash [32]byte) (idempotency.Outcome, error)
	Complete(ctx context.Context, c *idempotency.Claim, status int, header http.Header, body []byte) error
	Release(ctx context.Context, c *idempotency.Claim) error
}

// Idempotency gives POST routes Stripe's Idempotency-Key semantics: the first result
// (status, headers, body) is stored and replayed for later requests with the key; the same
// key with a different request → 422; while the first is still running → 409. Server
// errors are not stored, so the client can retry them. Keys are scoped to the caller.
type Idempotency struct {
	// Store keeps the results; nil turns the middleware off.
	Store IdempotencyStore
	// MaxBody bounds the request body (ReadBody).
	MaxBody int64
	Logger  *slog.Logger
	// Fail answers an error (the API's own mapping).
	Fail func(http.ResponseWriter, *http.Request, error)
	// Replayed, when set, adjusts the headers of a replayed answer before it is sent (the
	// store keeps only a few headers).
	Replayed func(h http.Header, status int)
}

type ctxKeyEventKey struct{}

// IdempotencyEventKey is the request's event idempotency key set by Idempotency.Wrap: a
// digest of the caller and the client's key (idempotency.EventKey), so two callers' keys
// never derive the same event ids.
func IdempotencyEventKey(r *http.Request) (string, bool) {
	k, ok := r.Context().Value(ctxKeyEventKey{}).(string)
	return k, ok
}

// Wrap applies the semantics to next.
func (c Idempotency) Wrap(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" || c.Store == nil {
			next(w, r)
			return
		}
		if err := idempotency.ValidateKey(key); err != nil {
			WriteProblem(w, r, problem.New(http.StatusBadRequest, "validation", "Invalid Idempotency-Key", err.Error()))
			return
		}
		body, err := ReadBody(w, r, c.MaxBody)
		if err != nil {
			c.Fail(w, r, err)
			return
		}
		p, _ := auth.FromContext(r.Context())
		out, err := c.Store.Begin(r.Context(), p.Subject, key, idempotency.HashRequest(r.Method, r.URL.RequestURI(), body))
		switch {
		case errors.Is(err, idempotency.ErrInFlight):
			WriteProblem(w, r, problem.New(http.StatusConflict, "idempotency-in-flight", "Request in progress",
				"a request with this Idempotency-Key is still being processed; retry later"))
			return
		case errors.Is(err, idempotency.ErrMismatch):
			WriteProblem(w, r, problem.New(http.StatusUnprocessableEntity, "idempotency-mismatch", "Idempotency-Key reused",
				"this Idempotency-Key was used with a different request"))
			return
		case err != nil:
			c.Fail(w, r, err)
			return
		}
		if !out.Proceed() {
			for k, vs := range out.Replay.Header {
				w.Header()[k] = vs
			}
			w.Header().Set("Idempotent-Replayed", "true")
			if c.Replayed != nil {
				c.Replayed(w.Header(), out.Replay.Status)
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
			if err := c.Store.Release(sctx, out.Claim); err != nil {
				c.Logger.Warn("idempotency release failed", "err", err)
			}
		} else if err := c.Store.Complete(sctx, out.Claim, rec.status, rec.header, rec.body.Bytes()); err != nil {
			c.Logger.Warn("idempotency record not stored", "err", err)
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
