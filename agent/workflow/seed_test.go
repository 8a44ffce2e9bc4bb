package workflow

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/store"
)

// A VM with something to provision gets its seed from vm_create's first
// step, attached read-only by the define after it. When vm_create rolls
// back, whichever step failed, the seed goes with the rest; a write
// whose answer was lost (it did write) is undone too.
func TestCreateWritesSeed(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name   string
		fail   func(b *bench)
		failed bool
	}{
		{"no fault: seeded and attached", func(*bench) {}, false},
		{"seed write refused", func(b *bench) { b.seeds.Fail("Write", hostfake.Fault{Err: boom}) }, true},
		{"seed write's answer lost", func(b *bench) { b.seeds.Fail("Write", hostfake.Fault{Err: boom, After: true}) }, true},
		{"define refused", func(b *bench) { b.hv.Fail("Define", hostfake.Fault{Err: boom}) }, true},
		{"start refused", func(b *bench) { b.hv.Fail("Start", hostfake.Fault{Err: boom}) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBench(t, longTimeouts)
			b.records(store.VMBeingCreated, store.DiskBeingCreated)
			want := b.provision()
			tt.fail(b)
			ops := b.run(
				store.Operation{Type: "disk_create", DiskID: sysDisk, Keys: []string{DiskKey(sysDisk)}},
				store.Operation{Type: "vm_create", VMID: vmID, Keys: []string{VMKey(vmID), DiskKey(sysDisk), IfaceKey(ifaceID)}},
			)
			if !tt.failed {
				checkCreated(t, b, ops[0].ID)
				checkSeeded(t, b, want)
				return
			}
			if ops[1].Step != store.StepError || !strings.Contains(ops[1].LastError, "boom") {
				t.Fatalf("vm_create ended %s: %q", ops[1].Step, ops[1].LastError)
			}
			if p, ok := b.seeds.Path(vmID); ok {
				t.Errorf("the seed is left at %s", p)
			}
			if b.seeds.Count("Remove") == 0 {
				t.Error("the rollback never removed the seed")
			}
			if _, ok := b.hv.Domain(DomainName(vmID)); ok {
				t.Error("the domain is left")
			}
			if ok, _ := b.vols.Exists(b.ctx, VolumeName(sysDisk)); ok {
				t.Error("the volume the call made is left")
			}
		})
	}
}

// provision gives the bench's VM something for its first boot and
// returns the seed it makes.
func (b *bench) provision() host.SeedSpec {
	b.t.Helper()
	p := store.Provision{Login: "alice", Password: "$6$abc$hash", AuthorizedKeys: []string{"ssh-ed25519 AAAA alice@laptop"}, Run: "touch /root/ok"}
	err := b.st.Update(func(tx *store.Tx) error {
		v, _ := tx.VM(vmID)
		v.Provision = &p
		tx.PutVM(v)
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return host.SeedSpec{InstanceID: b.wf.UUID(vmID), Hostname: "vm10", Login: p.Login, PasswordHash: p.Password,
		AuthorizedKeys: p.AuthorizedKeys, Run: p.Run,
		Ifaces: []host.SeedIface{{MAC: MAC(ifaceID), Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.10/24")},
			Gateway4: netip.MustParseAddr("10.0.0.1")}}}
}

// checkSeeded fails unless the VM's seed holds want and its domain has
// it, read-only, at the seed's position.
func checkSeeded(t *testing.T, b *bench, want host.SeedSpec) {
	t.Helper()
	p, ok := b.seeds.Path(vmID)
	if !ok {
		t.Fatal("no seed written")
	}
	if got, err := b.seeds.Read(p); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("the seed holds %+v, %v; want %+v", got, err, want)
	}
	d, _ := b.hv.Domain(DomainName(vmID))
	if disk := d.Disks[host.SeedPosition]; disk.Path != p || !disk.ReadOnly {
		t.Fatalf("the domain's seed device is %+v, want %s read-only", disk, p)
	}
}
