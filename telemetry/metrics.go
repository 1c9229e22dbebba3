package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Business holds the engine's business metrics, registered in one registry (no global
// default registry). Packages take the small interface they need (e.g. writeapi's rate
// limiter an interface with RateLimited) and the wiring passes a *Business. A nil
// *Business records nothing.
type Business struct {
	checkoutsStarted  prometheus.Counter
	checkoutsFinished *prometheus.CounterVec
	checkoutDuration  *prometheus.HistogramVec
	stepDuration      *prometheus.HistogramVec
	payments          *prometheus.CounterVec
	conflicts         *prometheus.CounterVec
	retries           *prometheus.CounterVec
	replays           prometheus.Counter
	rateLimited       *prometheus.CounterVec
	gatewayErrors     *prometheus.CounterVec
}

// NewBusiness creates the metrics and registers them in reg.
func NewBusiness(reg prometheus.Registerer) *Business {
	durations := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}
	b := &Business{
		checkoutsStarted: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderengine_checkouts_started_total",
			Help: "Checkouts the saga started."}),
		checkoutsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderengine_checkouts_finished_total",
			Help: "Checkouts that reached a terminal state, by outcome (confirmed, cancelled) and reason code (out_of_stock, payment_declined, expired, …)."},
			[]string{"outcome", "reason"}),
		checkoutDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orderengine_checkout_duration_seconds",
			Help: "Time from the checkout's start to its terminal state, by outcome.", Buckets: durations}, []string{"outcome"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orderengine_checkout_step_duration_seconds",
			Help: "Duration of one saga step (reserve_stock, redeem_coupon, authorize_payment, awaiting_payment, confirm, fail, compensate, void_late).", Buckets: durations}, []string{"step"}),
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderengine_payments_total",
			Help: "Gateway answers to payment authorizations as the saga records them (authorized, declined, failed, pending, timeout)."}, []string{"outcome"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderengine_version_conflicts_total",
			Help: "Optimistic-concurrency conflicts on append, by stream category."}, []string{"category"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderengine_command_retries_total",
			Help: "Command retries after a version conflict, by stream category."}, []string{"category"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderengine_idempotent_replays_total",
			Help: "Requests answered from the idempotency store (a repeated Idempotency-Key)."}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderengine_rate_limited_requests_total",
			Help: "Requests answered 429, by the limit that stopped them (user, ip)."}, []string{"limit"}),
		gatewayErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderengine_gateway_errors_total",
			Help: "Payment gateway calls that returned no answer (timeouts, 5xx, transport), by operation."}, []string{"operation"}),
	}
	reg.MustRegister(b.checkoutsStarted, b.checkoutsFinished, b.checkoutDuration, b.stepDuration, b.payments,
		b.conflicts, b.retries, b.replays, b.rateLimited, b.gatewayErrors)
	return b
}

// CheckoutStarted counts a started checkout.
func (b *Business) CheckoutStarted() {
	if b != nil {
		b.checkoutsStarted.Inc()
	}
}

// CheckoutFinished counts a terminal checkout and observes its duration.
func (b *Business) CheckoutFinished(outcome, reason string, took time.Duration) {
	if b != nil {
		b.checkoutsFinished.WithLabelValues(outcome, reason).Inc()
		b.checkoutDuration.WithLabelValues(outcome).Observe(took.Seconds())
	}
}

// CheckoutStep observes one saga step's duration.
func (b *Business) CheckoutStep(step string, took time.Duration) {
	if b != nil {
		b.stepDuration.WithLabelValues(step).Observe(took.Seconds())
	}
}

// Payment counts a payment outcome.
func (b *Business) Payment(outcome string) {
	if b != nil {
		b.payments.WithLabelValues(outcome).Inc()
	}
}

// VersionConflict counts a conflict on a stream of category.
func (b *Business) VersionConflict(category string) {
	if b != nil {
		b.conflicts.WithLabelValues(category).Inc()
	}
}

// CommandRetry counts a command retried after a conflict.
func (b *Business) CommandRetry(category string) {
	if b != nil {
		b.retries.WithLabelValues(category).Inc()
	}
}

// IdempotentReplay counts a request answered from the idempotency store.
func (b *Business) IdempotentReplay() {
	if b != nil {
		b.replays.Inc()
	}
}

// RateLimited counts a 429 by limit ("user" or "ip").
func (b *Business) RateLimited(limit string) {
	if b != nil {
		b.rateLimited.WithLabelValues(limit).Inc()
	}
}

// GatewayError counts a failed gateway call.
func (b *Business) GatewayError(operation string) {
	if b != nil {
		b.gatewayErrors.WithLabelValues(operation).Inc()
	}
}
