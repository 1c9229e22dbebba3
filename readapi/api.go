// Package readapi is the read API (REST under /v1): catalog pages and search for
// frontends, a customer's order history, every order's event history and past states for
// auditors, stock for operators, and projection status, rebuilds and the event log export
// for analysts.
//
// Conventions: JSON bodies, RFC 9457 problem documents for errors, cursor pagination
// (limit ≤ 100, default 20), ETag and 304 on If-None-Match, strict query strings (an
// unknown or repeated parameter is a 400). Every response carries the position of the
// projection it was read from in Orderengine-Position; a client that sends the position
// of its own write (query minPosition or the Orderengine-Position request header) gets an
// answer that reflects it, waiting up to Config.MaxWait for the projection, or else an
// answer marked Orderengine-Stale: true.
//
// The catalog (products, search) is public; everything else needs a bearer token. See
// Operations for the roles of each route.
//
// Ports: each dependency is a small interface declared here (Reader, Search, EventStore,
// PositionWaiter, ProjectionStatus, Rebuilder) in the read side's own types —
// readmodel's, search's, projections' and eventstore's — which the application's pieces
// satisfy as they are. The API mirrors none of them and needs no adapter; it maps their
// error sentinels to problems itself (readProblem). Its own types are only answers that
// reshape data for HTTP (OrderView, OrderHistory, RebuildProgress in seconds). The HTTP plumbing it shares with the
// command API is package httpapi.
package readapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/readmodel"
)

// Reader is the read-model queries the API serves (*readmodel.Reader). Every answer
// carries the position of the projection it was read at.
type Reader interface {
	Product(ctx context.Context, id string) (readmodel.Product, uint64, error)
	Products(ctx context.Context, q readmodel.ProductQuery) (readmodel.Page[readmodel.Product], error)
	Order(ctx context.Context, id string) (readmodel.Order, uint64, error)
	Orders(ctx context.Context, q readmodel.OrderQuery) (readmodel.Page[readmodel.Order], error)
	Stock(ctx context.Context, sku string) (readmodel.StockItem, uint64, error)
	StockItems(ctx context.Context, q readmodel.StockQuery) (readmodel.Page[readmodel.StockItem], error)
}

// PositionWaiter waits for a SQL projection's checkpoint (*projections.DB).
type PositionWaiter interface {
	// WaitPosition waits until the projection's checkpoint reaches atLeast or maxWait
	// passes; it reports whether it got there and the position it saw last.
	WaitPosition(ctx context.Context, projection string, atLeast uint64, maxWait time.Duration) (bool, uint64, error)
}

// EventStore is the part of the event store the API reads (eventstore.Store).
type EventStore interface {
	ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error)
	ReadAll(ctx context.Context, from uint64, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error)
	Head(ctx context.Context) (uint64, error)
}

// ProjectionStatus reports every projection's status: in-process from the runners
// (Runner.Status), or from the database (projections.Inspect).
type ProjectionStatus interface {
	ProjectionStatus(ctx context.Context) ([]projections.Status, error)
}

// StatusFunc adapts a function to ProjectionStatus.
type StatusFunc func(ctx context.Context) ([]projections.Status, error)

// ProjectionStatus calls f.
func (f StatusFunc) ProjectionStatus(ctx context.Context) ([]projections.Status, error) {
	return f(ctx)
}

// The application's pieces satisfy the ports.
var (
	_ Reader         = (*readmodel.Reader)(nil)
	_ PositionWaiter = (*projections.DB)(nil)
	_ EventStore     = eventstore.Store(nil)
)

// Projection names the API waits on for minPosition.
var (
	projCatalog   = readmodel.Catalog{}.Name()
	projOrders    = readmodel.Orders{}.Name()
	projInventory = readmodel.Inventory{}.Name()
)

// Config wires the API to the application.
type Config struct {
	// Reader answers catalog, order and stock queries (required).
	Reader Reader
	// Positions waits for the catalog, orders and inventory projections (required).
	Positions PositionWaiter
	// Verifier authenticates bearer tokens (required; *auth.Verifier).
	Verifier interface {
		Middleware(http.Handler) http.Handler
	}
	// Events serves order event histories, as-of views and the log export; nil makes
	// those routes answer 503. When it wraps another store (Inner, as *privacy.Store
	// does), histories and exports read the inner one: the stored, sealed bytes the hash
	// chain covers; as-of views read Events (opened).
	Events EventStore
	// Search serves /v1/search; nil makes it answer 503.
	Search Search
	// Status serves /v1/admin/projections; nil makes it answer 503.
	Status ProjectionStatus
	// Rebuilder runs rebuilds; nil makes POST …/rebuild answer 503.
	Rebuilder Rebuilder
	// MaxWait bounds how long a read waits for minPosition (default 2 s).
	MaxWait time.Duration
	// Registry decodes order events for as-of views (default domain.NewDomainRegistry()).
	Registry *domain.Registry
	// ExportMaxLimit bounds limit of an NDJSON export of the log (default 10,000).
	ExportMaxLimit int
	Logger         *slog.Logger
	Now            func() time.Time
}

// API is the read API's HTTP handler.
type API struct {
	reader    Reader
	positions PositionWaiter
	verifier  interface {
		Middleware(http.Handler) http.Handler
	}
	events EventStore
	// stored reads the stored bytes for histories and exports (the chain covers them):
	// Events itself, or what it wraps when it opens sealed personal data (Inner).
	stored    EventStore
	search    Search
	status    ProjectionStatus
	rebuilder Rebuilder
	maxWait   time.Duration
	reg       *domain.Registry
	exportMax int
	log       *slog.Logger
	now       func() time.Time
	router    chi.Router

	jobs *rebuildJobs
}

// New builds the API.
func New(c Config) (*API, error) {
	var errs []error
	if c.Reader == nil {
		errs = append(errs, errors.New("readapi: Reader is required"))
	}
	if c.Positions == nil {
		errs = append(errs, errors.New("readapi: Positions is required"))
	}
	if c.Verifier == nil {
		errs = append(errs, errors.New("readapi: Verifier is required"))
	}
	if c.MaxWait < 0 || c.ExportMaxLimit < 0 {
		errs = append(errs, errors.New("readapi: MaxWait and ExportMaxLimit must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.MaxWait == 0 {
		c.MaxWait = 2 * time.Second
	}
	if c.Registry == nil {
		c.Registry = domain.NewDomainRegistry()
	}
	if c.ExportMaxLimit == 0 {
		c.ExportMaxLimit = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	a := &API{
		reader: c.Reader, positions: c.Positions, verifier: c.Verifier, events: c.Events, search: c.Search,
		status: c.Status, rebuilder: c.Rebuilder, maxWait: c.MaxWait, reg: c.Registry, exportMax: c.ExportMaxLimit,
		log: c.Logger, now: c.Now,
	}
	a.stored = c.Events
	if in, ok := c.Events.(interface{ Inner() eventstore.Store }); ok {
		a.stored = in.Inner()
	}
	a.jobs = newRebuildJobs(c.Rebuilder, c.Logger, c.Now)
	a.router = a.routes()
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// Router exposes the routes (for the OpenAPI agreement test and for mounting).
func (a *API) Router() chi.Router { return a.router }

// Close cancels running rebuilds and waits for them to stop.
func (a *API) Close() error {
	a.jobs.close()
	return nil
}

func (a *API) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	a.Register(r)
	httpapi.Route(r)
	return r
}

// Roles of the routes (see Operations).
var (
	rolesOrders    = []auth.Role{auth.RoleCustomer, auth.RoleAdmin, auth.RoleAuditor}
	rolesInventory = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst, auth.RoleAuditor}
	rolesAdmin     = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst}
	rolesExport    = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst, auth.RoleAuditor}
)

// Register adds the read API's routes to r, so one router can serve it beside the
// command API. It does not register /v1/openapi.json (see OpenAPIPaths).
func (a *API) Register(r chi.Router) {
	// The catalog and search are public: no token needed, an Authorization header is ignored.
	r.Get("/v1/products", a.listProducts)
	r.Get("/v1/products/{id}", a.getProduct)
	r.Get("/v1/search", a.searchProducts)
	r.Get("/v1/search/suggest", a.suggest)

	r.Group(func(r chi.Router) {
		r.Use(a.verifier.Middleware)
		r.Group(func(r chi.Router) {
			r.Use(auth.Require(rolesOrders...))
			r.Get("/v1/orders", a.listOrders)
			r.Get("/v1/orders/{id}", a.getOrder)
			r.Get("/v1/orders/{id}/events", a.orderEvents)
			r.Get("/v1/orders/{id}/returns", a.listReturns)
			r.Get("/v1/returns/{rid}", a.getReturn)
		})
		r.Group(func(r chi.Router) {
			r.Use(auth.Require(rolesInventory...))
			r.Get("/v1/inventory", a.listStock)
			r.Get("/v1/inventory/{sku}", a.getStock)
		})
		r.Group(func(r chi.Router) {
			r.Use(auth.Require(rolesAdmin...))
			r.Get("/v1/admin/projections", a.listProjections)
			r.Get("/v1/admin/projections/{name}", a.getProjection)
			r.Post("/v1/admin/projections/{name}/rebuild", a.rebuild)
		})
		r.With(auth.Require(rolesExport...)).Get("/v1/admin/events", a.exportEvents)
	})
}

// principal returns the caller and whether they see only their own orders.
func principal(r *http.Request) (p auth.Principal, ownOnly bool) {
	p, _ = auth.FromContext(r.Context())
	return p, !p.Has(auth.RoleAdmin, auth.RoleAuditor)
}
