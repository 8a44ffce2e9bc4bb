package gigas

import (
	"strings"
	"testing"
)

// rebuild_network and apply_disks have nothing to do on this agent:
// they answer the document's 202 (no operations) and 200 (no data) for
// a VM of the account, and refuse what they cannot honour.
func TestNoOps(t *testing.T) {
	a := newAgent(t)
	id := a.createVM("noop1")
	path := a.vmPath(a.alice, id)
	before := a.must(200, aliceKey, "GET", path, nil).raw

	r := a.must(202, aliceKey, "POST", path+"/rebuild_network", nil)
	if ops := r.obj()["operations"].([]any); len(ops) != 0 || r.obj()["queue_token"] != nil || r.header.Get("Location") != "" {
		t.Fatalf("rebuild_network: %s (Location %q)", r.raw, r.header.Get("Location"))
	}
	a.must(202, aliceKey, "POST", path+"/rebuild_network", "{}")
	a.must(400, aliceKey, "POST", path+"/rebuild_network", map[string]any{"network_id": 1})
	a.must(404, aliceKey, "POST", a.vmPath(a.alice, "999")+"/rebuild_network", nil)
	a.must(403, bobKey, "POST", path+"/rebuild_network", nil)

	for _, body := range []any{nil, map[string]any{"required_format_disk": "false"}} {
		if r := a.must(200, aliceKey, "POST", path+"/apply_disks", body); len(r.raw) != 0 {
			t.Fatalf("apply_disks %v: %q, want no data", body, r.raw)
		}
	}
	r = a.must(501, aliceKey, "POST", path+"/apply_disks", map[string]any{"required_format_disk": true})
	if msg, _ := r.obj()["message"].(string); !strings.HasPrefix(msg, "required_format_disk: ") {
		t.Fatalf("required_format_disk true: %s", r.raw)
	}
	a.must(400, aliceKey, "POST", path+"/apply_disks", map[string]any{"format": true})
	a.must(404, aliceKey, "POST", a.vmPath(a.alice, "999")+"/apply_disks", nil)

	if after := a.must(200, aliceKey, "GET", path, nil).raw; string(after) != string(before) {
		t.Errorf("the VM changed:\n%s\n%s", before, after)
	}
}
