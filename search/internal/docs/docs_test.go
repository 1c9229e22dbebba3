package docs

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/catalogfold"
)

func TestTokens(t *testing.T) {
	for in, want := range map[string][]string{
		"Blue T-Shirt":         {"blue", "t", "shirt"},
		"  café  crème! 42cm ": {"café", "crème", "42cm"},
		"men's":                {"men", "s"},
		"":                     nil,
		"--":                   nil,
	} {
		if got := Tokens(in); !slices.Equal(got, want) {
			t.Errorf("Tokens(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b  string
		limit int
		want  int
	}{
		{"shirt", "shirt", 2, 0},
		{"shrit", "shirt", 2, 1}, // transposition
		{"tshirt", "shirt", 2, 1},
		{"jaket", "jacket", 2, 1},
		{"jacket", "pocket", 2, 2},
		{"jacket", "pocket", 1, 2}, // over the limit: limit+1
		{"sweeter", "sweater", 1, 1},
		{"ab", "ba", 1, 1},
		{"abc", "", 2, 3},
		{"héllo", "hello", 1, 1},
	} {
		if got := Distance(c.a, c.b, c.limit); got != c.want {
			t.Errorf("Distance(%q, %q, %d) = %d, want %d", c.a, c.b, c.limit, got, c.want)
		}
	}
	for _, c := range []struct {
		p, w string
		want int
	}{
		{"blu", "bluetooth", 0},
		{"bku", "blue", 1},
		{"bluetoth", "bluetooth", 1},
		{"xyz", "blue", 2},
	} {
		if got := PrefixDistance(c.p, c.w, 1); got != c.want {
			t.Errorf("PrefixDistance(%q, %q) = %d, want %d", c.p, c.w, got, c.want)
		}
	}
	if got := Best([]Correction{{"b", 1, 5}, {"a", 1, 5}, {"c", 0, 1}, {"d", 1, 9}}); !slices.Equal(got, []string{"c", "d", "a", "b"}) {
		t.Errorf("Best: %v", got)
	}
	for w, n := range map[string]int{"tee": 0, "shirt": 1, "sweater": 1, "sunglass": 2} {
		if MaxEdits(w) != n {
			t.Errorf("MaxEdits(%q) = %d, want %d", w, MaxEdits(w), n)
		}
	}
}

// log builds a catalog log: products with variants, stock, reservations, renames,
// price changes, a SKU stocked before its product exists, an archive.
func log(t *testing.T) []projections.Event {
	t.Helper()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []projections.Event
	add := func(e domain.Event) {
		out = append(out, projections.Event{RecordedEvent: eventstore.RecordedEvent{Position: uint64(len(out) + 1), Type: e.EventType()}, Data: e})
	}
	eur := func(n int64) domain.Money { return domain.MustMoney(n, "EUR") }
	add(domain.InventoryReceived{SKU: "sku-2-a", Warehouse: "w1", Quantity: 4, At: at})
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("p%d", i)
		c := domain.ProductCreated{ProductID: id, SKU: "sku-" + fmt.Sprint(i), Price: eur(int64(1000 * i)), At: at,
			ProductDetails: domain.ProductDetails{Name: "Product " + id, Brand: "Acme", Category: "things", Description: "A thing."}}
		if i > 1 {
			c.Variants = []domain.Variant{
				{SKU: fmt.Sprintf("sku-%d-a", i), Attributes: map[string]string{"colour": "red"}, Price: eur(int64(900 * i))},
				{SKU: fmt.Sprintf("sku-%d-b", i), Attributes: map[string]string{"colour": "blue"}, Price: eur(int64(1100 * i))},
			}
		}
		add(c)
	}
	add(domain.InventoryReceived{SKU: "sku-1", Warehouse: "w1", Quantity: 3, At: at})
	add(domain.InventoryReserved{SKU: "sku-1", OrderID: "o1", Quantity: 2, At: at})
	add(domain.ProductDetailsUpdated{ProductID: "p1", ProductDetails: domain.ProductDetails{Name: "Renamed thing", Brand: "Acme", Category: "things"}, At: at})
	add(domain.ProductVariantAdded{ProductID: "p3", Variant: domain.Variant{SKU: "sku-3-c", Attributes: map[string]string{"size": "XL"}, Price: eur(500)}, At: at})
	add(domain.InventoryReceived{SKU: "sku-3-c", Warehouse: "w1", Quantity: 1, At: at})
	add(domain.ProductPriceChanged{ProductID: "p2", SKU: "sku-2-a", OldPrice: eur(1800), NewPrice: eur(1700), At: at})
	add(domain.InventoryCommitted{SKU: "sku-1", OrderID: "o1", Quantity: 1, At: at})
	add(domain.ProductVariantUpdated{ProductID: "p2", SKU: "sku-2-b", Attributes: map[string]string{"colour": "navy"}, At: at})
	add(domain.ProductArchived{ProductID: "p3", At: at})
	add(domain.InventoryReceived{SKU: "sku-3-c", Warehouse: "w1", Quantity: 1, At: at})
	return out
}

// store is what a backend persists between batches.
type store struct {
	products map[string]catalogfold.Product
	stock    map[string]catalogfold.Stock
	words    map[string]int64
	docs     map[string]string
}

func newStore() *store {
	return &store{products: map[string]catalogfold.Product{}, stock: map[string]catalogfold.Stock{}, words: map[string]int64{}, docs: map[string]string{}}
}

func clone[T any](t *testing.T, v T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// apply runs one batch the way the backends do: load, fold, write back. write=false
// drops the writes (a batch whose bulk request failed); partial keeps every other one.
func (s *store) apply(t *testing.T, batch []projections.Event, keep func(i int) bool) {
	b := NewBatch()
	pids, skus := catalogfold.Touched(batch)
	for _, sku := range skus {
		if st, ok := s.stock[sku]; ok {
			b.AddStock(clone(t, st))
		}
	}
	for _, id := range append(pids, b.Owners()...) {
		if p, ok := s.products[id]; ok && b.Product(id) == nil {
			b.AddProduct(clone(t, p))
		}
	}
	for _, sku := range b.MissingSKUs() {
		if st, ok := s.stock[sku]; ok {
			b.AddStock(clone(t, st))
		}
	}
	if err := b.Apply(batch); err != nil {
		t.Fatal(err)
	}
	i := 0
	for _, p := range b.DirtyProducts() {
		if keep(i) {
			s.products[p.ID] = *clone(t, *p)
			d, _ := json.Marshal(b.Document(p))
			s.docs[p.ID] = string(d)
		}
		i++
	}
	for _, st := range b.DirtyStock() {
		if keep(i) {
			s.stock[st.SKU] = *clone(t, *st)
		}
		i++
	}
	for w, n := range b.WordDeltas() {
		if keep(-1) {
			s.words[w] += n
			if s.words[w] == 0 {
				delete(s.words, w)
			}
		}
	}
}

func TestBatchesAndReplaysGiveTheSameDocuments(t *testing.T) {
	events := log(t)
	clean := newStore()
	clean.apply(t, events, func(int) bool { return true })
	if len(clean.docs) != 3 || len(clean.stock) != 8 {
		t.Fatalf("clean: %d docs, %d stock rows", len(clean.docs), len(clean.stock))
	}
	var p2 Document
	_ = json.Unmarshal([]byte(clean.docs["p2"]), &p2)
	if p2.Price != 1700 || p2.MaxPrice != 2200 || p2.Available != 4 || !p2.InStock ||
		!slices.Equal(p2.Attributes["colour"], []string{"navy", "red"}) || p2.Position != 12 {
		t.Errorf("p2 %+v", p2)
	}
	var p1, p3 Document
	_ = json.Unmarshal([]byte(clean.docs["p1"]), &p1)
	_ = json.Unmarshal([]byte(clean.docs["p3"]), &p3)
	if p1.Name != "Renamed thing" || p1.Available != 1 || !p1.InStock || p3.Active || p3.Available != 2 || p3.Price != 500 {
		t.Errorf("p1 %+v\np3 %+v", p1, p3)
	}
	wantWords := map[string]int64{"renamed": 1, "thing": 2, "acme": 2, "things": 2, "product": 1, "p2": 1, "a": 1, "red": 1, "navy": 1}
	if !maps.Equal(clean.words, wantWords) {
		t.Errorf("words %v, want %v", clean.words, wantWords)
	}

	rnd := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		s := newStore()
		for i := 0; i < len(events); {
			n := 1 + rnd.IntN(5)
			batch := events[i:min(len(events), i+n)]
			// Sometimes only part of a batch's writes land (a bulk request failing
			// half-way), and the batch comes again; sometimes a batch comes twice.
			if rnd.IntN(3) == 0 {
				s.apply(t, batch, func(i int) bool { return i >= 0 && rnd.IntN(2) == 0 })
			}
			s.apply(t, batch, func(int) bool { return true })
			if rnd.IntN(4) == 0 {
				s.apply(t, batch, func(int) bool { return true })
			}
			i += n
		}
		if !maps.Equal(s.docs, clean.docs) {
			t.Fatalf("round %d: documents differ from one clean pass:\n%v\n%v", round, s.docs, clean.docs)
		}
		if !maps.EqualFunc(s.stock, clean.stock, func(a, b catalogfold.Stock) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
			t.Fatalf("round %d: stock differs:\n%v\n%v", round, s.stock, clean.stock)
		}
	}
}
