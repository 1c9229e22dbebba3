package webhooks

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenDestination: the URL or the address it resolves to is not allowed
// (plain http, loopback, private, link-local…). Requests are refused before connecting.
var ErrForbiddenDestination = errors.New("forbidden webhook destination")

// nonPublic are ranges never dialled without AllowPrivate, beyond what netip classifies.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 can reach IPv4 private space
	netip.MustParsePrefix("64:ff9b:1::/48"), //
	netip.MustParsePrefix("2002::/16"),      // 6to4 embeds IPv4
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("100::/64"),       // discard
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("192.88.99.0/24"), // 6to4 relay anycast
	netip.MustParsePrefix("255.255.255.255/32"),
}

// publicAddr reports whether a is a public unicast address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// Security says which destinations are allowed.
type Security struct {
	// AllowHTTP accepts http:// URLs (default: https only).
	AllowHTTP bool
	// AllowPrivate lets URLs reach loopback, private and link-local addresses (tests,
	// on-premises receivers).
	AllowPrivate bool
}

// CheckURL validates an endpoint URL when it is registered: absolute, https (unless
// AllowHTTP), a host, no credentials or fragment, and no literal non-public address
// (unless AllowPrivate). Host names are checked again at every dial, after DNS.
func (s Security) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("url: %w", err)
	case len(raw) > 2048:
		return errors.New("url: longer than 2048 characters")
	case u.Scheme != "https" && !(s.AllowHTTP && u.Scheme == "http"):
		if u.Scheme == "http" {
			return fmt.Errorf("%w: url must use https", ErrForbiddenDestination)
		}
		return errors.New("url: must be an absolute https URL")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("url: has no host")
	case u.User != nil:
		return errors.New("url: must not carry credentials")
	case u.Fragment != "":
		return errors.New("url: must not have a fragment")
	}
	host := strings.ToLower(u.Hostname())
	if a, err := netip.ParseAddr(host); err == nil && !s.AllowPrivate && !publicAddr(a) {
		return fmt.Errorf("%w: %s is not a public address", ErrForbiddenDestination, a)
	}
	if !s.AllowPrivate && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
		return fmt.Errorf("%w: %s is loopback", ErrForbiddenDestination, host)
	}
	return nil
}

// control runs after DNS resolution, on the address actually dialled: a name that
// resolves to a private address now (DNS rebinding) is refused here.
func (s Security) control(_, address string, _ syscall.RawConn) error {
	if s.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrForbiddenDestination, address)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", ErrForbiddenDestination, ap.Addr())
	}
	return nil
}

// maxResponseBody is how much of a receiver's answer is read (and then discarded).
const maxResponseBody = 64 << 10

// NewClient returns the delivery HTTP client: the dial-time address check, no proxy (a
// proxy would dial for us and bypass the check), no redirects (a 3xx is a failed
// attempt), and the request timeout.
func NewClient(s Security, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: s.control}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 16 << 10,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
