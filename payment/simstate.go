package payment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/orderengine/orderengine/domain"
)

// savedAuth is an asynchronous authorization as SimulatorConfig.StateFile keeps it.
type savedAuth struct {
	Ref      string       `json:"ref"`
	OrderID  string       `json:"orderId"`
	Amount   domain.Money `json:"amount"`
	Token    string       `json:"token"`
	State    Status       `json:"state"`
	Captured int64        `json:"captured,omitempty"`
	Refunded int64        `json:"refunded,omitempty"`
	Webhook  WebhookEvent `json:"webhook"`
	SettleAt time.Time    `json:"settleAt"`
}

// load reads the state file, if any.
func (s *Simulator) load() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(s.cfg.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var saved []savedAuth
	if err := json.Unmarshal(b, &saved); err != nil {
		return fmt.Errorf("decode %s: %w", s.cfg.StateFile, err)
	}
	for _, a := range saved {
		wh := a.Webhook
		s.auths[a.Ref] = &simAuth{ref: a.Ref, orderID: a.OrderID, amount: a.Amount, token: a.Token, state: a.State,
			captured: a.Captured, refunded: a.Refunded, webhook: &wh, settleAt: a.SettleAt}
	}
	return nil
}

// saveLocked writes the asynchronous authorizations to the state file (s.mu held),
// atomically: a crash leaves the old file or the new one.
func (s *Simulator) saveLocked() {
	if s.cfg.StateFile == "" {
		return
	}
	var saved []savedAuth
	for _, a := range s.auths {
		if a.webhook == nil {
			continue
		}
		saved = append(saved, savedAuth{Ref: a.ref, OrderID: a.orderID, Amount: a.amount, Token: a.token, State: a.state,
			Captured: a.captured, Refunded: a.refunded, Webhook: *a.webhook, SettleAt: a.settleAt})
	}
	if err := writeFileAtomic(s.cfg.StateFile, saved); err != nil {
		s.cfg.Logger.Error("payment simulator: cannot save its state", "file", s.cfg.StateFile, "err", err)
	}
}

func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
