package gandi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

func TestCreateFromLifecycleDelete(t *testing.T) {
	a := newAgent(t, true)
	ctx := context.Background()
	ops := a.mustCall(a.alice, "hosting.vm.create_from", vmSpec("web1"), map[string]any{"name": "sys-web1"}, a.image).([]any)
	var types []string
	for _, o := range ops {
		m := o.(map[string]any)
		types = append(types, m["type"].(string))
		if m["step"] != "WAIT" || m["source"] != "ALICE-GANDI" {
			t.Errorf("submitted op = %v", m)
		}
	}
	if strings.Join(types, ",") != "disk_create,iface_create,vm_create" {
		t.Fatalf("create_from ops = %v", types)
	}
	done := a.mustDone(a.alice, ops)
	vmID := done[2]["params"].(map[string]any)["vm_id"].(int64)

	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if info["state"] != "running" || info["vm_max_memory"] != int64(2048) || info["memory"] != int64(512) {
		t.Fatalf("vm.info = %v", info)
	}
	disks := info["disks"].([]any)
	ifaces := info["ifaces"].([]any)
	if len(disks) != 1 || disks[0].(map[string]any)["is_boot_disk"] != true || disks[0].(map[string]any)["name"] != "sys-web1" {
		t.Fatalf("disks = %v", disks)
	}
	ip := ifaces[0].(map[string]any)["ips"].([]any)[0].(map[string]any)
	if ip["ip"] != "10.0.0.10" || ip["reverse"] != "xvm-10-0-0-10.example.net" {
		t.Fatalf("ip = %v", ip)
	}
	st, _ := a.hv.State(ctx, workflow.DomainName(vmID))
	if !st.Running {
		t.Fatalf("libvirt domain state = %+v", st)
	}

	for _, step := range []struct{ method, want string }{
		{"hosting.vm.stop", "halted"}, {"hosting.vm.start", "running"}, {"hosting.vm.reboot", "running"},
	} {
		a.mustDone(a.alice, a.mustCall(a.alice, step.method, vmID))
		if got := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["state"]; got != step.want {
			t.Fatalf("after %s state = %v, want %s", step.method, got, step.want)
		}
		st, _ := a.hv.State(ctx, workflow.DomainName(vmID))
		if st.Running != (step.want == "running") {
			t.Fatalf("after %s libvirt says running=%v", step.method, st.Running)
		}
	}

	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"memory": int64(1024), "cores": int64(2)}))
	info = a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if info["memory"] != int64(1024) || info["cores"] != int64(2) {
		t.Fatalf("after update %v", info)
	}
	x, _ := a.hv.DomainXMLOf(ctx, workflow.DomainName(vmID))
	if !strings.Contains(x, `<vcpu placement="static">2</vcpu>`) && !strings.Contains(x, `<vcpu placement='static'>2</vcpu>`) {
		t.Errorf("domain definition did not take the cores update:\n%s", x)
	}

	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.delete", vmID))
	if _, f := a.call(a.alice, "hosting.vm.info", vmID); f == nil || f.Cause != CauseNotFound {
		t.Fatalf("vm.info after delete fault = %v", f)
	}
	if st, _ := a.hv.State(ctx, workflow.DomainName(vmID)); st.Exists {
		t.Fatal("domain left behind after delete")
	}
	if n := a.snapshot(); n[0] != 0 || n[1] != 1 || n[2] != 0 || n[3] != 0 || n[5] != 1 {
		t.Fatalf("records after delete (vms, disks, ifaces, ips, ops, volumes) = %v; want only the image", n)
	}
	// The released address goes to the same account's next interface.
	a.mustCall(a.alice, "hosting.vm.create_from", vmSpec("web2"), map[string]any{}, a.image)
	other := a.mustDone(a.bob, a.mustCall(a.bob, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)}))
	bobIface := a.mustCall(a.bob, "hosting.iface.info", other[0]["iface_id"]).(map[string]any)
	if got := bobIface["ips"].([]any)[0].(map[string]any)["ip"]; got == "10.0.0.10" {
		t.Errorf("bob got alice's released address %v", got)
	}
}

func TestRecycledIPGoesBackToItsAccount(t *testing.T) {
	a := newAgent(t, true)
	first := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)}))
	second := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)}))
	addr := func(c *service.Caller, iface any) any {
		return a.mustCall(c, "hosting.iface.info", iface).(map[string]any)["ips"].([]any)[0].(map[string]any)["ip"]
	}
	released := addr(a.alice, first[0]["iface_id"])
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.delete", first[0]["iface_id"]))
	// Another account does not get it while a lower free address exists...
	b := a.mustDone(a.bob, a.mustCall(a.bob, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)}))
	if got := addr(a.bob, b[0]["iface_id"]); got == released {
		t.Fatalf("bob got alice's released %v", got)
	}
	// ...and its owner gets it back first.
	again := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)}))
	if got := addr(a.alice, again[0]["iface_id"]); got != released {
		t.Fatalf("alice got %v, want her released %v", got, released)
	}
	_ = second
}

func TestPoolExhaustion(t *testing.T) {
	a := newAgent(t, true)
	for i := 0; i < 11; i++ { // 10.0.0.10-20
		a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)}))
	}
	before := a.snapshot()
	_, f := a.call(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)})
	if f == nil || !strings.Contains(f.Msg, "exhausted") {
		t.Fatalf("fault = %v", f)
	}
	if a.snapshot() != before {
		t.Fatal("a refused call changed records")
	}
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "base")
	free := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(16)}))[0]["disk_id"].(int64)
	spec := func(mut func(m map[string]any)) map[string]any {
		m := vmSpec("x1")
		mut(m)
		return m
	}
	tests := []struct {
		name   string
		method string
		params []any
		cause  int
		field  string
	}{
		{"memory not multiple of 64", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["memory"] = int64(500) }), map[string]any{}, a.image}, CauseBadParam, "memory"},
		{"memory too large", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["memory"] = int64(1 << 20) }), map[string]any{}, a.image}, CauseBadParam, "memory"},
		{"max below memory", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["memory"] = int64(4096); m["vm_max_memory"] = int64(2048) }), map[string]any{}, a.image}, CauseBadParam, "vm_max_memory"},
		{"hostname", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["hostname"] = "-bad_host" }), map[string]any{}, a.image}, CauseBadParam, "hostname"},
		{"hostname missing", "hosting.vm.create_from", []any{spec(func(m map[string]any) { delete(m, "hostname") }), map[string]any{}, a.image}, CauseMissing, "hostname"},
		{"datacenter", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["datacenter_id"] = int64(9) }), map[string]any{}, a.image}, CauseBadParam, "datacenter_id"},
		{"cores", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["cores"] = int64(0) }), map[string]any{}, a.image}, CauseBadParam, "cores"},
		{"bandwidth", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["bandwidth"] = -1.0 }), map[string]any{}, a.image}, CauseBadParam, "bandwidth"},
		{"ip_version", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["ip_version"] = "5" }), map[string]any{}, a.image}, CauseBadParam, "ip_version"},
		{"password", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["password"] = "short" }), map[string]any{}, a.image}, CauseBadParam, "password"},
		{"unknown key", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["memroy"] = int64(512) }), map[string]any{}, a.image}, CauseBadParam, "memroy"},
		{"memory type", "hosting.vm.create_from", []any{spec(func(m map[string]any) { m["memory"] = "lots" }), map[string]any{}, a.image}, CauseBadParam, "memory"},
		{"source missing", "hosting.vm.create_from", []any{vmSpec("x2"), map[string]any{}, int64(999)}, CauseNotFound, "src_disk_id: disk 999 does not exist"},
		{"src_disk_id missing", "hosting.vm.create_from", []any{vmSpec("x2"), map[string]any{}}, CauseMissing, "src_disk_id"},
		{"disk shrink", "hosting.vm.create_from", []any{vmSpec("x3"), map[string]any{"size": int64(1)}, a.image}, CauseBadParam, "size"},
		{"disk over quota", "hosting.vm.create_from", []any{vmSpec("x3"), map[string]any{"size": int64(200000)}, a.image}, CauseQuota, "quota"},
		{"snapshot type", "hosting.vm.create_from", []any{vmSpec("x3"), map[string]any{"type": "snapshot"}, a.image}, CauseBadParam, "type"},
		{"too many args", "hosting.vm.info", []any{vmID, int64(1)}, CauseBadParam, "too many"},
		{"vm missing", "hosting.vm.stop", []any{int64(999)}, CauseNotFound, "vm 999"},
		{"update memory over max", "hosting.vm.update", []any{vmID, map[string]any{"memory": int64(4096)}}, CauseBadParam, "memory"},
		{"update unknown", "hosting.vm.update", []any{vmID, map[string]any{"colour": "red"}}, CauseBadParam, "colour"},
		{"list sort", "hosting.vm.list", []any{map[string]any{"sort_by": "colour"}}, CauseBadParam, "sort_by"},
		{"list sort empty", "hosting.vm.list", []any{map[string]any{"sort_by": ""}}, CauseBadParam, "sort_by"},
		{"ssh key without a name", "hosting.ssh.create", []any{map[string]any{"name": "", "value": "ssh-ed25519 AAAA"}}, CauseBadParam, "name: must be"},
		{"ssh key without a value", "hosting.ssh.create", []any{map[string]any{"name": "k", "value": ""}}, CauseBadParam, "value: must be"},
		{"list page size", "hosting.vm.list", []any{map[string]any{"items_per_page": int64(0)}}, CauseBadParam, "items_per_page"},
		{"list state", "hosting.vm.list", []any{map[string]any{"state": "asleep"}}, CauseBadParam, "state"},
		{"attach system disk while running", "hosting.vm.disk_attach", []any{vmID, free, map[string]any{"position": int64(0)}}, CauseConflict, "position"},
		{"detach system disk while running", "hosting.vm.disk_detach", []any{vmID, int64(2)}, CauseConflict, "halted"},
		{"delete attached disk", "hosting.disk.delete", []any{int64(2)}, CauseConflict, "attached"},
		{"disk create size", "hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "size": int64(-5)}}, CauseBadParam, "size"},
		{"disk create name", "hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "name": "../etc"}}, CauseBadParam, "name"},
		{"iface create dc", "hosting.iface.create", []any{map[string]any{}}, CauseMissing, "datacenter_id"},
		{"op step filter", "operation.list", []any{map[string]any{"step": "SLEEPING"}}, CauseBadParam, "step"},
		{"cancel finished", "operation.cancel", []any{int64(1)}, CauseConflict, "finished"},
		{"operator creates without account", "hosting.iface.create", []any{map[string]any{"datacenter_id": int64(1)}}, CauseMissing, "account_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := a.alice
			if strings.HasPrefix(tt.name, "operator") {
				c = a.op
			}
			before := a.snapshot()
			_, f := a.call(c, tt.method, tt.params...)
			if f == nil {
				t.Fatal("accepted")
			}
			if f.Cause != tt.cause || !strings.Contains(f.Error(), tt.field) {
				t.Fatalf("fault %d %q, want cause %d naming %q", f.Code(), f.Error(), tt.cause, tt.field)
			}
			if after := a.snapshot(); after != before {
				t.Fatalf("records changed: %v -> %v", before, after)
			}
		})
	}
}

func TestAccountsSeeOnlyTheirOwn(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "private")
	// Bob gets the very same fault for alice's VM as for one that never existed.
	_, foreign := a.call(a.bob, "hosting.vm.info", vmID)
	_, missing := a.call(a.bob, "hosting.vm.info", int64(424242))
	if foreign == nil || missing == nil || foreign.Code() != missing.Code() || strings.Replace(foreign.Msg, "1", "424242", 1) != missing.Msg {
		t.Fatalf("foreign %v vs missing %v", foreign, missing)
	}
	for _, m := range []string{"hosting.vm.stop", "hosting.vm.delete", "hosting.vm.reboot"} {
		if _, f := a.call(a.bob, m, vmID); f == nil || f.Cause != CauseNotFound {
			t.Errorf("bob %s alice's vm: %v", m, f)
		}
	}
	if n := a.mustCall(a.bob, "hosting.vm.count"); n != 0 {
		t.Errorf("bob counts %v vms", n)
	}
	if n := a.mustCall(a.op, "hosting.vm.count"); n != 1 {
		t.Errorf("operator counts %v vms", n)
	}
	// The operator acts for an account when it names it.
	ops := a.mustCall(a.op, "hosting.vm.create_from", vmSpec("forbob"), map[string]any{}, a.image, map[string]any{"account_id": a.bob.AccountID})
	a.mustDone(a.op, ops)
	if n := a.mustCall(a.bob, "hosting.vm.count"); n != 1 {
		t.Errorf("bob counts %v vms after the operator made one for him", n)
	}
	if _, f := a.call(a.alice, "hosting.vm.create_from", vmSpec("sneaky"), map[string]any{}, a.image, map[string]any{"account_id": a.bob.AccountID}); f == nil || f.Cause != CauseNoRight {
		t.Errorf("alice acting for bob: %v", f)
	}
	for _, key := range []string{"", "nope", "alice-key-0123456789abcX"} {
		if _, err := a.svc.Authenticate(key, ""); err != service.ErrBadKey {
			t.Errorf("key %q: %v", key, err)
		}
	}
}

func TestIdempotentRetryDoesTheWorkOnce(t *testing.T) {
	a := newAgent(t, true)
	// Caller-chosen ids are the central tier's: the operator key's.
	opts := map[string]any{"idempotency_key": "req-1", "vm_id": int64(5000), "disk_id": int64(6000), "iface_id": int64(7000), "ip_id": int64(8000), "account_id": a.alice.AccountID}
	first := a.mustCall(a.op, "hosting.vm.create_from", vmSpec("idem"), map[string]any{}, a.image, opts).([]any)
	second := a.mustCall(a.op, "hosting.vm.create_from", vmSpec("idem"), map[string]any{}, a.image, opts).([]any)
	for i := range first {
		if first[i].(map[string]any)["id"] != second[i].(map[string]any)["id"] {
			t.Fatalf("retry returned other operations: %v vs %v", first, second)
		}
	}
	done := a.mustDone(a.alice, first)
	if done[2]["vm_id"] != int64(5000) || done[0]["disk_id"] != int64(6000) || done[1]["iface_id"] != int64(7000) || done[1]["ip_id"] != int64(8000) {
		t.Fatalf("caller-chosen ids not used: %v", done)
	}
	if n := a.mustCall(a.alice, "hosting.vm.count"); n != 1 {
		t.Fatalf("%v vms after a retried create", n)
	}
	if _, f := a.call(a.op, "hosting.vm.create_from", vmSpec("other"), map[string]any{}, a.image, opts); f == nil || f.Cause != CauseDuplicate {
		t.Fatalf("same key, other call: %v", f)
	}
	opts2 := map[string]any{"vm_id": int64(5000), "account_id": a.bob.AccountID}
	if _, f := a.call(a.op, "hosting.vm.create_from", vmSpec("dup"), map[string]any{}, a.image, opts2); f == nil || f.Cause != CauseDuplicate {
		t.Fatalf("reusing vm_id 5000: %v", f)
	}
}

func TestListFilterSortPage(t *testing.T) {
	a := newAgent(t, true)
	for _, h := range []string{"web-a", "web-b", "db-a", "web-c"} {
		a.createVM(a.alice, h)
	}
	list := func(opts map[string]any) []string {
		var out []string
		for _, v := range a.mustCall(a.alice, "hosting.vm.list", opts).([]any) {
			m := v.(map[string]any)
			if _, has := m["disks"]; has {
				t.Fatal("vm.list returned disks, which only vm.info returns")
			}
			out = append(out, m["hostname"].(string))
		}
		return out
	}
	tests := []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{}, "web-a,web-b,db-a,web-c"},
		{map[string]any{"~hostname": "WEB"}, "web-a,web-b,web-c"},
		{map[string]any{"~hostname": "%-a"}, "web-a,db-a"},
		{map[string]any{"hostname": []any{"db-a", "web-c"}}, "db-a,web-c"},
		{map[string]any{"sort_by": "hostname"}, "db-a,web-a,web-b,web-c"},
		{map[string]any{"sort_by": "-hostname", "items_per_page": int64(2)}, "web-c,web-b"},
		{map[string]any{"sort_by": "-hostname", "items_per_page": int64(2), "page": int64(1)}, "web-a,db-a"},
		{map[string]any{"page": int64(9)}, ""},
		{map[string]any{"state": "halted"}, ""},
		{map[string]any{"state": "running", "memory": []any{int64(512)}}, "web-a,web-b,db-a,web-c"},
	}
	for _, tt := range tests {
		if got := strings.Join(list(tt.opts), ","); got != tt.want {
			t.Errorf("vm.list(%v) = %s, want %s", tt.opts, got, tt.want)
		}
	}
	if n := a.mustCall(a.alice, "hosting.vm.count", map[string]any{"~hostname": "web"}); n != 3 {
		t.Errorf("count = %v", n)
	}
	if n := a.mustCall(a.alice, "operation.count", map[string]any{"type": "vm_create", "step": "DONE"}); n != 4 {
		t.Errorf("operation.count = %v", n)
	}
	ops := a.mustCall(a.alice, "operation.list", map[string]any{"type": []any{"disk_create"}, "sort_by": "-id", "items_per_page": int64(1)}).([]any)
	if len(ops) != 1 || ops[0].(map[string]any)["type"] != "disk_create" {
		t.Errorf("operation.list = %v", ops)
	}
	future := map[string]any{"date_created >=": "2999-01-01T00:00:00Z"}
	if n := a.mustCall(a.alice, "operation.count", future); n != 0 {
		t.Errorf("operations created after 2999: %v", n)
	}
}

// Operations submitted while the engine is stopped stay WAIT; cancelling
// one cancels what depends on it and releases what it reserved.
func TestCancelWaitingCreate(t *testing.T) {
	a := newAgent(t, false)
	ops := a.mustCall(a.alice, "hosting.vm.create_from", vmSpec("never"), map[string]any{}, a.image).([]any)
	diskOp := ops[0].(map[string]any)["id"].(int64)
	if got := a.mustCall(a.alice, "operation.cancel", diskOp); got != true {
		t.Fatalf("cancel = %v", got)
	}
	a.rig.Start()
	done := a.wait(a.alice, ops)
	if done[0]["step"] != "CANCEL" || done[1]["step"] != "DONE" || done[2]["step"] != "CANCEL" {
		t.Fatalf("steps = %v %v %v", done[0]["step"], done[1]["step"], done[2]["step"])
	}
	// Nothing the call made is left (issue 10: its iface and IP lease were).
	n := a.snapshot()
	if n[0] != 0 || n[1] != 1 || n[2] != 0 || n[3] != 0 || n[5] != 1 {
		t.Fatalf("after cancel (vms, disks, ifaces, ips, ops, volumes) = %v", n)
	}
}

func TestDisksAndIfacesAttachDetach(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "devs")
	data := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(32), "name": "data1"}))
	dataID := data[0]["disk_id"].(int64)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, dataID, map[string]any{"access": "read"}))
	info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)
	if ids := info["disks_id"].([]int64); len(ids) != 2 || ids[1] != dataID {
		t.Fatalf("disks_id = %v", ids)
	}
	d := a.mustCall(a.alice, "hosting.disk.info", dataID).(map[string]any)
	if vms := d["vms_id"].([]int64); len(vms) != 1 || vms[0] != vmID || d["is_boot_disk"] != false {
		t.Fatalf("disk.info = %v", d)
	}
	vm2 := a.createVM(a.alice, "other")
	if _, f := a.call(a.alice, "hosting.vm.disk_attach", vm2, dataID); f == nil || f.Cause != CauseConflict {
		t.Fatalf("attaching an attached disk: %v", f)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_detach", vmID, dataID))

	// Position 0 swaps with the system disk, on a halted VM.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	sys := info["disks_id"].([]int64)[0]
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, dataID, map[string]any{"position": int64(0)}))
	ids := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["disks_id"].([]int64)
	if len(ids) != 2 || ids[0] != dataID || ids[1] != sys {
		t.Fatalf("after swap disks_id = %v", ids)
	}
	x, _ := a.hv.DomainXMLOf(context.Background(), workflow.DomainName(vmID))
	if strings.Index(x, workflow.VolumeName(dataID)) > strings.Index(x, workflow.VolumeName(sys)) {
		t.Errorf("domain disks not in position order:\n%s", x)
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_detach", vmID, dataID))

	// Interfaces: a free one attaches; detaching every one is allowed.
	extra := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1), "ip_version": int64(6)}))
	ifaceID := extra[0]["iface_id"].(int64)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.iface_attach", vmID, ifaceID))
	if _, f := a.call(a.alice, "hosting.vm.iface_attach", vm2, ifaceID); f == nil || f.Cause != CauseConflict {
		t.Fatalf("attaching an attached iface: %v", f)
	}
	for _, id := range a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["ifaces_id"].([]int64) {
		a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.iface_detach", vmID, id))
	}
	if ids := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["ifaces_id"].([]int64); len(ids) != 0 {
		t.Fatalf("ifaces left: %v", ids)
	}
	// Delete detaches the extra disk instead of deleting it.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.disk_attach", vmID, dataID))
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.delete", vmID))
	d = a.mustCall(a.alice, "hosting.disk.info", dataID).(map[string]any)
	if len(d["vms_id"].([]int64)) != 0 {
		t.Fatalf("extra disk still attached after vm delete: %v", d)
	}
	if ok, _ := a.vols.Exists(context.Background(), workflow.VolumeName(dataID)); !ok {
		t.Fatal("vm.delete deleted an extra disk's volume")
	}
}

func TestGuestPowerOffShowsHalted(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "selfstop")
	// The guest powers itself off: libvirt reports it, nobody asked the agent.
	if err := a.hv.Destroy(context.Background(), workflow.DomainName(vmID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["state"] == "halted"
	})
}

func TestReconcileAtStart(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "recon")
	ctx := context.Background()
	// Behind the agent's back: the guest stops, a stray domain and a stray
	// volume of ours appear.
	a.hv.Destroy(ctx, workflow.DomainName(vmID))
	stray := workflow.DomainName(999)
	spec, _ := a.wf.DomainSpec(vmID)
	spec.Name, spec.UUID, spec.VMID = stray, a.wf.UUID(999), 999
	if err := a.hv.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	// A volume of ours that no operation of the journal proves abandoned
	// is quarantined, not deleted; a name the agent does not make is left.
	a.vols.Create(ctx, workflow.VolumeName(999), 1, host.Mark{Owner: a.st.Instance(), Op: 0})
	a.vols.Create(ctx, "someone-elses", 1, host.Mark{Owner: a.st.Instance(), Op: 0})
	a.rig.Stop()
	a.eng.Wait()
	if err := a.rec.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	var v store.VM
	a.st.View(func(tx *store.Tx) { v, _ = tx.VM(vmID) })
	if v.State != store.VMHalted {
		t.Errorf("state after reconcile = %s", v.State)
	}
	if st, _ := a.hv.State(ctx, stray); st.Exists {
		t.Error("orphan domain survived reconcile")
	}
	if ok, _ := a.vols.Exists(ctx, workflow.VolumeName(999)); ok {
		t.Error("orphan volume kept its name")
	}
	vols, _ := a.vols.List(ctx)
	quarantined := 0
	for _, v := range vols {
		if orig, _, ok := host.ParseQuarantined(v.Name); ok && orig == workflow.VolumeName(999) {
			quarantined++
		}
	}
	if quarantined != 1 {
		t.Errorf("orphan volume not quarantined: %+v", vols)
	}
	if ok, _ := a.vols.Exists(ctx, "someone-elses"); !ok {
		t.Error("reconcile deleted a volume that is not ours")
	}
	d, _ := a.diskOfVM(vmID)
	if ok, _ := a.vols.Exists(ctx, d); !ok {
		t.Error("reconcile deleted a referenced volume")
	}
}

func (a *agent) diskOfVM(vmID int64) (string, bool) {
	var vol string
	a.st.View(func(tx *store.Tx) {
		v, _ := tx.VM(vmID)
		d, _ := tx.Disk(v.DiskIDs[0])
		vol = d.Volume
	})
	return vol, vol != ""
}

// Raising vm_max_memory takes a reboot (the seeds); the agent makes that
// reboot a stop and a fresh start so the new maximum applies.
func TestMaxMemoryTakesEffectAtReboot(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "grow")
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"vm_max_memory": int64(4096), "memory": int64(3072)}))
	pending := func() bool {
		var v store.VM
		a.st.View(func(tx *store.Tx) { v, _ = tx.VM(vmID) })
		return v.RestartPending
	}
	if !pending() {
		t.Fatal("raising vm_max_memory did not mark the VM for a fresh start")
	}
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.reboot", vmID))
	if pending() {
		t.Fatal("still pending after the reboot")
	}
	x, _ := a.hv.DomainXMLOf(context.Background(), workflow.DomainName(vmID))
	if !strings.Contains(x, ">4194304</memory>") {
		t.Errorf("maximum memory not 4096 MiB in the definition:\n%s", x)
	}
	if got := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any); got["state"] != "running" || got["vm_max_memory"] != int64(4096) {
		t.Errorf("vm.info = %v", got)
	}
}

func TestAccountInfoReportsUse(t *testing.T) {
	a := newAgent(t, true)
	a.createVM(a.alice, "acct")
	info := a.mustCall(a.alice, "hosting.account.info").(map[string]any)
	res := info["resources"].(map[string]any)
	used := res["used"].(map[string]any)
	if info["handle"] != "ALICE-GANDI" || used["servers"] != int64(1) || used["disk"] != int64(64) || used["memory"] != int64(512) || used["ips"] != int64(1) {
		t.Fatalf("account.info = %v", info)
	}
	if res["granted"].(map[string]any)["disk"] != int64(100000) || res["available"].(map[string]any)["disk"] != int64(100000-64) {
		t.Fatalf("quota = %v", res)
	}
	if _, f := a.call(a.op, "hosting.account.info"); f == nil {
		t.Fatal("the operator key has no account to describe")
	}
}

func TestDirectBootGetsItsAddressOnTheCommandLine(t *testing.T) {
	kernels := t.TempDir()
	os.MkdirAll(filepath.Join(kernels, "6.1"), 0o755)
	os.WriteFile(filepath.Join(kernels, "6.1", "vmlinuz"), []byte("k"), 0o644)
	a := newAgent(t, true, func(c *agentConfig) { c.KernelsDir = kernels })
	if err := a.wf.EnsureImage(context.Background(), workflow.ImageSpec{Label: "pv", SizeMB: 8, KernelVersion: "6.1", Cmdline: "root=/dev/xvda ro"}); err != nil {
		t.Fatal(err)
	}
	var img int64
	a.st.View(func(tx *store.Tx) {
		tx.EachImage(func(i *store.Image) bool {
			if i.Label == "pv" {
				img = i.DiskID
			}
			return true
		})
	})
	ops := a.mustCall(a.alice, "hosting.vm.create_from", vmSpec("pv1"), map[string]any{}, img)
	vmID := a.mustDone(a.alice, ops)[2]["params"].(map[string]any)["vm_id"].(int64)
	x, _ := a.hv.DomainXMLOf(context.Background(), workflow.DomainName(vmID))
	if !strings.Contains(x, "<cmdline>root=/dev/xvda ro ip=10.0.0.10::10.0.0.1:255.255.255.0:pv1:eth0:off</cmdline>") {
		t.Fatalf("kernel command line:\n%s", x)
	}
	if !strings.Contains(x, filepath.Join(kernels, "6.1", "vmlinuz")) {
		t.Fatalf("kernel not from the system disk's kernel_version:\n%s", x)
	}
}

// vm.start of a VM that already runs applies nothing: restart_pending
// stays until a start from halted (or a reboot that starts afresh).
func TestStartOfRunningVMKeepsRestartPending(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "pending")
	pending := func() any { return a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["restart_pending"] }
	a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"cores": int64(2)}))
	if p := pending(); p != true {
		t.Fatalf("restart_pending = %v after a new core count", p)
	}
	a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.start", vmID))
	if p := pending(); p != true {
		t.Fatalf("restart_pending = %v after vm.start of a running VM, which applied nothing", p)
	}
	a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.stop", vmID))
	a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.start", vmID))
	if p := pending(); p != false {
		t.Fatalf("restart_pending = %v after a start from halted", p)
	}
}
