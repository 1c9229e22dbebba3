package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/catalogfold"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/search/internal/docs"
)

// sink is the index behind the alias as a sink of the projection engine
// (projections.Runner, projections.RebuildSink). A generation is the index ALIAS-g<N>;
// the live one is the one the alias points at. There is no lease: two runners only
// duplicate work, since every write carries an external version.
type sink struct {
	c *client
	// aliasEvery bounds how often Fence asks where the alias points.
	aliasEvery time.Duration

	mu        sync.Mutex
	aliasSeen time.Time
	aliasGen  int64
}

var _ projections.Generations = (*sink)(nil)

func (s *sink) Name() string              { return ProjectionName }
func (s *sink) Filter() eventstore.Filter { return docs.Filter() }

// Transient: Elasticsearch unavailable or overloaded is retried as a whole, without
// counting as an event's attempt.
func (s *sink) Transient(err error) bool { return errors.Is(err, search.ErrUnavailable) }

// Open creates the first index and the alias when missing and reads the live index's
// checkpoint.
func (s *sink) Open(ctx context.Context) (projections.Checkpoint, error) {
	index, err := s.c.ensureLive(ctx)
	if err != nil {
		return projections.Checkpoint{}, err
	}
	return s.checkpoint(ctx, index)
}

func (s *sink) checkpoint(ctx context.Context, index string) (projections.Checkpoint, error) {
	cp, err := s.c.checkpoint(ctx, index)
	if err != nil {
		return projections.Checkpoint{}, err
	}
	out := projections.Checkpoint{Generation: s.c.generationOf(index), Position: cp.Position}
	if cp.LastEventAt != 0 {
		out.LastEventAt = time.Unix(0, cp.LastEventAt).UTC()
	}
	return out, nil
}

// Apply writes the changed documents with the bulk API, and only once it is
// acknowledged the checkpoint (external version = position: it never moves back).
// Every document records the position it reflects and the fold skips events at or
// before it, so a batch applied twice (a crash between the two writes, a second
// runner) writes the same documents.
func (s *sink) Apply(ctx context.Context, gen int64, from uint64, batch []projections.Event, to projections.Checkpoint) error {
	index := s.c.generationIndex(gen)
	if len(batch) > 0 {
		if err := s.write(ctx, index, batch); err != nil {
			return err
		}
	}
	cp := Checkpoint{Position: to.Position}
	if !to.LastEventAt.IsZero() {
		cp.LastEventAt = to.LastEventAt.UnixNano()
	}
	return s.c.setCheckpoint(ctx, index, cp)
}

// Fence reports ErrFenced once the alias no longer points at gen's index (a rebuild
// switched it). It asks Elasticsearch at most every aliasEvery.
func (s *sink) Fence(ctx context.Context, gen int64, cursor uint64) error {
	s.mu.Lock()
	seen, live := s.aliasSeen, s.aliasGen
	s.mu.Unlock()
	if time.Since(seen) >= s.aliasEvery {
		index, err := s.c.liveIndex(ctx)
		if err != nil {
			return err
		}
		live = s.c.generationOf(index)
		s.mu.Lock()
		s.aliasSeen, s.aliasGen = time.Now(), live
		s.mu.Unlock()
	}
	if live != gen {
		return fmt.Errorf("%w: the alias %s moved to generation %d", projections.ErrFenced, s.c.alias, live)
	}
	return nil
}

// RecordFailure: the failed state lives in the runner's status only.
func (s *sink) RecordFailure(context.Context, int64, projections.Failure) error { return nil }

// Create deletes every index of the alias but the live one (older generations,
// leftovers of failed rebuilds) and creates the next generation's index.
func (s *sink) Create(ctx context.Context, live int64) (int64, error) {
	gens, err := s.c.generations(ctx)
	if err != nil {
		return 0, err
	}
	liveIndex := s.c.generationIndex(live)
	next := live + 1
	for _, g := range gens {
		next = max(next, s.c.generationOf(g)+1)
		if g != liveIndex {
			if err := s.c.deleteIndex(ctx, g); err != nil {
				return 0, err
			}
		}
	}
	return next, s.c.createIndex(ctx, s.c.generationIndex(next), false)
}

// Drop deletes a generation's index unless the alias points at it.
func (s *sink) Drop(ctx context.Context, gen int64) error {
	index := s.c.generationIndex(gen)
	if live, err := s.c.liveIndex(ctx); err != nil || live == index {
		return err
	}
	return s.c.deleteIndex(ctx, index)
}

// Switch compares the new index with the live one at the same position (document
// counts and content hashes per kind) and swaps the alias in one _aliases request
// (unless DryRun, which deletes the new index). A live index ahead is caught up with;
// one behind is waited for a little, else the comparison is marked not comparable.
func (s *sink) Switch(ctx context.Context, sw projections.Switch) (*projections.RebuildReport, error) {
	c := s.c
	live, index := c.generationIndex(sw.Live), c.generationIndex(sw.New)
	liveCP, err := c.checkpoint(ctx, live)
	if err != nil {
		return nil, err
	}
	pos := sw.Position
	if liveCP.Position > pos {
		var lastAt time.Time
		if err := sw.Events.Range(ctx, pos, liveCP.Position, 0, func(batch []projections.Event, end uint64) error {
			if len(batch) > 0 {
				lastAt = batch[len(batch)-1].RecordedAt
			}
			if err := s.Apply(ctx, sw.New, pos, batch, projections.Checkpoint{Position: end, LastEventAt: lastAt}); err != nil {
				return err
			}
			pos = end
			return nil
		}); err != nil {
			return nil, err
		}
	}
	livePos := func(ctx context.Context) (uint64, error) {
		cp, err := c.checkpoint(ctx, live)
		return cp.Position, err
	}
	if _, liveCP.Position, err = projections.WaitFor(ctx, livePos, pos, 5*time.Second, 50*time.Millisecond, 50*time.Millisecond); err != nil {
		return nil, err
	}
	// The hashes page with searches: make both indices' writes searchable first.
	for _, ix := range []string{live, index} {
		if err := c.refresh(ctx, ix); err != nil {
			return nil, err
		}
	}
	rep := &projections.RebuildReport{Projection: ProjectionName, OldGeneration: sw.Live, NewGeneration: sw.New,
		Position: pos, LivePosition: liveCP.Position, Comparable: liveCP.Position == pos}
	for _, kind := range []string{kindProduct, kindStock} {
		liveN, liveH, err := c.hashKind(ctx, live, kind)
		if err != nil {
			return nil, err
		}
		newN, newH, err := c.hashKind(ctx, index, kind)
		if err != nil {
			return nil, err
		}
		d := projections.TableDiff{Table: kind, LiveRows: liveN, NewRows: newN, LiveHash: liveH, NewHash: newH,
			Differs: liveN != newN || liveH != newH}
		rep.Tables = append(rep.Tables, d)
		rep.Differs = rep.Differs || d.Differs
	}
	if after, err := c.checkpoint(ctx, live); err != nil {
		return nil, err
	} else if after.Position != liveCP.Position {
		rep.Comparable = false // the live index moved while it was hashed
	}
	if sw.DryRun {
		return rep, c.deleteIndex(ctx, index)
	}
	if err := c.aliasActions(ctx,
		m{"remove": m{"index": live, "alias": c.alias}},
		m{"add": m{"index": index, "alias": c.alias, "is_write_index": true}}); err != nil {
		return nil, err
	}
	rep.Switched = true
	return rep, nil
}

// write folds a batch with the documents it touches and writes the changed ones.
func (s *sink) write(ctx context.Context, index string, batch []projections.Event) error {
	b := docs.NewBatch()
	pids, skus := catalogfold.Touched(batch)
	if err := s.loadStock(ctx, index, b, skus); err != nil {
		return err
	}
	pids = slices.Compact(slices.Sorted(slices.Values(append(pids, b.Owners()...))))
	if err := s.loadProducts(ctx, index, b, pids); err != nil {
		return err
	}
	if err := s.loadStock(ctx, index, b, b.MissingSKUs()); err != nil {
		return err
	}
	if err := b.Apply(batch); err != nil {
		return err
	}
	var ops []bulkOp
	for _, p := range b.DirtyProducts() {
		ops = append(ops, bulkOp{ID: productID(p.ID), Version: p.Position, Doc: toProductDoc(b.Document(p), p.Product)})
	}
	for _, s := range b.DirtyStock() {
		owners := s.Owners
		if owners == nil {
			owners = []string{}
		}
		ops = append(ops, bulkOp{ID: stockID(s.SKU), Version: s.Position, Doc: stockDoc{Kind: kindStock, SKU: s.SKU,
			OnHand: s.OnHand, Reserved: s.Reserved, Owners: owners, Position: s.Position}})
	}
	return s.c.bulk(ctx, index, ops)
}

func (s *sink) loadStock(ctx context.Context, index string, b *docs.Batch, skus []string) error {
	return loadDocs(ctx, s.c, index, "stock", skus, stockID, func(id string, d stockDoc) error {
		b.AddStock(&catalogfold.Stock{SKU: d.SKU, OnHand: d.OnHand, Reserved: d.Reserved, Owners: d.Owners, Position: d.Position})
		return nil
	})
}

func (s *sink) loadProducts(ctx context.Context, index string, b *docs.Batch, pids []string) error {
	return loadDocs(ctx, s.c, index, "product", pids, productID, func(id string, d productDoc) error {
		if d.State == nil {
			return fmt.Errorf("search: product document %s has no state", id)
		}
		b.AddProduct(&catalogfold.Product{Product: *d.State, Version: d.Version, Position: d.Position, CreatedPosition: d.CreatedPosition})
		return nil
	})
}

// loadDocs fetches the documents of keys (by their ids) in one mget and hands each one
// found, decoded, to add.
func loadDocs[D any](ctx context.Context, c *client, index, kind string, keys []string, docID func(string) string, add func(id string, d D) error) error {
	if len(keys) == 0 {
		return nil
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = docID(k)
	}
	found, err := c.mget(ctx, index, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		src, ok := found[id]
		if !ok {
			continue
		}
		var d D
		if err := json.Unmarshal(src, &d); err != nil {
			return fmt.Errorf("search: %s document %s: %w", kind, id, err)
		}
		if err := add(id, d); err != nil {
			return err
		}
	}
	return nil
}
