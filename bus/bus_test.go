package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
)

func openStore(t *testing.T) eventstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendEvents(t *testing.T, s eventstore.Store, stream string, n int) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	for i := 0; i < n; i++ {
		id := uuid.New()
		md := fmt.Sprintf(`{"correlationId":"corr-%s","causationId":"cause-%d"}`, stream, i)
		if _, err := s.Append(context.Background(), stream, eventstore.Any, eventstore.EventData{ID: id, Type: "test.happened", Data: []byte(fmt.Sprintf(`{"n":%d}`, i)), Metadata: []byte(md)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// collector is a consumer that records what it handled.
type collector struct {
	mu   sync.Mutex
	seen map[string]int
	msgs []*message.Message
}

func (c *collector) handle(msg *message.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[msg.UUID]++
	c.msgs = append(c.msgs, msg)
	return nil
}

func (c *collector) count() (distinct, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.seen {
		total += n
	}
	return len(c.seen), total
}

func (c *collector) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if d, _ := c.count(); d >= n {
			return
		}
		if time.Now().After(deadline) {
			d, tot := c.count()
			t.Fatalf("received %d distinct (%d total), want %d", d, tot, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running starts a router with one consumer and a forwarder; stop ends both.
type running struct {
	stop func()
	fwd  *bus.Forwarder
}

func start(t *testing.T, ps *bus.PubSub, store eventstore.Store, group, category string, h message.NoPublishHandlerFunc, fwdName string) running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := ps.Subscriber(group)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bus.NewRouter(bus.RouterConfig{Publisher: ps.Publisher(), PoisonTopic: ps.Topic("poison"), MaxRetries: 2, InitialInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.AddConsumerHandler("h", ps.Topic(category), sub, h)
	routerDone := make(chan struct{})
	go func() { defer close(routerDone); r.Run(ctx) }()
	<-r.Running()
	var fwd *bus.Forwarder
	fwdDone := make(chan struct{})
	if fwdName != "" {
		fwd, err = bus.NewForwarder(bus.ForwarderConfig{Store: store, Publisher: ps.Publisher(), Name: fwdName, TopicPrefix: ps.TopicPrefix(), CheckpointEvery: 3, CheckpointInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(fwdDone)
			if err := fwd.Run(ctx); err != nil {
				t.Errorf("forwarder: %v", err)
			}
		}()
	} else {
		close(fwdDone)
	}
	return running{fwd: fwd, stop: func() {
		cancel()
		<-fwdDone
		r.Close()
		<-routerDone
	}}
}

func TestMessageRoundTrip(t *testing.T) {
	rec := eventstore.RecordedEvent{ID: uuid.New(), Stream: "order-42", Type: "order.placed", Version: 3, Position: 99,
		Data: []byte(`{"a":1}`), Metadata: []byte("{\n \"correlationId\": \"o-42\", \"causationId\": \"c\"}"), RecordedAt: time.Now().UTC()}
	msg := bus.NewMessage(rec)
	if msg.UUID != rec.ID.String() || msg.Metadata.Get(bus.MetaCorrelationID) != "o-42" || msg.Metadata.Get(bus.MetaEventType) != "order.placed" {
		t.Fatalf("message %+v", msg.Metadata)
	}
	got, err := bus.EventFromMessage(msg)
	if err != nil || got.ID != rec.ID || got.Stream != rec.Stream || got.Version != 3 || got.Position != 99 || string(got.Data) != `{"a":1}` || !got.RecordedAt.Equal(rec.RecordedAt) {
		t.Fatalf("round trip %+v %v", got, err)
	}
	if bus.Category("order-42-x") != "order" || bus.Topic("p-", "order") != "p-order" {
		t.Fatal("category/topic")
	}
}

func TestForwarderCheckpointSurvivesRestart(t *testing.T) {
	store := openStore(t)
	ctx := context.Background()
	first := appendEvents(t, store, "order-1", 5)
	head, _ := store.Head(ctx)
	appendEvents(t, store, "cart-1", 2) // another category: not consumed here
	ps, err := bus.OpenMemory(bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	run := start(t, ps, store, "g", "order", c.handle, "test")
	c.waitFor(t, 5)
	run.stop()
	ps.Close()
	cp, err := run.fwd.Checkpoint(ctx)
	if err != nil || cp < head {
		t.Fatalf("checkpoint %d (head %d): %v", cp, head, err)
	}
	for _, id := range first {
		if c.seen[id.String()] != 1 {
			t.Fatalf("event %s delivered %d times", id, c.seen[id.String()])
		}
	}
	m := c.msgs[0]
	if m.Metadata.Get(bus.MetaStream) != "order-1" || m.Metadata.Get(bus.MetaCorrelationID) != "corr-order-1" || m.Metadata.Get(bus.MetaPosition) == "" {
		t.Fatalf("metadata %+v", m.Metadata)
	}

	// A new process resumes after the stored checkpoint: only new events arrive.
	more := appendEvents(t, store, "order-2", 3)
	ps2, _ := bus.OpenMemory(bus.Options{})
	defer ps2.Close()
	var c2 collector
	run2 := start(t, ps2, store, "g", "order", c2.handle, "test")
	c2.waitFor(t, 3)
	time.Sleep(50 * time.Millisecond)
	run2.stop()
	if d, tot := c2.count(); d != 3 || tot != 3 {
		t.Fatalf("after restart: %d distinct, %d total; want 3", d, tot)
	}
	for _, id := range more {
		if c2.seen[id.String()] != 1 {
			t.Fatalf("new event %s not delivered once", id)
		}
	}
	recs, err := store.ReadStream(ctx, "forwarder-test", eventstore.Forward, 0, 1000)
	if err != nil || len(recs) == 0 || recs[0].Type != bus.CheckpointEventType {
		t.Fatalf("checkpoint stream: %d events, %v", len(recs), err)
	}
}

func TestPoisonQueue(t *testing.T) {
	store := openStore(t)
	ps, _ := bus.OpenMemory(bus.Options{})
	defer ps.Close()
	// A consumer of the poison topic.
	var poisoned collector
	prun := start(t, ps, store, "p", "poison", poisoned.handle, "")
	defer prun.stop()
	var attempts sync.Map
	failing := func(msg *message.Message) error {
		n, _ := attempts.LoadOrStore(msg.UUID, new(int))
		*(n.(*int))++
		return errors.New("cannot handle")
	}
	ids := appendEvents(t, store, "order-9", 2)
	run := start(t, ps, store, "g", "order", failing, "poison-test")
	poisoned.waitFor(t, 2) // the forwarder was not blocked by the first failure
	run.stop()
	for _, id := range ids {
		n, _ := attempts.Load(id.String())
		if n == nil || *(n.(*int)) != 3 {
			t.Fatalf("event %s tried %v times, want 1 + 2 retries", id, n)
		}
	}
	if r := poisoned.msgs[0].Metadata.Get("reason_poisoned"); !strings.Contains(r, "cannot handle") {
		t.Fatalf("poison reason %q", r)
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	if _, err := bus.OpenNATS(context.Background(), "nats://%zz", bus.Options{}); err == nil {
		t.Fatal("bad URL accepted")
	}
	if _, err := bus.OpenMemory(bus.Options{TopicPrefix: "bad.prefix"}); err == nil {
		t.Fatal("bad prefix accepted")
	}
}

// natsURL returns the test server, or skips (fails under CI) when none is reachable.
func natsURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("ORDERENGINE_TEST_NATS_URL")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	pu, err := url.Parse(u)
	if err == nil {
		var conn net.Conn
		if conn, err = net.DialTimeout("tcp", pu.Host, time.Second); err == nil {
			conn.Close()
			return u
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("NATS not reachable at %s: %v", u, err)
	}
	t.Skipf("NATS not reachable at %s (%v); set ORDERENGINE_TEST_NATS_URL", u, err)
	return ""
}

// cleanupStreams deletes the JetStream streams a test created.
func cleanupStreams(t *testing.T, u, prefix string) {
	t.Cleanup(func() {
		nc, err := nats.Connect(u)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		names := js.StreamNames(ctx)
		var doomed []string
		for n := range names.Name() {
			if strings.HasPrefix(n, prefix) {
				doomed = append(doomed, n)
			}
		}
		for _, n := range doomed {
			js.DeleteStream(ctx, n)
		}
	})
}

func TestNATSJetStream(t *testing.T) {
	u := natsURL(t)
	prefix := fmt.Sprintf("oetest-bus-%d-", time.Now().UnixNano()%1e9)
	cleanupStreams(t, u, prefix)
	store := openStore(t)
	ctx := context.Background()
	opt := bus.Options{TopicPrefix: prefix, AckWait: 5 * time.Second}
	ps, err := bus.OpenNATS(ctx, u, opt)
	if err != nil {
		t.Fatal(err)
	}
	first := appendEvents(t, store, "order-1", 4)
	var c collector
	run := start(t, ps, store, "g1", "order", c.handle, "nats")
	c.waitFor(t, 4)
	run.stop()
	ps.Close()

	// Republishing the same events (a forwarder that lost its checkpoint) is de-duplicated
	// by JetStream; the durable consumer resumes after its last ack.
	ps2, err := bus.OpenNATS(ctx, u, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer ps2.Close()
	more := appendEvents(t, store, "order-2", 2)
	var c2 collector
	run2 := start(t, ps2, store, "g1", "order", c2.handle, "nats-again") // new name: starts at 0
	c2.waitFor(t, 2)
	time.Sleep(300 * time.Millisecond)
	run2.stop()
	if d, tot := c2.count(); d != 2 || tot != 2 {
		t.Fatalf("after restart: %d distinct, %d total; want only the 2 new events", d, tot)
	}
	for _, id := range more {
		if c2.seen[id.String()] != 1 {
			t.Fatalf("event %s not delivered once", id)
		}
	}
	for _, id := range first {
		if c.seen[id.String()] != 1 {
			t.Fatalf("event %s delivered %d times", id, c.seen[id.String()])
		}
	}
	if c2.msgs[0].Metadata.Get(bus.MetaEventType) != "test.happened" || c2.msgs[0].Metadata.Get(bus.MetaCorrelationID) != "corr-order-2" {
		t.Fatalf("metadata over NATS: %+v", c2.msgs[0].Metadata)
	}

	// Another consumer group gets everything from the start of the stream.
	var c3 collector
	run3 := start(t, ps2, store, "g2", "order", c3.handle, "")
	c3.waitFor(t, 6)
	run3.stop()
}

func TestRegisterEvents(t *testing.T) {
	reg := domain.NewDomainRegistry()
	if err := bus.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	if err := bus.RegisterEvents(reg); err != nil {
		t.Fatalf("second registration: %v", err)
	}
	e, err := reg.Decode(bus.CheckpointEventType, 1, []byte(`{"position":7}`))
	if err != nil || e.(bus.Checkpoint).Position != 7 {
		t.Fatalf("decode %v %v", e, err)
	}
}

// TestNoPerEventInfoLogs: forwarding events nobody subscribes to (the memory bus's "No
// subscribers to send message") logs nothing at INFO.
func TestNoPerEventInfoLogs(t *testing.T) {
	store := openStore(t)
	var logs logRecorder
	logs.info = true
	log := slog.New(&logs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps, err := bus.OpenMemory(bus.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	fwd, err := bus.NewForwarder(bus.ForwarderConfig{Store: store, Publisher: ps.Publisher(), TopicPrefix: ps.TopicPrefix(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, store, "cart-1", 50)
	done := make(chan error, 1)
	go func() { done <- fwd.Run(ctx) }()
	for fwd.Published() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	head, _ := store.Head(ctx)
	for fwd.Published() < head {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.lines) > 3 {
		t.Fatalf("%d INFO+ lines for 50 events: %q", len(logs.lines), logs.lines)
	}
}
