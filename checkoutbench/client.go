package checkoutbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
)

// client sends the API's JSON requests and counts them.
type client struct {
	http     *http.Client
	base     string
	requests atomic.Int64
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// requestError is a request that failed: a transport error or an unexpected status.
type requestError struct {
	key    string // "METHOD route status", the errors_by_status key
	status int    // 0 for transport errors
	detail string
}

func (e *requestError) Error() string { return e.key + ": " + e.detail }

// do sends method path with body (JSON-encoded unless nil) and token, and expects one of
// want. route is path with its ids replaced by {id}, for error keys.
func (c *client) do(ctx context.Context, method, path, route, token string, body any, idemKey string, want ...int) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	c.requests.Add(1)
	res, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return reply{}, ctx.Err()
		}
		return reply{}, &requestError{key: method + " " + route + " transport", detail: err.Error()}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		if ctx.Err() != nil {
			return reply{}, ctx.Err()
		}
		return reply{}, &requestError{key: method + " " + route + " transport", detail: "reading the body: " + err.Error()}
	}
	r := reply{status: res.StatusCode, header: res.Header, body: b}
	if !slices.Contains(want, res.StatusCode) {
		return r, &requestError{key: fmt.Sprintf("%s %s %d", method, route, res.StatusCode), status: res.StatusCode, detail: snippet(b)}
	}
	return r, nil
}

// snippet is the start of a body, for error messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Wire shapes of the API (only the fields the benchmark reads).
type (
	idReply struct {
		ID string `json:"id"`
	}
	checkoutStatus struct {
		OrderID  string `json:"orderId"`
		Step     string `json:"step"`
		Terminal bool   `json:"terminal"`
		Outcome  string `json:"outcome"`
		Code     string `json:"code"`
		Reason   string `json:"reason"`
	}
	orderLine struct {
		SKU      string `json:"sku"`
		Quantity int64  `json:"quantity"`
	}
	orderReply struct {
		Order struct {
			ID     string      `json:"id"`
			Status string      `json:"status"`
			Lines  []orderLine `json:"lines"`
		} `json:"order"`
		Checkout checkoutStatus `json:"checkout"`
	}
	money struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}
	address struct {
		Name       string `json:"name"`
		Line1      string `json:"line1"`
		City       string `json:"city"`
		PostalCode string `json:"postalCode"`
		Country    string `json:"country"`
	}
)

// Outcomes of a checkout (checkout.Outcome*).
const (
	outcomeConfirmed = "confirmed"
	outcomeCancelled = "cancelled"
	codeOutOfStock   = "out_of_stock"
	orderPaid        = "paid"
	orderCancelled   = "cancelled"
)

var shipTo = address{Name: "Bench Customer", Line1: "Hauptstr. 1", City: "Berlin", PostalCode: "10115", Country: "DE"}
