package storebench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
)

// multiWidth is how many streams one batch of multi_s4 and single_s4 writes.
const multiWidth = 4

// singleOnly hides a store's atomic multi-stream append, so that eventstore.AppendMulti
// takes the fallback: one single-stream append per part.
type singleOnly struct{ eventstore.Store }

// multiWorkload writes Streams streams in groups of four (fewer if Streams < 4),
// EventsPerStream rounds per group, each round one event to every stream of the group
// with exact expected versions: as one atomic multi-stream append (multi_s4) or as four
// single-stream appends one after the other (single_s4, eventstore.AppendMulti's fallback).
// Latency and appends/s count batches (one round of one group).
func (r *run) multiWorkload(ctx context.Context, name string) Result {
	cfg := r.cfg
	res := r.result(name, 1)
	store := r.store
	if name == SingleS4 {
		store = singleOnly{store}
	}
	atomicBatch := eventstore.CanAppendMulti(store)
	res.Atomic = &atomicBatch
	width := min(multiWidth, cfg.Streams)
	groups := cfg.Streams / width
	tag := map[string]string{MultiS4: "m4", SingleS4: "s4"}[name]
	typ := "bench." + tag
	// Generate every event before the clock starts.
	owned := make([][][]*streamPlan, cfg.Writers)
	for g := range groups {
		group := make([]*streamPlan, width)
		for j := range group {
			p := &streamPlan{name: fmt.Sprintf("%s-%s_%07d_%d", r.category, tag, g, j)}
			p.events = make([]eventstore.EventData, cfg.EventsPerStream)
			p.ids = make([]uuid.UUID, cfg.EventsPerStream)
			for v := range p.events {
				p.events[v] = r.gen.event(typ, p.name, v)
				p.ids[v] = p.events[v].ID
			}
			group[j] = p
		}
		owned[g%cfg.Writers] = append(owned[g%cfg.Writers], group)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fe := &firstError{cancel: cancel}
	lat := make([][]time.Duration, cfg.Writers)
	var batches atomic.Int64
	prog := startProgress(cfg.Progress, name, int64(groups)*int64(width)*int64(cfg.EventsPerStream), 0)
	var wg sync.WaitGroup
	for w := range cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, len(owned[w])*cfg.EventsPerStream)
			defer func() { lat[w] = l }()
			parts := make([]eventstore.StreamAppend, width)
			for _, group := range owned[w] {
				for v := range cfg.EventsPerStream {
					exp := eventstore.NoStream
					if v > 0 {
						exp = eventstore.Exact(uint64(v - 1))
					}
					for j, p := range group {
						parts[j] = eventstore.StreamAppend{Stream: p.name, Expected: exp, Events: p.events[v : v+1]}
					}
					t0 := time.Now()
					ars, err := eventstore.AppendMulti(ctx, store, parts...)
					l = append(l, time.Since(t0))
					if err != nil {
						fe.set(fmt.Errorf("batch %d of %s…: %w", v, group[0].name, err))
						return
					}
					for j, p := range group {
						ar := ars[j]
						if ar.Version != uint64(v) {
							fe.set(fmt.Errorf("append to %s at %s returned version %d, want %d", p.name, exp, ar.Version, v))
							return
						}
						if v > 0 && ar.Position <= p.maxPos {
							fe.set(fmt.Errorf("append to %s at %s returned position %d, not after the previous append's %d", p.name, exp, ar.Position, p.maxPos))
							return
						}
						// An atomic batch takes consecutive positions (one event per part).
						if atomicBatch && j > 0 && ar.Position != ars[j-1].Position+1 {
							fe.set(fmt.Errorf("batch %d of %s…: positions %d then %d are not consecutive", v, group[0].name, ars[j-1].Position, ar.Position))
							return
						}
						p.acked, p.maxPos = v+1, ar.Position
					}
					batches.Add(1)
					prog.add(int64(width))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := prog.line.Elapsed()

	var events int64
	r.mu.Lock()
	for _, gs := range owned {
		for _, group := range gs {
			for _, p := range group {
				if p.acked > 0 {
					r.written[p.name] = p.ids[:p.acked]
					r.maxPos = max(r.maxPos, p.maxPos)
					events += int64(p.acked)
				}
			}
		}
	}
	r.mu.Unlock()

	res.Streams = groups * width
	res.Batch = width
	res.Events, res.Appends, res.DurationS = events, batches.Load(), round(elapsed.Seconds(), 3)
	res.EventsPerS, res.AppendsPerS = rate(events, elapsed), rate(res.Appends, elapsed)
	setLatencies(&res, lat)
	if fe.err != nil {
		res.fail(fe.err.Error())
	}
	prog.finish(&res)
	return res
}
