package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/supervise"
)

func TestSagaProbeMapsHealth(t *testing.T) {
	since := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	cases := []struct {
		err  error
		want supervise.State
	}{
		{nil, supervise.StateOK},
		{checkout.ErrNotRunning, supervise.StateStarting},
		{errors.New("bus: connection reset"), supervise.StateRetrying},
	}
	for _, c := range cases {
		st := sagaProbe(func() (time.Time, error) { return since, c.err })(context.Background())
		if st.State != c.want || !st.Since.Equal(since) {
			t.Errorf("err %v: got %s since %v, want %s since %v", c.err, st.State, st.Since, c.want, since)
		}
		if c.want == supervise.StateRetrying && st.LastError == "" {
			t.Errorf("retrying without its error")
		}
	}
}
