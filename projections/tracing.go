package projections

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderengine/orderengine/telemetry"
)

// maxLinks bounds the links of a batch span to the traces of its events.
const maxLinks = 32

// applyTraced applies a batch inside a "projection.batch" span. The span continues the
// trace of the request that caused the batch's events when they all come from one (live
// traffic: usually a batch of one), and otherwise links to their traces (up to maxLinks).
func (w *worker) applyTraced(ctx context.Context, batch []Event) error {
	tr := w.opt.Tracing
	if tr == nil {
		return w.apply(ctx, batch)
	}
	var (
		links  []trace.Link
		parent telemetry.TraceContext
		seen   = map[trace.TraceID]bool{}
	)
	for _, e := range batch {
		tc := telemetry.TraceContext{TraceParent: e.Metadata.TraceParent, TraceState: e.Metadata.TraceState}
		sc := trace.SpanContextFromContext(tr.Extract(context.Background(), tc))
		if !sc.IsValid() || seen[sc.TraceID()] {
			continue
		}
		seen[sc.TraceID()] = true
		parent = tc
		if len(links) < maxLinks {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	if len(seen) == 1 {
		ctx, links = tr.Extract(ctx, parent), nil
	}
	ctx, span := tr.Tracer().Start(ctx, "projection.batch", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("orderengine.events", len(batch)),
			attribute.Int64("orderengine.from", int64(batch[0].Position)), attribute.Int64("orderengine.to", int64(batch[len(batch)-1].Position))))
	err := w.apply(ctx, batch)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return err
}
