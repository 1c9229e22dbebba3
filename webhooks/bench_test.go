package webhooks_test

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDelivery measures end-to-end delivery (log read, translate, sign, POST to a
// local receiver that verifies the signature, record the attempt, checkpoint) on the
// embedded tier: one endpoint, events spread over 100 orders.
func BenchmarkDelivery(b *testing.B) {
	e := newEnv(b)
	rc := newReceiver(b)
	e.register(rc)
	for i := range b.N {
		e.orderStep(fmt.Sprintf("bench%d", i%100), i/100)
	}
	b.ResetTimer()
	start := time.Now()
	stop := e.start(e.cfg)
	waitFor(b, "every event", 10*time.Minute, func() bool { return len(rc.distinct()) >= b.N })
	b.StopTimer()
	elapsed := time.Since(start)
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
