package webhooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderengine/orderengine/webhooks"
)

// TestPrometheusHooks: attempts, their latency and a 410 disable show in the metrics.
func TestPrometheusHooks(t *testing.T) {
	reg := prometheus.NewRegistry()
	hooks, err := webhooks.PrometheusHooks(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	rc := newReceiver(t)
	rc.setStatus(func(received) int { return 410 })
	ep := e.register(rc)
	cfg := e.cfg
	cfg.Hooks = hooks
	e.start(cfg)
	e.orderStep("metrics", 0)
	waitFor(t, "disabled", 5*time.Second, func() bool {
		got, _ := e.eps.Get(context.Background(), ep.ID)
		return !got.Enabled
	})
	waitFor(t, "metrics", 5*time.Second, func() bool {
		return value(t, reg, "orderengine_webhook_endpoints_disabled_total", "gone") >= 1
	})
	if v := value(t, reg, "orderengine_webhook_endpoints_disabled_total", "gone"); v != 1 {
		t.Fatalf("disabled{gone} = %v", v)
	}
	if v := value(t, reg, "orderengine_webhook_attempts_total", "gone"); v != 1 {
		t.Fatalf("attempts{gone} = %v", v)
	}
	if v := value(t, reg, "orderengine_webhook_attempt_duration_seconds", ""); v != 1 {
		t.Fatalf("latency samples = %v", v)
	}
}

// value is a counter's value with a label value, or a histogram's sample count.
func value(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
