package kurrentdb_test

// An in-memory stand-in for a KurrentDB node, speaking the real gRPC protocol (the
// client library's own protobuf definitions), so that the adapter's use of the client —
// requests, responses, iteration, subscriptions, errors — runs end to end without a
// server. It models the server behaviour the adapter relies on, as read in the KurrentDB
// source (src/KurrentDB.Core: Streams.Append.cs, IndexWriter.CheckCommit,
// IndexReader.ReadStreamEventsBackward, AllReader, StorageWriterService.WritePrepares):
//
//   - every event is one implicitly committed record with its own log position;
//     $all positions have commit = prepare = that position;
//   - appends check the expected revision; a retry whose event IDs already follow the
//     expected revision succeeds with the original revision and the last event's position;
//   - forward reads of $all include their start position; subscriptions exclude it;
//   - backward stream reads from a revision read [from-count+1, from] without clamping;
//   - $all holds system events (stats, "$>" category links) between user events.
//
// It is a model, not the server: passing against it shows that the adapter drives the
// client correctly under this model; the real suite still needs a real server.

import (
	"context"
	"fmt"
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
	"google.golang.org/grpc/status"
)

type fakeRecord struct {
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

	mu       sync.Mutex
	log      []*fakeRecord
	streams  map[string][]*fakeRecord
	byID     map[uuid.UUID]*fakeRecord
	nextPos  uint64
	appends  int
	changed  chan struct{} // closed and replaced on every write
	subCount int

	// idempotentNoPosition makes idempotent appends answer without a position, as a
	// server does when the original write is not indexed yet.
	idempotentNoPosition bool
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
	f.notify()
}

// writeSystemEvent appends a server event to $all.
func (f *fakeServer) writeSystemEvent() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeSystem("$stats-127.0.0.1:2113", "$statsCollected")
	f.notify()
}

func (f *fakeServer) setIdempotentNoPosition(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idempotentNoPosition = v
}

// startFakeServer serves a fake node on a local port and returns its connection string.
func startFakeServer(t *testing.T) (*fakeServer, string) {
	t.Helper()
	f := &fakeServer{
		streams: map[string][]*fakeRecord{},
		byID:    map[uuid.UUID]*fakeRecord{},
		nextPos: 1 << 12, // the log starts with epoch records
		changed: make(chan struct{}),
	}
	f.mu.Lock()
	f.writeSystem("$stats-127.0.0.1:2113", "$statsCollected")
	f.mu.Unlock()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	api.RegisterStreamsServer(srv, f)
	serverfeatures.RegisterServerFeaturesServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return f, "kurrentdb://" + lis.Addr().String() + "?tls=false"
}

func (f *fakeServer) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	return &serverfeatures.SupportedMethods{EventStoreServerVersion: "25.0.0"}, nil
}

// write appends one record; f.mu is held.
func (f *fakeServer) write(stream string, id uuid.UUID, typ, contentType string, data, md []byte) *fakeRecord {
	rev := uint64(len(f.streams[stream]))
	r := &fakeRecord{
		pos: f.nextPos, stream: stream, rev: rev, id: id, typ: typ, contentType: contentType,
		data: append([]byte(nil), data...), md: append([]byte(nil), md...),
		created: time.Now().UnixNano() / 100,
	}
	f.nextPos += uint64(64 + len(stream) + len(typ) + len(data) + len(md))
	f.log = append(f.log, r)
	f.streams[stream] = append(f.streams[stream], r)
	f.byID[id] = r
	return r
}

func (f *fakeServer) writeSystem(stream, typ string) {
	f.write(stream, uuid.New(), typ, "application/json", []byte(`{}`), nil)
}

func (f *fakeServer) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
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
	req, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := req.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "first message must carry options")
	}
	stream := streamName(opts.StreamIdentifier)
	var events []proposed
	for {
		req, err := srv.Recv()
		if err != nil {
			break // io.EOF: the client closed its side
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
		events = append(events, proposed{id, typ, m.Metadata["content-type"], m.Data, m.CustomMetadata})
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	existing := f.streams[stream]
	cur := int64(len(existing)) - 1 // -1: no stream

	success := func(last *fakeRecord) error {
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
			CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: last.rev},
			PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
				CommitPosition: last.pos, PreparePosition: last.pos,
			}},
		}}})
	}
	idempotent := func(last *fakeRecord) error {
		if !f.idempotentNoPosition {
			return success(last)
		}
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
			CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: last.rev},
			PositionOption:        &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
		}}})
	}
	wrong := func() error {
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
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}})
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
	if len(events) == 0 {
		return status.Error(codes.InvalidArgument, "no events")
	}

	// Idempotency, as IndexWriter.CheckCommit.
	if anyLike {
		if r, ok := f.byID[events[0].id]; ok && r.stream == stream {
			for i, e := range events {
				r2, ok := f.byID[e.id]
				if !ok || r2.stream != stream || r2.rev != r.rev+uint64(i) {
					return wrong() // corrupted idempotency
				}
			}
			return idempotent(f.streams[stream][r.rev+uint64(len(events))-1])
		}
	} else if exp < cur {
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
	f.notify()
	return success(last)
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

func (f *fakeServer) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	o := req.Options
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
		evs := f.streams[name]
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
			end := last
			if r, ok := so.Stream.RevisionOption.(*api.ReadReq_Options_StreamOptions_Revision); ok {
				end = int64(r.Revision) // not clamped, as IndexReader.ReadStreamEventsBackward
			} else if _, ok := so.Stream.RevisionOption.(*api.ReadReq_Options_StreamOptions_Start); ok {
				end = 0
			}
			start := max(0, end-int64(count)+1)
			for v := min(end, last); v >= start; v-- {
				out = append(out, evs[v])
			}
		}
	case *api.ReadReq_Options_All:
		switch p := so.All.AllOption.(type) {
		case *api.ReadReq_Options_AllOptions_Start:
			if backward {
				break
			}
			for _, r := range f.log {
				if uint64(len(out)) == count {
					break
				}
				out = append(out, r)
			}
		case *api.ReadReq_Options_AllOptions_End:
			if !backward {
				break
			}
			for i := len(f.log) - 1; i >= 0 && uint64(len(out)) < count; i-- {
				out = append(out, f.log[i])
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
				for _, r := range f.log {
					if r.pos >= c && uint64(len(out)) < count {
						out = append(out, r)
					}
				}
			} else { // exclusive
				for i := len(f.log) - 1; i >= 0 && uint64(len(out)) < count; i-- {
					if f.log[i].pos < c {
						out = append(out, f.log[i])
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
		next = len(f.log)
	case *api.ReadReq_Options_AllOptions_Position:
		c := p.Position.CommitPosition
		for next < len(f.log) && f.log[next].pos <= c { // exclusive
			next++
		}
	}
	f.subCount++
	id := fmt.Sprintf("sub-%d", f.subCount)
	f.mu.Unlock()

	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: id}}}); err != nil {
		return err
	}
	caughtUp := false
	for {
		f.mu.Lock()
		batch := f.log[next:min(len(f.log), next+64)]
		batch = append([]*fakeRecord(nil), batch...)
		next += len(batch)
		wait := f.changed
		f.mu.Unlock()

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
		case <-srv.Context().Done():
			return srv.Context().Err()
		}
	}
}
