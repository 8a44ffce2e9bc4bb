package main

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

// TestFaces drives one scenario through each of the three faces (Gandi
// v3 XML-RPC, Gandi v1 XML-RPC, Gigas REST; faces_drivers_test.go) of one
// agent, over HTTP, and checks each step's result through the service's
// store, not through the face that made it: a VM made over one face is
// listed by all three, an operation started over one is shown DONE by
// all three, and every face leaves the same end state. A face
// is a thin package over the service (issue 14, §4); this suite is what
// says so.
//
// A step whose want is set must leave the VM so; a step with badField
// must be refused with a fault naming that field (in the face's words:
// v1 says specs.shares for memory) and change no record and no volume.
func TestFaces(t *testing.T) {
	r := newFaceRig(t)
	steps := []faceStep{
		{name: "create", do: func(f faceDriver, v *faceVM) (err error) {
			v.id, err = f.Create(v.hostname, 256)
			return err
		}, op: "vm_create", want: &vmWant{state: store.VMRunning, memory: 256, disks: 1, ifaces: 1}},
		{name: "stop", do: power("stop"), op: "vm_stop", want: &vmWant{state: store.VMHalted, memory: 256, disks: 1, ifaces: 1}},
		{name: "start", do: power("start"), op: "vm_start", want: &vmWant{state: store.VMRunning, memory: 256, disks: 1, ifaces: 1}},
		{name: "reboot", do: power("reboot"), op: "vm_reboot", want: &vmWant{state: store.VMRunning, memory: 256, disks: 1, ifaces: 1}},
		{name: "resize memory", do: func(f faceDriver, v *faceVM) error { return f.SetMemory(v.id, 512) },
			op: "vm_update", want: &vmWant{state: store.VMRunning, memory: 512, disks: 1, ifaces: 1}},
		{name: "attach data disk", do: func(f faceDriver, v *faceVM) (err error) {
			v.dataDisk, err = f.AttachDisk(v.id, "data-"+v.hostname, 256)
			return err
		}, op: "disk_attach", want: &vmWant{state: store.VMRunning, memory: 512, disks: 2, ifaces: 1}},
		{name: "bad memory", do: func(f faceDriver, v *faceVM) error { return f.SetMemory(v.id, 0) }, badField: "memory"},
		{name: "bad cores", do: func(f faceDriver, v *faceVM) error { return f.SetCores(v.id, 99) }, badField: "cores"},
		{name: "bad data disk size", do: func(f faceDriver, v *faceVM) error {
			_, err := f.AttachDisk(v.id, "huge-"+v.hostname, 1<<30)
			return err
		}, badField: "size"},
		{name: "bad hostname", do: func(f faceDriver, v *faceVM) error {
			_, err := f.Create("not a hostname!", 256)
			return err
		}, badField: "hostname"},
		{name: "stop before delete", do: power("stop"), op: "vm_stop", want: &vmWant{state: store.VMHalted, memory: 512, disks: 2, ifaces: 1}},
		{name: "delete", do: func(f faceDriver, v *faceVM) error { return f.Delete(v.id) }, op: "vm_delete", want: &vmWant{gone: true}},
	}
	drivers := faceDrivers(r)
	ends := map[string]faceEnd{}
	for _, f := range drivers {
		t.Run(f.Name(), func(t *testing.T) {
			v := &faceVM{hostname: "face-" + f.Name()}
			for _, s := range steps {
				if !t.Run(s.name, func(t *testing.T) { s.run(t, r, f, drivers, v) }) && s.badField == "" {
					t.FailNow() // the steps after build on this one; a refusal's do not
				}
			}
			ends[f.Name()] = r.endOf(v)
		})
	}
	t.Run("same end state", func(t *testing.T) {
		var first string
		for _, f := range drivers {
			e, ok := ends[f.Name()]
			if !ok {
				continue
			}
			t.Logf("%s: %+v", f.Name(), e)
			if first == "" {
				first = f.Name()
				continue
			}
			want := ends[first]
			if e.DataDisk == "" || want.DataDisk == "" { // a face with no attach call has no data disk to compare
				e.DataDisk, want.DataDisk = "", ""
			}
			if !reflect.DeepEqual(e, want) {
				t.Errorf("%s left %+v, %s left %+v", f.Name(), e, first, want)
			}
		}
	})
}

// faceVM is the scenario's VM on one face.
type faceVM struct {
	hostname     string
	id, dataDisk int64
	noAttach     bool // the face has no call to attach a disk
}

type faceStep struct {
	name string
	do   func(f faceDriver, v *faceVM) error
	want *vmWant
	// op is the operation the step must have run to DONE on the VM.
	op       string
	badField string
}

// vmWant is the VM as the service must hold it after a step.
type vmWant struct {
	gone          bool
	state         string
	memory        int64
	disks, ifaces int
}

func power(action string) func(f faceDriver, v *faceVM) error {
	return func(f faceDriver, v *faceVM) error { return f.Power(v.id, action) }
}

func (s faceStep) run(t *testing.T, r *faceRig, f faceDriver, all []faceDriver, v *faceVM) {
	r.t = t
	if s.badField != "" {
		before, vm := r.counts(), r.vm(v.id)
		err := s.do(f, v)
		if errors.Is(err, errNotOnFace) {
			t.Skipf("%s: %v", f.Name(), err)
		}
		if err == nil {
			t.Fatalf("accepted; want a fault naming %s", f.Field(s.badField))
		}
		if !strings.Contains(err.Error(), f.Field(s.badField)) {
			t.Errorf("fault %q does not name the field %s", err, f.Field(s.badField))
		}
		t.Logf("%s: %v", f.Name(), err)
		r.settle()
		if after := r.counts(); after != before {
			t.Errorf("a refused call changed the records: %+v, was %+v", after, before)
		}
		if now := r.vm(v.id); !reflect.DeepEqual(now, vm) {
			t.Errorf("a refused call changed the VM: %+v, was %+v", now, vm)
		}
		return
	}
	since := r.lastOpID()
	err := s.do(f, v)
	want := *s.want
	if errors.Is(err, errNotOnFace) {
		t.Logf("%s: %v (step skipped; its effect is left out of the checks after)", f.Name(), err)
		v.noAttach = true
		err = nil
	}
	if err != nil {
		t.Fatal(err)
	}
	r.settle()
	if !v.noAttach || s.op != "disk_attach" {
		opID := r.ranOp(since, v.id, s.op)
		if opID == 0 {
			t.Errorf("no %s operation on VM %d ended DONE", s.op, v.id)
		}
		// The operation one face started, every face shows.
		for _, o := range all {
			if st := o.OpState(opID); opID != 0 && st != "DONE" {
				t.Errorf("%s shows %s operation %d as %q, want DONE", o.Name(), s.op, opID, st)
			}
		}
	}
	if v.noAttach && want.disks > 1 {
		want.disks--
	}
	got := r.vmWant(v.id)
	if got != want {
		t.Fatalf("the service holds %+v, want %+v", got, want)
	}
	if v.dataDisk != 0 && !want.gone {
		if d := r.disk(v.dataDisk); len(d.VMIDs) != 1 || d.VMIDs[0] != v.id || d.SizeMB != 256 {
			t.Errorf("data disk %d: vms %v, %d MB; want on VM %d, 256 MB", v.dataDisk, d.VMIDs, d.SizeMB, v.id)
		}
	}
	// Every face lists what the service holds, whichever face made it.
	for _, o := range all {
		h, ok := o.List()[v.id]
		switch {
		case want.gone && ok:
			t.Errorf("%s still lists VM %d", o.Name(), v.id)
		case !want.gone && h != v.hostname:
			t.Errorf("%s lists VM %d as %q (listed: %v), want %q", o.Name(), v.id, h, ok, v.hostname)
		}
	}
}

// lastOpID is the newest operation's id.
func (r *faceRig) lastOpID() (id int64) {
	r.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool { id = max(id, o.ID); return true })
	})
	return id
}

// ranOp is an operation of type typ on the VM, newer than since, that
// ended DONE (0: none).
func (r *faceRig) ranOp(since, vmID int64, typ string) (id int64) {
	r.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool {
			if o.ID > since && o.VMID == vmID && o.Type == typ && o.Step == store.StepDone {
				id = o.ID
			}
			return true
		})
	})
	return id
}

// vm is the VM's record (its zero value when there is none).
func (r *faceRig) vm(id int64) store.VM {
	var v store.VM
	r.st.View(func(tx *store.Tx) { v, _ = tx.VM(id) })
	return v
}

func (r *faceRig) vmWant(id int64) vmWant {
	r.t.Helper()
	info, err := r.svc.VM(r.as, id)
	if err != nil {
		if v := r.vm(id); v.ID != 0 && v.State != store.VMDeleted {
			r.t.Fatalf("the service cannot read VM %d (%v), the store holds it: %+v", id, err, v)
		}
		return vmWant{gone: true}
	}
	return vmWant{state: info.State, memory: info.Memory, disks: len(info.Disks), ifaces: len(info.Ifaces)}
}

func (r *faceRig) disk(id int64) struct {
	VMIDs  []int64
	SizeMB int64
} {
	r.t.Helper()
	d, err := r.svc.Disk(r.as, id)
	if err != nil {
		r.t.Fatalf("disk %d: %v", id, err)
	}
	return struct {
		VMIDs  []int64
		SizeMB int64
	}{d.VMIDs, d.SizeMB}
}

// faceEnd is what a face's scenario leaves behind once its VM is deleted:
// any record still naming the VM, and the data disk's fate ("" when the
// face had no call to attach one).
type faceEnd struct {
	VM, Disks, Ifaces, IPs, Ops int // records naming the VM (operations: unfinished ones)
	DataDisk                    string
}

func (r *faceRig) endOf(v *faceVM) faceEnd {
	var e faceEnd
	r.st.View(func(tx *store.Tx) {
		if vm, ok := tx.VM(v.id); ok && vm.State != store.VMDeleted {
			e.VM++
		}
		tx.EachDisk(func(d *store.Disk) bool {
			if d.VMID == v.id {
				e.Disks++
			}
			return true
		})
		ifaces := map[int64]bool{}
		tx.EachIface(func(i *store.Iface) bool {
			if i.VMID == v.id {
				e.Ifaces++
				ifaces[i.ID] = true
			}
			return true
		})
		tx.EachIP(func(ip *store.IP) bool {
			if ifaces[ip.IfaceID] {
				e.IPs++
			}
			return true
		})
		tx.EachOperation(func(o *store.Operation) bool {
			if o.VMID == v.id && o.Step != store.StepDone && o.Step != store.StepError && o.Step != store.StepCancel {
				e.Ops++
			}
			return true
		})
		if v.dataDisk != 0 {
			e.DataDisk = "gone"
			if d, ok := tx.Disk(v.dataDisk); ok {
				e.DataDisk = fmt.Sprintf("kept, %s, on vm %d", d.State, d.VMID)
			}
		}
	})
	return e
}

// TestFacesAcross hands one VM from face to face: made over one, stopped,
// resized and started over the next, given a data disk over a face that
// can attach one, deleted over the third. Each face acts on what another
// made, with no step of its own in between.
func TestFacesAcross(t *testing.T) {
	r := newFaceRig(t)
	drivers := faceDrivers(r)
	// What a deletion does to the VM's data disk, per the face's document:
	// Gandi's vm.delete leaves the disks (detached); Gigas's "deletes any
	// other resource attached to the virtual machine: Disk Volumes...".
	keepsDisk := map[string]bool{"gandi-v3": true, "gandi-v1": true, "gigas": false}
	for i, maker := range drivers {
		changer, deleter := drivers[(i+1)%len(drivers)], drivers[(i+2)%len(drivers)]
		t.Run(maker.Name()+"-"+changer.Name()+"-"+deleter.Name(), func(t *testing.T) {
			r.t = t
			v := &faceVM{hostname: "across-" + maker.Name()}
			var err error
			if v.id, err = maker.Create(v.hostname, 256); err != nil {
				t.Fatalf("%s: create: %v", maker.Name(), err)
			}
			for _, step := range []struct {
				what string
				do   func() error
			}{
				{"stop", func() error { return changer.Power(v.id, "stop") }},
				{"resize", func() error { return changer.SetMemory(v.id, 512) }},
				{"start", func() error { return changer.Power(v.id, "start") }},
			} {
				if err := step.do(); err != nil {
					t.Fatalf("%s: %s: %v", changer.Name(), step.what, err)
				}
			}
			r.settle()
			if got, want := r.vmWant(v.id), (vmWant{state: store.VMRunning, memory: 512, disks: 1, ifaces: 1}); got != want {
				t.Fatalf("after %s's changes: %+v, want %+v", changer.Name(), got, want)
			}
			for _, f := range []faceDriver{changer, maker, deleter} {
				if v.dataDisk, err = f.AttachDisk(v.id, "data-"+v.hostname, 256); err == nil {
					break
				} else if !errors.Is(err, errNotOnFace) {
					t.Fatalf("%s: attach: %v", f.Name(), err)
				}
			}
			if err := deleter.Power(v.id, "stop"); err != nil {
				t.Fatalf("%s: stop: %v", deleter.Name(), err)
			}
			if err := deleter.Delete(v.id); err != nil {
				t.Fatalf("%s: delete: %v", deleter.Name(), err)
			}
			r.settle()
			e := r.endOf(v)
			want := faceEnd{DataDisk: "gone"}
			if keepsDisk[deleter.Name()] {
				want.DataDisk = "kept, created, on vm 0"
			}
			if e != want {
				t.Errorf("deleted over %s: %+v, want %+v", deleter.Name(), e, want)
			}
			for _, f := range drivers {
				if _, ok := f.List()[v.id]; ok {
					t.Errorf("%s still lists VM %d", f.Name(), v.id)
				}
			}
		})
	}
}
