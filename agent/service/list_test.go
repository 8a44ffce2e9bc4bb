package service

import (
	"math"
	"testing"
)

// page itself never slices out of range, whatever it is given.
func TestPageBounds(t *testing.T) {
	items := []int{0, 1, 2, 3, 4}
	tests := []struct {
		perPage, page int64
		want          int
	}{
		{2, 0, 2}, {2, 2, 1}, {2, 3, 0}, {5, 0, 5}, {5, 1, 0},
		{math.MaxInt64, 0, 5}, {math.MaxInt64, 1, 0}, {2, math.MaxInt64, 0}, {500, math.MaxInt64, 0},
		{0, 0, 0}, {-1, 0, 0}, {2, -1, 0}, {math.MinInt64, math.MinInt64, 0},
	}
	for _, tt := range tests {
		if got := page(items, tt.perPage, tt.page); len(got) != tt.want {
			t.Errorf("page(5 items, %d, %d) = %v, want %d items", tt.perPage, tt.page, got, tt.want)
		}
	}
}
