package payment

import (
	"context"
	"testing"

	"github.com/orderengine/orderengine/domain"
)

func TestSimulatorIncrementAuthorization(t *testing.T) {
	ctx := context.Background()
	s := NewSimulator(SimulatorConfig{})
	defer s.Close()
	eur := func(n int64) domain.Money { return domain.MustMoney(n, "EUR") }
	a, err := s.Authorize(ctx, AuthorizeRequest{OrderID: "o1", Amount: eur(1000), Token: TokenVisa, IdempotencyKey: "a"})
	if err != nil || a.Status != StatusAuthorized {
		t.Fatalf("authorize: %+v %v", a, err)
	}
	inc := IncrementRequest{OrderID: "o1", GatewayRef: a.GatewayRef, Amount: eur(500), IdempotencyKey: "i1"}
	for range 2 { // the repeat is answered from the first
		if r, err := s.IncrementAuthorization(ctx, inc); err != nil || r.Status != StatusSucceeded {
			t.Fatalf("increment: %+v %v", r, err)
		}
	}
	if got := s.Authorizations("o1")[0].Amount; got != eur(1500) || s.Calls("increment") != 1 {
		t.Fatalf("authorized %v after one increment (%d calls)", got, s.Calls("increment"))
	}
	// The whole grown authorization can be captured, not more.
	if r, _ := s.CapturePart(ctx, CaptureRequest{OrderID: "o1", GatewayRef: a.GatewayRef, Amount: eur(1500), IdempotencyKey: "c1"}); r.Status != StatusSucceeded {
		t.Fatalf("capture of the grown authorization: %+v", r)
	}
	s.LimitCard("o1", 1600)
	if r, _ := s.IncrementAuthorization(ctx, IncrementRequest{OrderID: "o1", GatewayRef: a.GatewayRef, Amount: eur(101), IdempotencyKey: "i2"}); r.Status != StatusDeclined {
		t.Fatalf("increment beyond the card limit: %+v", r)
	}
	if got := s.Authorizations("o1")[0].Amount; got != eur(1500) {
		t.Fatalf("a declined increment changed the authorization: %v", got)
	}
}
