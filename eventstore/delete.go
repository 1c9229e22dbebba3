package eventstore

import "context"

// StreamDeleter is the optional capability of a store to delete a whole stream, for
// retention (expired idempotency records, say): discover it with a type assertion.
//
// DeleteStream removes every event of stream, and its head, if expected holds (Exact(n),
// StreamExists or Any; NoStream is ErrInvalidEvent). A mismatch is a
// *WrongExpectedVersionError and deletes nothing, so a deletion conditional on the version
// a retention job read cannot remove events appended since. Deleting a stream that has no
// events with Any is ErrStreamNotFound.
//
// Afterwards the stream is absent: ReadStream reports ErrStreamNotFound, its events are no
// longer in $all (readers that had not reached them never see them), and a NoStream append
// starts it again at version 0 with a new hash chain. Chain verification (audit verify) of
// the remaining log is unaffected, and cannot tell that the stream existed: like the removal
// of a stream's last events, the removal of a whole stream leaves no broken link.
type StreamDeleter interface {
	DeleteStream(ctx context.Context, stream string, expected ExpectedVersion) error
}

// ValidateDelete checks a DeleteStream's arguments.
func ValidateDelete(stream string, expected ExpectedVersion) error {
	if err := ValidateStreamName(stream); err != nil {
		return err
	}
	if expected.IsNoStream() {
		return invalid("deleting %q expecting no stream", stream)
	}
	return nil
}
