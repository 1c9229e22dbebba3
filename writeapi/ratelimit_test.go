package writeapi_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/clientip"
	"github.com/orderengine/orderengine/writeapi"
)

// TestRateLimitPerClientBehindTrustedProxy: the test server's peer is 127.0.0.1. Trusted
// as a proxy, X-Forwarded-For names the client, so buyers behind it get a bucket each;
// untrusted, the header is ignored and everybody shares the peer's bucket.
func TestRateLimitPerClientBehindTrustedProxy(t *testing.T) {
	limit := writeapi.RateLimit{PerUser: writeapi.Disabled, PerIP: 0.001, IPBurst: 2}
	body := map[string]any{"currency": "EUR"}

	var counted countLimited
	trusted := limit
	trusted.Observer = &counted
	trusted.ClientIP = clientip.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	e := newEnv(t, func(c *writeapi.Config) { c.RateLimit = trusted })
	for i := range 5 {
		tok := token(t, fmt.Sprintf("buyer-%d", i), auth.RoleCustomer)
		for range 2 {
			e.must(201, e.do("POST", "/v1/carts", tok, body, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)))
		}
	}
	tok := token(t, "buyer-0", auth.RoleCustomer)
	if r := e.do("POST", "/v1/carts", tok, body, "X-Forwarded-For", "198.51.100.0"); r.status != 429 {
		t.Fatalf("third request of one client: %d", r.status)
	}
	// A client cannot escape by writing its own X-Forwarded-For entry: the proxy appends
	// the real address, and that right-most one counts.
	if r := e.do("POST", "/v1/carts", tok, body, "X-Forwarded-For", "203.0.113.77, 198.51.100.0"); r.status != 429 {
		t.Fatalf("spoofed left-most entry escaped the limit: %d", r.status)
	}

	if counted.ip != 2 {
		t.Fatalf("observer counted %d ip-limited requests, want 2", counted.ip)
	}

	e = newEnv(t, func(c *writeapi.Config) { c.RateLimit = limit })
	statuses := []int{}
	for i := range 3 {
		r := e.do("POST", "/v1/carts", token(t, fmt.Sprintf("buyer-%d", i), auth.RoleCustomer), body, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
		statuses = append(statuses, r.status)
	}
	if statuses[2] != 429 {
		t.Fatalf("untrusted peer: forwarded headers were used (statuses %v)", statuses)
	}
}

type countLimited struct{ ip, user int }

func (c *countLimited) RateLimited(limit string) {
	if limit == "ip" {
		c.ip++
	} else {
		c.user++
	}
}
