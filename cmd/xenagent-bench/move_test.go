package main

import (
	"testing"

	"github.com/xenagent/xenagent/storage/storagetest"
)

// TestMoveRow runs the move row small: a 1 GiB disk holding 32 MiB, 8
// MiB written after the snapshot, the source's streams capped so the
// precopy still runs while they are written. The delta must hold
// exactly what was written, and the figure must not be void; the
// downtime depends on the machine's load and the cap.
func TestMoveRow(t *testing.T) {
	rows, err := moveRows(storagetest.Btrfs(t, 4), 1, 32, 8, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%-70s %s", r.name, r.value)
	}
	if len(rows) != 5 || rows[0].value[:4] == "void" || !rows[1].ok {
		t.Fatalf("rows %+v: want a downtime measured and a delta of what was written", rows)
	}
}
