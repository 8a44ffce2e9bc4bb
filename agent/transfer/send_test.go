package transfer

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestEncodeBacksOffIncompressible: after chunks that do not compress,
// zstd is not tried for a doubling while; once data compresses again it
// is tried on every chunk.
func TestEncodeBacksOffIncompressible(t *testing.T) {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	s := &sender{o: Options{ChunkSize: testChunk}, zero: make([]byte, testChunk), enc: enc}
	rnd := make([]byte, testChunk)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range rnd {
		rnd[i] = byte(rng.Uint32())
	}
	txt := []byte(strings.Repeat("xenagent moves a disk ", testChunk/22+1)[:testChunk])
	var got []byte
	for _, c := range "rrrtttttZt" {
		data := map[rune][]byte{'r': rnd, 't': txt, 'Z': s.zero}[c]
		kind, _ := s.encode(data, c == 'Z')
		got = append(got, kind)
	}
	// r: tried, then 1 untried; r: tried, then 3 untried (t t t among
	// them); t: tried and compressed, so every one after is tried.
	if want := "RRRRRRDDZD"; string(got) != want {
		t.Fatalf("frames %s; want %s", got, want)
	}
}
