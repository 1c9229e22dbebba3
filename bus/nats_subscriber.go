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

// natsSubscriber is a watermill Subscriber over durable JetStream pull consumers. It
// reads the wire format of watermill-nats' publisher (wmjs.DefaultUnmarshaler) but pumps
// messages itself: watermill-nats v2.1.3's JetStream subscriber closes its output channel
// while a consumer callback may still be sending to it (a data race, and a possible
// "send on closed channel" panic at shutdown). Here one goroutine per subscription both
// sends and closes, and a message is acked only after the handler acked it; one stopped
// before that is redelivered after AckWait.
type natsSubscriber struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	streams *streamProvisioner
	group   string
	opt     Options

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
}

var _ message.Subscriber = (*natsSubscriber)(nil)

func (s *natsSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	cons, err := s.streams.durableConsumer(ctx, s.js, s.group, topic)
	if err != nil {
		s.wg.Done()
		return nil, err
	}
	// A small client-side buffer, so buffered messages do not outlive AckWait while
	// earlier ones are handled.
	it, err := cons.Messages(jetstream.PullMaxMessages(16))
	if err != nil {
		s.wg.Done()
		return nil, fmt.Errorf("bus: consume %s: %w", topic, err)
	}
	out := make(chan *message.Message)
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-s.closing:
		case <-stop:
		}
		it.Stop()
	}()
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer close(stop)
		s.pump(ctx, topic, it, out)
	}()
	return out, nil
}

func (s *natsSubscriber) pump(ctx context.Context, topic string, it jetstream.MessagesContext, out chan<- *message.Message) {
	log := s.opt.Logger.With("topic", topic, "group", s.group)
	for {
		jm, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return
		}
		if err != nil {
			log.Warn("bus: NATS consume", "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
				continue
			case <-ctx.Done():
				return
			case <-s.closing:
				return
			}
		}
		msg, err := wmjs.DefaultUnmarshaler{}.Unmarshal(jm)
		if err != nil {
			log.Error("bus: undecodable NATS message; terminating it", "err", err)
			jm.Term()
			continue
		}
		mctx, cancel := context.WithCancel(ctx)
		msg.SetContext(mctx)
		select {
		case out <- msg:
		case <-ctx.Done():
			cancel()
			return
		case <-s.closing:
			cancel()
			return
		}
		select {
		case <-msg.Acked():
			if err := jm.DoubleAck(mctx); err != nil {
				log.Warn("bus: NATS ack", "err", err, "message", msg.UUID)
			}
		case <-msg.Nacked():
			if err := jm.NakWithDelay(100 * time.Millisecond); err != nil {
				log.Warn("bus: NATS nak", "err", err, "message", msg.UUID)
			}
		case <-ctx.Done():
		case <-s.closing:
		}
		cancel()
	}
}

// Close stops every subscription, waits for them, and closes the connection.
func (s *natsSubscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	s.wg.Wait()
	return s.nc.Drain()
}
