package main

import "testing"

// TestTransferRows runs the transfer rows small: a 1 GiB disk holding
// 32 MiB, a delta of 8 MiB. Only the byte counts are checked; rates
// depend on the machine's load.
func TestTransferRows(t *testing.T) {
	rows, err := transferRows(1, 32, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%-60s %s", r.name, r.value)
	}
	if len(rows) != 5 || !rows[0].ok || !rows[3].ok {
		t.Fatalf("rows %+v: want the wire and the target's file within 1%% of the data", rows)
	}
}
