package host

import (
	"slices"
	"strings"
	"testing"
)

func TestNormalizeExtents(t *testing.T) {
	for _, c := range []struct {
		name    string
		in, out []Extent
	}{
		{"none", nil, []Extent{}},
		{"empty ones dropped", []Extent{{0, 0}, {5, -1}}, []Extent{}},
		{"sorted", []Extent{{20, 5}, {0, 5}}, []Extent{{0, 5}, {20, 5}}},
		{"touching merged", []Extent{{0, 5}, {5, 5}}, []Extent{{0, 10}}},
		{"overlapping merged", []Extent{{10, 10}, {0, 15}, {12, 2}}, []Extent{{0, 20}}},
		{"apart kept", []Extent{{0, 4}, {5, 4}}, []Extent{{0, 4}, {5, 4}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := NormalizeExtents(slices.Clone(c.in))
			if !slices.Equal(got, c.out) && !(len(got) == 0 && len(c.out) == 0) {
				t.Fatalf("got %v, want %v", got, c.out)
			}
			if err := CheckExtents(got, 1<<20); err != nil {
				t.Fatalf("normalized extents fail the check: %v", err)
			}
		})
	}
}

func TestClipExtents(t *testing.T) {
	got := ClipExtents([]Extent{{0, 10}, {20, 10}, {40, 10}}, 25)
	if want := []Extent{{0, 10}, {20, 5}}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if n := ExtentBytes(got); n != 15 {
		t.Fatalf("bytes = %d, want 15", n)
	}
}

// What a peer sends is checked before anything is written: the error
// names the extent and the rule.
func TestCheckExtents(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []Extent
		want string // "" is accepted
	}{
		{"none", nil, ""},
		{"good", []Extent{{0, 4096}, {8192, 4096}}, ""},
		{"negative offset", []Extent{{-1, 4}}, "offset must not be negative"},
		{"empty", []Extent{{0, 0}}, "length must be positive"},
		{"unsorted", []Extent{{8192, 1}, {0, 1}}, "must start after"},
		{"touching", []Extent{{0, 4096}, {4096, 1}}, "apart"},
		{"past the end", []Extent{{1 << 20, 1}}, "within the volume"},
		{"overflowing", []Extent{{1, 1<<63 - 1}}, "within the volume"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckExtents(c.in, 1<<20)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
