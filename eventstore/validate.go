package eventstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits bound what one append may carry. The zero value means the defaults.
type Limits struct {
	// MaxEventSize is the largest data+metadata of one event in bytes (default 1 MiB).
	MaxEventSize int
	// MaxEventsPerAppend is the most events one append may carry (default 10,000).
	MaxEventsPerAppend int
}

const (
	DefaultMaxEventSize       = 1 << 20
	DefaultMaxEventsPerAppend = 10_000
	// MaxStreamNameLength is the longest stream name accepted.
	MaxStreamNameLength = 255
	maxTypeLength       = 128
)

func (l Limits) withDefaults() Limits {
	if l.MaxEventSize <= 0 {
		l.MaxEventSize = DefaultMaxEventSize
	}
	if l.MaxEventsPerAppend <= 0 {
		l.MaxEventsPerAppend = DefaultMaxEventsPerAppend
	}
	return l
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
}

// ValidateStreamName checks a stream name of the form "<category>-<id>": a category of
// letters, digits, '_' or '.', starting with a letter, then '-', then an id of printable
// non-space characters. Names starting with '$' are reserved for system streams.
func ValidateStreamName(stream string) error {
	if stream == "" {
		return invalid("empty stream name")
	}
	if len(stream) > MaxStreamNameLength {
		return invalid("stream name longer than %d bytes", MaxStreamNameLength)
	}
	if !utf8.ValidString(stream) {
		return invalid("stream name %q is not valid UTF-8", stream)
	}
	dash := -1
	for i, r := range stream {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return invalid("stream name %q contains a space or control character", stream)
		}
		if dash < 0 {
			switch {
			case r == '-':
				dash = i
			case i == 0 && !unicode.IsLetter(r):
				return invalid("stream name %q must start with a letter (form <category>-<id>)", stream)
			case !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.'):
				return invalid("stream name %q has an invalid category character %q (form <category>-<id>)", stream, r)
			}
		}
	}
	if dash <= 0 || dash == len(stream)-1 {
		return invalid("stream name %q is not of the form <category>-<id>", stream)
	}
	return nil
}

// PreparedEvent is a validated event whose metadata carries its chain hash.
type PreparedEvent struct {
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata []byte // stored form, with "chainHash" first
	Hash     [32]byte
}

// Validate checks an append's stream name and events against the limits, without hashing.
func Validate(limits Limits, stream string, events []EventData) error {
	limits = limits.withDefaults()
	if err := ValidateStreamName(stream); err != nil {
		return err
	}
	if len(events) == 0 {
		return invalid("append to %q carries no events", stream)
	}
	if len(events) > limits.MaxEventsPerAppend {
		return invalid("append carries %d events, more than the limit of %d", len(events), limits.MaxEventsPerAppend)
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		if e.ID == uuid.Nil {
			return invalid("event %d has a nil ID", i)
		}
		if _, dup := seen[e.ID]; dup {
			return invalid("event %d repeats ID %s within one append", i, e.ID)
		}
		seen[e.ID] = struct{}{}
		if e.Type == "" {
			return invalid("event %d has an empty type", i)
		}
		if len(e.Type) > maxTypeLength || !utf8.ValidString(e.Type) {
			return invalid("event %d type is longer than %d bytes or not UTF-8", i, maxTypeLength)
		}
		for _, r := range e.Type {
			if unicode.IsSpace(r) || !unicode.IsPrint(r) {
				return invalid("event %d type %q contains a space or control character", i, e.Type)
			}
		}
		if size := len(e.Data) + len(e.Metadata); size > limits.MaxEventSize {
			return invalid("event %d is %d bytes, over the limit of %d", i, size, limits.MaxEventSize)
		}
		if len(e.Data) == 0 || !json.Valid(e.Data) {
			return invalid("event %d data is not valid JSON", i)
		}
		if _, err := metadataObject(e.Metadata); err != nil {
			return invalid("event %d metadata: %v", i, err)
		}
	}
	return nil
}

// metadataObject validates metadata as a JSON object without a "chainHash" key and returns
// it trimmed ("{}" when empty).
func metadataObject(md []byte) ([]byte, error) {
	md = bytes.TrimSpace(md)
	if len(md) == 0 {
		return []byte("{}"), nil
	}
	if md[0] != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(md, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if _, ok := obj[ChainHashKey]; ok {
		return nil, fmt.Errorf("key %q is reserved for the store", ChainHashKey)
	}
	return md, nil
}

// Prepare validates an append and chains its events after prev, the hash of the stream's
// last event (zero for a new stream). Adapters call it inside their append.
func Prepare(limits Limits, stream string, prev [32]byte, events []EventData) ([]PreparedEvent, error) {
	if err := Validate(limits, stream, events); err != nil {
		return nil, err
	}
	return Chain(prev, events), nil
}

// Chain computes the chain hashes of already validated events following prev.
func Chain(prev [32]byte, events []EventData) []PreparedEvent {
	out := make([]PreparedEvent, len(events))
	for i, e := range events {
		md, _ := metadataObject(e.Metadata) // validated before
		h := ChainHash(prev, e.ID, e.Type, e.Data, md)
		out[i] = PreparedEvent{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: withChainHash(md, h), Hash: h}
		prev = h
	}
	return out
}
