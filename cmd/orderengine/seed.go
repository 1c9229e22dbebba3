package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/progressline"
	"github.com/orderengine/orderengine/shopgen"
)

func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		c        Config
		products int
		seed     uint64
	)
	fs := newFlagSet("seed", "seed [--products N] [flags]", getenv, stdout)
	commonFlags(fs, &c)
	fs.IntVar(&products, "products", 200, "products to create (each with variants and stock), 1–100000")
	fs.Uint64Var(&seed, "seed", 1, "random seed: the same seed gives the same catalog")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return usagef("%v", err)
	}
	if err := checkRange("--products", products, 1, 100_000); err != nil {
		return err
	}
	log := newLogger(c, io.Discard)
	store, err := openEventStore(ctx, c, log)
	if err != nil {
		return fmt.Errorf("open event store %s: %w", redactURL(c.Events), err)
	}
	defer store.Close()
	svc, err := commands.NewService(commands.NewRuntime(store, eventregistry.New(), commands.RuntimeOptions{Logger: log}), commands.ServiceOptions{})
	if err != nil {
		return err
	}
	bar := progressline.NewBar(stderr)
	start := time.Now()
	st, err := shopgen.DemoCatalog(ctx, svc, products, seed, func(done int) {
		rate := float64(done) / max(time.Since(start).Seconds(), 1e-9)
		eta := time.Duration(float64(products-done) / rate * float64(time.Second))
		bar.Update(100*float64(done)/float64(products), fmt.Sprintf("%d/%d products  %.0f/s  ETA %s", done, products, rate, eta.Round(time.Second)))
	})
	bar.Done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d products (%d already there), %d units of stock, in %s\n", st.Created, st.Skipped, st.Units, time.Since(start).Round(time.Millisecond))
	return nil
}
