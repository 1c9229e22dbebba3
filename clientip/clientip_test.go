package clientip_test

import (
	"net/http/httptest"
	"testing"

	"github.com/orderengine/orderengine/clientip"
)

func TestClientIP(t *testing.T) {
	trusted, err := clientip.ParseCIDRs("10.0.0.0/8, 192.168.1.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	r := clientip.New(trusted)
	cases := []struct {
		name, peer string
		headers    map[string]string
		want       string
	}{
		{"no proxy headers", "203.0.113.5:1234", nil, "203.0.113.5"},
		{"untrusted peer: XFF ignored (spoofing)", "203.0.113.5:1234", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "203.0.113.5"},
		{"untrusted peer: Forwarded ignored", "203.0.113.5:1234", map[string]string{"Forwarded": "for=1.2.3.4"}, "203.0.113.5"},
		{"trusted peer: XFF used", "10.1.2.3:80", map[string]string{"X-Forwarded-For": "198.51.100.9"}, "198.51.100.9"},
		{"client-written left entries are ignored", "10.1.2.3:80", map[string]string{"X-Forwarded-For": "6.6.6.6, 198.51.100.9, 10.9.9.9"}, "198.51.100.9"},
		{"all trusted: left-most", "10.1.2.3:80", map[string]string{"X-Forwarded-For": "10.4.4.4, 192.168.1.7"}, "10.4.4.4"},
		{"trusted peer without headers", "192.168.1.7:80", nil, "192.168.1.7"},
		{"Forwarded with port and IPv6", "[fd00::1]:443", map[string]string{"Forwarded": `for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https`}, "2001:db8:cafe::17"},
		{"Forwarded wins over XFF", "10.1.2.3:80", map[string]string{"Forwarded": "for=198.51.100.1", "X-Forwarded-For": "198.51.100.2"}, "198.51.100.1"},
		{"garbage entry stops at the last vouching proxy", "10.1.2.3:80", map[string]string{"X-Forwarded-For": "198.51.100.9, unknown, 10.2.2.2"}, "10.2.2.2"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.1]:80", map[string]string{"X-Forwarded-For": "198.51.100.9"}, "198.51.100.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = c.peer
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			if got := r.ClientIP(req); got != c.want {
				t.Fatalf("ClientIP = %s, want %s", got, c.want)
			}
		})
	}
	var none *clientip.Resolver
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.1.2.3:80"
	req.Header.Set("X-Forwarded-For", "1.2.3.4")
	if got := none.ClientIP(req); got != "10.1.2.3" {
		t.Fatalf("nil resolver: %s", got)
	}
}

func TestParseCIDRsRejectsGarbage(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "proxy.local", "1.2.3"} {
		if _, err := clientip.ParseCIDRs(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
