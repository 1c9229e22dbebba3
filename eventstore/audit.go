package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// BrokenLink names the first event whose chain hash does not verify.
type BrokenLink struct {
	Stream  string
	Version uint64
	Reason  string
}

func (b BrokenLink) String() string {
	return fmt.Sprintf("stream %s version %d: %s", b.Stream, b.Version, b.Reason)
}

// AuditReport is the outcome of VerifyChains.
type AuditReport struct {
	Streams int
	Events  int
	// Broken is nil when every chain verified.
	Broken *BrokenLink
}

const auditPage = 1000

// VerifyChains recomputes the hash chains of one stream (stream != "") or of every stream
// in the log, and reports the first broken link: a hash that does not match the event's
// content and predecessor, or a version that does not follow its predecessor's.
// progress, if not nil, is called after each page with the events checked so far.
func VerifyChains(ctx context.Context, s Store, stream string, progress func(events int)) (AuditReport, error) {
	type head struct {
		version uint64
		hash    [32]byte
	}
	heads := map[string]head{}
	var rep AuditReport
	check := func(e RecordedEvent) *BrokenLink {
		prev, seen := heads[e.Stream]
		if !seen {
			rep.Streams++
			if e.Version != 0 {
				return &BrokenLink{e.Stream, e.Version, "stream does not start at version 0"}
			}
		} else if e.Version != prev.version+1 {
			return &BrokenLink{e.Stream, e.Version, fmt.Sprintf("version follows %d", prev.version)}
		}
		stored, orig, err := SplitChainHash(e.Metadata)
		if err != nil {
			return &BrokenLink{e.Stream, e.Version, err.Error()}
		}
		if want := ChainHash(prev.hash, e.ID, e.Type, e.Data, orig); want != stored {
			return &BrokenLink{e.Stream, e.Version, "chain hash does not match the event's content and its predecessor"}
		}
		heads[e.Stream] = head{e.Version, stored}
		rep.Events++
		return nil
	}

	if stream != "" {
		for from := uint64(0); ; {
			page, err := s.ReadStream(ctx, stream, Forward, from, auditPage)
			if errors.Is(err, ErrStreamNotFound) && from == 0 {
				return rep, fmt.Errorf("audit %s: %w", stream, err)
			}
			if err != nil {
				return rep, fmt.Errorf("audit %s: %w", stream, err)
			}
			for _, e := range page {
				if b := check(e); b != nil {
					rep.Broken = b
					return rep, nil
				}
			}
			if progress != nil {
				progress(rep.Events)
			}
			if len(page) < auditPage {
				return rep, nil
			}
			from = page[len(page)-1].Version + 1
		}
	}
	for from := Start; ; {
		page, err := s.ReadAll(ctx, from, auditPage, Filter{})
		if err != nil {
			return rep, fmt.Errorf("audit: %w", err)
		}
		for _, e := range page {
			if b := check(e); b != nil {
				rep.Broken = b
				return rep, nil
			}
		}
		if progress != nil {
			progress(rep.Events)
		}
		if len(page) < auditPage {
			return rep, nil
		}
		from = page[len(page)-1].Position
	}
}
