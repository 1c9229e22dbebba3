// Package traced decorates an event store with OpenTelemetry spans: one client span per
// append, stream read, $all read, multi-stream append and stream deletion. Subscriptions
// and Head are passed through untraced (a subscription lives for the process; Head is
// polled by probes). The adapters stay untouched, and the store's optional capabilities
// (eventstore.MultiAppender, eventstore.StreamDeleter) survive the wrapping: the result
// implements exactly those the wrapped store implements.
package traced

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderengine/orderengine/eventstore"
)

// Wrap returns s with spans from tracer.
func Wrap(s eventstore.Store, tracer trace.Tracer) eventstore.Store {
	b := &Store{inner: s, tracer: tracer}
	m, multi := s.(eventstore.MultiAppender)
	d, del := s.(eventstore.StreamDeleter)
	switch {
	case multi && del:
		return &multiDeleter{b, multiAppender{b, m}, deleter{b, d}}
	case multi:
		return &multiStore{b, multiAppender{b, m}}
	case del:
		return &deleterStore{b, deleter{b, d}}
	}
	return b
}

// Store is a traced store without optional capabilities (Wrap returns a type with the
// wrapped store's capabilities).
type Store struct {
	inner  eventstore.Store
	tracer trace.Tracer
}

// Unwrap is the wrapped store (for callers that need the adapter itself, e.g. its pool).
func (s *Store) Unwrap() eventstore.Store { return s.inner }

func (s *Store) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return s.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	ctx, span := s.start(ctx, "eventstore.append", attribute.String("orderengine.stream", stream), attribute.Int("orderengine.events", len(events)))
	res, err := s.inner.Append(ctx, stream, expected, events...)
	if err == nil {
		span.SetAttributes(attribute.Int64("orderengine.position", int64(res.Position)))
	}
	end(span, err)
	return res, err
}

func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	ctx, span := s.start(ctx, "eventstore.read_stream", attribute.String("orderengine.stream", stream))
	recs, err := s.inner.ReadStream(ctx, stream, dir, from, limit)
	span.SetAttributes(attribute.Int("orderengine.events", len(recs)))
	end(span, err)
	return recs, err
}

func (s *Store) ReadAll(ctx context.Context, from uint64, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	ctx, span := s.start(ctx, "eventstore.read_all", attribute.Int64("orderengine.from", int64(from)), attribute.String("orderengine.stream_prefix", filter.StreamPrefix))
	recs, err := s.inner.ReadAll(ctx, from, limit, filter)
	span.SetAttributes(attribute.Int("orderengine.events", len(recs)))
	end(span, err)
	return recs, err
}

func (s *Store) SubscribeAll(ctx context.Context, from uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	return s.inner.SubscribeAll(ctx, from, filter)
}

func (s *Store) Head(ctx context.Context) (uint64, error) { return s.inner.Head(ctx) }

func (s *Store) Close() error { return s.inner.Close() }

type multiAppender struct {
	s *Store
	m eventstore.MultiAppender
}

func (m multiAppender) AppendMulti(ctx context.Context, parts ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	ctx, span := m.s.start(ctx, "eventstore.append_multi", attribute.Int("orderengine.streams", len(parts)))
	res, err := m.m.AppendMulti(ctx, parts...)
	end(span, err)
	return res, err
}

type deleter struct {
	s *Store
	d eventstore.StreamDeleter
}

func (d deleter) DeleteStream(ctx context.Context, stream string, expected eventstore.ExpectedVersion) error {
	ctx, span := d.s.start(ctx, "eventstore.delete_stream", attribute.String("orderengine.stream", stream))
	err := d.d.DeleteStream(ctx, stream, expected)
	end(span, err)
	return err
}

type multiStore struct {
	*Store
	multiAppender
}

type deleterStore struct {
	*Store
	deleter
}

type multiDeleter struct {
	*Store
	multiAppender
	deleter
}
