package gandi

import "testing"

// vm.info, disk.info and iface.info name the owner (account_id) to the
// operator, who acts for every account (a move's ticket names it), and
// not to an account's key.
func TestInfoNamesOwnerToOperator(t *testing.T) {
	a := newAgent(t, true)
	vm := a.createVM(a.bob, "owned")
	disk := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(16)}))[0]["disk_id"].(int64)
	iface := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1), "ip_version": int64(4)}))[0]["iface_id"].(int64)
	for _, tc := range []struct {
		method string
		id     int64
		owner  int64
	}{
		{"hosting.vm.info", vm, a.bob.AccountID},
		{"hosting.disk.info", disk, a.alice.AccountID},
		{"hosting.iface.info", iface, a.alice.AccountID},
	} {
		if got := a.mustCall(a.op, tc.method, tc.id).(map[string]any)["account_id"]; got != tc.owner {
			t.Errorf("%s %d by the operator: account_id %v, want %d", tc.method, tc.id, got, tc.owner)
		}
		c := a.alice
		if tc.owner == a.bob.AccountID {
			c = a.bob
		}
		if got, ok := a.mustCall(c, tc.method, tc.id).(map[string]any)["account_id"]; ok {
			t.Errorf("%s %d by its owner: account_id %v, want none", tc.method, tc.id, got)
		}
	}
}
