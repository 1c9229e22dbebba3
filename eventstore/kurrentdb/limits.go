package kurrentdb

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/orderengine/orderengine/eventstore"
)

// DefaultMaxAppendSize is the server's default MaxAppendSize (KURRENTDB_MAX_APPEND_SIZE):
// 1 MiB for all the events of one append, counted as the server counts them (see
// sizeOnDisk).
const DefaultMaxAppendSize = 1 << 20

// DefaultIdempotencyWindow is how many of a stream's last events an Any or StreamExists
// append looks through for its own event IDs (the PostgreSQL adapter's window too).
const DefaultIdempotencyWindow = 1000

// sizeOnDisk is an event's size as the server checks it against MaxAppendSize and
// MaxAppendEventSize: data + metadata + 2 × the type's length in UTF-16 code units
// (KurrentDB v25.0 src/EventStore.Core/Data/Event.cs, Event.SizeOnDisk, called from
// Services/Transport/Grpc/Streams.Append.cs). The metadata is the stored form, chain
// hash included.
func sizeOnDisk(typ string, data, metadata []byte) int {
	n := 0
	for _, r := range typ {
		if r >= 0x10000 {
			n += 2 // a surrogate pair
		} else {
			n++
		}
	}
	return len(data) + len(metadata) + 2*n
}

// checkSize rejects an append that the server would refuse for its size. The server
// checks while it reads the request stream and ends the call early; client v4 then
// reports a bare EOF, which would look like a retryable network failure, so the adapter
// checks first and answers the port's invalid-event error.
func (s *Store) checkSize(stream string, prepared []eventstore.PreparedEvent) error {
	total := 0
	for i, e := range prepared {
		n := sizeOnDisk(e.Type, e.Data, e.Metadata)
		if s.maxAppendEventSize > 0 && n > s.maxAppendEventSize {
			return fmt.Errorf("%w: kurrentdb: append to %s: event %d is %d bytes as the server counts it (data + metadata with the chain hash + 2 × type length), over its MaxAppendEventSize of %d (maxAppendEventSize in the connection string)",
				eventstore.ErrInvalidEvent, stream, i, n, s.maxAppendEventSize)
		}
		total += n
	}
	limit := s.maxAppendSize
	if limit <= 0 {
		limit = DefaultMaxAppendSize
	}
	if total > limit {
		return fmt.Errorf("%w: kurrentdb: append to %s is %d bytes as the server counts it (data + metadata with the chain hash + 2 × type length, summed over %d events), over its MaxAppendSize of %d (maxAppendSize in the connection string must match the server's KURRENTDB_MAX_APPEND_SIZE)",
			eventstore.ErrInvalidEvent, stream, total, len(prepared), limit)
	}
	return nil
}

// adapterParams are the connection-string parameters this adapter reads itself; they are
// removed before the rest is handed to the client, which rejects unknown settings.
var adapterParams = map[string]struct{}{
	"maxappendsize":      {},
	"maxappendeventsize": {},
}

// splitParams removes the adapter's own parameters from a connection string and returns
// them by lower-cased name.
func splitParams(cs string) (string, map[string]string, error) {
	i := strings.IndexByte(cs, '?')
	if i < 0 {
		return cs, nil, nil
	}
	own := map[string]string{}
	var keep []string
	for _, kv := range strings.Split(cs[i+1:], "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := adapterParams[strings.ToLower(k)]; !ok {
			keep = append(keep, kv)
			continue
		}
		uv, err := url.QueryUnescape(v)
		if err != nil {
			return "", nil, fmt.Errorf("kurrentdb: connection string parameter %s: %w", k, err)
		}
		own[strings.ToLower(k)] = uv
	}
	out := cs[:i]
	if len(keep) > 0 {
		out += "?" + strings.Join(keep, "&")
	}
	return out, own, nil
}

// sizeParam parses a positive byte count no larger than the server accepts (int32).
func sizeParam(name, v string) (int, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("kurrentdb: connection string parameter %s=%q: want a positive number of bytes up to %d", name, v, math.MaxInt32)
	}
	return int(n), nil
}
