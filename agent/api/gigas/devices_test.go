package gigas

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

// An interface added to an offline VM answers the document's 201 with
// the interface resource (and the operations that finish it); to a
// running VM, 202.
func TestAddIfaceStatus(t *testing.T) {
	a := newAgent(t)
	id := a.createVM("nic1")
	path := a.vmPath(a.alice, id)
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"status": "offline", "force": "true"}))
	r := a.must(201, aliceKey, "POST", path+"/network_interface", map[string]any{"network_id": "1", "label": "eth1", "rate_limit": "50"})
	nic := r.obj()
	if nic["label"] != "eth1" || nic["primary"] != false || nic["rate_limit"] != 50.0 || nic["virtual_machine_id"] != id || len(nic["operations"].([]any)) == 0 {
		t.Fatalf("201: %s", r.raw)
	}
	if loc := r.header.Get("Location"); loc != "" {
		t.Errorf("Location %q on a 201: the interface has no URL of its own", loc)
	}
	a.wait(aliceKey, a.alice, r)
	list := a.must(200, aliceKey, "GET", path+"/network_interfaces?interface_label=eth1", nil).list()
	if len(list) != 1 || list[0].(map[string]any)["id"] != nic["id"] {
		t.Fatalf("eth1 after the 201: %v, want id %v", list, nic["id"])
	}
	// primary true: the new interface goes first, the former primary
	// becomes eth1, the others follow.
	old := a.must(200, aliceKey, "GET", path+"/network_interfaces?interface_label=eth0", nil).list()[0].(map[string]any)["id"]
	r = a.must(201, aliceKey, "POST", path+"/network_interface", map[string]any{"primary": "true"})
	if nic := r.obj(); nic["label"] != "eth0" || nic["primary"] != true {
		t.Fatalf("201 for primary: %s", r.raw)
	}
	a.wait(aliceKey, a.alice, r)
	var order []any
	for _, n := range a.must(200, aliceKey, "GET", path+"/network_interfaces", nil).list() {
		nic := n.(map[string]any)
		order = append(order, nic["id"], nic["label"], nic["primary"])
	}
	if want := []any{r.obj()["id"], "eth0", true, old, "eth1", false, list[0].(map[string]any)["id"], "eth2", false}; fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("interfaces %v, want %v", order, want)
	}
	spec, err := a.wf.DomainSpec(vmID(t, id))
	var mac string
	a.st.View(func(tx *store.Tx) { i, _ := tx.Iface(vmID(t, r.obj()["id"].(string))); mac = i.MAC })
	if err != nil || len(spec.Ifaces) != 3 || spec.Ifaces[0].MAC != mac {
		t.Fatalf("domain's interfaces %+v (%v), want the primary's MAC %s first", spec.Ifaces, err, mac)
	}
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"status": "online"}))
	r = a.must(202, aliceKey, "POST", path+"/network_interface", map[string]any{"rate_limit": "0"})
	if _, ok := r.obj()["label"]; ok {
		t.Fatalf("202 with an interface resource: %s", r.raw)
	}
	a.wait(aliceKey, a.alice, r)
	if n := len(a.must(200, aliceKey, "GET", path+"/network_interfaces", nil).list()); n != 4 {
		t.Fatalf("%d interfaces, want 4", n)
	}
	r = a.must(409, aliceKey, "POST", path+"/network_interface", map[string]any{"primary": true})
	if msg, _ := r.obj()["message"].(string); r.obj()["code"] != CodeConflict || !strings.HasPrefix(msg, "primary: ") {
		t.Fatalf("primary on a running VM: %s", r.raw)
	}
}

func vmID(t *testing.T, id string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
