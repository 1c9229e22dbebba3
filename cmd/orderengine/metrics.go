package main

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/telemetry"
)

// metrics is the process's Prometheus registry (no global default registry).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	// log, if set, gets one line per request (probes and scrapes at DEBUG); tracing, if
	// set, names each request's span after its route.
	log     *slog.Logger
	tracing *telemetry.Tracing
}

func newMetrics(store eventstore.Store, runners func() []projections.Status) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "orderengine_http_request_duration_seconds",
		Help:    "HTTP requests by route pattern, method and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method", "status"})
	m.reg.MustRegister(m.requests, &projectionCollector{store: store, statuses: runners})
	return m
}

// handler serves /metrics.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// middleware times requests by their chi route pattern (not the raw path: ids would make
// unbounded label values).
func (m *metrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		took := time.Since(start)
		method := methodLabel(r.Method)
		m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(took.Seconds())
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetName(method + " " + route)
		}
		if m.log != nil {
			level := slog.LevelInfo
			switch {
			case status >= 500:
				level = slog.LevelError
			case route == "/healthz" || route == "/readyz" || route == "/metrics":
				level = slog.LevelDebug
			}
			m.log.LogAttrs(r.Context(), level, "request",
				slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
				slog.Int("status", status), slog.Int("bytes", ww.BytesWritten()), slog.Float64("ms", float64(took.Microseconds())/1000),
				slog.String("request_id", middleware.GetReqID(r.Context())), slog.String("trace_id", telemetry.TraceID(r.Context())))
		}
	})
}

// tracingMiddleware starts a server span per request (continuing a caller's W3C trace
// context); metrics.middleware names it after the matched route.
func (m *metrics) tracingMiddleware(next http.Handler) http.Handler {
	if m.tracing == nil || !m.tracing.Enabled() {
		return next
	}
	return otelhttp.NewHandler(next, "http.request",
		otelhttp.WithTracerProvider(m.tracing.Provider), otelhttp.WithPropagators(m.tracing.Propagator))
}

// methodLabel keeps the method label to the methods the API serves: anyone can send
// made-up methods, and each would otherwise be a new series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

var (
	descLag = prometheus.NewDesc("orderengine_projection_lag_positions",
		"Head position of the event log minus the projection's checkpoint (positions are sparse: compare, do not count).", []string{"projection"}, nil)
	descLagSeconds = prometheus.NewDesc("orderengine_projection_lag_seconds",
		"How far behind the last applied event's recorded time the projection is.", []string{"projection"}, nil)
	descCheckpoint = prometheus.NewDesc("orderengine_projection_checkpoint",
		"Global position up to which the projection's read model is complete.", []string{"projection"}, nil)
	descState = prometheus.NewDesc("orderengine_projection_state",
		"1 for the projection's current state.", []string{"projection", "state"}, nil)
	descApplied = prometheus.NewDesc("orderengine_projection_events_applied_total",
		"Events this process's runner applied since it started.", []string{"projection"}, nil)
	descHead = prometheus.NewDesc("orderengine_events_head_position",
		"Position of the last event visible in $all.", nil, nil)
)

// projectionCollector reads the runners' status at scrape time.
type projectionCollector struct {
	store    eventstore.Store
	statuses func() []projections.Status
}

func (c *projectionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLag, descLagSeconds, descCheckpoint, descState, descApplied, descHead} {
		ch <- d
	}
}

func (c *projectionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if head, err := c.store.Head(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descHead, prometheus.GaugeValue, float64(head))
	}
	for _, s := range c.statuses() {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(s.Lag), s.Name)
		ch <- prometheus.MustNewConstMetric(descLagSeconds, prometheus.GaugeValue, s.LagSeconds, s.Name)
		ch <- prometheus.MustNewConstMetric(descCheckpoint, prometheus.GaugeValue, float64(s.Checkpoint), s.Name)
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, 1, s.Name, string(s.State))
		ch <- prometheus.MustNewConstMetric(descApplied, prometheus.CounterValue, float64(s.Applied), s.Name)
	}
}
