// Package clientip finds a request's client address behind reverse proxies without
// trusting what a client can forge: X-Forwarded-For and Forwarded are read only when the
// direct peer is a trusted proxy, and then the client is the right-most address that is
// not itself a trusted proxy (entries further left were written by the client and prove
// nothing).
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds client addresses. The zero value trusts no proxy: the client is the
// TCP peer.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver trusting proxies in the given networks.
func New(trusted []netip.Prefix) *Resolver { return &Resolver{trusted: trusted} }

// ParseCIDRs parses "10.0.0.0/8, 192.168.1.7, ::1" (a bare address is a /32 or /128).
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not a CIDR", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Peer is the request's TCP peer address (RemoteAddr without the port).
func Peer(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return host
}

// ClientIP is the request's client address (see the package comment). A nil Resolver
// answers the peer.
func (r *Resolver) ClientIP(req *http.Request) string {
	peer := Peer(req)
	pa, err := netip.ParseAddr(peer)
	if err != nil || !r.isTrusted(pa) {
		return peer
	}
	hops := forwardedFor(req.Header)
	if hops == nil {
		hops = xForwardedFor(req.Header)
	}
	client := pa.Unmap()
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(hops[i])
		if err != nil {
			// An obfuscated or broken entry: the last proxy that vouched is the client
			// as far as anyone can tell.
			break
		}
		client = a
		if !r.isTrusted(a) {
			break
		}
	}
	return client.String()
}

func xForwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, f := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(f))
		}
	}
	return hops
}

// forwardedFor is the for= parameters of RFC 7239 Forwarded headers, nil without any.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					hops = append(hops, strings.Trim(strings.TrimSpace(val), `"`))
				}
			}
		}
	}
	return hops
}

// parseHop parses "192.0.2.1", "192.0.2.1:4711", "[2001:db8::1]:4711" or "2001:db8::1".
func parseHop(s string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, err
	}
	return a.Unmap(), nil
}
