package gandi

import (
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// Caller-chosen ids are the central tier's: a tenant passing one gets the
// same fault whatever the id (free, its own, another tenant's), so it can
// neither squat ids nor learn what exists; the operator may choose them.
func TestTenantsCannotChooseIds(t *testing.T) {
	a := newAgent(t, true)
	bobVM := a.createVM(a.bob, "bobs")
	aliceVM := a.createVM(a.alice, "alices")
	info := a.mustCall(a.bob, "hosting.vm.info", bobVM).(map[string]any)
	bobDisk, bobIface := info["disks_id"].([]int64)[0], info["ifaces_id"].([]int64)[0]
	bobIP := info["ifaces"].([]any)[0].(map[string]any)["ips"].([]any)[0].(map[string]any)["id"].(int64)
	owned := map[string]map[string]int64{
		"vm_id":    {"free": 424242, "bob's": bobVM, "own": aliceVM},
		"disk_id":  {"free": 424242, "bob's": bobDisk},
		"iface_id": {"free": 424242, "bob's": bobIface},
		"ip_id":    {"free": 424242, "bob's": bobIP},
	}
	calls := map[string]func(opts map[string]any) (string, []any){
		"vm.create_from": func(o map[string]any) (string, []any) {
			return "hosting.vm.create_from", []any{vmSpec("squat"), map[string]any{}, a.image, o}
		},
		"disk.create": func(o map[string]any) (string, []any) {
			return "hosting.disk.create", []any{map[string]any{"datacenter_id": int64(1), "size": int64(16)}, o}
		},
		"iface.create": func(o map[string]any) (string, []any) {
			return "hosting.iface.create", []any{map[string]any{"datacenter_id": int64(1)}, o}
		},
		"vm.stop": func(o map[string]any) (string, []any) { return "hosting.vm.stop", []any{aliceVM, o} },
	}
	var want *Fault
	for cname, call := range calls {
		for key, ids := range owned {
			for whose, id := range ids {
				method, params := call(map[string]any{key: id})
				before := a.snapshot()
				_, f := a.call(a.alice, method, params...)
				if f == nil {
					t.Fatalf("%s with %s %s %d: accepted", cname, whose, key, id)
				}
				if want == nil {
					want = f
				}
				if *f != *want {
					t.Errorf("%s with %s %s: fault %q, not the same as %q", cname, whose, key, f, want)
				}
				if after := a.snapshot(); after != before {
					t.Errorf("%s with %s %s: records changed: %v -> %v", cname, whose, key, before, after)
				}
			}
		}
	}
	if want.Cause != CauseNoRight {
		t.Errorf("fault %v, want CAUSE_NORIGHT", want)
	}

	// The operator chooses ids; a taken one is a plain collision.
	if _, f := a.call(a.op, "hosting.vm.create_from", vmSpec("taken"), map[string]any{}, a.image, map[string]any{"vm_id": bobVM, "account_id": a.alice.AccountID}); f == nil || f.Cause != CauseDuplicate {
		t.Errorf("operator reusing vm_id %d: %v", bobVM, f)
	}
	ops := a.mustCall(a.op, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(16)}, map[string]any{"disk_id": int64(31337), "account_id": a.alice.AccountID})
	if d := a.mustDone(a.alice, ops)[0]["disk_id"]; d != int64(31337) {
		t.Errorf("operator-chosen disk_id: %v", d)
	}
}

// A retried mutating call with the same idempotency key answers the
// original operations, even once the object it named is gone; the key is
// looked up before the object, whatever the method.
func TestRetryAnswersTheOriginalOperations(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "gone")
	disk := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(16)}))[0]["disk_id"].(int64)
	iface := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)}))[0]["iface_id"].(int64)
	opVM := a.createVM(a.alice, "opgone")

	type call struct {
		c      *service.Caller
		method string
		params []any
	}
	key := func(k string) map[string]any { return map[string]any{"idempotency_key": k} }
	sequence := []call{
		{a.alice, "hosting.vm.stop", []any{vmID, key("stop")}},
		{a.alice, "hosting.vm.update", []any{vmID, map[string]any{"memory": int64(256)}, key("update")}},
		{a.alice, "hosting.vm.delete", []any{vmID, key("delete")}},
		{a.alice, "hosting.disk.delete", []any{disk, key("disk-delete")}},
		{a.alice, "hosting.iface.delete", []any{iface, key("iface-delete")}},
		// The operator's keys are its own, whatever account it acts for.
		{a.op, "hosting.vm.stop", []any{opVM, key("op-stop")}},
		{a.op, "hosting.vm.delete", []any{opVM, key("op-delete")}},
	}
	first := map[string]any{}
	for _, cl := range sequence {
		v := a.mustCall(cl.c, cl.method, cl.params...)
		a.mustDone(cl.c, v)
		first[cl.method+fmtKey(cl.params)] = v.(map[string]any)["id"]
	}
	// Every object above is gone now, or in another state: each retry
	// still answers its original operation and does nothing.
	for _, cl := range sequence {
		before := a.snapshot()
		v, f := a.call(cl.c, cl.method, cl.params...)
		if f != nil {
			t.Errorf("retried %s: %v", cl.method, f)
			continue
		}
		if id := v.(map[string]any)["id"]; id != first[cl.method+fmtKey(cl.params)] {
			t.Errorf("retried %s answered operation %v, not %v", cl.method, id, first[cl.method+fmtKey(cl.params)])
		}
		if after := a.snapshot(); after != before {
			t.Errorf("retried %s: records changed: %v -> %v", cl.method, before, after)
		}
	}
	// Another caller's key is not replayed: bob's retry is bob's own call.
	if _, f := a.call(a.bob, "hosting.vm.delete", vmID, key("delete")); f == nil || f.Cause != CauseNotFound {
		t.Errorf("bob replaying alice's key: %v", f)
	}
	// The same key with other parameters is still a duplicate, not a replay.
	if _, f := a.call(a.alice, "hosting.vm.update", vmID, map[string]any{"memory": int64(512)}, key("update")); f == nil || (f.Cause != CauseDuplicate && f.Cause != CauseNotFound) {
		t.Errorf("reused key: %v", f)
	}
	// A read carrying such a key is not a replay either.
	if _, f := a.call(a.alice, "hosting.vm.list", key("delete")); f == nil || f.Cause != CauseBadParam {
		t.Errorf("vm.list with an idempotency key: %v", f)
	}
}

func fmtKey(params []any) string {
	return params[len(params)-1].(map[string]any)["idempotency_key"].(string)
}
