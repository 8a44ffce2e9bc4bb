package config

import (
	"strings"
	"testing"
	"time"
)

func TestStatsEvery(t *testing.T) {
	for _, c := range []struct {
		every time.Duration
		ok    bool
	}{{time.Minute, true}, {10 * time.Second, true}, {time.Hour, true}, {5 * time.Second, false}, {0, false}, {2 * time.Hour, false}} {
		cfg := Default()
		cfg.Stats.Every = Duration{c.every}
		err := cfg.Validate()
		if c.ok && err != nil || !c.ok && (err == nil || !strings.Contains(err.Error(), "stats.every")) {
			t.Errorf("stats.every = %s: %v", c.every, err)
		}
	}
	if Default().Stats.Every.Duration != time.Minute {
		t.Error("default stats.every is not 1m")
	}
}
