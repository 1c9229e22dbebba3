// Package checkoutbench is a load generator for the command API: virtual customers build
// carts and check out over HTTP, and the run reports checkouts/s and latencies, then checks
// that every checkout ended correctly and that stock adds up.
//
// Two workloads:
//
//   - checkout: Concurrency virtual users, each its own customer (Config.CustomerToken(i)),
//     loop for Duration (or until Checkouts checkouts have started): POST /v1/carts, POST
//     /v1/carts/{id}/items for MinLines..MaxLines distinct random SKUs (1–2 units each) of
//     a catalog of Products products with ample stock, then POST /v1/orders with tok_visa
//     and an Idempotency-Key. A 201 carries the finished checkout; a 202 is polled through
//     GET /v1/orders/{id}/checkout until terminal. Latency is measured for the POST
//     /v1/orders call (p50_ms, p99_ms) and for the whole journey from the cart's creation
//     to the terminal checkout (journey_p50_ms, journey_p99_ms). Every checkout must be
//     confirmed (the card approves and stock is ample).
//   - flash_sale: Buyers customers each prepare a cart holding one unit of ONE SKU with
//     FlashStock units in stock (untimed), then all check out at once (Concurrency at a
//     time, default all of them). Exactly min(Buyers, FlashStock) must be confirmed, the
//     rest cancelled out of stock; the SKU's stock is read throughout and must never be
//     negative, and ends with available = FlashStock − confirmed (0 when sold out).
//
// Seeding (products and stock, through the admin API) happens before the clock starts.
// Every run uses SKUs of its own random prefix, so it may share a store with other data.
//
// With Config.ReadStock (the command side has no inventory read route, so it reads the
// store in-process; see ServiceStock), the run also checks each SKU's final stock: on hand,
// reserved and available never negative, nothing left reserved, committed units = the units
// of confirmed orders, on hand = received − committed.
package checkoutbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Workload names.
const (
	Checkout  = "checkout"
	FlashSale = "flash_sale"
)

// Defaults of Config.
const (
	DefaultConcurrency  = 32
	DefaultDuration     = 20 * time.Second
	DefaultProducts     = 200
	DefaultStock        = 1_000_000
	DefaultMinLines     = 1
	DefaultMaxLines     = 5
	DefaultBuyers       = 1000
	DefaultFlashStock   = 100
	DefaultPollTimeout  = 60 * time.Second
	DefaultPaymentToken = "tok_visa"
)

// Stock is one SKU's inventory as the engine holds it.
type Stock struct {
	OnHand   int64 `json:"on_hand"`
	Reserved int64 `json:"reserved"`
	// Committed is the units of committed reservations (sold, net of restocked returns).
	Committed int64 `json:"committed"`
	// Reservations is the number of active reservations.
	Reservations int `json:"reservations"`
}

// Available is what can still be reserved.
func (s Stock) Available() int64 { return s.OnHand - s.Reserved }

// StockReader reads a SKU's current stock.
type StockReader func(ctx context.Context, sku string) (Stock, error)

// Config sets up a run. Zero fields take the defaults.
type Config struct {
	// BaseURL is the server's root, e.g. http://127.0.0.1:8080 (required).
	BaseURL string
	// AdminToken is a bearer token with the admin role, for seeding (required).
	AdminToken string
	// CustomerToken returns the bearer token of customer i (a distinct customer per i);
	// i ranges over the virtual users, or over the buyers of a flash sale (required).
	CustomerToken func(i int) string
	// Tier labels the results (e.g. "embedded", "postgres").
	Tier string

	// Concurrency is the number of virtual users (default 32); in a flash sale, how many
	// buyers check out at once (default: all of them).
	Concurrency int
	// Duration is how long the checkout workload starts new journeys (default 20s); the
	// journeys running at the end finish and count. Ignored when Checkouts is set.
	Duration time.Duration
	// Checkouts, when positive, runs exactly this many journeys instead.
	Checkouts int
	// Products is the catalog size (default 200), each with Stock units (default
	// 1,000,000).
	Products int
	Stock    int64
	// MinLines and MaxLines bound the distinct SKUs per cart (defaults 1 and 5; 1..100).
	MinLines, MaxLines int

	// FlashSale runs the flash_sale workload instead: Buyers buyers (default 1,000) for
	// FlashStock units (default 100) of one SKU.
	FlashSale  bool
	Buyers     int
	FlashStock int64

	// PaymentToken is the gateway test token (default "tok_visa").
	PaymentToken string
	// PollTimeout bounds how long a 202 checkout is polled before it counts as stuck
	// (default 60s).
	PollTimeout time.Duration
	// ReadStock, when set, reads SKUs' stock for the checks (see ServiceStock).
	ReadStock StockReader

	// Progress, when set, receives progress lines redrawn with '\r' and ended with '\n'.
	Progress io.Writer
	// HTTPClient sends the requests (default: a client with a connection pool sized for
	// the concurrency).
	HTTPClient *http.Client
}

// WithDefaults returns c with zero fields replaced by the defaults.
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.FlashSale {
		def(&c.Buyers, DefaultBuyers)
		def(&c.Concurrency, c.Buyers)
		if c.FlashStock == 0 {
			c.FlashStock = DefaultFlashStock
		}
	} else {
		def(&c.Concurrency, DefaultConcurrency)
	}
	if c.Duration == 0 && c.Checkouts == 0 {
		c.Duration = DefaultDuration
	}
	def(&c.Products, DefaultProducts)
	if c.Stock == 0 {
		c.Stock = DefaultStock
	}
	def(&c.MinLines, DefaultMinLines)
	def(&c.MaxLines, DefaultMaxLines)
	if c.PaymentToken == "" {
		c.PaymentToken = DefaultPaymentToken
	}
	if c.PollTimeout == 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	return c
}

// Validate reports every problem of c (after WithDefaults) at once.
func (c Config) Validate() error {
	var errs []error
	if c.BaseURL == "" {
		errs = append(errs, errors.New("BaseURL is required"))
	}
	if c.AdminToken == "" || c.CustomerToken == nil {
		errs = append(errs, errors.New("AdminToken and CustomerToken are required"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, errors.New("concurrency must be at least 1"))
	}
	if c.Duration < 0 || c.Checkouts < 0 {
		errs = append(errs, errors.New("duration and checkouts must not be negative"))
	}
	if c.Products < 1 {
		errs = append(errs, errors.New("products must be at least 1"))
	}
	if c.Stock < 1 || c.Stock > 1_000_000_000 {
		errs = append(errs, errors.New("stock must be between 1 and 1,000,000,000"))
	}
	if c.MinLines < 1 || c.MaxLines < c.MinLines || c.MaxLines > 100 {
		errs = append(errs, fmt.Errorf("lines %d..%d: want 1 ≤ min ≤ max ≤ 100", c.MinLines, c.MaxLines))
	}
	if !c.FlashSale && c.MaxLines > c.Products {
		errs = append(errs, fmt.Errorf("max lines %d is more than the %d products", c.MaxLines, c.Products))
	}
	if c.FlashSale && (c.Buyers < 1 || c.FlashStock < 1 || c.FlashStock > 1_000_000_000) {
		errs = append(errs, errors.New("a flash sale needs at least 1 buyer and 1..1,000,000,000 units"))
	}
	if c.PollTimeout < 0 {
		errs = append(errs, errors.New("poll timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// Result is one workload's outcome. When OK is false, Error says which check failed; the
// speed figures are still filled in so that a failing run can be compared.
type Result struct {
	Workload string `json:"workload"`
	Tier     string `json:"tier,omitempty"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`

	// CheckoutsPerS is terminal checkouts (confirmed or cancelled) per second of the
	// timed phase.
	CheckoutsPerS float64 `json:"checkouts_per_s"`
	// P50Ms/P99Ms time the POST /v1/orders call; JourneyP50Ms/JourneyP99Ms the whole
	// journey (checkout: cart creation to terminal checkout; flash_sale: POST /v1/orders
	// to terminal checkout, carts being prepared before the clock starts).
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
	JourneyP50Ms float64 `json:"journey_p50_ms"`
	JourneyP99Ms float64 `json:"journey_p99_ms"`

	Placed    int `json:"placed"`
	Confirmed int `json:"confirmed"`
	Cancelled int `json:"cancelled"`
	// Polled is how many POST /v1/orders answered 202 and were polled to the end.
	Polled int `json:"polled"`
	// Lines is the order lines placed; Requests every HTTP request of the timed phase.
	Lines        int     `json:"lines"`
	Requests     int     `json:"requests"`
	RequestsPerS float64 `json:"requests_per_s"`
	// Errors counts failed requests (unexpected status or transport error);
	// ErrorsByStatus breaks them down by "METHOD route status".
	Errors         int            `json:"errors"`
	ErrorsByStatus map[string]int `json:"errors_by_status,omitempty"`
	// CancelCodes counts cancelled checkouts by their code (out_of_stock, …).
	CancelCodes map[string]int `json:"cancel_codes,omitempty"`

	Concurrency int     `json:"concurrency"`
	DurationS   float64 `json:"duration_s"`
	SeedS       float64 `json:"seed_s"`
	Products    int     `json:"products"`
	Buyers      int     `json:"buyers,omitempty"`
	Stock       int64   `json:"stock,omitempty"`
	// StockChecked: the final stock of every SKU was read and checked; StockReads is how
	// many stock reads were taken during the run (each must be non-negative).
	StockChecked bool `json:"stock_checked"`
	StockReads   int  `json:"stock_reads"`
}

// AllOK reports whether every result passed its checks.
func AllOK(rs []Result) bool {
	for _, r := range rs {
		if !r.OK {
			return false
		}
	}
	return len(rs) > 0
}

// Run seeds the catalog and runs the workload Config selects. It returns an error only
// when the run could not be set up or was interrupted; failed checks are reported in
// the Result (OK false, Error).
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient(cfg.Concurrency)
	}
	r := newRunner(cfg)
	var (
		res Result
		err error
	)
	if cfg.FlashSale {
		res, err = r.flashSale(ctx)
	} else {
		res, err = r.checkout(ctx)
	}
	if err != nil && res.Workload == "" {
		return nil, err
	}
	return []Result{res}, err
}

func newHTTPClient(concurrency int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = concurrency + 16
	t.MaxIdleConnsPerHost = concurrency + 16
	return &http.Client{Transport: t, Timeout: 2 * time.Minute}
}
