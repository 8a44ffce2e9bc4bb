package service

import (
	"testing"
)

func TestLikeMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"web", "my-WEB-1", true}, {"web%", "web1", true}, {"web%", "aweb", false},
		{"%-a", "db-a", true}, {"w_b", "web", true}, {"w_b", "weeb", false},
	}
	for _, tt := range tests {
		if got := likeMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("likeMatch(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}
