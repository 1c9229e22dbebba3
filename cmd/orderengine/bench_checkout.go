package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/checkoutbench"
)

// benchCheckoutFlags are bench checkout's settings beyond checkoutbench.Config.
type benchCheckoutFlags struct {
	events, bus, readModels, cpuProfile string
	orderWait                           time.Duration
	stock                               int
	quiet                               bool
}

func (b *benchCheckoutFlags) register(fs *flagSet, cfg *checkoutbench.Config) {
	fs.StringVar(&b.events, "events", "sqlite:", "store to run on: sqlite: (a fresh temporary file), sqlite:PATH, postgres://… (a fresh schema, dropped afterwards), kurrentdb://…")
	fs.StringVar(&b.bus, "bus", "memory", "event bus of the checkout saga: memory | nats://host:4222")
	fs.StringVar(&b.readModels, "readmodels", "", "read models the projections keep up to date during the run, as serve does: sqlite:, postgres://…, or off (command side only); default: a temporary SQLite file for sqlite: events, a fresh schema (dropped afterwards) of the events database for postgres://")
	fs.IntVar(&cfg.Concurrency, "concurrency", checkoutbench.DefaultConcurrency, "concurrent customers (virtual users); with --flash-sale, buyers checking out at once (default: all)")
	fs.DurationVar(&cfg.Duration, "duration", checkoutbench.DefaultDuration, "how long customers start new checkouts")
	fs.IntVar(&cfg.Checkouts, "checkouts", 0, "run exactly this many checkouts instead of --duration")
	fs.IntVar(&cfg.Products, "products", checkoutbench.DefaultProducts, "catalog size (each product with ample stock)")
	fs.IntVar(&cfg.MinLines, "min-lines", checkoutbench.DefaultMinLines, "fewest distinct SKUs in a cart")
	fs.IntVar(&cfg.MaxLines, "max-lines", checkoutbench.DefaultMaxLines, "most distinct SKUs in a cart")
	fs.BoolVar(&cfg.FlashSale, "flash-sale", false, "flash sale: --buyers customers check out one unit each of ONE SKU with --stock units")
	fs.IntVar(&cfg.Buyers, "buyers", checkoutbench.DefaultBuyers, "flash sale: buyers")
	fs.IntVar(&b.stock, "stock", checkoutbench.DefaultFlashStock, "flash sale: units of the SKU on sale")
	fs.DurationVar(&b.orderWait, "order-wait", 5*time.Second, "how long POST /v1/orders waits for the checkout before answering 202 (serve's --order-wait)")
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (server and load generator share the process) to this file")
	fs.BoolVar(&b.quiet, "quiet", false, "no progress lines on stderr")
}

// check validates the flags before anything is opened.
func (b *benchCheckoutFlags) check(fs *flagSet, cfg *checkoutbench.Config) error {
	if cfg.FlashSale {
		concurrencySet := false
		fs.Visit(func(f *flag.Flag) { concurrencySet = concurrencySet || f.Name == "concurrency" })
		if !concurrencySet {
			cfg.Concurrency = cfg.Buyers
		}
		cfg.FlashStock = int64(b.stock)
	}
	if _, _, err := parseStoreURL(b.events); err != nil {
		return usagef("--events: %v", err)
	}
	if !validBusURL(b.bus) {
		return usagef("--bus %q: want memory or nats://host:port", redactURL(b.bus))
	}
	if b.orderWait <= 0 || b.orderWait > 5*time.Minute {
		return usagef("--order-wait %s: want more than 0 and at most 5m", b.orderWait)
	}
	for _, r := range []struct {
		name      string
		v, lo, hi int
	}{{"--concurrency", cfg.Concurrency, 1, 100_000}, {"--checkouts", cfg.Checkouts, 0, 10_000_000},
		{"--products", cfg.Products, 1, 100_000}, {"--buyers", cfg.Buyers, 1, 100_000}, {"--stock", b.stock, 1, 1_000_000_000}} {
		if err := checkRange(r.name, r.v, r.lo, r.hi); err != nil {
			return err
		}
	}
	// The URLs and tokens are filled in once the engine runs.
	probe := *cfg
	probe.BaseURL, probe.AdminToken, probe.CustomerToken = "http://probe", "probe", func(int) string { return "" }
	if err := probe.WithDefaults().Validate(); err != nil {
		return usagef("%v", err)
	}
	return nil
}

func runBenchCheckout(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		b   benchCheckoutFlags
		cfg checkoutbench.Config
	)
	fs := newFlagSet("bench checkout", "bench checkout [--events URL] [--bus memory|nats://…] [--flash-sale] [flags]", getenv, stdout)
	b.register(fs, &cfg)
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := b.check(fs, &cfg); err != nil {
		return err
	}
	if !b.quiet {
		cfg.Progress = stderr
	}
	sc, err := newScratch("checkout", stderr)
	if err != nil {
		return err
	}
	defer sc.close()
	e, err := b.start(ctx, sc, &cfg, stderr)
	if err != nil {
		return err
	}
	defer e.stop()
	stopProfile, err := startCPUProfile(b.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	fmt.Fprintf(stdout, "orderengine bench checkout — %s — bus %s — %s — %s — GOMAXPROCS %d\n\n",
		redactURL(b.events), redactURL(b.bus), b.readModelsLabel(), time.Now().UTC().Format(time.RFC3339), runtime.GOMAXPROCS(0))
	results, err := checkoutbench.Run(ctx, cfg)
	checkoutbench.PrintTable(stdout, results)
	fmt.Fprintln(stdout)
	checkoutbench.PrintResultLines(stdout, results)
	if err != nil {
		return err
	}
	if !checkoutbench.AllOK(results) {
		return errBenchFailed
	}
	return nil
}

// start runs the engine on scratch stores and fills in cfg's URL, tokens and tier.
func (b *benchCheckoutFlags) start(ctx context.Context, sc *scratch, cfg *checkoutbench.Config, stderr io.Writer) (*benchEngine, error) {
	c, err := sc.config(b.events)
	if err != nil {
		return nil, err
	}
	kind, _, _ := parseStoreURL(b.events)
	f := appFlags{auth: authFlags{secret: string(randomSecret())}, bus: b.bus, orderWait: b.orderWait}
	// The read models: by default beside the events, in a place of the run's own.
	switch {
	case b.readModels == "off":
		f.projections, f.readModels.url = "off", "sqlite:"
	case b.readModels == "" && kind == kindPostgres:
		f.readModels.url, err = sc.readModels(b.events)
	case b.readModels == "":
		f.readModels.url = "sqlite:"
	default:
		f.readModels.url, err = sc.readModels(b.readModels)
	}
	if err != nil {
		return nil, err
	}
	e, err := startBenchEngine(ctx, c, f, newLogger(c, stderr), stderr)
	if err != nil {
		return nil, err
	}
	cfg.Tier = string(kind)
	if kind == kindSQLite {
		cfg.Tier = "embedded"
	}
	if b.bus != "memory" {
		cfg.Tier += "+" + strings.SplitN(b.bus, ":", 2)[0]
	}
	run := strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	if cfg.AdminToken, err = e.token("bench-admin-"+run, auth.RoleAdmin); err != nil {
		e.stop()
		return nil, err
	}
	cfg.CustomerToken = func(i int) string {
		tok, err := e.token(fmt.Sprintf("bench-%s-customer-%d", run, i), auth.RoleCustomer)
		if err != nil {
			panic(err) // cannot happen: the secret, subject and role are valid
		}
		return tok
	}
	cfg.BaseURL = e.url
	cfg.ReadStock = checkoutbench.ServiceStock(e.app.svc)
	return e, nil
}

func (b *benchCheckoutFlags) readModelsLabel() string {
	switch b.readModels {
	case "off":
		return "no projections"
	case "":
		return "read models beside the events"
	}
	return "read models " + redactURL(b.readModels)
}

// randomSecret is a fresh 32-byte JWT secret for a benchmark's engine.
func randomSecret() []byte {
	s := make([]byte, 32)
	rand.Read(s)
	return s
}
