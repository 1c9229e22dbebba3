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
// would need from that engine: deliver, per sink instance (one per endpoint), the events
// after a checkpoint the sink owns, filtered by event type; let the sink hold events back
// (its queues) and report a checkpoint lower than the last event handed to it (the
// position before its oldest unsettled event), rather than the engine advancing it on
// every batch; let a sink be reset to an earlier position at run time (replay) and added
// or removed while running (endpoints come and go); and share the engine's lease instead
// of this package's. The checkpoint itself can stay in the sink's own stream.
package webhooks
