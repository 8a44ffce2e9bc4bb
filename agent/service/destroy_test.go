package service

import (
	"context"
	"slices"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// destroyRig is account 1's VM 10 with system disk 20 and data disk 21,
// snapshot 30 of the system disk and 31 of the data disk, and disk 22,
// not the VM's, with snapshot 32: what DestroyVM deletes and what it
// must leave.
func destroyRig(t *testing.T, s *Service, change func(tx *store.Tx)) {
	t.Helper()
	if err := s.st.Update(func(tx *store.Tx) error {
		tx.PutAccount(store.Account{ID: 1, Handle: "ALICE", KeyHash: "k"})
		tx.PutVM(store.VM{ID: 10, AccountID: 1, DatacenterID: 1, Hostname: "vm10", State: store.VMRunning, DiskIDs: []int64{20, 21}})
		for _, d := range []store.Disk{
			{ID: 20, VMID: 10, Type: store.DiskTypeData, SizeMB: 1024},
			{ID: 21, VMID: 10, Type: store.DiskTypeData, SizeMB: 1024},
			{ID: 22, Type: store.DiskTypeData, SizeMB: 1024},
			{ID: 30, Type: store.DiskTypeSnapshot, Source: 20, SizeMB: 1024},
			{ID: 31, Type: store.DiskTypeSnapshot, Source: 21, SizeMB: 1024},
			{ID: 32, Type: store.DiskTypeSnapshot, Source: 22, SizeMB: 1024},
			{ID: 33, Type: store.DiskTypeSnapshotAuto, Source: 20, SizeMB: 1024},
		} {
			d.AccountID, d.DatacenterID, d.State, d.Volume = 1, 1, store.DiskCreated, workflow.VolumeName(d.ID)
			tx.PutDisk(d)
		}
		if change != nil {
			change(tx)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func setDisk(id int64, f func(d *store.Disk)) func(tx *store.Tx) {
	return func(tx *store.Tx) {
		d, _ := tx.Disk(id)
		f(&d)
		tx.PutDisk(d)
	}
}

// TestDestroyVMDeletesSnapshots: the Gigas DELETE deletes the manual
// snapshots of the disks it deletes ("and associated Backups"), after
// the vm_delete so that a failing one cancels them; one that cannot be
// deleted refuses the whole call, naming it, and submits nothing.
func TestDestroyVMDeletesSnapshots(t *testing.T) {
	tests := []struct {
		name   string
		change func(tx *store.Tx)
		queued []testOp // submitted before the call
		want   []int64  // disks of the disk_delete operations, in order
		refuse string   // the fault's words; "" none
	}{
		{name: "snapshots of both disks", want: []int64{21, 30, 31}},
		{name: "no snapshots", change: func(tx *store.Tx) { tx.DeleteDisk(30); tx.DeleteDisk(31) }, want: []int64{21}},
		{name: "one already being deleted", queued: []testOp{{typ: "disk_delete", keys: []string{workflow.DiskKey(30)}}}, want: []int64{21, 31}},
		{name: "one being made", change: setDisk(31, func(d *store.Disk) { d.State = store.DiskBeingCreated }),
			refuse: "vm_id: snapshot 31 of disk 21 of vm 10, deleted with it, is being_created"},
		{name: "one in a rollback", change: setDisk(30, func(d *store.Disk) { d.State = store.DiskRollback }),
			refuse: "vm_id: snapshot 30 of disk 20 of vm 10, deleted with it, is rollback"},
		{name: "one attached to another VM", change: setDisk(30, func(d *store.Disk) { d.VMID = 11 }),
			refuse: "snapshot 30 of disk 20 of vm 10, deleted with it, is attached to vm 11"},
		{name: "one with a snapshot of its own",
			change: func(tx *store.Tx) {
				tx.PutDisk(store.Disk{ID: 34, AccountID: 1, DatacenterID: 1, Type: store.DiskTypeSnapshot, Source: 31, State: store.DiskCreated, SizeMB: 1024})
			},
			refuse: "snapshot 31 of disk 21 of vm 10, deleted with it, has snapshot 34"},
		// The VM's own disk that happens to be a snapshot is deleted once, as the VM's.
		{name: "a snapshot attached to the VM itself",
			change: func(tx *store.Tx) {
				setDisk(31, func(d *store.Disk) { d.VMID = 10 })(tx)
				v, _ := tx.VM(10)
				v.DiskIDs = append(v.DiskIDs, 31)
				tx.PutVM(v)
			},
			want: []int64{21, 31, 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := bareService(t)
			destroyRig(t, s, tt.change)
			queueOps(t, s, tt.queued)
			before := countOps(s)
			list, err := s.DestroyVM(context.Background(), &Caller{AccountID: 1, Handle: "ALICE"}, 10, CallOptions{})
			if tt.refuse != "" {
				wantRefusal(t, err, KindConflict, tt.refuse)
				if n := countOps(s); n != before {
					t.Fatalf("refused, yet %d operations submitted", n-before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if list[0].Type != "vm_delete" {
				t.Fatalf("first operation %s", list[0].Type)
			}
			var vop store.Operation
			s.st.View(func(tx *store.Tx) { vop, _ = tx.Operation(list[0].ID) })
			var got []int64
			for _, op := range list[1:] {
				var rec store.Operation
				s.st.View(func(tx *store.Tx) { rec, _ = tx.Operation(op.ID) })
				if rec.Type != "disk_delete" || !slices.Equal(rec.After, []int64{list[0].ID}) {
					t.Fatalf("operation %d: %s after %v, want disk_delete after %d", op.ID, rec.Type, rec.After, list[0].ID)
				}
				// Held by vm_delete, it waits for it (the engine runs an
				// operation once its keys are free).
				if !slices.Contains(vop.Keys, workflow.DiskKey(rec.DiskID)) {
					t.Fatalf("vm_delete holds %v, not disk %d", vop.Keys, rec.DiskID)
				}
				got = append(got, rec.DiskID)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("disk_delete of %v, want %v", got, tt.want)
			}
		})
	}
}

func countOps(s *Service) int {
	n := 0
	s.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(*store.Operation) bool { n++; return true })
	})
	return n
}
