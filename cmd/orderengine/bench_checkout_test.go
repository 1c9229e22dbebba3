package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/checkoutbench"
)

func benchCheckout(t *testing.T, args ...string) []checkoutbench.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, append([]string{"bench", "checkout", "--quiet"}, args...), env(), &out, io.Discard)
	if err != nil {
		t.Fatalf("bench checkout %v: %v\n%s", args, err, out.String())
	}
	var rs []checkoutbench.Result
	for _, line := range strings.Split(out.String(), "\n") {
		if j, ok := strings.CutPrefix(line, "RESULT "); ok {
			var r checkoutbench.Result
			if err := json.Unmarshal([]byte(j), &r); err != nil {
				t.Fatalf("RESULT line %q: %v", j, err)
			}
			rs = append(rs, r)
		}
	}
	if len(rs) != 1 || !strings.Contains(out.String(), "checkouts/s") {
		t.Fatalf("output:\n%s", out.String())
	}
	return rs
}

func TestBenchCheckoutCommand(t *testing.T) {
	r := benchCheckout(t, "--checkouts", "16", "--concurrency", "4", "--products", "10", "--max-lines", "3")[0]
	if !r.OK || r.Tier != "embedded" || r.Confirmed != 16 || !r.StockChecked {
		t.Fatalf("result %+v", r)
	}
	r = benchCheckout(t, "--flash-sale", "--buyers", "20", "--stock", "7")[0]
	if !r.OK || r.Workload != checkoutbench.FlashSale || r.Confirmed != 7 || r.Cancelled != 13 || r.Concurrency != 20 {
		t.Fatalf("flash sale %+v", r)
	}
}

func TestBenchCheckoutBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "checkout", "--min-lines", "4", "--max-lines", "2"},
		{"bench", "checkout", "--events", "mysql://x"},
		{"bench", "checkout", "--flash-sale", "--buyers", "-1"},
		{"bench", "checkout", "--max-lines", "300"},
		{"bench", "nope"},
	} {
		err := run(context.Background(), args, env(), io.Discard, io.Discard)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}
