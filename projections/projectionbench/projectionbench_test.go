package projectionbench

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/readmodel"
)

func TestRunRebuildsIdentically(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	db, err := projections.Open(ctx, "sqlite:"+filepath.Join(dir, "rm.db"), projections.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var progress bytes.Buffer
	res, err := Run(ctx, Config{Events: store, DB: db, Projections: []projections.Projection{readmodel.Orders{}, readmodel.Catalog{}},
		Products: 10, OrderEvents: 300, EventsTier: "sqlite", ReadModelsTier: "sqlite", Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if !AllOK(res) || len(res) != 2 || res[0].Applied == 0 || res[0].LogEvents < 300 || !res[1].Identical {
		t.Fatalf("results %+v", res)
	}
	if !strings.Contains(progress.String(), "generating 10 products and 300 order events") {
		t.Fatalf("progress %q", progress.String())
	}
	if err := (Config{Products: 1, OrderEvents: 0}).Validate(); err == nil {
		t.Fatal("zero order events validated")
	}
}
