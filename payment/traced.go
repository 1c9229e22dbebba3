package payment

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ErrorCounter counts failed gateway calls by operation (telemetry.Business implements it).
type ErrorCounter interface {
	GatewayError(operation string)
}

// Traced wraps g with a client span per call ("payment.<operation>", in the caller's
// trace) and counts calls that return an error (outcome unknown: timeouts, transport,
// 5xx) in errs, if set. Definitive answers (declined, failed) are not errors. Operations
// the wrapper does not know are passed through by the embedded Gateway.
func Traced(g Gateway, tracer trace.Tracer, errs ErrorCounter) Gateway {
	return &traced{Gateway: g, tracer: tracer, errs: errs}
}

type traced struct {
	Gateway
	tracer trace.Tracer
	errs   ErrorCounter
}

func (t *traced) start(ctx context.Context, op, orderID string) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, "payment."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("orderengine.order_id", orderID)))
}

func (t *traced) end(span trace.Span, op string, status Status, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		if t.errs != nil {
			t.errs.GatewayError(op)
		}
	} else {
		span.SetAttributes(attribute.String("orderengine.payment_status", string(status)))
	}
	span.End()
}

func (t *traced) Authorize(ctx context.Context, req AuthorizeRequest) (AuthorizeResult, error) {
	ctx, span := t.start(ctx, "authorize", req.OrderID)
	res, err := t.Gateway.Authorize(ctx, req)
	t.end(span, "authorize", res.Status, err)
	return res, err
}

func (t *traced) Capture(ctx context.Context, req CaptureRequest) (Result, error) {
	ctx, span := t.start(ctx, "capture", req.OrderID)
	res, err := t.Gateway.Capture(ctx, req)
	t.end(span, "capture", res.Status, err)
	return res, err
}

func (t *traced) Void(ctx context.Context, req VoidRequest) (Result, error) {
	ctx, span := t.start(ctx, "void", req.OrderID)
	res, err := t.Gateway.Void(ctx, req)
	t.end(span, "void", res.Status, err)
	return res, err
}

func (t *traced) Refund(ctx context.Context, req RefundRequest) (Result, error) {
	ctx, span := t.start(ctx, "refund", req.OrderID)
	res, err := t.Gateway.Refund(ctx, req)
	t.end(span, "refund", res.Status, err)
	return res, err
}

func (t *traced) Lookup(ctx context.Context, req LookupRequest) (AuthorizeResult, error) {
	ctx, span := t.start(ctx, "lookup", req.OrderID)
	res, err := t.Gateway.Lookup(ctx, req)
	t.end(span, "lookup", res.Status, err)
	return res, err
}

// ErrUnsupported: the wrapped gateway lacks an optional capability (parts, increments).
var ErrUnsupported = errors.New("payment: the gateway does not support this operation")

// The optional capabilities pass through the wrapper (callers discover them with a type
// assertion, so the wrapper has them and answers ErrUnsupported when the gateway has not).

func (t *traced) CapturePart(ctx context.Context, req CaptureRequest) (Result, error) {
	g, ok := t.Gateway.(interface {
		CapturePart(context.Context, CaptureRequest) (Result, error)
	})
	if !ok {
		return Result{}, fmt.Errorf("capture in parts: %w", ErrUnsupported)
	}
	ctx, span := t.start(ctx, "capture_part", req.OrderID)
	res, err := g.CapturePart(ctx, req)
	t.end(span, "capture_part", res.Status, err)
	return res, err
}

func (t *traced) VoidPart(ctx context.Context, req PartialVoidRequest) (Result, error) {
	g, ok := t.Gateway.(interface {
		VoidPart(context.Context, PartialVoidRequest) (Result, error)
	})
	if !ok {
		return Result{}, fmt.Errorf("void in parts: %w", ErrUnsupported)
	}
	ctx, span := t.start(ctx, "void_part", req.OrderID)
	res, err := g.VoidPart(ctx, req)
	t.end(span, "void_part", res.Status, err)
	return res, err
}

func (t *traced) IncrementAuthorization(ctx context.Context, req IncrementRequest) (Result, error) {
	g, ok := t.Gateway.(IncrementalGateway)
	if !ok {
		return Result{}, fmt.Errorf("incremental authorization: %w", ErrUnsupported)
	}
	ctx, span := t.start(ctx, "increment_authorization", req.OrderID)
	res, err := g.IncrementAuthorization(ctx, req)
	t.end(span, "increment_authorization", res.Status, err)
	return res, err
}
