package writeapi_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/telemetry"
	"github.com/orderengine/orderengine/writeapi"
)

// TestIdempotentReplaysCounted: only answers replayed from the idempotency store move
// orderengine_idempotent_replays_total.
func TestIdempotentReplaysCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *writeapi.Config) { c.Replays = telemetry.NewBusiness(reg) })
	alice := token(t, "alice", auth.RoleCustomer)
	replays := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "orderengine_idempotent_replays_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return -1
	}
	body := map[string]any{"currency": "EUR"}
	e.must(201, e.do("POST", "/v1/carts", alice, body, "Idempotency-Key", "k-1"))
	e.must(201, e.do("POST", "/v1/carts", alice, body, "Idempotency-Key", "k-2"))
	e.must(201, e.do("POST", "/v1/carts", alice, body))
	if got := replays(); got != 0 {
		t.Fatalf("replays %v after first uses, want 0", got)
	}
	e.must(201, e.do("POST", "/v1/carts", alice, body, "Idempotency-Key", "k-1"))
	e.must(201, e.do("POST", "/v1/carts", alice, body, "Idempotency-Key", "k-1"))
	e.must(422, e.do("POST", "/v1/carts", alice, map[string]any{"currency": "USD"}, "Idempotency-Key", "k-2"))
	if got := replays(); got != 2 {
		t.Fatalf("replays %v, want 2", got)
	}
}
