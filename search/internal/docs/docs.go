// Package docs folds catalog and inventory events into search documents, the same way
// for every backend, and holds the text analysis the backends share (tokens, the word
// vocabulary, edit distance).
//
// A backend applies a batch in four steps: Touched names the products and SKUs the
// batch changes; it loads their stored states (stock rows first, since their owners are
// products to load too, then the stock of the loaded products' SKUs, see MissingSKUs);
// Apply folds the events; it writes back the dirty products (as Documents) and stock
// rows.
//
// Every stored product and stock row carries the position of the last event it
// reflects, and Apply skips events at or before it. That makes a batch idempotent per
// row: Elasticsearch, whose writes are not transactional, may re-apply a batch after a
// partial failure, and the rows come out the same.
package docs

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
)

// Product is the stored state of a product document.
type Product struct {
	domain.Product
	// Version counts the product's events.
	Version int64 `json:"version"`
	// Position is the last event reflected (the product's or its SKUs' stock).
	Position uint64 `json:"position"`
	// CreatedPosition is the position of product.created (a stable integer key).
	CreatedPosition uint64 `json:"createdPosition"`
}

// Stock is the stored stock of a SKU and the products selling it.
type Stock struct {
	SKU      string   `json:"sku"`
	OnHand   int64    `json:"onHand"`
	Reserved int64    `json:"reserved"`
	Owners   []string `json:"owners,omitempty"`
	// Position is the last event reflected (an inventory event or a product adding the
	// SKU).
	Position uint64 `json:"position"`
}

// Available is on hand minus reserved, at least 0.
func (s *Stock) Available() int64 { return max(0, s.OnHand-s.Reserved) }

func (s *Stock) addOwner(id string) bool {
	i, found := slices.BinarySearch(s.Owners, id)
	if found {
		return false
	}
	s.Owners = slices.Insert(s.Owners, i, id)
	return true
}

// EventTypes are the events the search projection consumes.
func EventTypes() []string {
	return []string{
		domain.ProductCreated{}.EventType(), domain.ProductDetailsUpdated{}.EventType(),
		domain.ProductVariantAdded{}.EventType(), domain.ProductVariantUpdated{}.EventType(),
		domain.ProductPriceChanged{}.EventType(), domain.ProductArchived{}.EventType(),
		domain.InventoryReceived{}.EventType(), domain.InventoryAdjusted{}.EventType(),
		domain.InventoryReserved{}.EventType(), domain.InventoryReleased{}.EventType(),
		domain.InventoryReservationExpired{}.EventType(), domain.InventoryCommitted{}.EventType(),
		domain.InventoryRestocked{}.EventType(),
	}
}

// Filter selects the events of EventTypes.
func Filter() eventstore.Filter { return eventstore.Filter{EventTypes: EventTypes()} }

// ProductID is the product of a catalog event ("" for others).
func ProductID(e domain.Event) string {
	switch d := e.(type) {
	case domain.ProductCreated:
		return d.ProductID
	case domain.ProductDetailsUpdated:
		return d.ProductID
	case domain.ProductVariantAdded:
		return d.ProductID
	case domain.ProductVariantUpdated:
		return d.ProductID
	case domain.ProductPriceChanged:
		return d.ProductID
	case domain.ProductArchived:
		return d.ProductID
	}
	return ""
}

// StockSKU is the SKU of an inventory event ("" for others).
func StockSKU(e domain.Event) string {
	switch d := e.(type) {
	case domain.InventoryReceived:
		return d.SKU
	case domain.InventoryAdjusted:
		return d.SKU
	case domain.InventoryReserved:
		return d.SKU
	case domain.InventoryReleased:
		return d.SKU
	case domain.InventoryReservationExpired:
		return d.SKU
	case domain.InventoryCommitted:
		return d.SKU
	case domain.InventoryRestocked:
		return d.SKU
	}
	return ""
}

func moveStock(e domain.Event, s *Stock) {
	switch d := e.(type) {
	case domain.InventoryReceived:
		s.OnHand += d.Quantity
	case domain.InventoryAdjusted:
		s.OnHand += d.Delta
	case domain.InventoryReserved:
		s.Reserved += d.Quantity
	case domain.InventoryReleased:
		s.Reserved -= d.Quantity
	case domain.InventoryReservationExpired:
		s.Reserved -= d.Quantity
	case domain.InventoryCommitted:
		s.OnHand -= d.Quantity
		s.Reserved -= d.Quantity
	case domain.InventoryRestocked:
		s.OnHand += d.Quantity
	}
}

// Touched lists the products and SKUs a batch changes directly (sorted, unique).
func Touched(batch []projections.Event) (products, skus []string) {
	p, s := map[string]bool{}, map[string]bool{}
	for _, e := range batch {
		switch d := e.Data.(type) {
		case domain.ProductCreated:
			p[d.ProductID] = true
			s[d.SKU] = true
			for _, v := range d.Variants {
				s[v.SKU] = true
			}
		case domain.ProductVariantAdded:
			p[d.ProductID] = true
			s[d.Variant.SKU] = true
		default:
			if id := ProductID(e.Data); id != "" {
				p[id] = true
			} else if sku := StockSKU(e.Data); sku != "" {
				s[sku] = true
			}
		}
	}
	return sortedKeys(p), sortedKeys(s)
}

// Batch is the state a batch of events reads and writes.
type Batch struct {
	products   map[string]*Product
	stock      map[string]*Stock
	origWords  map[string]map[string]bool
	dirtyP     map[string]bool
	dirtyText  map[string]bool
	dirtyStock map[string]bool
}

// NewBatch returns an empty batch.
func NewBatch() *Batch {
	return &Batch{
		products: map[string]*Product{}, stock: map[string]*Stock{}, origWords: map[string]map[string]bool{},
		dirtyP: map[string]bool{}, dirtyText: map[string]bool{}, dirtyStock: map[string]bool{},
	}
}

// AddStock adds a loaded stock row.
func (b *Batch) AddStock(s *Stock) { b.stock[s.SKU] = s }

// AddProduct adds a loaded product.
func (b *Batch) AddProduct(p *Product) {
	b.products[p.ID] = p
	if p.Status == domain.ProductStatusActive {
		b.origWords[p.ID] = Words(b.document(p))
	}
}

// Owners lists the owners of the loaded stock rows that are not loaded products.
func (b *Batch) Owners() []string {
	m := map[string]bool{}
	for _, s := range b.stock {
		for _, o := range s.Owners {
			if b.products[o] == nil {
				m[o] = true
			}
		}
	}
	return sortedKeys(m)
}

// MissingSKUs lists the sellable SKUs of the loaded products whose stock is not loaded.
func (b *Batch) MissingSKUs() []string {
	m := map[string]bool{}
	for _, p := range b.products {
		for _, s := range append(p.SKUs(), p.SKU) {
			if b.stock[s] == nil {
				m[s] = true
			}
		}
	}
	return sortedKeys(m)
}

func (b *Batch) stockOf(sku string) *Stock {
	s := b.stock[sku]
	if s == nil {
		s = &Stock{SKU: sku}
		b.stock[sku] = s
	}
	return s
}

// Apply folds the events in order. An event a row already reflects is skipped. The
// error of an event that cannot apply (a product created twice, an event for a product
// never created) names it (projections.Failed).
func (b *Batch) Apply(batch []projections.Event) error {
	for _, e := range batch {
		if sku := StockSKU(e.Data); sku != "" {
			s := b.stockOf(sku)
			if e.Position > s.Position {
				moveStock(e.Data, s)
				s.Position = e.Position
				b.dirtyStock[sku] = true
			}
			for _, o := range s.Owners {
				if p := b.products[o]; p != nil && e.Position > p.Position {
					p.Position = e.Position
					b.dirtyP[o] = true
				}
			}
			continue
		}
		id := ProductID(e.Data)
		if id == "" {
			continue
		}
		p := b.products[id]
		// The SKUs a product sells know it (each stock row on its own: a replay may
		// find the product written and its stock rows not).
		switch d := e.Data.(type) {
		case domain.ProductCreated:
			if p != nil && p.CreatedPosition != e.Position {
				return projections.Failed(e, fmt.Errorf("product %s created twice", id))
			}
			b.own(id, d.SKU, e.Position)
			for _, v := range d.Variants {
				b.own(id, v.SKU, e.Position)
			}
			if p == nil {
				p = &Product{CreatedPosition: e.Position}
				b.products[id] = p
			}
		case domain.ProductVariantAdded:
			if p != nil {
				b.own(id, d.Variant.SKU, e.Position)
			}
		}
		if p == nil {
			return projections.Failed(e, fmt.Errorf("product %s does not exist", id))
		}
		if e.Position <= p.Position {
			continue // already reflected
		}
		p.Product = domain.EvolveProduct(p.Product, e.Data)
		p.Version++
		p.Position = e.Position
		b.dirtyP[id] = true
		b.dirtyText[id] = true
	}
	return nil
}

func (b *Batch) own(id, sku string, pos uint64) {
	s := b.stockOf(sku)
	if pos > s.Position && s.addOwner(id) {
		s.Position = pos
		b.dirtyStock[sku] = true
	}
}

// DirtyProducts are the changed products, by id.
func (b *Batch) DirtyProducts() []*Product {
	out := make([]*Product, 0, len(b.dirtyP))
	for _, id := range sortedKeys(b.dirtyP) {
		out = append(out, b.products[id])
	}
	return out
}

// TextChanged reports whether a product event changed the product (its text, prices
// or attributes may have changed), as opposed to only its stock.
func (b *Batch) TextChanged(id string) bool { return b.dirtyText[id] }

// DirtyStock are the changed stock rows, by SKU.
func (b *Batch) DirtyStock() []*Stock {
	out := make([]*Stock, 0, len(b.dirtyStock))
	for _, sku := range sortedKeys(b.dirtyStock) {
		out = append(out, b.stock[sku])
	}
	return out
}

// WordDeltas are the changes of the vocabulary (word → change of the number of active
// documents containing it) that the batch's text changes cause.
func (b *Batch) WordDeltas() map[string]int64 {
	d := map[string]int64{}
	for id := range b.dirtyText {
		for w := range b.origWords[id] {
			d[w]--
		}
		if p := b.products[id]; p.Status == domain.ProductStatusActive {
			for w := range Words(b.document(p)) {
				d[w]++
			}
		}
	}
	for w, n := range d {
		if n == 0 {
			delete(d, w)
		}
	}
	return d
}

// Document is the searchable view of a product.
type Document struct {
	ID          string
	SKU         string
	Name        string
	NameKey     string // lower-cased name, the name sort key
	Description string
	Brand       string
	Category    string
	Images      []string
	// Attributes are the variants' attribute values (sorted, unique) by key.
	Attributes map[string][]string
	// AttrText is the attribute values as text.
	AttrText  string
	Currency  string
	Price     int64 // lowest sellable price
	MaxPrice  int64
	Available int64
	InStock   bool
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
	Position  uint64
	// CreatedPosition is the position of product.created: a stable integer id.
	CreatedPosition uint64
}

// Document derives the searchable document of a product of the batch.
func (b *Batch) Document(p *Product) Document { return b.document(p) }

func (b *Batch) document(p *Product) Document {
	d := Document{
		ID: p.ID, SKU: p.SKU, Name: p.Name, NameKey: strings.ToLower(p.Name), Description: p.Description,
		Brand: p.Brand, Category: p.Category, Images: slices.Clone(p.Images), Currency: p.Price.Currency,
		Active: p.Status == domain.ProductStatusActive, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Version: p.Version, Position: p.Position, CreatedPosition: p.CreatedPosition,
	}
	d.Price, d.MaxPrice = p.Price.Amount, p.Price.Amount
	if len(p.Variants) > 0 {
		d.Price, d.MaxPrice = p.Variants[0].Price.Amount, p.Variants[0].Price.Amount
	}
	attrs := map[string]map[string]bool{}
	for _, v := range p.Variants {
		d.Price, d.MaxPrice = min(d.Price, v.Price.Amount), max(d.MaxPrice, v.Price.Amount)
		for k, val := range v.Attributes {
			if k == "" || val == "" {
				continue
			}
			if attrs[k] == nil {
				attrs[k] = map[string]bool{}
			}
			attrs[k][val] = true
		}
	}
	for _, sku := range p.SKUs() {
		if s := b.stock[sku]; s != nil {
			d.Available += s.Available()
		}
	}
	d.InStock = d.Available > 0
	if len(attrs) > 0 {
		d.Attributes = map[string][]string{}
		var text []string
		for _, k := range sortedKeys(attrs) {
			vals := sortedKeys(attrs[k])
			d.Attributes[k] = vals
			text = append(text, vals...)
		}
		d.AttrText = strings.Join(text, " ")
	}
	return d
}

// Words are the distinct words of a document's searchable text (the vocabulary that
// typo correction chooses from).
func Words(d Document) map[string]bool {
	w := map[string]bool{}
	for _, s := range []string{d.Name, d.Brand, d.Category, d.Description, d.AttrText} {
		for _, t := range Tokens(s) {
			w[t] = true
		}
	}
	return w
}

// MaxTokenLength bounds a word's length in bytes; longer ones are cut.
const MaxTokenLength = 64

// Tokens splits text into lower-case words: runs of letters and digits.
func Tokens(s string) []string {
	var out []string
	start := -1
	flush := func(end int) {
		if start >= 0 {
			t := strings.ToLower(s[start:end])
			if len(t) > MaxTokenLength {
				t = cut(t, MaxTokenLength)
			}
			out = append(out, t)
			start = -1
		}
	}
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(s))
	return out
}

func cut(s string, n int) string {
	for i := range s {
		if i > n {
			return s[:i]
		}
	}
	return s
}

// MaxEdits is how many edits a typo of a word may have: 0 up to 3 letters, 1 up to 7,
// then 2 (Elasticsearch's fuzziness "AUTO:4,8", which the Elasticsearch backend uses).
func MaxEdits(word string) int {
	switch n := len([]rune(word)); {
	case n <= 3:
		return 0
	case n <= 7:
		return 1
	}
	return 2
}

// Fuzziness is MaxEdits in Elasticsearch's syntax.
const Fuzziness = "AUTO:4,8"

// Distance is the optimal-string-alignment distance between a and b (insertions,
// deletions, substitutions and transpositions of adjacent letters), or limit+1 when it
// exceeds limit.
func Distance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			best = min(best, v)
		}
		if best > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	if prev[len(rb)] > limit {
		return limit + 1
	}
	return prev[len(rb)]
}

// PrefixDistance is the smallest Distance between prefix and a prefix of word (of the
// prefix's length ±limit), or limit+1.
func PrefixDistance(prefix, word string, limit int) int {
	rp, rw := []rune(prefix), []rune(word)
	best := limit + 1
	for n := max(1, len(rp)-limit); n <= min(len(rw), len(rp)+limit); n++ {
		best = min(best, Distance(prefix, string(rw[:n]), limit))
	}
	return best
}

// Correction is a vocabulary word close to a typed one.
type Correction struct {
	Word     string
	Distance int
	Docs     int64
}

// MaxCorrections bounds the corrections of one word.
const MaxCorrections = 5

// Best sorts candidates (closest, then most frequent, then by word) and keeps the
// first MaxCorrections.
func Best(cs []Correction) []string {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Distance != cs[j].Distance {
			return cs[i].Distance < cs[j].Distance
		}
		if cs[i].Docs != cs[j].Docs {
			return cs[i].Docs > cs[j].Docs
		}
		return cs[i].Word < cs[j].Word
	})
	var out []string
	for _, c := range cs {
		if len(out) == MaxCorrections {
			break
		}
		if !slices.Contains(out, c.Word) {
			out = append(out, c.Word)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
