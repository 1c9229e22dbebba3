package checkout

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/telemetry"
)

// Metrics hears of the saga's business figures (telemetry.Business implements it).
type Metrics interface {
	CheckoutStarted()
	CheckoutFinished(outcome, reason string, took time.Duration)
	CheckoutStep(step string, took time.Duration)
	Payment(outcome string)
}

type noMetrics struct{}

func (noMetrics) CheckoutStarted()                               {}
func (noMetrics) CheckoutFinished(string, string, time.Duration) {}
func (noMetrics) CheckoutStep(string, time.Duration)             {}
func (noMetrics) Payment(string)                                 {}

// messageSpan is the span of handling an order message: a child of the forwarder's span
// (message metadata) or else of the span that appended the event (event metadata), so
// the saga joins the request's trace across the bus.
func (c *Checkout) messageSpan(msg *message.Message) (context.Context, trace.Span) {
	tc := telemetry.TraceContext{TraceParent: msg.Metadata.Get(bus.MetaTraceParent), TraceState: msg.Metadata.Get(bus.MetaTraceState)}
	if tc.TraceParent == "" {
		if rec, err := bus.EventFromMessage(msg); err == nil {
			tc = telemetry.FromMetadata(rec.Metadata)
		}
	}
	ctx := c.cfg.Tracing.Extract(msg.Context(), tc)
	return c.cfg.Tracing.Tracer().Start(ctx, "checkout.start", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("orderengine.order_id", msg.Metadata.Get(bus.MetaStream))))
}

// joinOrderTrace makes a start outside any trace (the scheduler's, after a failed or lost
// start) continue the trace of the request that placed the order, from the metadata of
// the order's first event. It costs a read only with tracing on and no trace in ctx.
func (c *Checkout) joinOrderTrace(ctx context.Context, orderID string) context.Context {
	if !c.cfg.Tracing.Enabled() || trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	recs, err := c.cfg.Store.ReadStream(ctx, orders.StreamName(orderID), eventstore.Forward, 0, 1)
	if err != nil || len(recs) == 0 {
		return ctx
	}
	return c.cfg.Tracing.Extract(ctx, telemetry.FromMetadata(recs[0].Metadata))
}

// stepName labels what a drive iteration does with s.
func stepName(s State) string {
	switch {
	case s.Outcome != "":
		return "void_late"
	case s.FailCode != "":
		return string(StepCompensate)
	}
	if st := s.Step(); st != StepCompensate {
		return string(st)
	}
	return "fail" // the gateway declined or failed: record why, compensation follows
}

// stepSpan starts a saga step's span from the metadata of the checkout's last stored
// event (the drive runs in the background, outside any request: the trace travels in the
// events), and returns the function that ends it and observes the step's duration.
func (c *Checkout) stepSpan(ctx context.Context, s State, metadata []byte) (context.Context, func(error)) {
	step := stepName(s)
	ctx, span := c.cfg.Tracing.StartFromEvent(ctx, "checkout."+step, metadata,
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attribute.String("orderengine.order_id", s.OrderID)))
	began := time.Now()
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		c.cfg.Metrics.CheckoutStep(step, time.Since(began))
	}
}

// observe counts what newly appended checkout events mean for the business metrics.
func (c *Checkout) observe(s State, evs []domain.Event) {
	for _, e := range evs {
		switch e := e.(type) {
		case Started:
			// The inline start of POST /v1/orders and the bus message race to append the
			// same event; the loser's append is the store's idempotent no-op, which the
			// runtime cannot tell from a write. Count the checkout once per process.
			c.amu.Lock()
			_, tracked := c.active[e.OrderID]
			if !tracked {
				c.active[e.OrderID] = e.ExpiresAt
			}
			c.amu.Unlock()
			if !tracked {
				c.cfg.Metrics.CheckoutStarted()
			}
		case PaymentAnswered:
			outcome := string(e.Status)
			if e.Timeout {
				outcome = "timeout"
			}
			c.cfg.Metrics.Payment(outcome)
		case Completed:
			reason := string(e.Code)
			if reason == "" {
				reason = "none"
			}
			c.cfg.Metrics.CheckoutFinished(string(e.Outcome), reason, max(c.now().Sub(s.StartedAt), 0))
		}
	}
}
