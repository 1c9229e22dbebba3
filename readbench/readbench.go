// Package readbench measures the read API over HTTP: catalog list, product detail,
// search and order history requests at a fixed concurrency for a fixed time, against a
// running engine (orderengine bench read starts one on fresh stores).
package readbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Workloads are the request kinds measured, in turn.
var Workloads = []string{"catalog_list", "product_detail", "search", "order_history"}

// Config is one run. BaseURL, ProductIDs and CustomerTokens are required.
type Config struct {
	// BaseURL of the engine, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Concurrency is the number of concurrent clients; Duration the measured time.
	Concurrency int
	Duration    time.Duration
	// ProductIDs are the products detail requests pick from; Categories those catalog
	// lists filter by.
	ProductIDs []string
	Categories []string
	// CustomerTokens are bearer tokens of customers with orders (order history).
	CustomerTokens []string
	// Tier labels the results (e.g. "sqlite+sqlite").
	Tier string
	// Progress, if not nil, receives progress lines.
	Progress io.Writer
}

// Validate reports a bad configuration.
func (c Config) Validate() error {
	var errs []error
	if c.BaseURL == "" {
		errs = append(errs, errors.New("readbench: BaseURL is required"))
	}
	if c.Concurrency < 1 || c.Concurrency > 10_000 {
		errs = append(errs, fmt.Errorf("--concurrency %d: want 1–10000", c.Concurrency))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %s: must be positive", c.Duration))
	}
	if len(c.ProductIDs) == 0 || len(c.CustomerTokens) == 0 || len(c.Categories) == 0 {
		errs = append(errs, errors.New("readbench: products, categories and customer tokens are required"))
	}
	return errors.Join(errs...)
}

// Result is one request kind measured (the RESULT lines' JSON).
type Result struct {
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

var (
	searchTerms = []string{"blue", "cotton", "hoodie", "t-shirt", "linen", "acme", "socks", "organic", "tshirt", "wool cap", "bag", "mug", "grey hoodie", "bambo"}
	sorts       = []string{"name", "price", "-price", "-created"}
)

type sample struct {
	kind string
	d    time.Duration
	ok   bool
}

// Run measures the workloads and returns one result per workload and a combined one.
// Search is left out when the engine does not answer it with 200 (no search backend).
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency * 2}, Timeout: 30 * time.Second}
	kinds := slices.Clone(Workloads)
	if probe, err := client.Get(cfg.BaseURL + "/v1/search?q=blue"); err == nil {
		probe.Body.Close()
		if probe.StatusCode != http.StatusOK {
			kinds = slices.DeleteFunc(kinds, func(k string) bool { return k == "search" })
			cfg.progress("search answers %s: measuring without it", probe.Status)
		}
	}
	cfg.progress("measuring %s at %d concurrent clients…", cfg.Duration, cfg.Concurrency)
	start := time.Now()
	samples := cfg.load(ctx, client, kinds, start.Add(cfg.Duration))
	return summarize(cfg, kinds, samples, time.Since(start).Seconds()), nil
}

func (c Config) progress(format string, a ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", a...)
	}
}

// load runs the clients until deadline.
func (c Config) load(ctx context.Context, client *http.Client, kinds []string, deadline time.Time) []sample {
	var (
		mu      sync.Mutex
		samples []sample
		wg      sync.WaitGroup
	)
	for w := 0; w < c.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			var local []sample
			for i := w; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				kind := kinds[i%len(kinds)]
				t0 := time.Now()
				ok := c.request(ctx, client, rng, kind)
				local = append(local, sample{kind, time.Since(t0), ok})
			}
			mu.Lock()
			samples = append(samples, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return samples
}

// request makes one request of a kind and reports whether it answered 200.
func (c Config) request(ctx context.Context, client *http.Client, rng *rand.Rand, kind string) bool {
	var url, tok string
	switch kind {
	case "catalog_list":
		url = fmt.Sprintf("/v1/products?category=%s&sort=%s&limit=20", c.Categories[rng.IntN(len(c.Categories))], sorts[rng.IntN(len(sorts))])
	case "product_detail":
		url = "/v1/products/" + c.ProductIDs[rng.IntN(len(c.ProductIDs))]
	case "search":
		url = "/v1/search?q=" + strings.ReplaceAll(searchTerms[rng.IntN(len(searchTerms))], " ", "+") + "&facets=brand,category,price&limit=20"
	default:
		url, tok = "/v1/orders?limit=20", c.CustomerTokens[rng.IntN(len(c.CustomerTokens))]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+url, nil)
	if err != nil {
		return false
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func summarize(cfg Config, kinds []string, samples []sample, elapsed float64) []Result {
	all := Result{Workload: "combined", Tier: cfg.Tier, Concurrency: cfg.Concurrency, DurationS: elapsed, OK: true}
	var results []Result
	var allLat []time.Duration
	for _, kind := range kinds {
		r := Result{Workload: kind, Tier: cfg.Tier, Concurrency: cfg.Concurrency, DurationS: elapsed}
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
	return append(results, all)
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

// PrintTable writes the results as a table.
func PrintTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tok\trequests\treq/s\tp50 ms\tp99 ms\terrors")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%v\t%d\t%.0f\t%.2f\t%.2f\t%d\n", r.Workload, r.OK, r.Requests, r.RequestsPS, r.P50Ms, r.P99Ms, r.Errors)
	}
	tw.Flush()
}

// PrintResultLines writes one "RESULT {json}" line per result (for scripts).
func PrintResultLines(w io.Writer, results []Result) {
	for _, r := range results {
		b, _ := json.Marshal(r)
		fmt.Fprintf(w, "RESULT %s\n", b)
	}
}

// AllOK reports whether every result passed.
func AllOK(results []Result) bool {
	for _, r := range results {
		if !r.OK {
			return false
		}
	}
	return len(results) > 0
}
