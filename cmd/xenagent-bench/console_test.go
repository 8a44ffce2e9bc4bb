package main

import "testing"

func TestConsoleRows(t *testing.T) {
	rows := consoleRows(200)
	if len(rows) != 1 || rows[0].value == "" || rows[0].value[:6] == "failed" {
		t.Fatalf("rows %+v", rows)
	}
	t.Logf("%s: %s", rows[0].name, rows[0].value)
}
