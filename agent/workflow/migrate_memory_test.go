package workflow_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// The sweep removes the memory files of moves that are over, whichever
// side wrote them, and keeps those of moves still running and any file
// not a move's.
func TestOrphanMemory(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state.db"), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mem := filepath.Join(dir, "memory")
	wf := workflow.New(workflow.Config{MemoryDir: mem}, st, ops.New(st, quiet(), ops.Config{RetryFor: time.Second}),
		hostfake.NewHypervisor(), hostfake.NewVolumes(), quiet())
	if err := os.MkdirAll(mem, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"xa-mig-7.out.save", "xa-mig-7.in.save", "xa-mig-8.in.save", "xa-mig-x.save", "notes"} {
		if err := os.WriteFile(filepath.Join(mem, n), []byte("m"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := wf.OrphanMemory(context.Background(), func(op int64) bool { return op == 8 })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(gone)
	if want := []string{"xa-mig-7.in.save", "xa-mig-7.out.save"}; !slices.Equal(gone, want) {
		t.Fatalf("swept %v, want %v", gone, want)
	}
	left, _ := os.ReadDir(mem)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if want := []string{"notes", "xa-mig-8.in.save", "xa-mig-x.save"}; !slices.Equal(names, want) {
		t.Fatalf("left %v, want %v", names, want)
	}
}
