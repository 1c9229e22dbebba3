package bus

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// RouterConfig configures NewRouter. Zero values take the defaults.
type RouterConfig struct {
	// Publisher receives poisoned messages (required).
	Publisher message.Publisher
	// PoisonTopic is where a message goes once its retries are spent (default
	// DefaultTopicPrefix + "poison"); it is then acked so the consumer moves on.
	PoisonTopic string
	// MaxRetries and the backoff between them (defaults 5, 50ms, 2s).
	MaxRetries      int
	InitialInterval time.Duration
	MaxInterval     time.Duration
	// CloseTimeout bounds how long Close waits for running handlers (default 30s).
	CloseTimeout time.Duration
	Logger       *slog.Logger
}

// NewRouter returns a watermill router whose handlers run inside, outermost first:
// PoisonQueue (a message whose retries are spent is published to PoisonTopic and acked;
// not when the handler was cancelled by shutdown),
// Retry (exponential backoff), Recoverer (a panic becomes an error) and CorrelationID
// (messages a handler produces keep the incoming correlation id).
func NewRouter(cfg RouterConfig) (*message.Router, error) {
	if cfg.Publisher == nil {
		return nil, errors.New("bus router: Publisher is required for the poison queue")
	}
	if cfg.PoisonTopic == "" {
		cfg.PoisonTopic = DefaultTopicPrefix + "poison"
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 5
	}
	if cfg.InitialInterval <= 0 {
		cfg.InitialInterval = 50 * time.Millisecond
	}
	if cfg.MaxInterval <= 0 {
		cfg.MaxInterval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	logger := watermillLogger(cfg.Logger)
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, logger)
	if err != nil {
		return nil, err
	}
	// A handler stopped by shutdown is not poisoned: it is nacked and seen again.
	poison, err := middleware.PoisonQueueWithFilter(cfg.Publisher, cfg.PoisonTopic, func(err error) bool {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	})
	if err != nil {
		return nil, err
	}
	r.AddMiddleware(
		poison,
		middleware.Retry{
			MaxRetries:          cfg.MaxRetries,
			InitialInterval:     cfg.InitialInterval,
			MaxInterval:         cfg.MaxInterval,
			Multiplier:          2,
			RandomizationFactor: 0.2,
			ResetContextOnRetry: true,
			Logger:              logger,
		}.Middleware,
		middleware.Recoverer,
		middleware.CorrelationID,
	)
	return r, nil
}
