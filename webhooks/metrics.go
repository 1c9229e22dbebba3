package webhooks

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PrometheusHooks registers the delivery metrics on reg and returns the Hooks that feed
// them: attempts by outcome, attempt latency, and endpoints disabled by the worker (by
// reason: gone or failing). Endpoint ids are not labels, to keep the series bounded.
func PrometheusHooks(reg prometheus.Registerer) (Hooks, error) {
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderengine_webhook_attempts_total",
		Help: "Webhook delivery attempts by outcome (delivered, failed, gave_up, gone).",
	}, []string{"outcome"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "orderengine_webhook_attempt_duration_seconds",
		Help:    "Time from sending a webhook to the receiver's answer (or the error).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	disabled := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderengine_webhook_endpoints_disabled_total",
		Help: "Webhook endpoints the worker disabled, by reason (gone: answered 410; failing: failed for too long).",
	}, []string{"reason"})
	for _, c := range []prometheus.Collector{attempts, latency, disabled} {
		if err := reg.Register(c); err != nil {
			return Hooks{}, err
		}
	}
	return Hooks{
		Attempt: func(_ string, _ int, d time.Duration, outcome string) {
			attempts.WithLabelValues(outcome).Inc()
			latency.Observe(d.Seconds())
		},
		Disabled: func(_ string, reason string) {
			r := "failing"
			if reason == reasonGone {
				r = "gone"
			}
			disabled.WithLabelValues(r).Inc()
		},
	}, nil
}
