package transfer

import (
	"slices"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		in      []Extent
		size    int64
		want    []Extent
		wantErr string
	}{
		{"empty", nil, 100, []Extent{}, ""},
		{"sorted and merged, empty dropped", []Extent{{50, 10}, {0, 10}, {10, 5}, {55, 20}, {90, 0}}, 100,
			[]Extent{{0, 15}, {50, 25}}, ""},
		{"contained", []Extent{{0, 50}, {10, 5}}, 100, []Extent{{0, 50}}, ""},
		{"up to the end", []Extent{{90, 10}}, 100, []Extent{{90, 10}}, ""},
		{"past the end", []Extent{{95, 10}}, 100, nil, "extent 0 (95+10): must end within"},
		{"negative", []Extent{{0, 1}, {-1, 1}}, 100, nil, "extent 1 (-1+1): offset and length must not be negative"},
		{"overflowing", []Extent{{1 << 62, 1 << 62}}, 100, nil, "must end within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in, tt.size)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Normalize = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Normalize = %v, %v; want %v", got, err, tt.want)
			}
			if err := checkNormal(got, tt.size); err != nil {
				t.Fatalf("checkNormal(Normalize(...)) = %v", err)
			}
		})
	}
}

func TestCheckNormalRefusesUnmerged(t *testing.T) {
	for _, ext := range [][]Extent{{{0, 10}, {10, 5}}, {{10, 5}, {0, 5}}, {{0, 0}}} {
		if err := checkNormal(ext, 100); err == nil {
			t.Errorf("checkNormal(%v) = nil; want an error (the receiver takes only Normalize's form)", ext)
		}
	}
}

func TestChunks(t *testing.T) {
	const cs = 16
	ext := []Extent{{4, 30}, {40, 8}, {64, 16}}
	var got []Extent
	it := newChunks(ext, cs)
	for ch, ok := it.next(); ok; ch, ok = it.next() {
		got = append(got, ch)
	}
	want := []Extent{{4, 12}, {16, 16}, {32, 2}, {40, 8}, {64, 16}}
	if !slices.Equal(got, want) {
		t.Fatalf("chunks = %v; want %v (cut at multiples of %d)", got, want, cs)
	}
	tests := []struct {
		done    int64
		next    Extent
		passed  int
		wantErr bool
	}{
		{0, Extent{4, 12}, 0, false},
		{12, Extent{16, 16}, 1, false},
		{30, Extent{40, 8}, 3, false},
		{54, Extent{}, 5, false},
		{13, Extent{}, 0, true}, // inside a chunk
		{60, Extent{}, 0, true}, // past the pass
	}
	for _, tt := range tests {
		it := newChunks(ext, cs)
		passed := 0
		err := it.skipTo(tt.done, func(Extent) error { passed++; return nil })
		if tt.wantErr {
			if err == nil {
				t.Errorf("skipTo(%d) = nil; want an error", tt.done)
			}
			continue
		}
		next, _ := it.next()
		if err != nil || next != tt.next || passed != tt.passed {
			t.Errorf("skipTo(%d) = %v, then %v after %d chunks; want %v after %d", tt.done, err, next, passed, tt.next, tt.passed)
		}
	}
}

func TestHeaderCheck(t *testing.T) {
	ok := header{Pass: "precopy", Size: 1 << 20, ChunkSize: 64 << 10, Extents: []Extent{{0, 100}}, Start: 100}
	tests := []struct {
		name string
		mod  func(*header)
		want string
	}{
		{"valid", func(*header) {}, ""},
		{"no pass", func(h *header) { h.Pass = "" }, "pass \"\": must be 1 to 64 bytes"},
		{"chunk not a power of two", func(h *header) { h.ChunkSize = 100 << 10 }, "chunk_size 102400: must be a power of two"},
		{"chunk too large", func(h *header) { h.ChunkSize = 32 << 20 }, "chunk_size"},
		{"start past the pass", func(h *header) { h.Start = 101 }, "start 101: must be within the pass's 100 bytes"},
		{"extent past the disk", func(h *header) { h.Extents = []Extent{{1 << 20, 1}} }, "extents: extent 0"},
		{"too many extents", func(h *header) { h.Extents = []Extent{{0, 1}, {2, 1}, {4, 1}} }, "extents: 3, at most 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := ok
			tt.mod(&h)
			err := h.check(2)
			if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("check = %v; want %q", err, tt.want)
			}
		})
	}
}

func TestCoarsen(t *testing.T) {
	tests := []struct {
		name string
		in   []Extent
		g    int64
		want []Extent
	}{
		{"rounded out", []Extent{{5, 2}}, 4, []Extent{{4, 4}}},
		{"close ones merged", []Extent{{1, 1}, {5, 1}, {13, 1}}, 4, []Extent{{0, 8}, {12, 4}}},
		{"clipped to the disk", []Extent{{17, 2}}, 8, []Extent{{16, 4}}},
		{"aligned untouched", []Extent{{0, 8}, {16, 4}}, 4, []Extent{{0, 8}, {16, 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Coarsen(tt.in, tt.g, 20)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Coarsen = %v; want %v", got, tt.want)
			}
			if err := checkNormal(got, 20); err != nil {
				t.Fatal(err)
			}
		})
	}
}
