package gandi

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

// Overlapping calls on one VM, from many clients at once, run in the
// order of their operation ids: a client reading ids reads run order
// (the issue measured 49 of 1,200 out of order), and a restart, which
// resumes in id order, replays the same order.
func TestOverlappingCallsRunInIDOrder(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "order")
	var mu sync.Mutex
	var started []int64
	seen := map[int64]bool{}
	a.rig.OnBoundary(func(op store.Operation, boundary string) {
		if op.VMID != vmID || op.Type == "vm_create" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !seen[op.ID] {
			seen[op.ID] = true
			started = append(started, op.ID)
		}
	})
	calls := []func(i int) (string, []any){
		func(i int) (string, []any) {
			return "hosting.vm.update", []any{vmID, map[string]any{"memory": int64(256 + 64*(i%4))}}
		},
		func(int) (string, []any) { return "hosting.vm.reboot", []any{vmID} },
		func(int) (string, []any) { return "hosting.vm.stop", []any{vmID} },
		func(int) (string, []any) { return "hosting.vm.start", []any{vmID} },
	}
	const clients, each = 8, 15
	var wg sync.WaitGroup
	var idsMu sync.Mutex
	var ids []any
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				method, params := calls[(c+i)%len(calls)](i)
				v, err := a.api.Call(t.Context(), a.alice, method, params)
				if err != nil {
					t.Errorf("%s: %v", method, err)
					return
				}
				idsMu.Lock()
				ids = append(ids, v)
				idsMu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	a.mustDone(a.alice, ids)
	a.rig.OnBoundary(nil)
	mu.Lock()
	defer mu.Unlock()
	if len(started) != clients*each {
		t.Fatalf("%d operations started, want %d", len(started), clients*each)
	}
	if !slices.IsSorted(started) {
		bad := 0
		for i := 1; i < len(started); i++ {
			if started[i] < started[i-1] {
				bad++
			}
		}
		t.Fatalf("%d of %d operations started after a higher id: %s", bad, len(started), fmt.Sprint(started))
	}
}
