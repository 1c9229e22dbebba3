package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/orderengine/orderengine/webhooks"
)

// BEGIN receiver example (docs/events.md shows this code; TestDocsShowExamples keeps it so)

// verifyWebhook checks a Standard Webhooks request with the standard library only.
func verifyWebhook(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return errors.New("stale or missing webhook-timestamp")
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if v, b64, ok := strings.Cut(sig, ","); ok && v == "v1" {
			if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return errors.New("no valid signature")
}

func webhookHandler(secret string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || verifyWebhook(secret, r.Header, body) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Deduplicate on r.Header.Get("webhook-id"), then handle the event, e.g.
		// {"type":"order.confirmed","orderId":"…","position":42,"data":{…}}.
		w.WriteHeader(http.StatusNoContent)
	}
}

// END receiver example

// Example_receiver verifies a request signed by the sender with the receiver code of
// docs/events.md.
func Example_receiver() {
	secret, _ := webhooks.NewSecret()
	key, _ := webhooks.DecodeSecret(secret)
	body := []byte(`{"id":"1","type":"order.confirmed","version":1,"orderId":"o1","position":42,"data":{}}`)
	now := time.Now()
	req := httptest.NewRequest("POST", "/hooks/orderengine", strings.NewReader(string(body)))
	req.Header.Set("webhook-id", "msg_1")
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", webhooks.Sign(key, "msg_1", now, body))
	rec := httptest.NewRecorder()
	webhookHandler(secret)(rec, req)
	fmt.Println(rec.Code)

	req.Header.Set("webhook-signature", webhooks.Sign([]byte("another key"), "msg_1", now, body))
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	rec = httptest.NewRecorder()
	webhookHandler(secret)(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// 204
	// 401
}
