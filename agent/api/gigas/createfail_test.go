package gigas

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// counts is every kind of record and the volumes, to prove a failed call
// left nothing.
func (a *agent) counts() [5]int {
	var n [5]int
	a.st.View(func(tx *store.Tx) {
		tx.EachVM(func(*store.VM) bool { n[0]++; return true })
		tx.EachDisk(func(*store.Disk) bool { n[1]++; return true })
		tx.EachIface(func(*store.Iface) bool { n[2]++; return true })
		tx.EachIP(func(*store.IP) bool { n[3]++; return true })
	})
	vols, err := a.vols.List(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	n[4] = len(vols)
	return n
}

// A create with swap and secondary disks whose VM cannot be defined (its
// template's kernel is gone) leaves nothing it made: no VM, none of its
// three disks or their volumes, no iface or address.
func TestFailedCreateWithDataDisksReleasesThem(t *testing.T) {
	kernels := t.TempDir()
	os.MkdirAll(filepath.Join(kernels, "6.1"), 0o755)
	os.WriteFile(filepath.Join(kernels, "6.1", "vmlinuz"), []byte("k"), 0o644)
	a := newAgent(t, func(c *service.Config) { c.KernelsDir = kernels })
	if err := a.wf.EnsureImage(context.Background(), workflow.ImageSpec{Label: "pv", SizeMB: 8, KernelVersion: "6.1", Cmdline: "root=/dev/xvda ro"}); err != nil {
		t.Fatal(err)
	}
	var tpl int64
	for _, img := range a.svc.Images(service.ImageFilter{Labels: []string{"pv"}}) {
		tpl = img.ID
	}
	a.createVM("kept")
	before := a.counts()
	os.RemoveAll(filepath.Join(kernels, "6.1"))
	r := a.must(202, aliceKey, "POST", acctPath(a.alice)+"/virtual_machine", map[string]any{
		"memory": "256", "cpus": "1", "label": "doomed", "primary_disk_size": "1", "hostname": "doomed",
		"template_id": strconv.FormatInt(tpl, 10), "swap_disk_size": "1", "secondary_disk_size": "1"})
	var create string
	for _, o := range r.obj()["operations"].([]any) {
		op := o.(map[string]any)
		for {
			got := a.must(200, aliceKey, "GET", op["href"].(string), nil).obj()
			if s := got["status"]; s == "DONE" || s == "ERROR" || s == "CANCEL" {
				if got["type"] == "vm_create" {
					create = s.(string)
				}
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if create != "ERROR" {
		t.Fatalf("vm_create ended %s, want ERROR", create)
	}
	t.Logf("records before and after: %v", before)
	if after := a.counts(); after != before {
		t.Errorf("[vms disks ifaces ips volumes] = %v, want %v as before the call", after, before)
	}
}
