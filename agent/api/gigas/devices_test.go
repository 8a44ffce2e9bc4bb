package gigas

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// bareVM creates a VM for alice, stopped when offline, and detaches
// its interface through the service (the face adds an interface only to
// a VM without one): it returns the VM's id and the freed interface's.
func (a *agent) bareVM(hostname string, offline bool) (string, int64) {
	a.t.Helper()
	id := a.createVM(hostname)
	if offline {
		a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", a.vmPath(a.alice, id), map[string]any{"status": "offline", "force": "true"}))
	}
	c := &service.Caller{AccountID: a.alice}
	info, err := a.svc.VM(c, vmID(a.t, id))
	if err != nil || len(info.Ifaces) != 1 {
		a.t.Fatalf("vm %s: %+v %v", id, info.Ifaces, err)
	}
	op, err := a.svc.DetachIface(context.Background(), c, service.IfaceDetach{VMID: info.ID, IfaceID: info.Ifaces[0].ID})
	if err != nil {
		a.t.Fatal(err)
	}
	a.waitOp(op.ID)
	return id, info.Ifaces[0].ID
}

// waitOp polls one operation of alice's until it ends DONE.
func (a *agent) waitOp(id int64) {
	a.t.Helper()
	a.wait(aliceKey, a.alice, reply{body: map[string]any{"operations": []any{map[string]any{"href": acctPath(a.alice) + "/operation/" + strconv.FormatInt(id, 10)}}}})
}

// The document: "Asking for a new interface on a public network where
// there is already one will result in an error (412)". The host has one
// network, a public one: a VM with an interface gets 412, whether the
// call asks for a new interface or a free one of the account, and
// nothing changes. A VM without one gets its first (the primary): 201
// with the interface resource (and the operations that finish it) when
// it is offline, 202 when it runs.
func TestAddIfaceStatus(t *testing.T) {
	a := newAgent(t)
	id, freed := a.bareVM("nic1", true)
	path := a.vmPath(a.alice, id)
	r := a.must(201, aliceKey, "POST", path+"/network_interface", map[string]any{"network_id": "1", "label": "eth1", "primary": "false", "rate_limit": "50"})
	nic := r.obj()
	if nic["label"] != "eth0" || nic["primary"] != true || nic["rate_limit"] != 50.0 || nic["virtual_machine_id"] != id || len(nic["operations"].([]any)) == 0 {
		t.Fatalf("201: %s", r.raw)
	}
	if loc := r.header.Get("Location"); loc != "" {
		t.Errorf("Location %q on a 201: the interface has no URL of its own", loc)
	}
	a.wait(aliceKey, a.alice, r)
	for _, body := range []map[string]any{
		{"network_id": "1", "label": "eth1", "rate_limit": "0"},
		{"primary": "true"},
		{"network_interface_id": strconv.FormatInt(freed, 10)},
	} {
		r = a.must(412, aliceKey, "POST", path+"/network_interface", body)
		if msg, _ := r.obj()["message"].(string); r.obj()["code"] != CodePrecondition || !strings.HasPrefix(msg, "network_id: ") {
			t.Fatalf("%v on a VM with an interface: %s", body, r.raw)
		}
	}
	list := a.must(200, aliceKey, "GET", path+"/network_interfaces", nil).list()
	if len(list) != 1 || list[0].(map[string]any)["id"] != nic["id"] {
		t.Fatalf("interfaces after the 412s: %v, want only %v", list, nic["id"])
	}

	// The refusal is the service's, in the call's transaction: a retry
	// with the first call's Idempotency-Key gets the first call's
	// operations (202, as every replay, idem.go), a new key 412.
	id3, _ := a.bareVM("nic3", true)
	path3 := a.vmPath(a.alice, id3)
	first := a.doIdem(aliceKey, "nic3-add", "POST", path3+"/network_interface", nil)
	again := a.doIdem(aliceKey, "nic3-add", "POST", path3+"/network_interface", nil)
	if first.status != 201 || again.status != 202 || !equal(opIDs(first), opIDs(again)) {
		t.Fatalf("a retry: %d %s, then %d %s", first.status, first.raw, again.status, again.raw)
	}
	a.wait(aliceKey, a.alice, first)
	if r := a.doIdem(aliceKey, "nic3-other", "POST", path3+"/network_interface", nil); r.status != 412 {
		t.Fatalf("a new key: %d %s, want 412", r.status, r.raw)
	}

	// A running VM without an interface: the account's free one is
	// attached (hot-plugged), 202; primary true is no refusal, the
	// interface is the VM's first.
	id2, _ := a.bareVM("nic2", false)
	path2 := a.vmPath(a.alice, id2)
	r = a.must(202, aliceKey, "POST", path2+"/network_interface", map[string]any{"network_interface_id": strconv.FormatInt(freed, 10), "primary": true})
	if _, ok := r.obj()["label"]; ok {
		t.Fatalf("202 with an interface resource: %s", r.raw)
	}
	a.wait(aliceKey, a.alice, r)
	list = a.must(200, aliceKey, "GET", path2+"/network_interfaces", nil).list()
	if len(list) != 1 || list[0].(map[string]any)["id"] != strconv.FormatInt(freed, 10) || list[0].(map[string]any)["primary"] != true {
		t.Fatalf("interfaces after the attach: %v, want %d", list, freed)
	}
	a.must(412, aliceKey, "POST", path2+"/network_interface", nil)
}

func vmID(t *testing.T, id string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
