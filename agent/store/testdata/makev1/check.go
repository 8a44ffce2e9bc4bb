package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
)

// check verifies that the file holds what the fixture promises, so that a
// run that went otherwise (a race, a changed agent) is refused rather
// than committed.
func check(d dump) error {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if d.Schema != 1 {
		fail("schema %d, want 1", d.Schema)
	}
	keys := map[string]string{"DEMO-XENAGENT": hashKey(demoKey), "FIXTURE-CORP": hashKey(corpKey)}
	for _, a := range d.Accounts {
		if keys[a.Handle] != a.KeyHash {
			fail("account %d %s: key hash %s, want the fixture's key's", a.ID, a.Handle, a.KeyHash)
		}
	}
	if len(d.Accounts) != len(keys) {
		fail("%d accounts, want %d (demo and configured)", len(d.Accounts), len(keys))
	}
	if len(d.SSHKeys) != 1 || len(d.Images) != 1 {
		fail("%d ssh keys and %d images, want 1 and 1", len(d.SSHKeys), len(d.Images))
	}
	states := map[string]int{}
	for _, v := range d.VMs {
		states[v.State]++
	}
	if states[store.VMRunning] < 1 || states[store.VMHalted] < 1 {
		fail("vm states %v, want running and halted ones", states)
	}
	types := map[string]int{}
	for _, x := range d.Disks {
		types[x.Type]++
	}
	for _, t := range []string{store.DiskTypeImage, store.DiskTypeData, store.DiskTypeSnapshot, store.DiskTypeSnapshotAuto} {
		if types[t] == 0 {
			fail("no %s disk (disk types %v)", t, types)
		}
	}
	versions := map[int64]int{}
	for _, ip := range d.IPs {
		versions[ip.Version]++
	}
	if versions[4] == 0 || versions[6] == 0 || len(d.Released) == 0 {
		fail("ip versions %v and %d released lists, want both versions and one list", versions, len(d.Released))
	}
	scopes := map[bool]bool{}
	for k := range d.Idempotency {
		scope, _, _ := strings.Cut(k, "/")
		scopes[scope == "operator"] = true
	}
	if !scopes[true] || !scopes[false] {
		fail("idempotency keys %d, want the operator's and an account's", len(d.Idempotency))
	}
	steps := map[string]int{}
	for _, o := range d.Operations {
		steps[o.Step]++
	}
	for _, st := range []string{store.StepDone, store.StepError, store.StepCancel} {
		if steps[st] == 0 {
			fail("no %s operation (steps %v)", st, steps)
		}
	}
	if err := checkInFlight(d); err != nil {
		fail("%v", err)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// checkInFlight verifies the four operations the second run leaves
// unfinished, each as the journal has it at the kill.
func checkInFlight(d dump) error {
	want := []struct {
		typ, step string
		inStep    bool
		params    []string
		data      []string
		secrets   []string
		after     bool
	}{
		{typ: "disk_rollback", step: store.StepRun, inStep: true, params: []string{"old_disk_id", "snapshot_id"}, after: true},
		{typ: "disk_attach", step: store.StepWait, params: []string{"position", "access", "insert", "restore_disk_id"}, after: true},
		{typ: "vm_update", step: store.StepWait, params: []string{"memory"}, secrets: []string{"password_hash"}},
		{typ: "vm_stop", step: store.StepRun, inStep: true, data: []string{"deadline", "messages"}},
	}
	var got []store.Operation
	for _, o := range d.Operations {
		if !o.Finished() {
			got = append(got, o)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d operations in flight, want %d:\n%s", len(got), len(want), summary(d))
	}
	for i, w := range want {
		o := got[i]
		bad := o.Type != w.typ || o.Step != w.step || o.InStep != w.inStep || o.Cursor != 0 || (len(o.After) > 0) != w.after ||
			!hasKeys(o.Params, w.params) || !hasKeys(o.Data, w.data) || !hasKeys(o.Secrets, w.secrets)
		if bad {
			return fmt.Errorf("in-flight operation %d is not %s %s (in_step %v, params %v, data %v, secrets %v, after %v):\n%s",
				i+1, w.typ, w.step, w.inStep, w.params, w.data, w.secrets, w.after, summary(d))
		}
	}
	return nil
}

func hasKeys(m map[string]string, keys []string) bool {
	for _, k := range keys {
		if m[k] == "" {
			return false
		}
	}
	return true
}
