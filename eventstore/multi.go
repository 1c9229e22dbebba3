package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// StreamAppend is one stream's part of a multi-stream append.
type StreamAppend struct {
	Stream   string
	Expected ExpectedVersion
	Events   []EventData
}

// MultiAppender is the optional capability of a store to append to several streams at
// once, atomically. Discover it with a type assertion, or call AppendMulti, which falls
// back to single-stream appends for stores without it.
type MultiAppender interface {
	// AppendMulti appends every part if every part's expected version holds, and nothing
	// otherwise (the first mismatch is returned as a *WrongExpectedVersionError). The
	// events of all parts take one contiguous run of positions in $all, in the order of
	// the parts, and each stream's chain hashes continue from its head as in Append.
	//
	// Each part is idempotent as Append is: a part whose event IDs are already stored
	// where it would put them is a no-op that reports the original result, while the other
	// parts are written. So retrying a batch that (or part of which) already landed is
	// safe.
	//
	// The result has one entry per part, in order: the stream's new version and the
	// position of the part's last event. Bad input — no parts, a part without events, one
	// stream twice, an event ID twice, more events in all than one append may carry, or
	// anything Append rejects — is ErrInvalidEvent, and nothing is written.
	//
	// A store whose backend may lack the feature at run time returns an error wrapping
	// ErrMultiAppendUnsupported before writing anything; AppendMulti then falls back.
	AppendMulti(ctx context.Context, parts ...StreamAppend) ([]AppendResult, error)
}

// ErrMultiAppendUnsupported: the store cannot append to several streams atomically.
var ErrMultiAppendUnsupported = errors.New("atomic multi-stream append not supported")

// PartialAppendError reports a fallback (non-atomic) multi-stream append that stopped
// part-way: parts before Part were written, Part failed with Err, later parts were not
// tried. Retrying the whole batch with the same event IDs completes it: the written parts
// are idempotent no-ops.
type PartialAppendError struct {
	Part    int
	Stream  string
	Written []AppendResult
	Err     error
}

func (e *PartialAppendError) Error() string {
	return fmt.Sprintf("multi-stream append (non-atomic fallback): part %d (%s) failed after %d parts were written: %v", e.Part, e.Stream, len(e.Written), e.Err)
}

func (e *PartialAppendError) Unwrap() error { return e.Err }

// CanAppendMulti reports whether s offers atomic multi-stream appends (it may still
// report ErrMultiAppendUnsupported at run time if its server lacks the feature).
func CanAppendMulti(s Store) bool {
	_, ok := s.(MultiAppender)
	return ok
}

// AppendMulti appends parts to s: atomically if s is a MultiAppender (see its contract),
// otherwise — the fallback — one single-stream Append per part, in order, stopping at the
// first failure.
//
// The fallback's guarantee is weaker: each part is atomic on its own, but a failure
// (a conflict, a crash) after the first part leaves the earlier parts written. A conflict
// on the first part writes nothing and is returned as is; a failure of a later part is
// returned as a *PartialAppendError (which unwraps to the part's error), and retrying the
// same batch finishes it because the written parts are idempotent. The events of different
// parts are not contiguous in $all, and other appends may come between them.
func AppendMulti(ctx context.Context, s Store, parts ...StreamAppend) ([]AppendResult, error) {
	if m, ok := s.(MultiAppender); ok {
		res, err := m.AppendMulti(ctx, parts...)
		if !errors.Is(err, ErrMultiAppendUnsupported) {
			return res, err
		}
	}
	// Catch what is wrong with the batch as a whole before writing any part; each part's
	// own content is checked by the store's Append, against its own limits.
	if err := validateParts(parts); err != nil {
		return nil, err
	}
	out := make([]AppendResult, 0, len(parts))
	for i, p := range parts {
		r, err := s.Append(ctx, p.Stream, p.Expected, p.Events...)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			return nil, &PartialAppendError{Part: i, Stream: p.Stream, Written: out, Err: err}
		}
		out = append(out, r)
	}
	return out, nil
}

// validateParts checks the shape of a multi-stream append: at least one part, each with
// events and a valid stream name, no stream twice and no event ID twice.
func validateParts(parts []StreamAppend) error {
	if len(parts) == 0 {
		return invalid("multi-stream append carries no streams")
	}
	streams := make(map[string]struct{}, len(parts))
	ids := map[uuid.UUID]struct{}{}
	for i, p := range parts {
		if err := ValidateStreamName(p.Stream); err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
		if _, dup := streams[p.Stream]; dup {
			return invalid("multi-stream append names stream %q twice", p.Stream)
		}
		streams[p.Stream] = struct{}{}
		if len(p.Events) == 0 {
			return invalid("append to %q carries no events", p.Stream)
		}
		for _, e := range p.Events {
			if _, dup := ids[e.ID]; dup && e.ID != uuid.Nil {
				return invalid("multi-stream append repeats event ID %s", e.ID)
			}
			ids[e.ID] = struct{}{}
		}
	}
	return nil
}

// ValidateMulti checks a multi-stream append against the limits: the shape (see
// MultiAppender), every part as Append would, and the total number of events against
// MaxEventsPerAppend. Adapters call it before writing.
func ValidateMulti(limits Limits, parts []StreamAppend) error {
	limits = limits.withDefaults()
	if err := validateParts(parts); err != nil {
		return err
	}
	total := 0
	for _, p := range parts {
		if err := Validate(limits, p.Stream, p.Events); err != nil {
			return err
		}
		total += len(p.Events)
	}
	if total > limits.MaxEventsPerAppend {
		return invalid("multi-stream append carries %d events, more than the limit of %d", total, limits.MaxEventsPerAppend)
	}
	return nil
}
