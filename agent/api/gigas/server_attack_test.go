package gigas

import "testing"

// TestPathIDsCanonical: an id in the path is a positive integer written
// as strconv writes it; "+1", "01" and traversal are 400, so one object
// has one path.
func TestPathIDsCanonical(t *testing.T) {
	a := newAgent(t)
	vm := a.createVM("canon")
	for _, tc := range []struct {
		path string
		want int
	}{
		{a.vmPath(a.alice, vm), 200},
		{"/account/0" + vm + "/virtual_machines", 400},
		{"/account/+" + vm + "/virtual_machines", 400},
		{a.vmPath(a.alice, "0"+vm), 400},
		{a.vmPath(a.alice, "+"+vm), 400},
		{a.vmPath(a.alice, "..%2f2"), 400},
		{a.vmPath(a.alice, "9223372036854775808"), 400},
		{acctPath(a.alice) + "/operation/01", 400},
	} {
		if r := a.do(aliceKey, "GET", tc.path, nil); r.status != tc.want {
			t.Errorf("GET %s: %d, want %d: %s", tc.path, r.status, tc.want, r.raw)
		}
	}
}
