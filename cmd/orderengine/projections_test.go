package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore/sqlite"
)

func TestProjectionsCLI(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := commands.NewService(commands.NewRuntime(s, commands.RuntimeOptions{}), commands.ServiceOptions{})
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
	out, err = cli("projections", "status")
	if err != nil || !strings.Contains(out, "catalog") || !strings.Contains(out, "inventory") {
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
