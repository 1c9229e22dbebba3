package checkout

import (
	"context"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orderengine/orderengine/payment"
)

// natsURL returns the test server, or skips (fails under CI) when none is reachable.
func natsURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("ORDERENGINE_TEST_NATS_URL")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	pu, err := url.Parse(u)
	if err == nil {
		var conn net.Conn
		if conn, err = net.DialTimeout("tcp", pu.Host, time.Second); err == nil {
			conn.Close()
			return u
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("NATS not reachable at %s: %v", u, err)
	}
	t.Skipf("NATS not reachable at %s (%v); set ORDERENGINE_TEST_NATS_URL", u, err)
	return ""
}

func TestCheckoutOverNATS(t *testing.T) {
	u := natsURL(t)
	e := newEnv(t, u, payment.SimulatorConfig{}, nil)
	t.Cleanup(func() { deleteStreams(u, e.prefix) })
	e.product("NATS-1", 1000, 3)
	ok := e.mustOrder(payment.TokenVisa, item{"NATS-1", 1})
	declined := e.mustOrder(payment.TokenDecline, item{"NATS-1", 1})
	if st := e.wait(ok); st.Outcome != OutcomeConfirmed {
		t.Fatalf("visa: %+v", st)
	}
	if st := e.wait(declined); st.Outcome != OutcomeCancelled || st.Code != CodePaymentDeclined {
		t.Fatalf("decline: %+v", st)
	}
	// Orders placed while no saga runs are picked up from the durable consumer.
	e.stopCheckout()
	late := e.mustOrder(payment.TokenVisa, item{"NATS-1", 1})
	e.startCheckout()
	if st := e.wait(late); st.Outcome != OutcomeConfirmed {
		t.Fatalf("placed while stopped: %+v", st)
	}
	if tot := e.inv("NATS-1").Totals(); tot.OnHand != 1 || tot.Reserved != 0 {
		t.Fatalf("stock %+v", tot)
	}
}

func deleteStreams(u, prefix string) {
	nc, err := nats.Connect(u)
	if err != nil {
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var doomed []string
	names := js.StreamNames(ctx)
	for n := range names.Name() {
		if strings.HasPrefix(n, prefix) {
			doomed = append(doomed, n)
		}
	}
	for _, n := range doomed {
		js.DeleteStream(ctx, n)
	}
}
