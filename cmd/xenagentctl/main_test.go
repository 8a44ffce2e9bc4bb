package main

import (
	"strings"
	"testing"
)

// Rows are shown in id order, as numbers: 10 after 9, not after 1.
func TestTableSortsIDsAsNumbers(t *testing.T) {
	var b strings.Builder
	rows := []any{map[string]any{"id": int64(10)}, map[string]any{"id": int64(9)}, map[string]any{"id": int64(1)}}
	if err := table(&b, rows, []string{"id"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(b.String()); strings.Join(got, " ") != "ID 1 9 10" {
		t.Errorf("table = %q, want ids 1 9 10", got)
	}
}
