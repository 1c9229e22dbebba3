package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/writeapi"
)

// readBenchResult is one request kind measured by bench read.
type readBenchResult struct {
	Workload    string  `json:"workload"`
	Tier        string  `json:"tier"`
	OK          bool    `json:"ok"`
	Error       string  `json:"error,omitempty"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	RequestsPS  float64 `json:"requests_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	Concurrency int     `json:"concurrency"`
	DurationS   float64 `json:"duration_s"`
}

var searchTerms = []string{"blue", "cotton", "hoodie", "t-shirt", "linen", "acme", "socks", "organic", "tshirt", "wool cap", "bag", "mug", "grey hoodie", "bambo"}

// runBenchRead serves a seeded shop in-process and measures catalog list, product detail,
// search and order history reads at a fixed concurrency.
func runBenchRead(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		events, readModels string
		concurrency        int
		duration           time.Duration
		products, orders   int
		quiet              bool
		cpuProfile         string
	)
	fs := newFlagSet("bench read", "bench read [--events URL] [--readmodels URL] [--concurrency 32] [--duration 20s]", getenv, stderr)
	fs.StringVar(&events, "events", "sqlite:", "event store: sqlite: (a temporary file) or postgres://… (a fresh schema, dropped afterwards)")
	fs.StringVar(&readModels, "readmodels", "", "read models: sqlite: (temporary) or postgres://… (a fresh schema); default: the same kind as --events")
	fs.IntVar(&concurrency, "concurrency", 32, "concurrent clients")
	fs.DurationVar(&duration, "duration", 20*time.Second, "measured time")
	fs.IntVar(&products, "products", 500, "products in the catalog")
	fs.IntVar(&orders, "orders", 300, "orders placed before measuring (order history)")
	fs.BoolVar(&quiet, "quiet", false, "no progress on stderr")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase (server and load generator share the process) to this file")
	if err := fs.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if concurrency < 1 || duration <= 0 || products < 1 || orders < 1 {
		return usagef("--concurrency, --duration, --products and --orders must be positive")
	}
	ek, _, err := parseStoreURL(events)
	if err != nil || (ek != kindSQLite && ek != kindPostgres) {
		return usagef("--events: want sqlite: or postgres://…")
	}
	if readModels == "" {
		readModels = events
	}
	rk, _, err := parseStoreURL(readModels)
	if err != nil || (rk != kindSQLite && rk != kindPostgres) {
		return usagef("--readmodels: want sqlite: or postgres://…")
	}
	dir, err := os.MkdirTemp("", "orderengine-bench-read-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")[:10]
	progress := func(format string, a ...any) {
		if !quiet {
			fmt.Fprintf(stderr, format+"\n", a...)
		}
	}

	var store eventstore.Store
	defer func() {
		if store != nil {
			store.Close()
		}
	}()
	if ek == kindSQLite {
		store, err = sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	} else {
		var pg *postgres.Store
		schema := "bench_events_" + suffix
		if pg, err = postgres.Open(ctx, events, postgres.Options{Schema: schema}); err == nil {
			store = pg
			defer dropSchema(pg, schema, stderr)
		}
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", redactURL(events), err)
	}
	rmURL := "sqlite:"
	if rk == kindPostgres {
		sep := "?"
		if strings.Contains(readModels, "?") {
			sep = "&"
		}
		rmURL = readModels + sep + "schema=bench_rm_" + suffix
	}
	secret := strings.Repeat("b", 32)
	c := Config{DataDir: dir, Events: "sqlite:", MaxEventSize: 1 << 20, LogLevel: "error"}
	f := appFlags{
		auth:           authFlags{secret: secret, issuer: auth.DefaultIssuer, audience: auth.DefaultAudience},
		readModels:     readModelFlags{url: rmURL},
		bus:            "memory",
		reservationTTL: 15 * time.Minute, orderWait: 30 * time.Second, webhookSecret: "bench-webhook-secret",
		store:     store,
		rateLimit: writeapi.RateLimit{PerUser: 1e6, UserBurst: 1e6, PerIP: 1e6, IPBurst: 1e6},
	}
	a, err := newApp(ctx, c, f, newLogger(c, io.Discard))
	if err != nil {
		return err
	}
	// Deferred in this order so the schema is dropped before the app closes its database.
	defer a.close()
	if rk == kindPostgres {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := a.rmdb.SQL().ExecContext(dctx, "DROP SCHEMA bench_rm_"+suffix+" CASCADE"); err != nil {
				fmt.Fprintf(stderr, "drop read-model schema: %v\n", err)
			}
		}()
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.run(runCtx) }()
	defer func() { stop(); <-done }()
	srv := httptest.NewServer(a.handler)
	defer srv.Close()

	progress("seeding %d products and %d orders…", products, orders)
	seeded, err := seedCatalog(ctx, a.svc, products, 1, nil)
	if err != nil {
		return err
	}
	customers := make([]string, 20)
	sign := auth.Signer{Secret: []byte(secret)}
	for i := range customers {
		if customers[i], err = sign.Sign(fmt.Sprintf("reader-%d", i), []auth.Role{auth.RoleCustomer}, time.Hour); err != nil {
			return err
		}
	}
	if err := placeBenchOrders(ctx, a.svc, a.checkout.Start, seeded.skus, orders); err != nil {
		return err
	}
	progress("waiting for the projections to catch up…")
	if err := a.waitCaughtUp(ctx, 2*time.Minute); err != nil {
		return err
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2}, Timeout: 30 * time.Second}
	kinds := []string{"catalog_list", "product_detail", "search", "order_history"}
	probe, err := client.Get(srv.URL + "/v1/search?q=blue")
	if err == nil {
		probe.Body.Close()
		if probe.StatusCode != http.StatusOK {
			kinds = slices.DeleteFunc(kinds, func(k string) bool { return k == "search" })
			progress("search answers %s: measuring without it", probe.Status)
		}
	}
	categories := []string{"tees", "hoodies", "socks", "caps", "bags", "mugs"}
	sorts := []string{"name", "price", "-price", "-created"}
	type sample struct {
		kind string
		d    time.Duration
		ok   bool
	}
	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	progress("measuring %s at %d concurrent clients…", duration, concurrency)
	var (
		mu      sync.Mutex
		samples []sample
		wg      sync.WaitGroup
	)
	deadline := time.Now().Add(duration)
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			var local []sample
			for i := w; time.Now().Before(deadline); i++ {
				kind := kinds[i%len(kinds)]
				var url, tok string
				switch kind {
				case "catalog_list":
					url = fmt.Sprintf("/v1/products?category=%s&sort=%s&limit=20", categories[rng.IntN(len(categories))], sorts[rng.IntN(len(sorts))])
				case "product_detail":
					url = "/v1/products/" + seeded.productIDs[rng.IntN(len(seeded.productIDs))]
				case "search":
					url = "/v1/search?q=" + strings.ReplaceAll(searchTerms[rng.IntN(len(searchTerms))], " ", "+") + "&facets=brand,category,price&limit=20"
				default:
					url, tok = "/v1/orders?limit=20", customers[rng.IntN(len(customers))]
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+url, nil)
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				local = append(local, sample{kind, time.Since(t0), ok})
			}
			mu.Lock()
			samples = append(samples, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()

	tier := string(ek) + "+" + string(rk)
	var results []readBenchResult
	all := readBenchResult{Workload: "combined", Tier: tier, Concurrency: concurrency, DurationS: elapsed, OK: true}
	var allLat []time.Duration
	for _, kind := range kinds {
		r := readBenchResult{Workload: kind, Tier: tier, Concurrency: concurrency, DurationS: elapsed}
		var lat []time.Duration
		for _, s := range samples {
			if s.kind != kind {
				continue
			}
			r.Requests++
			if !s.ok {
				r.Errors++
			}
			lat = append(lat, s.d)
		}
		r.OK = r.Errors == 0 && r.Requests > 0
		if !r.OK {
			r.Error = fmt.Sprintf("%d of %d requests failed", r.Errors, r.Requests)
			all.OK = false
		}
		r.RequestsPS, r.P50Ms, r.P99Ms = latencyStats(lat, elapsed)
		all.Requests += r.Requests
		all.Errors += r.Errors
		allLat = append(allLat, lat...)
		results = append(results, r)
	}
	all.RequestsPS, all.P50Ms, all.P99Ms = latencyStats(allLat, elapsed)
	results = append(results, all)

	fmt.Fprintf(stdout, "orderengine bench read — events %s, read models %s — %d products, %d orders — %s\n\n", redactURL(events), redactURL(readModels), products, orders, time.Now().UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tok\trequests\treq/s\tp50 ms\tp99 ms\terrors")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%v\t%d\t%.0f\t%.2f\t%.2f\t%d\n", r.Workload, r.OK, r.Requests, r.RequestsPS, r.P50Ms, r.P99Ms, r.Errors)
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	for _, r := range results {
		b, _ := json.Marshal(r)
		fmt.Fprintf(stdout, "RESULT %s\n", b)
	}
	if !all.OK {
		return errBenchFailed
	}
	return nil
}

func latencyStats(lat []time.Duration, seconds float64) (rps, p50, p99 float64) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(p * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	return float64(len(lat)) / seconds, pct(0.50), pct(0.99)
}

// placeBenchOrders places orders of 1–3 lines for the bench's customers through the
// command service and starts their checkouts.
func placeBenchOrders(ctx context.Context, svc *commands.Service, start func(context.Context, string) error, skus []string, n int) error {
	rng := rand.New(rand.NewPCG(7, 7))
	addr := &domain.Address{Name: "Reader", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}
	for i := 0; i < n; i++ {
		meta := commands.Meta{Actor: fmt.Sprintf("reader-%d", i%20), Customer: fmt.Sprintf("reader-%d", i%20)}
		cart, err := svc.CreateCart(ctx, domain.CreateCart{Currency: "EUR"}, meta)
		if err != nil {
			return err
		}
		for l := 0; l < 1+rng.IntN(3); l++ {
			if _, err := svc.AddCartItem(ctx, cart.State.ID, skus[rng.IntN(len(skus))], 1, meta); err != nil && !errors.Is(err, domain.ErrValidation) {
				return err
			}
		}
		if len(cart.State.Lines) == 0 {
			if c, err := svc.Cart(ctx, cart.State.ID, meta); err != nil || len(c.State.Lines) == 0 {
				continue
			}
		}
		o, err := svc.PlaceOrder(ctx, commands.PlaceOrderInput{CartID: cart.State.ID, ShippingAddress: addr, PaymentToken: "tok_visa"}, meta)
		if err != nil {
			return err
		}
		if err := start(ctx, o.State.ID); err != nil {
			return err
		}
	}
	return nil
}

// waitCaughtUp waits until every projection runner has reached the log's head.
func (a *app) waitCaughtUp(ctx context.Context, max time.Duration) error {
	deadline := time.Now().Add(max)
	for {
		head, err := a.store.Head(ctx)
		if err != nil {
			return err
		}
		caught := true
		for _, s := range a.projectionStatus() {
			if s.Checkpoint < head {
				caught = false
			}
		}
		if caught {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("projections did not catch up within %s", max)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
