package eventstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/google/uuid"
)

// ChainHashKey is the metadata key under which the store keeps each event's chain hash.
const ChainHashKey = "chainHash"

var chainPrefix = []byte(`{"` + ChainHashKey + `":"`)

// ChainHash is SHA-256 over the previous event's hash in the stream (zero for the first
// event), then the event's ID, type, data and metadata as appended (without the hash),
// each length-prefixed so that no two different events hash the same input.
func ChainHash(prev [32]byte, id uuid.UUID, typ string, data, metadata []byte) [32]byte {
	h := sha256.New()
	var n [4]byte
	h.Write(prev[:])
	h.Write(id[:])
	for _, part := range [][]byte{[]byte(typ), data, metadata} {
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// withChainHash splices "chainHash" in as the first key of a metadata object, byte-exactly
// reversible by SplitChainHash so that the hash can be checked against stored bytes.
func withChainHash(md []byte, h [32]byte) []byte {
	out := make([]byte, 0, len(md)+len(chainPrefix)+66)
	out = append(out, chainPrefix...)
	out = hex.AppendEncode(out, h[:])
	out = append(out, '"')
	if bytes.Equal(md, []byte("{}")) {
		return append(out, '}')
	}
	out = append(out, ',')
	return append(out, md[1:]...)
}

// SplitChainHash takes stored metadata apart into the chain hash and the metadata as it
// was appended.
func SplitChainHash(stored []byte) (hash [32]byte, original []byte, err error) {
	const hexLen = 64
	if !bytes.HasPrefix(stored, chainPrefix) || len(stored) < len(chainPrefix)+hexLen+2 {
		return hash, nil, fmt.Errorf("metadata does not start with a chain hash")
	}
	rest := stored[len(chainPrefix):]
	if _, err := hex.Decode(hash[:], rest[:hexLen]); err != nil {
		return hash, nil, fmt.Errorf("chain hash is not hex: %w", err)
	}
	rest = rest[hexLen:]
	switch {
	case rest[0] != '"':
		return hash, nil, fmt.Errorf("chain hash is malformed")
	case rest[1] == '}' && len(rest) == 2:
		return hash, []byte("{}"), nil
	case rest[1] == ',':
		orig := make([]byte, 0, len(rest)-1)
		orig = append(orig, '{')
		return hash, append(orig, rest[2:]...), nil
	default:
		return hash, nil, fmt.Errorf("chain hash is malformed")
	}
}
