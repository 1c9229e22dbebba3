// Package webhooks delivers the integration events of package integration to registered
// HTTP endpoints, per the Standard Webhooks specification.
//
// The parts:
//
//   - Endpoints: the endpoint registry, kept as events of the stream "webhooks-endpoints"
//     in the event store (so it works on every tier), with signing secrets encrypted by a
//     key kept outside the log.
//   - Worker: the delivery loop. It holds a Lease (one replica delivers), runs one runner
//     per enabled endpoint, and each runner reads the ordered log (the Log port) after its
//     checkpoint, keeps a queue per order (or product), sends queue heads concurrently and
//     each queue in order, retries on a schedule with jitter, records every attempt and its
//     checkpoints in the endpoint's delivery stream "webhooks.deliveries-<id>", disables
//     endpoints that answer 410 or fail for too long, and serves replay and manual retry
//     requests that arrive through the endpoints stream (so any replica's API can take them).
//   - API: the admin routes as a chi sub-router, with an OpenAPI fragment.
//   - Security and NewClient: https-only URLs and a dial-time check of the resolved
//     address against loopback, private and link-local ranges; no proxy, no redirects.
//
// Delivery is at least once: an attempt in flight when the worker dies is sent again
// after the restart, with the same webhook-id (derived from the endpoint and the event).
//
// The worker reads the log through Log (ReadAll from a position with an event-type
// filter, and Head), so it can become a sink of the shared projection engine. What it
// would need from that engine: a sink instance per endpoint, created and removed while
// the engine runs; events after a position the sink chooses (its own cursor, and earlier
// again on replay), filtered by event type; no engine-side checkpoint for it — the sink
// keeps its own (cursor, pending events with retry state) in its delivery stream, since
// it holds events back for hours while later ones flow; back-pressure (the sink stops
// taking events while it holds too many); and the engine's lease instead of this
// package's Lease.
package webhooks
