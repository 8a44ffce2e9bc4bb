package gigas

import (
	"context"
	"strconv"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// TestDeleteTakesBackups: DELETE of a VM deletes its "associated
// Backups" as the document says: the snapshots of its disks go with it,
// from the store and from storage, in the same 202.
func TestDeleteTakesBackups(t *testing.T) {
	a := newAgent(t)
	id := a.createVM("backed")
	vm, _ := strconv.ParseInt(id, 10, 64)
	var sys int64
	a.st.View(func(tx *store.Tx) { v, _ := tx.VM(vm); sys = v.DiskIDs[0] })
	snapshot := store.DiskTypeSnapshot
	alice := &service.Caller{AccountID: a.alice, Handle: "ALICE"}
	op, err := a.svc.CreateDiskFrom(context.Background(), alice, service.NewDiskFrom{
		Disk: service.VMDiskSpec{Type: &snapshot}, SrcDiskID: sys})
	if err != nil {
		t.Fatal(err)
	}
	a.wait(aliceKey, a.alice, reply{body: map[string]any{"operations": []any{map[string]any{"href": opHref(a.alice, op.ID)}}}})
	var vol string
	a.st.View(func(tx *store.Tx) { d, _ := tx.Disk(op.DiskID); vol = d.Volume })
	if ok, err := a.vols.Exists(context.Background(), vol); !ok || err != nil {
		t.Fatalf("snapshot volume %s: %v, %v", vol, ok, err)
	}

	r := a.must(202, aliceKey, "DELETE", a.vmPath(a.alice, id), nil)
	if n := len(r.obj()["operations"].([]any)); n != 2 {
		t.Fatalf("%d operations, want vm_delete and the snapshot's disk_delete: %s", n, r.raw)
	}
	a.wait(aliceKey, a.alice, r)
	a.st.View(func(tx *store.Tx) {
		if _, ok := tx.Disk(op.DiskID); ok {
			t.Errorf("snapshot %d still in the store", op.DiskID)
		}
	})
	if ok, err := a.vols.Exists(context.Background(), vol); ok || err != nil {
		t.Fatalf("snapshot volume %s still there: %v", vol, err)
	}
}
