package kurrentdb

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// requiresLeaderHeader makes a follower refuse a request instead of serving it from its
// own, possibly lagging, copy of the log (reads) or forwarding it (writes). The server
// reads it from the request headers (KurrentDB v25.0
// src/EventStore.Core/Services/Transport/Grpc/ServiceBase.cs GetRequiresLeader; the
// refusal is Services/VNode/ClusterVNodeController.cs HandleAsNonLeader →
// DenyRequestBecauseNotLeader). Client v4.2.0 puts it on the *incoming* context
// (esdb/options.go configureGrpcCall), so it never reaches the server: the adapter puts
// it on the outgoing metadata of every call itself.
const requiresLeaderHeader = "requires-leader"

// leaderOnly marks ctx's calls as requiring the leader.
func leaderOnly(ctx context.Context) context.Context {
	if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get(requiresLeaderHeader)) > 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, requiresLeaderHeader, "true")
}

// maxTransientAttempts bounds the retries of a call refused by a follower (the client
// reconnects to the leader it names) or by a node that is not ready (an election).
const maxTransientAttempts = 8

// codeOf is the gRPC status code in err's chain (Unknown when there is none).
func codeOf(err error) codes.Code {
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Unknown
}

// isNotLeader reports a follower's refusal of a leader-only request. With the leader's
// address in the trailers the client reports ErrorCodeNotLeader and reconnects to that
// leader (esdb/impl.go handleError); without it (an election in progress) the server
// answers "No leader info available" (RpcExceptions.NoLeaderInfo). Subscription drops
// carry the raw status ("Leader info available", NotFound), not the client's code.
func isNotLeader(err error) bool {
	if err == nil {
		return false
	}
	if code, ok := errorCode(err); ok && code == esdb.ErrorCodeNotLeader {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "Leader info available") || strings.Contains(msg, "No leader info available")
}

// isTransient reports a refusal after which the same call may succeed: a follower's
// NotLeader, a node not ready or too busy (RpcExceptions.ServerNotReady / ServerBusy,
// Unavailable), a dropped connection.
func isTransient(err error) bool {
	if err == nil {
		return false
	}
	if isNotLeader(err) {
		return true
	}
	if code, ok := errorCode(err); ok && code == esdb.ErrorUnavailable {
		return true
	}
	return codeOf(err) == codes.Unavailable
}

// isUnknownOutcome reports an append failure after which the events may or may not be
// written: the server's write timeout (RpcExceptions.Timeout → Aborted "Operation timed
// out"), which it also answers when it drops a retry whose original is not replicated yet
// (Services/Storage/StorageWriterService.cs, CommitDecision.IdempotentNotReady: "just drop
// the write and wait for the client to retry"), the client's own deadline, and a
// connection lost after the request went out.
func isUnknownOutcome(err error) bool {
	if err == nil {
		return false
	}
	if code, ok := errorCode(err); ok {
		switch code {
		case esdb.ErrorAborted, esdb.ErrorCodeDeadlineExceeded, esdb.ErrorUnavailable:
			return true
		}
	}
	switch codeOf(err) {
	case codes.Aborted, codes.DeadlineExceeded, codes.Unavailable:
		return true
	}
	return false
}

// isEarlyEnd reports an append the server ended while the client was still sending it:
// client v4 then reports the send's io.EOF instead of the server's status. The server
// checks size, the type metadata and access while reading, before it writes anything.
func isEarlyEnd(err error) bool {
	return errors.Is(err, io.EOF)
}
