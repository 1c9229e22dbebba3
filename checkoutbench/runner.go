package checkoutbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// runner runs one workload and collects what it sees.
type runner struct {
	cfg Config
	c   *client
	run string // this run's SKU prefix

	mu      sync.Mutex
	o       *outcome
	orderMs []time.Duration // POST /v1/orders
	journey []time.Duration
	lines   int
	polled  int
	reads   atomic.Int64
	prog    *progress
}

func newRunner(cfg Config) *runner {
	return &runner{
		cfg: cfg,
		c:   &client{http: cfg.HTTPClient, base: strings.TrimRight(cfg.BaseURL, "/")},
		run: strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:8]),
		o:   newOutcome(),
	}
}

// fail records a failed request; context cancellation is not a failure.
func (r *runner) fail(err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var re *requestError
	if errors.As(err, &re) {
		r.o.errors[re.key]++
		if re.status >= 500 {
			r.o.serverErrors++
		}
		return
	}
	r.o.errors["other: "+err.Error()]++
}

// seed creates the products through the admin API and receives their stock, with
// min(Concurrency, 16) requests in flight.
func (r *runner) seed(ctx context.Context, skus []string, stock int64) error {
	work := make(chan int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, 16, len(skus)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := r.seedOne(ctx, i, skus[i], stock); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		}()
	}
	func() {
		defer close(work)
		for i := range skus {
			select {
			case work <- i:
			case err := <-errc:
				// Put it back without blocking: a worker may have filled the slot since.
				select {
				case errc <- err:
				default:
				}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("seeding: %w", err)
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, sku := range skus {
		r.o.received[sku] += stock
	}
	return nil
}

func (r *runner) seedOne(ctx context.Context, i int, sku string, stock int64) error {
	product := map[string]any{
		"sku": sku, "name": "Bench product " + sku, "category": "bench", "brand": "Checkoutbench",
		"price": money{Amount: 100 + int64(i*7919)%9900, Currency: "EUR"},
	}
	if _, err := r.c.do(ctx, "POST", "/v1/products", "/v1/products", r.cfg.AdminToken, product, "", 201); err != nil {
		return err
	}
	receipt := map[string]any{"warehouse": "main", "quantity": stock, "reference": "checkoutbench " + r.run}
	_, err := r.c.do(ctx, "POST", "/v1/inventory/"+url.PathEscape(sku)+"/receipts", "/v1/inventory/{sku}/receipts", r.cfg.AdminToken, receipt, "", 201)
	return err
}

// prepareCart creates a cart for token and adds lines.
func (r *runner) prepareCart(ctx context.Context, token string, lines []orderLine) (string, error) {
	rep, err := r.c.do(ctx, "POST", "/v1/carts", "/v1/carts", token, map[string]string{"currency": "EUR"}, "", 201)
	if err != nil {
		return "", err
	}
	var cart idReply
	if err := json.Unmarshal(rep.body, &cart); err != nil || cart.ID == "" {
		return "", &requestError{key: "POST /v1/carts bad-body", detail: snippet(rep.body)}
	}
	for _, l := range lines {
		if _, err := r.c.do(ctx, "POST", "/v1/carts/"+cart.ID+"/items", "/v1/carts/{id}/items", token, l, "", 200); err != nil {
			return "", err
		}
	}
	return cart.ID, nil
}

// checkOut places the order of a prepared cart and follows it to its end; began is when
// the journey started (for the journey latency).
func (r *runner) checkOut(ctx context.Context, token, cartID string, lines []orderLine, began time.Time) error {
	body := map[string]any{"cartId": cartID, "shippingAddress": shipTo, "payment": map[string]string{"token": r.cfg.PaymentToken}}
	start := time.Now()
	rep, err := r.c.do(ctx, "POST", "/v1/orders", "/v1/orders", token, body, uuid.NewString(), 201, 202)
	took := time.Since(start)
	if err != nil {
		return err
	}
	var or orderReply
	if err := json.Unmarshal(rep.body, &or); err != nil || or.Order.ID == "" {
		return &requestError{key: fmt.Sprintf("POST /v1/orders %d bad-body", rep.status), detail: snippet(rep.body)}
	}
	r.mu.Lock()
	r.o.placed++
	r.orderMs = append(r.orderMs, took)
	r.lines += len(lines)
	r.mu.Unlock()

	st := or.Checkout
	if rep.status == 202 {
		r.mu.Lock()
		r.polled++
		r.mu.Unlock()
		if st, err = r.poll(ctx, token, or.Order.ID); err != nil {
			if ctx.Err() == nil {
				r.mu.Lock()
				r.o.notTerminal++
				r.mu.Unlock()
			}
			return err
		}
	}
	done := time.Since(began)

	r.mu.Lock()
	defer r.mu.Unlock()
	if !st.Terminal {
		r.o.notTerminal++
		r.o.mismatch("order %s: 201 with a checkout at step %q", or.Order.ID, st.Step)
		return nil
	}
	r.journey = append(r.journey, done)
	r.prog.add(1)
	switch st.Outcome {
	case outcomeConfirmed:
		r.o.confirmed++
		for _, l := range lines {
			r.o.sold[l.SKU] += l.Quantity
		}
		if rep.status == 201 {
			if or.Order.Status != orderPaid {
				r.o.mismatch("order %s: checkout confirmed but the order is %q", or.Order.ID, or.Order.Status)
			}
			if !sameLines(lines, or.Order.Lines) {
				r.o.mismatch("order %s: lines %v, the cart had %v", or.Order.ID, or.Order.Lines, lines)
			}
		}
	case outcomeCancelled:
		r.o.cancelled++
		r.o.cancelCodes[st.Code]++
		if rep.status == 201 && or.Order.Status != orderCancelled {
			r.o.mismatch("order %s: checkout cancelled but the order is %q", or.Order.ID, or.Order.Status)
		}
	default:
		r.o.notTerminal++
		r.o.mismatch("order %s: terminal checkout with outcome %q", or.Order.ID, st.Outcome)
	}
	return nil
}

// poll follows GET /v1/orders/{id}/checkout until the checkout is terminal.
func (r *runner) poll(ctx context.Context, token, orderID string) (checkoutStatus, error) {
	deadline := time.Now().Add(r.cfg.PollTimeout)
	for {
		rep, err := r.c.do(ctx, "GET", "/v1/orders/"+orderID+"/checkout", "/v1/orders/{id}/checkout", token, nil, "", 200)
		if err != nil {
			return checkoutStatus{}, err
		}
		var st checkoutStatus
		if err := json.Unmarshal(rep.body, &st); err != nil {
			return st, &requestError{key: "GET /v1/orders/{id}/checkout bad-body", detail: snippet(rep.body)}
		}
		if st.Terminal {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("order %s: checkout still at step %q after %s", orderID, st.Step, r.cfg.PollTimeout)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func sameLines(want, got []orderLine) bool {
	if len(want) != len(got) {
		return false
	}
	m := map[string]int64{}
	for _, l := range want {
		m[l.SKU] += l.Quantity
	}
	for _, l := range got {
		m[l.SKU] -= l.Quantity
	}
	for _, q := range m {
		if q != 0 {
			return false
		}
	}
	return true
}

// sampleStock reads skus round-robin every interval until stop closes, checking each
// read; it returns when it has stopped.
func (r *runner) sampleStock(ctx context.Context, skus []string, interval time.Duration, stop <-chan struct{}) {
	if r.cfg.ReadStock == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sku := skus[i%len(skus)]
		s, err := r.cfg.ReadStock(ctx, sku)
		r.mu.Lock()
		if err != nil {
			if ctx.Err() == nil && len(r.o.readProblems) < maxListed {
				r.o.readProblems = append(r.o.readProblems, fmt.Sprintf("reading the stock of %s: %v", sku, err))
			}
		} else {
			r.reads.Add(1)
			r.o.checkRead(sku, s)
		}
		r.mu.Unlock()
	}
}

// verifyStock reads every SKU's final stock.
func (r *runner) verifyStock(ctx context.Context, skus []string) {
	if r.cfg.ReadStock == nil {
		return
	}
	final := map[string]Stock{}
	for _, sku := range skus {
		s, err := r.cfg.ReadStock(ctx, sku)
		if err != nil {
			if len(r.o.readProblems) < maxListed {
				r.o.readProblems = append(r.o.readProblems, fmt.Sprintf("reading the final stock of %s: %v", sku, err))
			}
			continue
		}
		final[sku] = s
	}
	r.o.final = final
}

// result turns what was collected into a Result.
func (r *runner) result(workload string, elapsed time.Duration, seed time.Duration) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.o
	res := Result{
		Workload: workload, Tier: r.cfg.Tier,
		Placed: o.placed, Confirmed: o.confirmed, Cancelled: o.cancelled, Polled: r.polled,
		Lines: r.lines, Requests: int(r.c.requests.Load()),
		Errors: o.errorCount(), Concurrency: r.cfg.Concurrency,
		DurationS: round(elapsed.Seconds(), 3), SeedS: round(seed.Seconds(), 3), Products: r.cfg.Products,
		StockChecked: o.final != nil, StockReads: int(r.reads.Load()),
	}
	if len(o.errors) > 0 {
		res.ErrorsByStatus = o.errors
	}
	if len(o.cancelCodes) > 0 {
		res.CancelCodes = o.cancelCodes
	}
	if o.flash {
		res.Buyers, res.Stock, res.Products = o.buyers, o.flashStock, 1
	}
	res.CheckoutsPerS = round(rate(int64(o.confirmed+o.cancelled), elapsed), 1)
	res.RequestsPerS = round(rate(int64(res.Requests), elapsed), 1)
	p := percentiles(r.orderMs, 50, 99, 100)
	res.P50Ms, res.P99Ms, res.MaxMs = p[0], p[1], p[2]
	p = percentiles(r.journey, 50, 99)
	res.JourneyP50Ms, res.JourneyP99Ms = p[0], p[1]
	problems := o.problems()
	res.OK = len(problems) == 0
	res.Error = strings.Join(problems, "; ")
	return res
}

func round(f float64, decimals int) float64 {
	s := 1.0
	for range decimals {
		s *= 10
	}
	return float64(int64(f*s+0.5)) / s
}

// checkout runs the checkout workload.
func (r *runner) checkout(ctx context.Context) (Result, error) {
	cfg := r.cfg
	skus := make([]string, cfg.Products)
	for i := range skus {
		skus[i] = fmt.Sprintf("B%s-%05d", r.run, i)
	}
	seedStart := time.Now()
	logf(cfg.Progress, "seeding %s products with %s units each", commas(float64(len(skus))), commas(float64(cfg.Stock)))
	if err := r.seed(ctx, skus, cfg.Stock); err != nil {
		return Result{}, err
	}
	seedTook := time.Since(seedStart)
	r.c.requests.Store(0)

	var total int64
	if cfg.Checkouts > 0 {
		total = int64(cfg.Checkouts)
	}
	r.prog = startProgress(cfg.Progress, Checkout, total, cfg.Duration)
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		r.sampleStock(ctx, skus, 100*time.Millisecond, stopSampling)
	}()

	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var started atomic.Int64
	var wg sync.WaitGroup
	for vu := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := cfg.CustomerToken(vu)
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(vu)))
			for ctx.Err() == nil {
				if total > 0 {
					if started.Add(1) > total {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				lines := randomLines(rng, skus, cfg.MinLines, cfg.MaxLines)
				began := time.Now()
				cartID, err := r.prepareCart(ctx, token, lines)
				if err == nil {
					err = r.checkOut(ctx, token, cartID, lines, began)
				}
				r.fail(err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	sampler.Wait()

	interrupted := ctx.Err()
	r.o.interruptedRun = interrupted != nil
	if interrupted == nil {
		r.verifyStock(ctx, skus)
	}
	res := r.result(Checkout, elapsed, seedTook)
	r.prog.finish(&res)
	return res, interrupted
}

// randomLines picks n ∈ [minLines, maxLines] distinct SKUs with 1–2 units each.
func randomLines(rng *rand.Rand, skus []string, minLines, maxLines int) []orderLine {
	n := minLines + rng.IntN(maxLines-minLines+1)
	lines := make([]orderLine, 0, n)
	seen := make(map[int]bool, n)
	for len(lines) < n {
		i := rng.IntN(len(skus))
		if seen[i] {
			continue
		}
		seen[i] = true
		lines = append(lines, orderLine{SKU: skus[i], Quantity: 1 + rng.Int64N(2)})
	}
	return lines
}

// flashSale runs the flash_sale workload.
func (r *runner) flashSale(ctx context.Context) (Result, error) {
	cfg := r.cfg
	sku := "F" + r.run + "-SALE"
	r.o.flash, r.o.buyers, r.o.flashStock = true, cfg.Buyers, cfg.FlashStock
	seedStart := time.Now()
	logf(cfg.Progress, "seeding 1 product with %s units; preparing %s carts", commas(float64(cfg.FlashStock)), commas(float64(cfg.Buyers)))
	if err := r.seed(ctx, []string{sku}, cfg.FlashStock); err != nil {
		return Result{}, err
	}

	// Every buyer's cart holds one unit, prepared before the sale opens.
	lines := []orderLine{{SKU: sku, Quantity: 1}}
	carts := make([]string, cfg.Buyers)
	tokens := make([]string, cfg.Buyers)
	work := make(chan int)
	var wg sync.WaitGroup
	var prepErr atomic.Pointer[error]
	for range min(32, cfg.Buyers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				tokens[i] = cfg.CustomerToken(i)
				id, err := r.prepareCart(ctx, tokens[i], lines)
				if err != nil {
					prepErr.CompareAndSwap(nil, &err)
					continue
				}
				carts[i] = id
			}
		}()
	}
	for i := range cfg.Buyers {
		if ctx.Err() != nil || prepErr.Load() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if p := prepErr.Load(); p != nil {
		return Result{}, fmt.Errorf("preparing the carts: %w", *p)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	seedTook := time.Since(seedStart)
	r.c.requests.Store(0)

	// The sale: all buyers (Concurrency at a time) check out at once.
	r.prog = startProgress(cfg.Progress, FlashSale, int64(cfg.Buyers), 0)
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		r.sampleStock(ctx, []string{sku}, 20*time.Millisecond, stopSampling)
	}()
	queue := make(chan int, cfg.Buyers)
	for i := range cfg.Buyers {
		queue <- i
	}
	close(queue)
	gate := make(chan struct{})
	for range min(cfg.Concurrency, cfg.Buyers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			for i := range queue {
				if ctx.Err() != nil {
					return
				}
				r.fail(r.checkOut(ctx, tokens[i], carts[i], lines, time.Now()))
			}
		}()
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	sampler.Wait()

	interrupted := ctx.Err()
	r.o.interruptedRun = interrupted != nil
	if interrupted == nil {
		r.verifyStock(ctx, []string{sku})
	}
	res := r.result(FlashSale, elapsed, seedTook)
	r.prog.finish(&res)
	return res, interrupted
}
