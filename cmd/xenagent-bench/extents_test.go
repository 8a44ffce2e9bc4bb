package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/xenagent/xenagent/storage/file"
	"github.com/xenagent/xenagent/storage/storagetest"
)

// The row holds on a small disk: what was written is found, from the
// extent maps alone.
func TestExtentsRow(t *testing.T) {
	ctx := context.Background()
	b, err := file.New(storagetest.Btrfs(t, 1), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const sizeMB = 256
	if err := b.Create(ctx, "disk", sizeMB, benchMark); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.Path("disk"), make([]byte, sizeMB<<20), 0o640); err != nil {
		t.Fatal(err)
	}
	rows, err := extentsRows(ctx, b, "disk", sizeMB, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !rows[0].ok {
		t.Fatalf("rows = %+v", rows)
	}
	t.Log(rows[0].name, rows[0].value)
}
