package kurrentdb_test

// An in-memory stand-in for a KurrentDB node, speaking the real gRPC protocol (the
// client library's own protobuf definitions), so that the adapter's use of the client —
// requests, responses, iteration, subscriptions, errors — runs end to end without a
// server. It models the server behaviour the adapter relies on or must survive, as read in
// the KurrentDB v25.0 source (paths under src/EventStore.Core/; docs/adapters.md lists
// each behaviour with its source and the test that covers it):
//
//   - every event is one implicitly committed record with its own log position;
//     $all positions have commit = prepare = that position;
//   - appends check the expected revision; a retry whose event IDs already follow the
//     expected revision succeeds with the original revision and the last event's position
//     (Services/Storage/ReaderIndex/IndexWriter.cs CheckCommit); for Any and StreamExists
//     the IDs are looked up only in a bounded cache of recently committed events
//     (IndexWriter._committedEvents, a BoundedCache), so an older retry is written again;
//     an expected revision equal to the current one is written without any ID check;
//   - sizes are checked while the request stream is read (Event.SizeOnDisk against
//     MaxAppendSize, 1 MiB by default, and MaxAppendEventSize), and the call ends at once
//     with InvalidArgument (Services/Transport/Grpc/Streams.Append.cs), before the client
//     has finished sending;
//   - a write can time out (Aborted "Operation timed out", RpcExceptions.Timeout): written
//     but not yet replicated, or not written at all; a retry of a written but not yet
//     replicated append is dropped and times out again (StorageWriterService,
//     CommitDecision.IdempotentNotReady); records not yet replicated are not readable, nor
//     is anything after them;
//   - forward reads of $all include their start position; subscriptions exclude it;
//   - backward stream reads page by 32 from a revision, each page [from-count+1, from]
//     unclamped, then go on from the next event number clamped to the last revision
//     (IndexReader.ReadStreamEventsBackwardInternal, Enumerator.ReadStreamBackwards);
//   - $all holds system events (stats, "$>" category links) between user events;
//   - subscriptions can be dropped by the server (dropSubscriptions);
//   - a follower (startFollower) serves reads from its own lagging copy and forwards
//     writes to the leader, unless the request carries "requires-leader: true": then it
//     answers NotFound "Leader info available" with the leader's address in the trailers
//     (RpcExceptions.LeaderInfo), also to a subscription, after confirming it.
//
// It is a model, not the server: passing against it shows that the adapter drives the
// client correctly under this model; the real suite still needs a real server.

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type fakeRecord struct {
	seq         int // index in the log
	pos         uint64
	stream      string
	rev         uint64
	id          uuid.UUID
	typ         string
	contentType string
	data, md    []byte
	created     int64 // .NET ticks since the Unix epoch
}

type fakeServer struct {
	api.UnimplementedStreamsServer
	serverfeatures.UnimplementedServerFeaturesServer

	addr string

	mu       sync.Mutex
	cond     *sync.Cond // signalled when held records become readable
	log      []*fakeRecord
	streams  map[string][]*fakeRecord
	indexed  int // records log[:indexed] are replicated and readable
	nextPos  uint64
	appends  int
	changed  chan struct{} // closed and replaced on every write
	subCount int

	// requests counts Append calls received, whatever became of them.
	requests int

	maxAppendSize      int
	maxAppendEventSize int

	// recent is the bounded cache of committed event IDs that the weak idempotency check
	// of Any and StreamExists appends looks in, oldest first.
	recent    []*fakeRecord
	recentCap int

	// timeouts makes the next appends that would be written time out: written but not
	// replicated until commitAfter has passed (land), or not written at all.
	timeouts    int
	land        bool
	commitAfter time.Duration
	held        bool // records after indexed wait for replication

	drop    chan struct{} // closed to drop every subscription
	dropErr error

	// leader is set on a follower: writes are forwarded to it and leader-only requests
	// are refused with its address.
	leader *fakeServer
}

// corrupt flips one bit of the stored data of (stream, version), behind the adapter.
func (f *fakeServer) corrupt(t *testing.T, stream string, version uint64) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	evs := f.streams[stream]
	if version >= uint64(len(evs)) {
		t.Fatalf("corrupt: %s has no version %d", stream, version)
	}
	r := evs[version]
	r.data = append([]byte(nil), r.data...)
	r.data[len(r.data)/2] ^= 1
}

// writeRaw stores an event as another client would, without a chain hash.
func (f *fakeServer) writeRaw(stream, typ string, data, md []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.write(stream, uuid.New(), typ, "application/json", data, md)
	f.replicated()
	f.notify()
}

// writeSystemEvent appends a server event to $all.
func (f *fakeServer) writeSystemEvent() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeSystem("$stats-127.0.0.1:2113", "$statsCollected")
	f.replicated()
	f.notify()
}

// timeoutNext makes the next n appends that would be written time out; land says whether
// they are written all the same (replicated commitAfter later) or lost.
func (f *fakeServer) timeoutNext(n int, land bool, commitAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timeouts, f.land, f.commitAfter = n, land, commitAfter
}

// setRecentCap bounds the weak idempotency cache.
func (f *fakeServer) setRecentCap(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recentCap = n
	if len(f.recent) > n {
		f.recent = append([]*fakeRecord(nil), f.recent[len(f.recent)-n:]...)
	}
}

func (f *fakeServer) setMaxAppendSize(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxAppendSize = n
}

// dropSubscriptions ends every open subscription with err.
func (f *fakeServer) dropSubscriptions(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropErr = err
	close(f.drop)
	f.drop = make(chan struct{})
}

// counts returns how many Append calls were received and subscriptions opened.
func (f *fakeServer) counts() (requests, subscriptions int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.subCount
}

// stored returns how many records the log holds, readable or not.
func (f *fakeServer) stored() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.log)
}

func newFakeServer() *fakeServer {
	f := &fakeServer{
		streams:            map[string][]*fakeRecord{},
		nextPos:            1 << 12, // the log starts with epoch records
		changed:            make(chan struct{}),
		drop:               make(chan struct{}),
		maxAppendSize:      1 << 20,       // ClusterVNodeOptions.MaxAppendSize
		maxAppendEventSize: math.MaxInt32, // ClusterVNodeOptions.MaxAppendEventSize
		recentCap:          100_000,       // the real cache holds 8 MiB of entries
	}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// serve serves f on a local port and returns its connection string.
func (f *fakeServer) serve(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	srv := grpc.NewServer()
	api.RegisterStreamsServer(srv, f)
	serverfeatures.RegisterServerFeaturesServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return "kurrentdb://" + f.addr + "?tls=false"
}

// startFakeServer serves a fake leader node and returns its connection string.
func startFakeServer(t *testing.T) (*fakeServer, string) {
	t.Helper()
	f := newFakeServer()
	f.mu.Lock()
	f.writeSystem("$stats-127.0.0.1:2113", "$statsCollected")
	f.replicated()
	f.mu.Unlock()
	return f, f.serve(t)
}

// startFollower serves a follower of leader whose copy of the log stops at what leader
// holds now: it lags behind every later write.
func startFollower(t *testing.T, leader *fakeServer) (*fakeServer, string) {
	t.Helper()
	f := newFakeServer()
	leader.mu.Lock()
	f.log = append([]*fakeRecord(nil), leader.log[:leader.indexed]...)
	for _, r := range f.log {
		f.streams[r.stream] = append(f.streams[r.stream], r)
	}
	f.indexed, f.nextPos = len(f.log), leader.nextPos
	leader.mu.Unlock()
	f.leader = leader
	return f, f.serve(t)
}

// requiresLeader reports the header a leader-only request carries.
func requiresLeader(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("requires-leader")
	return len(v) > 0 && strings.EqualFold(v[0], "true")
}

// notLeader is a follower's refusal of a leader-only request (RpcExceptions.LeaderInfo).
func (f *fakeServer) notLeader(setTrailer func(metadata.MD)) error {
	host, port, _ := net.SplitHostPort(f.leader.addr)
	setTrailer(metadata.Pairs("exception", "not-leader", "leader-endpoint-host", host, "leader-endpoint-port", port))
	return status.Error(codes.NotFound, "Leader info available")
}

func (f *fakeServer) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	return &serverfeatures.SupportedMethods{EventStoreServerVersion: "25.0.0"}, nil
}

// write appends one record, not yet readable (see replicated); f.mu is held.
func (f *fakeServer) write(stream string, id uuid.UUID, typ, contentType string, data, md []byte) *fakeRecord {
	rev := uint64(len(f.streams[stream]))
	r := &fakeRecord{
		seq: len(f.log), pos: f.nextPos, stream: stream, rev: rev, id: id, typ: typ, contentType: contentType,
		data: append([]byte(nil), data...), md: append([]byte(nil), md...),
		created: time.Now().UnixNano() / 100,
	}
	f.nextPos += uint64(64 + len(stream) + len(typ) + len(data) + len(md))
	f.log = append(f.log, r)
	f.streams[stream] = append(f.streams[stream], r)
	if f.recentCap > 0 {
		if len(f.recent) >= f.recentCap {
			f.recent = f.recent[1:]
		}
		f.recent = append(f.recent, r)
	}
	return r
}

// replicated makes every record written so far readable; f.mu is held.
func (f *fakeServer) replicated() {
	f.indexed = len(f.log)
}

// visible reports whether a record is readable; f.mu is held.
func (f *fakeServer) visible(r *fakeRecord) bool { return r.seq < f.indexed }

// lookupRecent finds an event ID in the weak idempotency cache; f.mu is held.
func (f *fakeServer) lookupRecent(id uuid.UUID) *fakeRecord {
	for i := len(f.recent) - 1; i >= 0; i-- {
		if f.recent[i].id == id {
			return f.recent[i]
		}
	}
	return nil
}

func (f *fakeServer) writeSystem(stream, typ string) {
	f.write(stream, uuid.New(), typ, "application/json", []byte(`{}`), nil)
}

func (f *fakeServer) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// utf16Len is a .NET string's Length.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func streamName(id *shared.StreamIdentifier) string { return string(id.GetStreamName()) }

func toUUID(u *shared.UUID) (uuid.UUID, error) {
	if s := u.GetStructured(); s != nil {
		var b [16]byte
		for i := 0; i < 8; i++ {
			b[i] = byte(uint64(s.MostSignificantBits) >> (56 - 8*i))
			b[8+i] = byte(uint64(s.LeastSignificantBits) >> (56 - 8*i))
		}
		return uuid.UUID(b), nil
	}
	return uuid.Parse(u.GetString_())
}

func fromUUID(id uuid.UUID) *shared.UUID {
	var most, least uint64
	for i := 0; i < 8; i++ {
		most = most<<8 | uint64(id[i])
		least = least<<8 | uint64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: int64(most), LeastSignificantBits: int64(least),
	}}}
}

type proposed struct {
	id               uuid.UUID
	typ, contentType string
	data, md         []byte
}

func (f *fakeServer) Append(srv api.Streams_AppendServer) error {
	f.mu.Lock()
	f.requests++
	maxAppend, maxEvent := f.maxAppendSize, f.maxAppendEventSize
	f.mu.Unlock()
	req, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := req.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "first message must carry options")
	}
	var events []proposed
	size := 0
	for {
		req, err := srv.Recv()
		if err == io.EOF {
			break // the client closed its side
		}
		if err != nil {
			return err
		}
		m := req.GetProposedMessage()
		if m == nil {
			return status.Error(codes.InvalidArgument, "expected a proposed message")
		}
		id, err := toUUID(m.Id)
		if err != nil {
			return status.Error(codes.InvalidArgument, "bad event id")
		}
		typ, ok := m.Metadata["type"]
		if !ok {
			return status.Error(codes.InvalidArgument, "Required Metadata Property 'type' is missing")
		}
		// Checked as each event arrives; returning ends the call while the client may
		// still be sending (Streams.Append.cs).
		n := len(m.Data) + len(m.CustomMetadata) + 2*utf16Len(typ)
		if n > maxEvent {
			return status.Errorf(codes.InvalidArgument, "Event with Id: %s, Size: %d, exceeds Maximum Append Event Size of %d.", id, n, maxEvent)
		}
		if size += n; size > maxAppend {
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", maxAppend)
		}
		events = append(events, proposed{id, typ, m.Metadata["content-type"], m.Data, m.CustomMetadata})
	}
	if len(events) == 0 {
		return status.Error(codes.InvalidArgument, "no events")
	}
	target := f
	if f.leader != nil {
		if requiresLeader(srv.Context()) {
			return f.notLeader(srv.SetTrailer)
		}
		target = f.leader // forwarded
	}
	resp, err := target.apply(streamName(opts.StreamIdentifier), opts, events)
	if err != nil {
		return err
	}
	return srv.SendAndClose(resp)
}

// writeTimeout is the server's answer when a write is not acknowledged in time.
func writeTimeout(phase string) error {
	return status.Errorf(codes.Aborted, "Operation timed out: %s phase timeout.", phase)
}

// apply decides and performs an append, as the leader's writer does.
func (f *fakeServer) apply(stream string, opts *api.AppendReq_Options, events []proposed) (*api.AppendResp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	success := func(last *fakeRecord) *api.AppendResp {
		return &api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
			CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: last.rev},
			PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
				CommitPosition: last.pos, PreparePosition: last.pos,
			}},
		}}}
	}
	// Decided again after waiting for held records: the stream may have moved.
	for {
		existing := f.streams[stream]
		cur := int64(len(existing)) - 1 // -1: no stream; counts records not yet replicated

		// An idempotent retry answers the original, unless that is not replicated yet: then
		// the retry is dropped and the client's call times out.
		idempotent := func(last *fakeRecord) (*api.AppendResp, error) {
			if !f.visible(last) {
				return nil, writeTimeout("Prepare")
			}
			return success(last), nil
		}
		wrong := func() (*api.AppendResp, error) {
			w := &api.AppendResp_WrongExpectedVersion{}
			if cur < 0 {
				w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
			} else {
				w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(cur)}
			}
			switch e := opts.ExpectedStreamRevision.(type) {
			case *api.AppendReq_Options_Revision:
				w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: e.Revision}
			case *api.AppendReq_Options_NoStream:
				w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
			case *api.AppendReq_Options_StreamExists:
				w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
			default:
				w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
			}
			return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}, nil
		}

		var exp int64
		anyLike := false
		switch e := opts.ExpectedStreamRevision.(type) {
		case *api.AppendReq_Options_Revision:
			exp = int64(e.Revision)
		case *api.AppendReq_Options_NoStream:
			exp = -1
		case *api.AppendReq_Options_StreamExists:
			if cur < 0 {
				return wrong()
			}
			anyLike = true
		default:
			anyLike = true
		}

		// Idempotency, as IndexWriter.CheckCommit.
		if anyLike {
			// Weak: only the bounded cache of recent events is consulted.
			if r := f.lookupRecent(events[0].id); r != nil && r.stream == stream {
				for i, e := range events {
					r2 := f.lookupRecent(e.id)
					if r2 == nil || r2.stream != stream || r2.rev != r.rev+uint64(i) {
						return wrong() // corrupted idempotency
					}
				}
				return idempotent(f.streams[stream][r.rev+uint64(len(events))-1])
			}
		} else if exp < cur {
			// Exact: the events after the expected revision are read from the index.
			for i, e := range events {
				v := exp + 1 + int64(i)
				if v > cur || existing[v].id != e.id {
					return wrong()
				}
			}
			return idempotent(existing[exp+int64(len(events))])
		} else if exp > cur {
			return wrong()
		}
		// exp == cur (or a new ID with Any): written without looking at the IDs.

		if f.timeouts > 0 {
			f.timeouts--
			if !f.land {
				return nil, writeTimeout("Prepare") // lost before it was written
			}
			f.held = true
			for _, e := range events {
				f.write(stream, e.id, e.typ, e.contentType, e.data, e.md)
			}
			time.AfterFunc(f.commitAfter, func() {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.held = false
				f.replicated()
				f.notify()
				f.cond.Broadcast()
			})
			return nil, writeTimeout("Commit")
		}
		// Nothing after a record that is not replicated becomes readable before it.
		if !f.held {
			break
		}
		f.cond.Wait()
	}

	var last *fakeRecord
	for _, e := range events {
		last = f.write(stream, e.id, e.typ, e.contentType, e.data, e.md)
	}
	f.appends++
	// The server's own events interleave with user events in $all.
	if f.appends%5 == 0 {
		f.writeSystem("$stats-127.0.0.1:2113", "$statsCollected")
	}
	if i := strings.IndexByte(stream, '-'); i > 0 && f.appends%3 == 0 {
		f.write("$ce-"+stream[:i], uuid.New(), "$>", "application/octet-stream",
			[]byte(fmt.Sprintf("%d@%s", last.rev, stream)), nil)
	}
	f.replicated()
	f.notify()
	return success(last), nil
}

func readEvent(r *fakeRecord) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               fromUUID(r.id),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.rev,
			PreparePosition:  r.pos,
			CommitPosition:   r.pos,
			Metadata: map[string]string{
				"type":         r.typ,
				"content-type": r.contentType,
				"created":      strconv.FormatInt(r.created, 10),
			},
			CustomMetadata: r.md,
			Data:           r.data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.pos},
	}}}
}

// readBatchSize is how many events one page of a gRPC stream read asks the index for
// (Enumerator.ReadBatchSize).
const readBatchSize = 32

func (f *fakeServer) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	o := req.Options
	if f.leader != nil && requiresLeader(srv.Context()) {
		if _, ok := o.CountOption.(*api.ReadReq_Options_Subscription); ok {
			// The subscription is confirmed; its catch-up read is refused.
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: "follower"}}}); err != nil {
				return err
			}
		}
		return f.notLeader(srv.SetTrailer)
	}
	if _, ok := o.CountOption.(*api.ReadReq_Options_Subscription); ok {
		return f.subscribe(o, srv)
	}
	if o.GetFilter() != nil {
		return status.Error(codes.InvalidArgument, "the client under test never sends filtered reads")
	}
	count := o.GetCount()
	backward := o.ReadDirection == api.ReadReq_Options_Backwards

	f.mu.Lock()
	var out []*fakeRecord
	switch so := o.StreamOption.(type) {
	case *api.ReadReq_Options_Stream:
		name := streamName(so.Stream.StreamIdentifier)
		var evs []*fakeRecord
		for _, r := range f.streams[name] {
			if f.visible(r) {
				evs = append(evs, r)
			}
		}
		if len(evs) == 0 {
			f.mu.Unlock()
			return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
				StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
			}}})
		}
		last := int64(len(evs)) - 1
		if !backward {
			from := int64(0)
			if r, ok := so.Stream.RevisionOption.(*api.ReadReq_Options_StreamOptions_Revision); ok {
				from = int64(r.Revision)
			} else if _, ok := so.Stream.RevisionOption.(*api.ReadReq_Options_StreamOptions_End); ok {
				from = last + 1
			}
			for v := from; v <= last && uint64(len(out)) < count; v++ {
				out = append(out, evs[v])
			}
		} else {
			from := last
			if r, ok := so.Stream.RevisionOption.(*api.ReadReq_Options_StreamOptions_Revision); ok {
				from = int64(r.Revision)
			} else if _, ok := so.Stream.RevisionOption.(*api.ReadReq_Options_StreamOptions_Start); ok {
				from = 0
			}
			out = backwardPages(evs, from, count)
		}
	case *api.ReadReq_Options_All:
		log := f.log[:f.indexed]
		switch p := so.All.AllOption.(type) {
		case *api.ReadReq_Options_AllOptions_Start:
			if backward {
				break
			}
			for _, r := range log {
				if uint64(len(out)) == count {
					break
				}
				out = append(out, r)
			}
		case *api.ReadReq_Options_AllOptions_End:
			if !backward {
				break
			}
			for i := len(log) - 1; i >= 0 && uint64(len(out)) < count; i-- {
				out = append(out, log[i])
			}
		case *api.ReadReq_Options_AllOptions_Position:
			c := p.Position.CommitPosition
			if p.Position.PreparePosition != c {
				f.mu.Unlock()
				return status.Error(codes.InvalidArgument, "commit and prepare differ for an implicitly committed record")
			}
			if !f.isRecordStart(c) {
				f.mu.Unlock()
				return status.Errorf(codes.InvalidArgument, "position %d is not the start of a record", c)
			}
			if !backward { // inclusive
				for _, r := range log {
					if r.pos >= c && uint64(len(out)) < count {
						out = append(out, r)
					}
				}
			} else { // exclusive
				for i := len(log) - 1; i >= 0 && uint64(len(out)) < count; i-- {
					if log[i].pos < c {
						out = append(out, log[i])
					}
				}
			}
		}
	}
	f.mu.Unlock()
	for _, r := range out {
		if err := srv.Send(readEvent(r)); err != nil {
			return err
		}
	}
	return nil
}

// backwardPages reads a stream backward from revision from as the server's gRPC read does
// (Enumerator.ReadStreamBackwards): pages of min(32, count) from the index, each the
// revisions [from-size+1, from] without clamping from to the last revision
// (IndexReader.ReadStreamEventsBackwardInternal), then on from the next event number,
// min(start-1, last), until count events or the end of the stream.
func backwardPages(evs []*fakeRecord, from int64, count uint64) []*fakeRecord {
	var out []*fakeRecord
	last := int64(len(evs)) - 1
	size := int64(min(readBatchSize, count))
	for {
		start := max(0, from-size+1)
		var page []*fakeRecord
		for v := min(from, last); v >= start; v-- {
			page = append(page, evs[v])
		}
		for _, r := range page {
			if uint64(len(out)) >= count {
				break
			}
			out = append(out, r)
		}
		endOfStream := start == 0 || (start <= last && (len(page) == 0 || int64(page[len(page)-1].rev) != start))
		if endOfStream || uint64(len(out)) >= count {
			return out
		}
		from = min(start-1, last)
	}
}

// isRecordStart reports whether p is the position of a record (or the end of the log);
// f.mu is held.
func (f *fakeServer) isRecordStart(p uint64) bool {
	if p == f.nextPos {
		return true
	}
	for _, r := range f.log {
		if r.pos == p {
			return true
		}
	}
	return false
}

func (f *fakeServer) subscribe(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	all, ok := o.StreamOption.(*api.ReadReq_Options_All)
	if !ok {
		return status.Error(codes.Unimplemented, "only $all subscriptions are modelled")
	}
	match := func(r *fakeRecord) bool { return true }
	if fo := o.GetFilter(); fo != nil {
		var expr *api.ReadReq_Options_FilterOptions_Expression
		var field func(r *fakeRecord) string
		switch fl := fo.Filter.(type) {
		case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
			expr, field = fl.StreamIdentifier, func(r *fakeRecord) string { return r.stream }
		case *api.ReadReq_Options_FilterOptions_EventType:
			expr, field = fl.EventType, func(r *fakeRecord) string { return r.typ }
		}
		if expr.GetRegex() != "" {
			re, err := regexp.Compile(expr.GetRegex())
			if err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
			match = func(r *fakeRecord) bool { return re.MatchString(field(r)) }
		} else {
			prefixes := expr.GetPrefix()
			match = func(r *fakeRecord) bool {
				for _, p := range prefixes {
					if strings.HasPrefix(field(r), p) {
						return true
					}
				}
				return false
			}
		}
	}

	f.mu.Lock()
	next := 0 // index in f.log of the next record to consider
	switch p := all.All.AllOption.(type) {
	case *api.ReadReq_Options_AllOptions_End:
		next = f.indexed
	case *api.ReadReq_Options_AllOptions_Position:
		c := p.Position.CommitPosition
		for next < f.indexed && f.log[next].pos <= c { // exclusive
			next++
		}
	}
	f.subCount++
	id := fmt.Sprintf("sub-%d", f.subCount)
	drop := f.drop
	f.mu.Unlock()

	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: id}}}); err != nil {
		return err
	}
	caughtUp := false
	for {
		f.mu.Lock()
		batch := f.log[next:min(f.indexed, next+64)]
		batch = append([]*fakeRecord(nil), batch...)
		next += len(batch)
		wait := f.changed
		dropErr := f.dropErr
		f.mu.Unlock()
		select {
		case <-drop:
			return dropErr
		default:
		}

		skipped := 0
		var lastPos uint64
		for _, r := range batch {
			lastPos = r.pos
			if !match(r) {
				skipped++
				continue
			}
			if err := srv.Send(readEvent(r)); err != nil {
				return err
			}
		}
		if skipped > 0 && o.GetFilter() != nil {
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
				CommitPosition: lastPos, PreparePosition: lastPos,
			}}}); err != nil {
				return err
			}
		}
		if len(batch) > 0 {
			continue
		}
		if !caughtUp {
			caughtUp = true
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-wait:
		case <-drop:
			f.mu.Lock()
			dropErr = f.dropErr
			f.mu.Unlock()
			return dropErr
		case <-srv.Context().Done():
			return srv.Context().Err()
		}
	}
}
