package webhooks_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderengine/orderengine/webhooks"
)

func TestCheckURL(t *testing.T) {
	strictSec := webhooks.Security{}
	for _, u := range []string{"http://example.com/", "https://127.0.0.1/", "https://10.0.0.1/", "https://192.168.1.1/", "https://172.16.0.1/",
		"https://169.254.169.254/", "https://[::1]/", "https://[fe80::1]/", "https://0.0.0.0/", "https://localhost/", "https://a.localhost/"} {
		if err := strictSec.CheckURL(u); !errors.Is(err, webhooks.ErrForbiddenDestination) {
			t.Errorf("%s: %v, want a forbidden destination", u, err)
		}
	}
	for _, u := range []string{"", "example.com/hook", "https://", "https://user:pw@example.com/", "https://example.com/#frag", "mailto:x@example.com"} {
		if err := strictSec.CheckURL(u); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	for _, u := range []string{"https://example.com/hook", "https://93.184.215.14:8443/x?y=1"} {
		if err := strictSec.CheckURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	open := webhooks.Security{AllowHTTP: true, AllowPrivate: true}
	if err := open.CheckURL("http://127.0.0.1:8080/hook"); err != nil {
		t.Fatal(err)
	}
}

// TestDialRefusesPrivateAddressesAfterDNS: a host name passes URL checks, but the address
// it resolves to is checked when dialling, so it never connects (DNS rebinding).
func TestDialRefusesPrivateAddressesAfterDNS(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	c := webhooks.NewClient(webhooks.Security{AllowHTTP: true}, 2*time.Second)
	for _, u := range []string{"http://localhost" + port + "/", srv.URL + "/"} {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", u, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, webhooks.ErrForbiddenDestination) {
			t.Fatalf("%s: %v, want a forbidden destination", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests reached the private server", hits.Load())
	}
	// With AllowPrivate the same server is reachable.
	ok := webhooks.NewClient(webhooks.Security{AllowHTTP: true, AllowPrivate: true}, 2*time.Second)
	resp, err := ok.Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatal("allowed request did not arrive")
	}
}

// TestWorkerRefusesPrivateDestinationAtDial: an endpoint stored while private addresses
// were allowed, delivered by a worker whose client does not allow them: every attempt
// fails before connecting and is recorded with the reason.
func TestWorkerRefusesPrivateDestinationAtDial(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	ep := e.register(rc)
	cfg := e.cfg
	cfg.Client = webhooks.NewClient(webhooks.Security{AllowHTTP: true}, time.Second)
	e.start(cfg)
	e.orderStep("ssrf", 0)
	waitFor(t, "failed attempts", 5*time.Second, func() bool {
		ds, _, _ := e.eps.Deliveries(context.Background(), ep.ID, 10, 0)
		return len(ds) == 1 && len(ds[0].Attempts) >= 2
	})
	ds, _, _ := e.eps.Deliveries(context.Background(), ep.ID, 10, 0)
	if a := ds[0].Attempts[0]; a.StatusCode != 0 || !strings.Contains(a.Error, "forbidden webhook destination") || ds[0].Status != "pending" {
		t.Fatalf("attempt %+v", a)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.calls != 0 {
		t.Fatalf("%d requests reached the receiver", rc.calls)
	}
}

// TestRedirectsAreNotFollowed: a 3xx is a failed attempt; the redirect target is never hit.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var targetHits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { targetHits.Add(1) }))
	defer target.Close()
	e := newEnv(t)
	rc := newReceiver(t)
	rc.setStatus(func(received) int { return 200 })
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	ep, _, err := e.eps.Create(context.Background(), webhooks.NewEndpoint{URL: redirect.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.start(e.cfg)
	e.orderStep("redir", 0)
	waitFor(t, "attempts", 5*time.Second, func() bool {
		ds, _, _ := e.eps.Deliveries(context.Background(), ep.ID, 10, 0)
		return len(ds) == 1 && len(ds[0].Attempts) >= 2
	})
	ds, _, _ := e.eps.Deliveries(context.Background(), ep.ID, 10, 0)
	if a := ds[0].Attempts[0]; a.StatusCode != 307 || a.Outcome != webhooks.OutcomeFailed {
		t.Fatalf("attempt %+v", a)
	}
	if targetHits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

// TestHugeResponseBodyIsNotRead: a receiver that answers 200 with an endless body is
// delivered to promptly: only a small prefix of the body is read.
func TestHugeResponseBodyIsNotRead(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for range 100_000 { // 3 GB if read to the end
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ep, _, err := e.eps.Create(context.Background(), webhooks.NewEndpoint{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.start(e.cfg)
	e.orderStep("big", 0)
	waitFor(t, "delivered", 5*time.Second, func() bool {
		ds, _, _ := e.eps.Deliveries(context.Background(), ep.ID, 10, 0)
		return len(ds) == 1 && ds[0].Status == "delivered"
	})
}
