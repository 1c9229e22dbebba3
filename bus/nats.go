package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// openNATS builds the JetStream pub/sub. Each topic is a stream of the same name whose
// only subject is the topic; streams are created on first use. Publishing goes through
// watermill-nats' JetStream publisher and sets Nats-Msg-Id to the message UUID (the event
// id), so a republished event inside the duplicate window is dropped by the server.
// Consumers are durable pull consumers named "<group>_<topic>", created once and never
// deleted by the client, so a restarted instance resumes after the last acked message and
// instances of one group share the work (see natsSubscriber).
func openNATS(ctx context.Context, rawURL string, opt Options) (*PubSub, error) {
	connect := func(name string) (*nats.Conn, error) {
		nc, err := nats.Connect(rawURL, nats.Name("orderengine-"+name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("bus: connect to NATS: %w", err)
		}
		return nc, nil
	}
	admin, err := connect("admin")
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(admin)
	if err != nil {
		admin.Close()
		return nil, fmt.Errorf("bus: JetStream: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("bus: JetStream is not enabled on the server: %w", err)
	}
	streams := &streamProvisioner{js: js, opt: opt}
	logger := watermillLogger(opt.Logger)

	pubConn, err := connect("publisher")
	if err != nil {
		admin.Close()
		return nil, err
	}
	inner, err := wmjs.NewPublisher(wmjs.PublisherConfig{Conn: pubConn, Logger: logger, ConfigureStream: streams.config})
	if err != nil {
		pubConn.Close()
		admin.Close()
		return nil, fmt.Errorf("bus: NATS publisher: %w", err)
	}
	pub := &natsPublisher{inner: inner, streams: streams}

	newSub := func(group string) (message.Subscriber, error) {
		nc, err := connect("subscriber-" + group)
		if err != nil {
			return nil, err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("bus: JetStream: %w", err)
		}
		return &natsSubscriber{nc: nc, js: js, streams: streams, group: group, opt: opt, closing: make(chan struct{})}, nil
	}
	return &PubSub{
		kind:   "nats",
		opt:    opt,
		pub:    pub,
		newSub: newSub,
		closeFn: func() error {
			err := pub.Close()
			admin.Close()
			return err
		},
	}, nil
}

// streamProvisioner creates each topic's stream once.
type streamProvisioner struct {
	js   jetstream.JetStream
	opt  Options
	mu   sync.Mutex
	done map[string]bool
}

func (s *streamProvisioner) config(topic string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       topic,
		Subjects:   []string{topic},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     s.opt.MaxAge,
		Duplicates: s.opt.DuplicateWindow,
	}
}

func (s *streamProvisioner) ensure(ctx context.Context, topic string) error {
	if !validName(topic) {
		return fmt.Errorf("bus: topic %q must be letters, digits, '-' or '_'", topic)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done[topic] {
		return nil
	}
	if _, err := s.js.Stream(ctx, topic); errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := s.js.CreateStream(ctx, s.config(topic)); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("bus: create stream %s: %w", topic, err)
		}
	} else if err != nil {
		return fmt.Errorf("bus: look up stream %s: %w", topic, err)
	}
	if s.done == nil {
		s.done = map[string]bool{}
	}
	s.done[topic] = true
	return nil
}

// durableConsumer binds to (creating if needed) the durable pull consumer of a group on
// a topic's stream. The client never deletes it, so it outlives the process.
func (s *streamProvisioner) durableConsumer(ctx context.Context, js jetstream.JetStream, group, topic string) (jetstream.Consumer, error) {
	if err := s.ensure(ctx, topic); err != nil {
		return nil, err
	}
	name := group + "_" + topic
	c, err := js.CreateOrUpdateConsumer(ctx, topic, jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.opt.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 256,
	})
	if err != nil {
		return nil, fmt.Errorf("bus: durable consumer %s: %w", name, err)
	}
	return c, nil
}

// natsPublisher provisions streams and sets the JetStream de-duplication id.
type natsPublisher struct {
	inner   *wmjs.Publisher
	streams *streamProvisioner
	mu      sync.Mutex
	closed  bool
}

func (p *natsPublisher) Publish(topic string, messages ...*message.Message) error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return errClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.streams.ensure(ctx, topic); err != nil {
		return err
	}
	for _, m := range messages {
		// NATSMarshaler turns metadata into headers; the server de-duplicates on this one.
		m.Metadata.Set(nats.MsgIdHdr, m.UUID)
	}
	return p.inner.Publish(topic, messages...)
}

func (p *natsPublisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.inner.Close()
}
