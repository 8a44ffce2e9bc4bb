package gigas

import "testing"

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
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"status": "online"}))
	r = a.must(202, aliceKey, "POST", path+"/network_interface", map[string]any{"rate_limit": "0"})
	if _, ok := r.obj()["label"]; ok {
		t.Fatalf("202 with an interface resource: %s", r.raw)
	}
	a.wait(aliceKey, a.alice, r)
	if n := len(a.must(200, aliceKey, "GET", path+"/network_interfaces", nil).list()); n != 3 {
		t.Fatalf("%d interfaces, want 3", n)
	}
}
