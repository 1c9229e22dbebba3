package elastic

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/search"
)

// Rebuild implements search.Backend: it builds the next generation's index from
// position 0 while the alias serves the live one, catches up, compares the two
// (document counts and content hashes per kind, when the live index is at the same
// position) and swaps the alias atomically (unless DryRun, which deletes the new
// index). Older generations and leftovers of failed rebuilds are deleted first; the
// replaced index is kept until the next rebuild.
func (b *Backend) Rebuild(ctx context.Context, opt projections.RebuildOptions) (*projections.RebuildReport, error) {
	if b.store == nil {
		return nil, errNoStore
	}
	c := b.c
	if opt.BatchSize <= 0 {
		opt.BatchSize = 2000
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = 500 * time.Millisecond
	}
	ropt := withDefaults(projections.RunnerOptions{BatchSize: opt.BatchSize, IdleCheck: 50 * time.Millisecond,
		Registry: opt.Registry, Logger: opt.Logger})
	if b.runner != nil && opt.Registry == nil {
		ropt.Registry = b.runner.opt.Registry
	}
	live, err := c.ensureLive(ctx)
	if err != nil {
		return nil, err
	}
	gens, err := c.generations(ctx)
	if err != nil {
		return nil, err
	}
	next := c.generationOf(live) + 1
	for _, g := range gens {
		next = max(next, c.generationOf(g)+1)
		if g != live {
			if err := c.deleteIndex(ctx, g); err != nil {
				return nil, err
			}
		}
	}
	index := c.generationIndex(next)
	if err := c.createIndex(ctx, index, false); err != nil {
		return nil, err
	}
	start := time.Now()
	head, err := b.store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: head: %w", search.ErrUnavailable, err)
	}
	prog := projections.Progress{Projection: ProjectionName, Generation: next, Head: head, Phase: "build"}
	var first uint64
	lastReport := time.Time{}
	report := func(force bool) {
		if opt.Progress == nil || (!force && time.Since(lastReport) < opt.ProgressEvery) {
			return
		}
		lastReport = time.Now()
		prog.Elapsed = time.Since(start)
		if s := prog.Elapsed.Seconds(); s > 0 {
			prog.Rate = float64(prog.Events) / s
		}
		prog.Total, prog.ETA = prog.Events, 0
		if prog.Head > prog.Position && prog.Position > first {
			frac := float64(prog.Position-first) / float64(prog.Head-first)
			prog.Total = uint64(math.Round(float64(prog.Events) / frac))
			prog.ETA = time.Duration(float64(prog.Elapsed) * (1 - frac) / frac).Round(time.Second)
		}
		opt.Progress(prog)
	}
	w := &worker{c: c, store: b.store, opt: ropt, index: index,
		onApplied: func(batch []projections.Event, cursor uint64) {
			if len(batch) > 0 && first == 0 {
				first = batch[0].Position - 1
			}
			prog.Events += uint64(len(batch))
			prog.Position = cursor
			report(false)
		},
		onHead: func(h, cursor uint64) {
			prog.Head, prog.Position = max(h, cursor), cursor
			report(false)
		},
	}
	fail := func(err error) (*projections.RebuildReport, error) {
		// Leave nothing half-built behind the alias's back.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = c.deleteIndex(dctx, index)
		return nil, fmt.Errorf("rebuild %s: %w", ProjectionName, err)
	}
	// Build up to the head as of the start, then catch up in (at most two) rounds.
	for round := 0; round < 3; round++ {
		if round > 0 {
			if head, err = b.store.Head(ctx); err != nil {
				return fail(err)
			}
			if w.cursor >= head {
				break
			}
		}
		w.target = max(head, 1)
		if err := w.run(ctx, true); err != nil {
			return fail(err)
		}
	}
	prog.Phase = "switch"
	report(true)

	// Compare with the live index at the same position when it gets there soon.
	liveCP, err := c.checkpoint(ctx, live)
	if err != nil {
		return fail(err)
	}
	if liveCP.Position > w.cursor {
		w.target = liveCP.Position
		if err := w.run(ctx, true); err != nil {
			return fail(err)
		}
	}
	for wait := time.Now().Add(5 * time.Second); liveCP.Position < w.cursor && time.Now().Before(wait); {
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fail(err)
		}
		if liveCP, err = c.checkpoint(ctx, live); err != nil {
			return fail(err)
		}
	}
	rep := &projections.RebuildReport{Projection: ProjectionName, OldGeneration: c.generationOf(live), NewGeneration: next,
		Position: w.cursor, LivePosition: liveCP.Position, Comparable: liveCP.Position == w.cursor}
	for _, kind := range []string{kindProduct, kindStock} {
		liveN, liveH, err := c.hashKind(ctx, live, kind)
		if err != nil {
			return fail(err)
		}
		newN, newH, err := c.hashKind(ctx, index, kind)
		if err != nil {
			return fail(err)
		}
		d := projections.TableDiff{Table: kind, LiveRows: liveN, NewRows: newN, LiveHash: liveH, NewHash: newH,
			Differs: liveN != newN || liveH != newH}
		rep.Tables = append(rep.Tables, d)
		rep.Differs = rep.Differs || d.Differs
	}
	if after, err := c.checkpoint(ctx, live); err != nil {
		return fail(err)
	} else if after.Position != liveCP.Position {
		rep.Comparable = false // the live index moved while it was hashed
	}
	if opt.DryRun {
		if err := c.deleteIndex(ctx, index); err != nil {
			return nil, err
		}
	} else {
		if err := c.aliasActions(ctx,
			m{"remove": m{"index": live, "alias": c.alias}},
			m{"add": m{"index": index, "alias": c.alias, "is_write_index": true}}); err != nil {
			return fail(err)
		}
		rep.Switched = true
	}
	rep.Events = prog.Events
	rep.Elapsed = time.Since(start)
	if s := rep.Elapsed.Seconds(); s > 0 {
		rep.Rate = float64(rep.Events) / s
	}
	prog.Phase, prog.Head, prog.Position = "done", max(prog.Head, rep.Position), rep.Position
	report(true)
	return rep, nil
}

// hashKey is the sort key that orders the documents of a kind.
var hashKey = map[string]string{kindProduct: "productId", kindStock: "sku"}

// hashBody pages through one kind's documents in key order.
func hashBody(kind string, after string, size int) m {
	body := m{"size": size, "query": m{"bool": m{"filter": []m{term("kind", kind)}}},
		"sort": []m{{hashKey[kind]: "asc"}}, "track_total_hits": false}
	if after != "" {
		body["search_after"] = []any{after}
	}
	return body
}

// hashKind counts an index's documents of a kind and hashes their sources in key
// order (the sources are the bytes the runner wrote: the same fold gives the same
// bytes).
func (c *client) hashKind(ctx context.Context, index, kind string) (int64, string, error) {
	h := sha256.New()
	var (
		n     int64
		after string
	)
	for {
		var res struct {
			Hits struct {
				Hits []struct {
					Source json.RawMessage `json:"_source"`
					Sort   []any           `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := c.do(ctx, esapi.SearchRequest{Index: []string{index}, Body: jsonBody(hashBody(kind, after, 1000))}, &res); err != nil {
			return 0, "", fmt.Errorf("search: hash %s of %s: %w", kind, index, err)
		}
		for _, hit := range res.Hits.Hits {
			n++
			_ = binary.Write(h, binary.BigEndian, uint32(len(hit.Source)))
			h.Write(hit.Source)
		}
		if len(res.Hits.Hits) < 1000 {
			break
		}
		last := res.Hits.Hits[len(res.Hits.Hits)-1]
		if len(last.Sort) == 0 {
			return 0, "", fmt.Errorf("search: hash %s of %s: hits carry no sort values", kind, index)
		}
		s, ok := last.Sort[0].(string)
		if !ok {
			return 0, "", fmt.Errorf("search: hash %s of %s: sort value %v", kind, index, last.Sort[0])
		}
		after = s
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
