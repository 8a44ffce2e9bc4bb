package main

import (
	"math"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/config"
)

func TestMaxConnections(t *testing.T) {
	s := config.DefaultServer()
	tests := []struct {
		nofile  uint64
		reserve int
		want    int
		err     string
	}{
		{65536, 512, 4096, ""},          // the unit's LimitNOFILE: max_connections binds
		{1024, 512, 512, ""},            // a shell's default: the reserve binds
		{4608, 512, 4096, ""},           // exactly both
		{600, 512, 88, ""},              // little left, still enough
		{527, 512, 0, "fewer"},          // 15 left
		{256, 512, 0, "fewer"},          // the reserve exceeds the limit
		{1 << 62, 512, 4096, ""},        // no overflow on a huge hard limit
		{math.MaxUint64, 512, 4096, ""}, // RLIM_INFINITY
	}
	for _, tt := range tests {
		s.FDReserve = tt.reserve
		got, err := maxConnections(tt.nofile, s)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "fd_reserve") {
				t.Errorf("nofile %d: got %d, %v; want an error naming fd_reserve", tt.nofile, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("nofile %d reserve %d: got %d, %v; want %d", tt.nofile, tt.reserve, got, err, tt.want)
		}
	}
}
