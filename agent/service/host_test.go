package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/store"
)

// host.info is the operator's: an account's key is refused with a typed
// permission error before anything is read.
func TestHostInfoOperatorOnly(t *testing.T) {
	s := bareService(t)
	_, err := s.HostInfo(context.Background(), &Caller{AccountID: 1, Handle: "A"})
	wantRefusal(t, err, KindNoRight, "operator key only")
}

// host.info counts VMs by state and unfinished operations from the
// store, reads the node and the pool through their ports, and reports
// the health check's reasons and any source it could not read.
func TestHostInfo(t *testing.T) {
	ctx := context.Background()
	op := &Caller{Operator: true}
	s := bareService(t)
	s.cfg.Version = "1.2.3"
	if err := s.st.Update(func(tx *store.Tx) error {
		for i, st := range []string{store.VMRunning, store.VMRunning, store.VMHalted} {
			tx.PutVM(store.VM{ID: int64(i + 1), AccountID: 1, State: st})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	queueOps(t, s, []testOp{{typ: "vm_stop", keys: []string{"vm:1"}}, {typ: "vm_stop", keys: []string{"vm:1"}},
		{typ: "vm_start", keys: []string{"vm:3"}, finished: true}})
	if err := s.st.Update(func(tx *store.Tx) error {
		o, _ := tx.Operation(1)
		o.Step = store.StepRun
		tx.PutOperation(o)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Without sources: counts, and the missing ones named as problems.
	got, err := s.HostInfo(ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	if got.Agent != "1.2.3" || got.VMs[store.VMRunning] != 2 || got.VMs[store.VMHalted] != 1 || got.VMs[store.VMPaused] != 0 {
		t.Errorf("agent %q, vms %v; want 1.2.3, 2 running, 1 halted, 0 paused", got.Agent, got.VMs)
	}
	if got.OpsRunning != 1 || got.OpsQueued != 1 {
		t.Errorf("operations running %d queued %d, want 1 and 1", got.OpsRunning, got.OpsQueued)
	}
	if got.Healthy || len(got.Problems) != 3 || got.Node != nil || got.Storage != nil {
		t.Errorf("without sources: healthy %v, problems %q; want unhealthy with 3 problems", got.Healthy, got.Problems)
	}

	hv, vols := hostfake.NewHypervisor(), hostfake.NewVolumes()
	health := error(nil)
	s.SetHostSources(HostSources{Node: hv, Pool: vols, Health: func(context.Context) error { return health }})
	got, err = s.HostInfo(ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Healthy || len(got.Problems) != 0 || got.Node == nil || got.Node.MemoryTotal != hostfake.NodeMemory ||
		got.Storage == nil || got.Storage.Metadata == nil {
		t.Errorf("with sources: %+v", got)
	}

	health = errors.Join(errors.New("state: disk full"), fmt.Errorf("libvirt: %w", errors.New("down")))
	vols.Fail("Capacity", hostfake.Fault{Err: errors.New("lvs hung")})
	got, _ = s.HostInfo(ctx, op)
	want := []string{"libvirt: down", "state: disk full", "storage: lvs hung"}
	if got.Healthy || !slices.Equal(got.Problems, want) || got.Storage != nil || got.StorageError != "lvs hung" {
		t.Errorf("failing: healthy %v problems %q storage %v; want unhealthy, %q", got.Healthy, got.Problems, got.Storage, want)
	}
}
