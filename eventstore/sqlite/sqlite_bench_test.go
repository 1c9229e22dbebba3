package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
)

// BenchmarkAppend: b.N appends of batch events (~300 B data, ~100 B metadata) by 8
// writers, each filling streams of 10 events at exact expected versions.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 10} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openStoreB(b)
			defer s.Close()
			perStream := 10 / batch
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			var failed atomic.Value
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; next.Add(1) <= int64(b.N); i++ {
						exp := eventstore.NoStream
						if n := i % perStream; n > 0 {
							exp = eventstore.Exact(uint64(n*batch - 1))
						}
						evs := make([]eventstore.EventData, batch)
						for j := range evs {
							evs[j] = eventstore.EventData{
								ID:       uuid.New(),
								Type:     "order.line_added",
								Data:     []byte(fmt.Sprintf(`{"n":%d,"sku":"SKU-0001234","qty":3,"price":{"amount":1299,"currency":"EUR"},"note":"%s"}`, j, strings.Repeat("x", 200))),
								Metadata: []byte(fmt.Sprintf(`{"correlationId":"%s","actor":"bench","schemaVersion":1}`, uuid.NewString())),
							}
						}
						if _, err := s.Append(ctx, fmt.Sprintf("bench-%d.%d", w, i/perStream), exp, evs...); err != nil {
							failed.Store(err)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			el := time.Since(start).Seconds()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/el, "appends/s")
			b.ReportMetric(float64(b.N*batch)/el, "events/s")
		})
	}
}

func openStoreB(b *testing.B) interface {
	eventstore.Store
} {
	b.Helper()
	s, err := sqliteOpen(filepath.Join(b.TempDir(), "events.db"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}
