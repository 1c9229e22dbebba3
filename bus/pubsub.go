package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// Options configure OpenMemory and OpenNATS. Zero values take the defaults.
type Options struct {
	// TopicPrefix prefixes every topic (default DefaultTopicPrefix). NATS streams are named
	// after topics, so it may hold only letters, digits, '-' and '_'.
	TopicPrefix string
	// AckWait is how long a consumer may hold a NATS message before it is redelivered
	// (default 30s).
	AckWait time.Duration
	// MaxAge bounds how long NATS streams keep messages (default 7 days).
	MaxAge time.Duration
	// DuplicateWindow is JetStream's de-duplication window by message id (default 2 min).
	DuplicateWindow time.Duration
	Logger          *slog.Logger
}

func (o *Options) setDefaults() {
	if o.TopicPrefix == "" {
		o.TopicPrefix = DefaultTopicPrefix
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// PubSub is a publisher plus a source of consumer-group subscribers, chosen by URL.
type PubSub struct {
	kind    string
	opt     Options
	pub     message.Publisher
	newSub  func(group string) (message.Subscriber, error)
	closeFn func() error

	subMu      sync.Mutex
	subscribed map[string]chan struct{} // topic → closed once something subscribed
}

// Subscribed is closed once a subscriber from Subscriber has subscribed to topic. On the
// in-process bus a message published before that is lost, so a forwarder run apart from
// its consumers waits for it.
func (p *PubSub) Subscribed(topic string) <-chan struct{} {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	return p.subChan(topic)
}

func (p *PubSub) subChan(topic string) chan struct{} {
	if p.subscribed == nil {
		p.subscribed = map[string]chan struct{}{}
	}
	ch, ok := p.subscribed[topic]
	if !ok {
		ch = make(chan struct{})
		p.subscribed[topic] = ch
	}
	return ch
}

func (p *PubSub) markSubscribed(topic string) {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	ch := p.subChan(topic)
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// watchedSubscriber reports its subscriptions to its PubSub.
type watchedSubscriber struct {
	message.Subscriber
	p *PubSub
}

func (w watchedSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	ch, err := w.Subscriber.Subscribe(ctx, topic)
	if err == nil {
		w.p.markSubscribed(topic)
	}
	return ch, err
}

// Kind is "memory" or "nats".
func (p *PubSub) Kind() string { return p.kind }

// TopicPrefix is the prefix of every topic.
func (p *PubSub) TopicPrefix() string { return p.opt.TopicPrefix }

// Topic is the topic of a stream category.
func (p *PubSub) Topic(category string) string { return Topic(p.opt.TopicPrefix, category) }

// Publisher publishes to the bus. It is owned by the PubSub (Close closes it).
func (p *PubSub) Publisher() message.Publisher { return p.pub }

// Subscriber returns a subscriber for a consumer group: with NATS, a durable consumer per
// (group, topic) that survives restarts and is shared by every instance of the group;
// in memory, every subscription sees every message. The caller owns it (a watermill
// router closes its subscribers when it stops).
func (p *PubSub) Subscriber(group string) (message.Subscriber, error) {
	if group == "" || !validName(group) {
		return nil, fmt.Errorf("bus: consumer group %q must be letters, digits, '-' or '_'", group)
	}
	sub, err := p.newSub(group)
	if err != nil {
		return nil, err
	}
	return watchedSubscriber{Subscriber: sub, p: p}, nil
}

// Close closes the publisher and connections.
func (p *PubSub) Close() error { return p.closeFn() }

// OpenMemory opens the in-process bus (watermill's gochannel).
func OpenMemory(opt Options) (*PubSub, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	return openMemory(opt), nil
}

// OpenNATS connects to NATS JetStream: "nats://host:port[,nats://…]" (or tls://).
func OpenNATS(ctx context.Context, rawURL string, opt Options) (*PubSub, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	if _, err := url.Parse(strings.Split(rawURL, ",")[0]); err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	return openNATS(ctx, rawURL, opt)
}

// check fills in defaults and validates the options.
func (opt *Options) check() error {
	opt.setDefaults()
	if !validName(opt.TopicPrefix) {
		return fmt.Errorf("bus: topic prefix %q must be letters, digits, '-' or '_'", opt.TopicPrefix)
	}
	return nil
}

// openMemory is watermill's gochannel. Publish blocks until every subscriber of the topic
// has acked, so a forwarder's checkpoint never passes an event that a running consumer
// has not handled: together with the stored checkpoint this gives at-least-once delivery
// across crashes even though the channel itself keeps nothing.
func openMemory(opt Options) *PubSub {
	gc := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, watermillLogger(opt.Logger))
	return &PubSub{
		kind: "memory",
		opt:  opt,
		pub:  gc,
		newSub: func(string) (message.Subscriber, error) {
			return sharedSubscriber{gc}, nil
		},
		closeFn: gc.Close,
	}
}

// sharedSubscriber keeps a router from closing the shared gochannel.
type sharedSubscriber struct{ *gochannel.GoChannel }

func (sharedSubscriber) Close() error { return nil }

// errClosed is returned after Close.
var errClosed = errors.New("bus: closed")

// watermillLogger adapts watermill's logging to slog one level down: watermill logs
// routine per-message work at INFO ("No subscribers to send message", "Subscriber
// started", …), which would drown real problems. Its errors stay errors.
func watermillLogger(l *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(l, map[slog.Level]slog.Level{
		slog.LevelInfo:  slog.LevelDebug,
		slog.LevelDebug: watermill.LevelTrace,
	})
}
