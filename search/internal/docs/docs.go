// Package docs derives search documents from the catalog fold (projections/catalogfold,
// shared with the catalog read model), the same way for every backend, and holds the
// text analysis the backends share (tokens, the word vocabulary, edit distance).
//
// A backend applies a batch the way catalogfold describes, with a docs.Batch: it also
// tracks the words of active products, for the vocabulary that typo correction uses.
package docs

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections/catalogfold"
)

// Filter selects the events the search projection consumes: the catalog's and the
// inventory's.
func Filter() eventstore.Filter { return catalogfold.Filter() }

// Batch is the catalog fold of a batch, plus the words of the products it loaded.
type Batch struct {
	*catalogfold.Batch
	origWords map[string]map[string]bool
}

// NewBatch returns an empty batch.
func NewBatch() *Batch {
	return &Batch{Batch: catalogfold.NewBatch(), origWords: map[string]map[string]bool{}}
}

// AddProduct adds a loaded product (and remembers its words).
func (b *Batch) AddProduct(p *catalogfold.Product) {
	b.Batch.AddProduct(p)
	if p.Status == domain.ProductStatusActive {
		b.origWords[p.ID] = Words(b.document(p))
	}
}

// WordDeltas are the changes of the vocabulary (word → change of the number of active
// documents containing it) that the batch's text changes cause.
func (b *Batch) WordDeltas() map[string]int64 {
	d := map[string]int64{}
	for _, id := range b.TextChangedIDs() {
		for w := range b.origWords[id] {
			d[w]--
		}
		if p := b.Product(id); p.Status == domain.ProductStatusActive {
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
func (b *Batch) Document(p *catalogfold.Product) Document { return b.document(p) }

func (b *Batch) document(p *catalogfold.Product) Document {
	d := Document{
		ID: p.ID, SKU: p.SKU, Name: p.Name, NameKey: strings.ToLower(p.Name), Description: p.Description,
		Brand: p.Brand, Category: p.Category, Images: slices.Clone(p.Images), Currency: p.Price.Currency,
		Active: p.Status == domain.ProductStatusActive, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Version: p.Version, Position: p.Position, CreatedPosition: p.CreatedPosition,
	}
	d.Price, d.MaxPrice = p.Prices()
	attrs := map[string]map[string]bool{}
	for _, v := range p.Variants {
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
	d.Available = b.Available(p)
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
