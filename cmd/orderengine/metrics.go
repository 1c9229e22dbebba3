package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
)

// metrics is the process's Prometheus registry (no global default registry).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
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
		m.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
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
