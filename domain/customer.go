package domain

import "time"

// CategoryErasure is the stream category of erasure records: "erasure-<digest of the
// customer id>" (see package privacy).
const CategoryErasure = "erasure"

// CustomerErased: the customer's data key was destroyed (GDPR art. 17): every personal
// value sealed under it reads as "[erased]" from now on. Read models scrub the
// customer's rows when they see it.
type CustomerErased struct {
	CustomerID string    `json:"customerId"`
	At         time.Time `json:"at"`
}

// EventType implements Event.
func (CustomerErased) EventType() string { return "customer.erased" }
