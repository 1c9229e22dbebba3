package readapi

import (
	"encoding/json"
	"strings"

	"github.com/orderengine/orderengine/auth"
)

// view is what a caller may see of a stored event (least privilege, see docs/privacy.md).
type view int

const (
	// viewFull (admin): the stored bytes.
	viewFull view = iota
	// viewAudit (auditor): the stored bytes too, because an auditor re-verifies the hash
	// chain from them and the chain covers the data byte for byte. Personal fields are
	// whatever the store holds.
	viewAudit
	// viewAnalyst: no personal data — addresses keep only their country, payment tokens,
	// customer free text and idempotency response bodies are replaced by Redacted, and
	// metadata is left out (it names the acting subject). The data no longer matches the
	// chain hash; such events carry redacted: true.
	viewAnalyst
	// viewCustomer (a customer reading their own order's history): the facts of their own
	// order without staff subjects, payment tokens, metadata (chain hashes, idempotency
	// keys), and, for events of shared streams (inventory, promotion), without the
	// stream's version, warehouse allocations or chain hash.
	viewCustomer
)

// Redacted replaces a value the caller may not see.
const Redacted = "[redacted]"

// viewOf picks the widest view the caller's roles allow.
func viewOf(p auth.Principal) view {
	switch {
	case p.Has(auth.RoleAdmin):
		return viewFull
	case p.Has(auth.RoleAuditor):
		return viewAudit
	case p.Has(auth.RoleAnalyst):
		return viewAnalyst
	}
	return viewCustomer
}

// addressKeys name objects that are postal addresses (domain.Address): personal data but
// for the country.
var addressKeys = map[string]bool{"shippingAddress": true, "billingAddress": true, "address": true}

// tokenKeys name payment tokens (checkoutrequest.recorded's paymentToken, the payment
// stream's method).
var tokenKeys = map[string]bool{"paymentToken": true, "method": true, "token": true}

// internalKeys are details of shared streams a customer does not see.
var internalKeys = map[string]bool{"allocations": true, "warehouse": true}

// freeTextTypes are event types whose "reason" may be text a customer typed.
func freeTextReason(typ string) bool {
	return strings.HasPrefix(typ, "order.") || strings.HasPrefix(typ, "cart.")
}

// redactEvent shapes e for the view; shared says e is from a stream the order shares
// with others; subject is the caller.
func redactEvent(e Event, v view, subject string, shared bool) Event {
	switch v {
	case viewFull, viewAudit:
		return e
	case viewAnalyst:
		e.Data = redactData(e.Type, e.Data, true, false)
		e.Metadata = nil
		e.Actor = ""
		e.IdempotencyKey = ""
		e.ChainHash = ""
		e.Redacted = true
	case viewCustomer:
		e.Data = redactData(e.Type, e.Data, false, shared)
		e.Metadata = nil
		e.IdempotencyKey = ""
		e.ChainHash = ""
		if e.Actor != subject && !strings.HasPrefix(e.Actor, "system:") && e.Actor != "" {
			e.Actor = "staff"
		}
		if shared {
			e.Version = nil
		}
		e.Redacted = true
	}
	return e
}

// redactData rewrites an event's JSON data; bytes that are not a JSON object go as a
// placeholder (they cannot be inspected).
func redactData(typ string, data json.RawMessage, analyst, shared bool) json.RawMessage {
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(data)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		if string(data) == "null" {
			return data
		}
		out, _ := json.Marshal(Redacted)
		return out
	}
	if strings.HasPrefix(typ, "idempotency.") {
		// A stored response can hold anything the command answered, addresses included.
		for _, k := range []string{"body", "header"} {
			if _, ok := m[k]; ok {
				m[k] = Redacted
			}
		}
	}
	walkRedact(m, analyst, shared, analyst && freeTextReason(typ))
	out, err := json.Marshal(m)
	if err != nil {
		out, _ = json.Marshal(Redacted)
	}
	return out
}

func walkRedact(v any, analyst, shared, reason bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			switch {
			case tokenKeys[k]:
				if _, ok := child.(string); ok {
					x[k] = Redacted
				}
			case analyst && addressKeys[k]:
				if a, ok := child.(map[string]any); ok {
					for ak := range a {
						if ak != "country" {
							a[ak] = Redacted
						}
					}
				}
			case reason && (k == "reason" || k == "cancelReason"):
				x[k] = Redacted
			case shared && internalKeys[k]:
				delete(x, k)
			default:
				walkRedact(child, analyst, shared, reason)
			}
		}
	case []any:
		for _, child := range x {
			walkRedact(child, analyst, shared, reason)
		}
	}
}
