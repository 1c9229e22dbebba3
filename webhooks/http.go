package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/idempotency"
	"github.com/orderengine/orderengine/integration"
	"github.com/orderengine/orderengine/problem"
)

// IdempotencyStore keeps Idempotency-Key results (package idempotency's Store).
type IdempotencyStore = httpapi.IdempotencyStore

// APIConfig wires the admin API.
type APIConfig struct {
	Endpoints *Endpoints
	Verifier  *auth.Verifier
	// Idempotency replays Idempotency-Key results of test, retry and replay; nil disables it.
	// Create derives the endpoint id from the key instead, so its secret is never stored.
	Idempotency IdempotencyStore
	// Client sends test pings (default NewClient(Endpoints' Security, 10 s)).
	Client       *http.Client
	MaxBodyBytes int64 // default 64 KiB
	Logger       *slog.Logger
	Now          func() time.Time
}

// API serves the webhook admin routes and the AsyncAPI document.
type API struct {
	c        APIConfig
	asyncapi []byte
}

// NewAPI builds the admin API.
func NewAPI(c APIConfig) (*API, error) {
	if c.Endpoints == nil || c.Verifier == nil {
		return nil, errors.New("webhooks: Endpoints and Verifier are required")
	}
	if c.Client == nil {
		c.Client = NewClient(c.Endpoints.sec, 10*time.Second)
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	doc, err := json.MarshalIndent(integration.AsyncAPI(), "", "  ")
	if err != nil {
		return nil, err
	}
	return &API{c: c, asyncapi: doc}, nil
}

// Router is the API on its own router (tests; mounting under a prefix-less parent).
func (a *API) Router() chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	a.Register(r)
	httpapi.Route(r)
	return r
}

// Register adds the routes to r (the server's shared router).
func (a *API) Register(r chi.Router) {
	r.Get("/v1/asyncapi.json", a.serveAsyncAPI)
	r.Group(func(r chi.Router) {
		r.Use(a.c.Verifier.Middleware)
		r.Use(auth.Require(auth.RoleAdmin))
		r.Post("/v1/webhook-endpoints", a.create)
		r.Get("/v1/webhook-endpoints", a.list)
		r.Get("/v1/webhook-endpoints/{id}", a.get)
		r.Patch("/v1/webhook-endpoints/{id}", a.patch)
		r.Delete("/v1/webhook-endpoints/{id}", a.delete)
		r.Post("/v1/webhook-endpoints/{id}/rotate-secret", a.rotate)
		r.Post("/v1/webhook-endpoints/{id}/test", a.idempotent(a.test))
		r.Get("/v1/webhook-endpoints/{id}/deliveries", a.deliveries)
		r.Post("/v1/webhook-endpoints/{id}/replay", a.idempotent(a.replay))
		r.Post("/v1/webhook-deliveries/{id}/retry", a.idempotent(a.retry))
	})
}

func (a *API) serveAsyncAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(a.asyncapi)
}

// endpointView is an endpoint as answered; Secret only on create and rotate.
type endpointView struct {
	Endpoint
	Secret string `json:"secret,omitempty"`
}

type createBody struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"eventTypes,omitempty"`
	Description string   `json:"description,omitempty"`
}

// idNamespace scopes endpoint ids derived from Idempotency-Keys.
var idNamespace = uuid.MustParse("3c0e5a7b-4c59-4e54-9b7c-1d2e3f406f1d")

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	var b createBody
	if err := a.decode(w, r, &b); err != nil {
		a.fail(w, r, err)
		return
	}
	if b.URL == "" {
		a.fail(w, r, invalidf("url is required"))
		return
	}
	n := NewEndpoint{URL: b.URL, EventTypes: b.EventTypes, Description: b.Description}
	key := r.Header.Get("Idempotency-Key")
	if key != "" {
		if err := idempotency.ValidateKey(key); err != nil {
			httpapi.WriteProblem(w, r, problem.New(http.StatusBadRequest, "validation", "Invalid Idempotency-Key", err.Error()))
			return
		}
		p, _ := auth.FromContext(r.Context())
		n.ID = uuid.NewSHA1(idNamespace, []byte(p.Subject+"\x00"+key)).String()
	}
	ep, secret, err := a.c.Endpoints.Create(r.Context(), n)
	if errors.Is(err, ErrAlreadyExists) && n.ID != "" {
		// A retried create: the endpoint exists; its secret was shown once and is not again.
		ep, err = a.c.Endpoints.Get(r.Context(), n.ID)
		if err == nil && (ep.URL != b.URL || !slices.Equal(ep.EventTypes, nonNil(b.EventTypes)) || ep.Description != b.Description) {
			httpapi.WriteProblem(w, r, problem.New(http.StatusUnprocessableEntity, "idempotency-mismatch", "Idempotency-Key reused",
				"this Idempotency-Key was used with a different request"))
			return
		}
		if err == nil {
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Location", "/v1/webhook-endpoints/"+ep.ID)
			writeJSON(w, http.StatusOK, endpointView{Endpoint: ep})
			return
		}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/webhook-endpoints/"+ep.ID)
	writeJSON(w, http.StatusCreated, endpointView{Endpoint: ep, Secret: secret})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	if err := noQuery(r); err != nil {
		a.fail(w, r, err)
		return
	}
	eps, err := a.c.Endpoints.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": eps})
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	if err := noQuery(r); err != nil {
		a.fail(w, r, err)
		return
	}
	ep, err := a.c.Endpoints.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointView{Endpoint: ep})
}

type patchBody struct {
	URL         *string   `json:"url,omitempty"`
	EventTypes  *[]string `json:"eventTypes,omitempty"`
	Description *string   `json:"description,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
}

func (a *API) patch(w http.ResponseWriter, r *http.Request) {
	var b patchBody
	if err := a.decode(w, r, &b); err != nil {
		a.fail(w, r, err)
		return
	}
	if b.EventTypes != nil && *b.EventTypes == nil {
		empty := []string{}
		b.EventTypes = &empty
	}
	ep, err := a.c.Endpoints.Update(r.Context(), chi.URLParam(r, "id"), Patch(b))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointView{Endpoint: ep})
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	if err := a.c.Endpoints.Delete(r.Context(), chi.URLParam(r, "id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) rotate(w http.ResponseWriter, r *http.Request) {
	if err := a.emptyBody(w, r); err != nil {
		a.fail(w, r, err)
		return
	}
	ep, secret, err := a.c.Endpoints.RotateSecret(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointView{Endpoint: ep, Secret: secret})
}

// PingResult is the answer of POST …/{id}/test.
type PingResult struct {
	DeliveryID string `json:"deliveryId"`
	OK         bool   `json:"ok"`
	StatusCode int    `json:"statusCode,omitempty"`
	LatencyMs  int64  `json:"latencyMs"`
	Error      string `json:"error,omitempty"`
}

func (a *API) test(w http.ResponseWriter, r *http.Request) {
	if err := a.emptyBody(w, r); err != nil {
		a.fail(w, r, err)
		return
	}
	ep, err := a.c.Endpoints.get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := a.c.Now()
	ev := integration.Event{ID: uuid.NewString(), Type: integration.PingType, Version: 1, OccurredAt: now.UTC(),
		Data: integration.Ping{EndpointID: ep.ID, SentAt: now.UTC()}}
	body, err := ev.Marshal()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id := deliveryID(ep.ID, ev.ID)
	res := send(r.Context(), a.c.Client, 10*time.Second, now, ep, id, body)
	out := PingResult{DeliveryID: id, StatusCode: res.status, LatencyMs: res.latency.Milliseconds(), OK: res.status >= 200 && res.status < 300}
	if res.err != nil {
		out.Error = truncate(res.err.Error(), 300)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) deliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "limit" && k != "cursor" {
			a.fail(w, r, badRequest("unknown query parameter %q (limit, cursor)", k))
			return
		}
	}
	limit := 20
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			a.fail(w, r, badRequest("limit must be 1 to 100"))
			return
		}
		limit = n
	}
	var before uint64
	if s := q.Get("cursor"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			a.fail(w, r, badRequest("cursor must be a nextCursor returned by this route"))
			return
		}
		before = n
	}
	ds, next, err := a.c.Endpoints.Deliveries(r.Context(), chi.URLParam(r, "id"), limit, before)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body := map[string]any{"items": ds}
	if next > 0 {
		c := strconv.FormatUint(next, 10)
		body["nextCursor"] = c
		w.Header().Set("Link", fmt.Sprintf(`<%s?limit=%d&cursor=%s>; rel="next"`, r.URL.Path, limit, c))
	}
	writeJSON(w, http.StatusOK, body)
}

type replayBody struct {
	FromPosition *uint64   `json:"fromPosition,omitempty"`
	FromTime     time.Time `json:"fromTime,omitzero"`
}

func (a *API) replay(w http.ResponseWriter, r *http.Request) {
	var b replayBody
	if err := a.decode(w, r, &b); err != nil {
		a.fail(w, r, err)
		return
	}
	if (b.FromPosition == nil) == b.FromTime.IsZero() {
		a.fail(w, r, invalidf("give exactly one of fromPosition and fromTime"))
		return
	}
	from := uint64(0)
	if b.FromPosition != nil {
		from = *b.FromPosition
	} else {
		p, err := a.c.Endpoints.PositionAt(r.Context(), b.FromTime)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		from = p
	}
	ep, err := a.c.Endpoints.Replay(r.Context(), chi.URLParam(r, "id"), from)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"endpoint": ep, "fromPosition": ep.ReplayFrom})
}

func (a *API) retry(w http.ResponseWriter, r *http.Request) {
	if err := a.emptyBody(w, r); err != nil {
		a.fail(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	if err := a.c.Endpoints.RetryDelivery(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"deliveryId": id, "status": "scheduled"})
}

// --- request and response helpers (package httpapi's, as writeapi uses them) ---

func badRequest(format string, args ...any) error { return httpapi.BadRequest(format, args...) }

func noQuery(r *http.Request) error {
	for k := range r.URL.Query() {
		return badRequest("unknown query parameter %q", k)
	}
	return nil
}

func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return httpapi.ReadBody(w, r, a.c.MaxBodyBytes)
}

// decode strictly decodes one JSON object: unknown fields and trailing data are a 400,
// missing required fields (json tags without omitempty) a 422.
func (a *API) decode(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	return httpapi.DecodeStrict(body, dst, false)
}

// emptyBody accepts no body or an empty JSON object.
func (a *API) emptyBody(w http.ResponseWriter, r *http.Request) error {
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && !bytes.Equal(t, []byte("{}")) {
		return badRequest("this route takes no body")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, body any) { httpapi.WriteJSON(w, status, body) }

// problemOf maps this package's errors to problems.
func problemOf(err error) (problem.Details, bool) {
	switch {
	case errors.Is(err, ErrForbiddenDestination):
		return problem.New(http.StatusUnprocessableEntity, "forbidden-destination", "Destination not allowed", err.Error()), true
	case errors.Is(err, ErrValidation):
		return problem.New(http.StatusUnprocessableEntity, "validation", "Invalid request", err.Error()), true
	case errors.Is(err, ErrNotFound):
		return problem.NotFound(err.Error()), true
	case errors.Is(err, ErrAlreadyExists):
		return problem.New(http.StatusConflict, "already-exists", "Already exists", err.Error()), true
	}
	return problem.Details{}, false
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.Fail(w, r, a.c.Logger, err, problemOf)
}

// idempotent gives a POST Stripe's Idempotency-Key semantics, as writeapi does
// (httpapi.Idempotency): the first result is stored and replayed; the same key with another
// request → 422; in flight → 409.
func (a *API) idempotent(next http.HandlerFunc) http.HandlerFunc {
	return httpapi.Idempotency{Store: a.c.Idempotency, MaxBody: a.c.MaxBodyBytes, Logger: a.c.Logger, Fail: a.fail}.Wrap(next)
}
