package catalogfold

import (
	"errors"
	"testing"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
)

func TestApplyErrors(t *testing.T) {
	at := time.Now()
	e := func(pos uint64, d domain.Event) projections.Event {
		return projections.Event{RecordedEvent: eventstore.RecordedEvent{Position: pos}, Data: d}
	}
	b := NewBatch()
	err := b.Apply([]projections.Event{e(3, domain.ProductArchived{ProductID: "ghost", At: at})})
	var ee *projections.EventError
	if err == nil || !errors.As(err, &ee) || ee.Position != 3 {
		t.Errorf("event for a missing product: %v", err)
	}
	c := domain.ProductCreated{ProductID: "p", SKU: "s", Price: domain.MustMoney(1, "EUR"), At: at}
	b = NewBatch()
	if err := b.Apply([]projections.Event{e(1, c), e(1, c)}); err != nil {
		t.Errorf("the same creation twice (a replay): %v", err)
	}
	if err := b.Apply([]projections.Event{e(2, c)}); err == nil {
		t.Error("a second creation: no error")
	}
}
