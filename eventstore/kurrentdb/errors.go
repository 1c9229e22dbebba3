package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orderengine/orderengine/eventstore"
)

// expectedRevision maps the port's expected version to the client's expected revision.
func expectedRevision(e eventstore.ExpectedVersion) esdb.ExpectedRevision {
	switch {
	case e.IsAny():
		return esdb.Any{}
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	default:
		n, _ := e.Exact()
		return esdb.Revision(n)
	}
}

// noPosition is what the server sends (as -1) when it does not know an event's $all
// position, e.g. on stream reads from servers older than EventStoreDB 22.6.
const noPosition = math.MaxUint64

// positionOf encodes a KurrentDB $all position as the port's uint64 position: the commit
// position, which for every event written through gRPC equals its prepare position (see
// the package documentation). An unknown position is 0.
func positionOf(p esdb.Position) uint64 {
	if p.Commit == noPosition {
		return 0
	}
	return p.Commit
}

// allPosition decodes a port position for reads and subscriptions of $all.
func allPosition(p uint64) esdb.AllPosition {
	if p == eventstore.Start {
		return esdb.Start{}
	}
	return esdb.Position{Commit: p, Prepare: p}
}

// errorCode returns the client error code in err's chain.
func errorCode(err error) (esdb.ErrorCode, bool) {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

// isWrongExpectedVersion reports an optimistic-concurrency failure of an append, whether
// the client decoded it from the append response or the server raised it as an RPC
// exception ("... failed due to WrongExpectedVersion ...").
func isWrongExpectedVersion(err error) bool {
	if code, ok := errorCode(err); ok && code == esdb.ErrorCodeWrongExpectedVersion {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "WrongExpectedVersion")
}

var (
	// The client's rendering of an append response's WrongExpectedVersion:
	// "wrong expected version: expecting '3' but got '5'" (or "... got 'no_stream'").
	clientWEV = regexp.MustCompile(`expecting '[^']*' but got '(no_stream|-?\d+)'`)
	// The server's RPC exception: "... Expected version: 3, Actual version: 5".
	serverWEV = regexp.MustCompile(`Actual version: (-?\d*)`)
)

// actualFromError extracts the stream's actual version from a WrongExpectedVersion error.
// ok is false when the error does not say.
func actualFromError(err error) (version uint64, exists bool, ok bool) {
	if err == nil {
		return 0, false, false
	}
	msg := err.Error()
	var s string
	if m := clientWEV.FindStringSubmatch(msg); m != nil {
		s = m[1]
	} else if m := serverWEV.FindStringSubmatch(msg); m != nil {
		s = m[1]
	} else {
		return 0, false, false
	}
	switch {
	case s == "no_stream" || s == "-1":
		return 0, false, true
	case s == "" || strings.HasPrefix(s, "-"):
		return 0, false, false
	}
	v, perr := strconv.ParseUint(s, 10, 64)
	if perr != nil {
		return 0, false, false
	}
	return v, true, true
}

// wrongVersion builds the port's error for a stream in the given state.
func wrongVersion(stream string, expected eventstore.ExpectedVersion, exists bool, actual uint64) error {
	if !exists {
		actual = 0
	}
	return &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: actual, StreamExists: exists}
}

// isSizeLimit reports the server rejecting an append over its MaxAppendSize or
// MaxAppendEventSize (gRPC InvalidArgument, which the client reports as an unknown error).
func isSizeLimit(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Maximum Append Size") || strings.Contains(msg, "Maximum Append Event Size")
}

// translate maps a client error to the port's errors at the boundary, keeping the client
// error in the chain. forRead maps a missing or deleted stream to ErrStreamNotFound.
func translate(ctx context.Context, op string, err error, forRead bool) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, eventstore.ErrStreamNotFound) || errors.Is(err, eventstore.ErrClosed) ||
		errors.Is(err, eventstore.ErrWrongExpectedVersion) || errors.Is(err, eventstore.ErrInvalidEvent) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The client reports cancellation as an unknown error and deadlines as its own
		// code; callers check the context's errors.
		return fmt.Errorf("kurrentdb: %s: %w (%w)", op, ctxErr, err)
	}
	if code, ok := errorCode(err); ok {
		switch code {
		case esdb.ErrorCodeResourceNotFound:
			if forRead {
				return fmt.Errorf("kurrentdb: %s: %w: %w", op, eventstore.ErrStreamNotFound, err)
			}
		case esdb.ErrorCodeStreamDeleted:
			if forRead {
				return fmt.Errorf("kurrentdb: %s: %w (deleted): %w", op, eventstore.ErrStreamNotFound, err)
			}
		case esdb.ErrorCodeConnectionClosed:
			return fmt.Errorf("kurrentdb: %s: %w: %w", op, eventstore.ErrClosed, err)
		case esdb.ErrorCodeWrongExpectedVersion:
			// Callers turn this into a *WrongExpectedVersionError with the actual version.
		}
	}
	if isSizeLimit(err) {
		return fmt.Errorf("kurrentdb: %s: %w: %w", op, eventstore.ErrInvalidEvent, err)
	}
	return fmt.Errorf("kurrentdb: %s: %w", op, err)
}
