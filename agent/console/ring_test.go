package console

import (
	"strings"
	"testing"
)

func TestRing(t *testing.T) {
	tests := []struct {
		name   string
		cap    int
		writes []string
		want   string
	}{
		{"empty", 4, nil, ""},
		{"under", 4, []string{"ab"}, "ab"},
		{"exact", 4, []string{"abcd"}, "abcd"},
		{"wraps", 4, []string{"abc", "def"}, "cdef"},
		{"exact after wrap", 4, []string{"ab", "cd", "ef"}, "cdef"},
		{"larger than the ring", 4, []string{"a", "0123456789"}, "6789"},
		{"many small", 3, strings.Split("abcdefg", ""), "efg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.cap)
			for _, w := range tt.writes {
				r.Write([]byte(w))
			}
			if got := string(r.Bytes()); got != tt.want {
				t.Errorf("scrollback %q, want %q", got, tt.want)
			}
		})
	}
}
