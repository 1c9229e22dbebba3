// Package httpapi is the HTTP edge the command API (writeapi), the read API (readapi) and
// the webhooks admin API share: request errors and strict JSON bodies, JSON answers,
// problem documents for errors with their instance, the 404/405 handlers, the
// Idempotency-Key middleware, and the OpenAPI document built from the routes' Go types (so
// the document cannot drift from what the handlers send).
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/problem"
)

// RequestError is a request-shape problem found before any command or read ran.
type RequestError struct {
	Status int
	Slug   string
	Detail string
}

func (e *RequestError) Error() string { return e.Detail }

// BadRequest is a 400 "validation" problem: the request cannot be parsed.
func BadRequest(format string, args ...any) error {
	return &RequestError{http.StatusBadRequest, "validation", fmt.Sprintf(format, args...)}
}

// Unprocessable is a 422 "validation" problem: the request parses but is incomplete or
// out of range (a missing required field).
func Unprocessable(format string, args ...any) error {
	return &RequestError{http.StatusUnprocessableEntity, "validation", fmt.Sprintf(format, args...)}
}

// WriteJSON sends body as a JSON answer that no cache keeps.
func WriteJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// Mapper translates the errors an API knows to problems; ok is false for others.
type Mapper func(err error) (d problem.Details, ok bool)

// Problem maps err: a *RequestError as itself, then the first mapper that knows it; ok is
// false when none does (the caller logs it and answers problem.Internal).
func Problem(err error, mappers ...Mapper) (problem.Details, bool) {
	var re *RequestError
	if errors.As(err, &re) {
		return problem.New(re.Status, re.Slug, http.StatusText(re.Status), re.Detail), true
	}
	for _, m := range mappers {
		if d, ok := m(err); ok {
			return d, true
		}
	}
	return problem.Details{}, false
}

// Fail answers err as a problem whose instance is the request path; an error no mapper
// knows is logged and answered as a 500 that shows nothing of it.
func Fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, mappers ...Mapper) {
	d, ok := Problem(err, mappers...)
	if !ok {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		d = problem.Internal()
	}
	WriteProblem(w, r, d)
}

// WriteProblem sends d with the request path as its instance (unless it has one).
func WriteProblem(w http.ResponseWriter, r *http.Request, d problem.Details) {
	if d.Instance == "" {
		d.Instance = r.URL.Path
	}
	problem.Write(w, d)
}

// NotFound answers a request no route matches.
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteProblem(w, r, problem.NotFound("no route for "+r.Method+" "+r.URL.Path))
}

var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// MethodNotAllowed answers a request whose path matches a route of routes but not its
// method, with the methods that path takes in Allow (RFC 9110 §15.5.6).
func MethodNotAllowed(routes chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range methods {
			if routes.Match(chi.NewRouteContext(), m, r.URL.Path) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		WriteProblem(w, r, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
			r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allow, ", ")))
	}
}

// Route installs NotFound and MethodNotAllowed on r.
func Route(r chi.Router) {
	r.NotFound(NotFound)
	r.MethodNotAllowed(MethodNotAllowed(r))
}
