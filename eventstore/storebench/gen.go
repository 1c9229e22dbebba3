package storebench

import (
	"strconv"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
)

// generator builds events of about the configured sizes.
type generator struct {
	dataBytes, mdBytes int
	pad                []byte
}

func newGenerator(dataBytes, mdBytes int) *generator {
	n := max(dataBytes, mdBytes)
	pad := make([]byte, n)
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	for i := range pad {
		pad[i] = letters[(i*7+i/len(letters))%len(letters)]
	}
	return &generator{dataBytes: dataBytes, mdBytes: mdBytes, pad: pad}
}

// padTo closes the JSON object in b with a "pad" string member that brings it to about
// size bytes (exactly, when there is room).
func (g *generator) padTo(b []byte, size int) []byte {
	const open, end = `,"pad":"`, `"}`
	if room := size - len(b) - len(open) - len(end); room >= 0 {
		b = append(b, open...)
		b = append(b, g.pad[:room]...)
		return append(b, end...)
	}
	return append(b, '}')
}

// event returns an event of type typ for stream; seq makes its data distinct.
func (g *generator) event(typ, stream string, seq int) eventstore.EventData {
	id := uuid.New()
	data := make([]byte, 0, g.dataBytes+8)
	if g.dataBytes < 40+len(stream) {
		data = append(data, `{"seq":`...)
		data = strconv.AppendInt(data, int64(seq), 10)
	} else {
		data = append(data, `{"orderId":"`...)
		data = append(data, stream...)
		data = append(data, `","seq":`...)
		data = strconv.AppendInt(data, int64(seq), 10)
		data = append(data, `,"sku":"SKU-`...)
		data = strconv.AppendInt(data, int64(seq%1000), 10)
		data = append(data, `","qty":`...)
		data = strconv.AppendInt(data, int64(1+seq%5), 10)
	}
	data = g.padTo(data, g.dataBytes)

	md := make([]byte, 0, g.mdBytes+8)
	switch {
	case g.mdBytes >= 85:
		md = append(md, `{"correlationId":"`...)
		md = append(md, id.String()...)
		md = append(md, `","actor":"storebench"`...)
		md = g.padTo(md, g.mdBytes)
	case g.mdBytes >= 22:
		md = g.padTo(append(md, `{"actor":"storebench"`...), g.mdBytes)
	default:
		md = append(md, `{}`...)
	}
	return eventstore.EventData{ID: id, Type: typ, Data: data, Metadata: md}
}
