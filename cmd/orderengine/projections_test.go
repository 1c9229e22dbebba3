package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore/sqlite"
)

func TestProjectionsCLI(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := commands.NewService(commands.NewRuntime(s, eventregistry.New(), commands.RuntimeOptions{}), commands.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sku := range []string{"A-1", "B-1", "C-1"} {
		if _, err := svc.CreateProduct(ctx, domain.CreateProduct{SKU: sku, ProductDetails: domain.ProductDetails{Name: "P " + sku},
			Price: domain.MustMoney(1000, "EUR")}, commands.Meta{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.ReceiveStock(ctx, domain.ReceiveStock{SKU: sku, Warehouse: "main", Quantity: 4}, commands.Meta{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append(args, "--data-dir", dir), env(), &out, io.Discard)
		return out.String(), err
	}
	out, err := cli("projections", "rebuild", "catalog")
	if err != nil || !strings.Contains(out, "catalog rebuilt") || !strings.Contains(out, "switched") {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	out, err = cli("projections", "rebuild", "catalog")
	if err != nil || !strings.Contains(out, "identical to the live generation") {
		t.Fatalf("second rebuild of the same log: %v\n%s", err, out)
	}
	out, err = cli("projections", "rebuild", "search")
	if err != nil || !strings.Contains(out, "search rebuilt") {
		t.Fatalf("rebuild search: %v\n%s", err, out)
	}
	out, err = cli("projections", "status")
	if err != nil || !strings.Contains(out, "catalog") || !strings.Contains(out, "inventory") || !strings.Contains(out, "search") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if out, err = cli("projections", "reset", "catalog"); err != nil || !strings.Contains(out, "reset") {
		t.Fatalf("reset: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"projections"}, {"projections", "rebuild"}, {"projections", "rebuild", "nope"}, {"projections", "frob"}} {
		var u usageError
		if _, err := cli(args...); !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func TestSeedIsRepeatableAndProjected(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"seed", "--products", "25", "--data-dir", dir}, env(), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "seeded 25 products") {
		t.Fatalf("seed output %q", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"seed", "--products", "25", "--data-dir", dir}, env(), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "seeded 0 products (25 already there)") {
		t.Fatalf("second seed output %q", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"projections", "rebuild", "catalog", "--json", "--data-dir", dir}, env(), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Tables []struct {
			Table   string `json:"table"`
			NewRows int64  `json:"newRows"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for _, tb := range rep.Tables {
		rows[tb.Table] = tb.NewRows
	}
	if rows["catalog_products"] != 25 {
		t.Fatalf("catalog has %v rows after seeding 25 products", rows)
	}
	var u usageError
	if err := run(ctx, []string{"seed", "--products", "0", "--data-dir", dir}, env(), io.Discard, io.Discard); !errors.As(err, &u) {
		t.Fatalf("--products 0: %v", err)
	}
}

func TestBenchProjectionsSmall(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"bench", "projections", "--order-events", "600", "--products", "12", "--quiet"}, env(), &out, io.Discard)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if strings.Count(out.String(), `RESULT {"workload":"rebuild"`) != 2 || strings.Contains(out.String(), `"ok":false`) {
		t.Fatalf("output:\n%s", out.String())
	}
}

func TestBenchReadSmall(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"bench", "read", "--duration", "500ms", "--products", "20", "--orders", "10", "--concurrency", "4", "--quiet"}, env(), &out, io.Discard)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, w := range []string{"catalog_list", "product_detail", "order_history", "combined"} {
		if !strings.Contains(out.String(), `RESULT {"workload":"`+w+`"`) {
			t.Fatalf("no %s result:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), `"ok":false`) {
		t.Fatalf("a read failed:\n%s", out.String())
	}
}

// TestProjectionsInTheirOwnProcess: serve --projections=off answers reads from what a
// separate `orderengine projections run` builds.
func TestProjectionsInTheirOwnProcess(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"projections", "run", "--data-dir", dir}, env(), io.Discard, io.Discard)
	}()
	addr := freeAddr(t)
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--addr", addr, "--data-dir", dir, "--projections", "off"}, env(), io.Discard, io.Discard)
	}()
	if err := run(ctx, []string{"seed", "--products", "5", "--data-dir", dir}, env(), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v1/products?limit=10")
		if err == nil {
			var page struct{ Items []any }
			json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if len(page.Items) == 5 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the catalog never showed the seeded products (err %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("projections run: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	var u usageError
	if err := run(context.Background(), []string{"serve", "--projections", "maybe", "--data-dir", dir}, env(), io.Discard, io.Discard); !errors.As(err, &u) {
		t.Fatalf("--projections maybe: %v", err)
	}
}
