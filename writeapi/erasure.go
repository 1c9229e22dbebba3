package writeapi

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/privacy"
	"github.com/orderengine/orderengine/problem"
)

// Eraser erases a customer: destroys their data key and records customer.erased
// (*privacy.Store).
type Eraser interface {
	Erase(ctx context.Context, customerID, actor string, now time.Time) (privacy.Erasure, error)
}

// eraseCustomer: POST /v1/customers/{id}/erasure (admin). Repeating it is harmless
// (alreadyErased: true).
func (a *API) eraseCustomer(w http.ResponseWriter, r *http.Request) {
	if a.erasure == nil {
		httpapi.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, "erasure-unavailable", "Erasure unavailable", "this server has no keyring"))
		return
	}
	p, _ := auth.FromContext(r.Context())
	res, err := a.erasure.Erase(r.Context(), chi.URLParam(r, "id"), p.Subject, a.now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
