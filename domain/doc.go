// Package domain holds orderengine's aggregates as pure deciders, their events, and the
// money, tax and pricing rules. It imports nothing of ours, does no I/O and never reads
// the clock: time comes in as an argument.
//
// # Shape
//
// Every aggregate X (Product, Cart, Inventory, Order, Payment, Promotion) has
//
//	type X struct{ … }                       // state; the zero value is "does not exist yet"
//	type XCommand interface{ Command; … }    // implemented by the command structs
//	func DecideX(s X, c XCommand, now time.Time) ([]Event, error)
//	func EvolveX(s X, e Event) X             // pure; ignores unknown events
//	func FoldX(s X, events []Event) X        // Evolve over a slice, copying the state once
//	func NewXDecider() Decider[X, XCommand]  // the three above plus the stream category
//
// The cart is the one exception: pricing needs configuration (tax table, shipping rules),
// so it is Pricing.DecideCart and NewCartDecider(Pricing). Every computed amount is stored
// in events (cart.priced, order.placed), so Evolve never needs configuration.
//
// A command handler loads stream Decider.StreamName(cmd.AggregateID()), folds it from the
// zero state, calls Decide and appends the events at the version it read. Decide returns no
// events for an idempotent repeat (reserving stock twice for one order, confirming a paid
// order), so retried or redelivered commands are harmless.
//
// # Events
//
// Events are plain structs registered under stable names such as "order.placed" with a
// schema version (see events.go). Registry.Encode gives (name, version, JSON);
// Registry.Decode takes them back, running upcasters for older versions. Go type names
// never appear in stored data.
//
// # Errors
//
// Every error wraps one sentinel (ErrValidation, ErrNotFound, ErrAlreadyExists,
// ErrOutOfStock, ErrIllegalTransition, ErrCouponExhausted, ErrCouponNotApplicable, …);
// *ValidationError, *OutOfStockError and *TransitionError carry details for errors.As.
// Messages are written for API clients.
//
// # Money
//
// Money is int64 minor units plus an ISO 4217 code; the exponent comes from the currency
// table. No floats: rates are BasisPoints, divisions round half to even once per line,
// fixed discounts are spread over lines by largest remainder, and totals are exact sums
// of the lines.
package domain
