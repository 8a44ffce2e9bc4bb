package gandi

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/storage/nocloud"
)

// credSeed is what vmID's seed holds: its instance-id, user-data, and the
// password hash in it ("" when none).
func (a *agent) credSeed(vmID int64) (instanceID, userData, hash string) {
	a.t.Helper()
	files, _, err := nocloud.ReadImage(filepath.Join(a.dir, "seeds", fmt.Sprintf("xa-seed-%d.iso", vmID)))
	if err != nil {
		a.t.Fatalf("seed of vm %d: %v", vmID, err)
	}
	m := regexp.MustCompile(`"instance-id": "([^"]*)"`).FindStringSubmatch(string(files["meta-data"]))
	if m == nil {
		a.t.Fatalf("meta-data without instance-id: %s", files["meta-data"])
	}
	userData = string(files["user-data"])
	if h := regexp.MustCompile(`"(\$6\$[^"]*)"`).FindStringSubmatch(userData); h != nil {
		hash = h[1]
	}
	return m[1], userData, hash
}

func (a *agent) vmRecord(id int64) store.VM {
	var v store.VM
	a.st.View(func(tx *store.Tx) { v, _ = tx.VM(id) })
	return v
}

// vm.update's password and ssh_key, and reset_password, write a later
// seed under a new instance-id that keeps the host keys and runs nothing,
// say in the operation that they take effect at the next boot, and make
// that boot a fresh start, which an agent reboot then is.
func TestCredentialsReachTheSeed(t *testing.T) {
	a := newAgent(t, true)
	spec := vmSpec("creds")
	spec["run"] = "touch /root/first"
	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", spec, map[string]any{}, a.image))
	vmID := done[2]["params"].(map[string]any)["vm_id"].(int64)
	uuid := a.wf.UUID(vmID)
	if id, ud, _ := a.credSeed(vmID); id != uuid || !strings.Contains(ud, "touch /root/first") {
		t.Fatalf("first seed: %s\n%s", id, ud)
	}

	op := a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"password": "new-password-1", "ssh_key": testKey}).(map[string]any)
	if p := op["params"].(map[string]any); p["effective"] != "next_boot" || p["password"] != nil || op["type"] != "vm_update" {
		t.Fatalf("operation = %v; want vm_update with effective next_boot and no password", op)
	}
	a.mustDone(a.alice, op)
	id, ud, hash := a.credSeed(vmID)
	if id != uuid+"-g1" {
		t.Errorf("instance-id after new credentials = %s, want %s-g1", id, uuid)
	}
	if !passwd.Verify(hash, "new-password-1") {
		t.Errorf("seed hash %q does not verify the new password", hash)
	}
	for _, want := range []string{`"ssh_deletekeys": false`, `"chpasswd"`, `"expire": false`, testKey} {
		if !strings.Contains(ud, want) {
			t.Errorf("later seed lacks %s:\n%s", want, ud)
		}
	}
	if strings.Contains(ud, "touch /root/first") || strings.Contains(ud, "new-password-1") {
		t.Errorf("later seed runs the first boot's command again or holds the password:\n%s", ud)
	}
	v := a.vmRecord(vmID)
	if v.SeedGen != 1 || !v.RestartPending || !passwd.Verify(v.Provision.Password, "new-password-1") ||
		len(v.Provision.AuthorizedKeys) != 1 || v.Provision.AuthorizedKeys[0] != testKey {
		t.Errorf("record after update: gen %d, restart pending %v, provision %+v", v.SeedGen, v.RestartPending, v.Provision)
	}
	if info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any); info["restart_pending"] != true {
		t.Errorf("vm.info restart_pending = %v after new credentials", info["restart_pending"])
	}
	if ds, err := a.wf.DomainSpec(vmID); err != nil || ds.Seed == "" {
		t.Errorf("domain seed %q, %v", ds.Seed, err)
	}

	// reset_password: a new password, once, that the next seed carries.
	res := a.mustCall(a.alice, "hosting.vm.reset_password", vmID, map[string]any{"idempotency_key": "rp1"}).(map[string]any)
	pw, _ := res["password"].(string)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`).MatchString(pw) || res["params"].(map[string]any)["effective"] != "next_boot" {
		t.Fatalf("reset_password = %v", res)
	}
	a.mustDone(a.alice, res)
	if id, _, hash := a.credSeed(vmID); id != uuid+"-g2" || !passwd.Verify(hash, pw) {
		t.Errorf("after reset_password: instance-id %s, hash verifies: %v", id, passwd.Verify(hash, pw))
	}
	again := a.mustCall(a.alice, "hosting.vm.reset_password", vmID, map[string]any{"idempotency_key": "rp1"}).(map[string]any)
	if again["id"] != res["id"] || again["password"] != nil {
		t.Errorf("retried reset_password = %v; want operation %v and no password", again, res["id"])
	}
	if err := service.CheckGigasPassword(service.ObjVM, "password", pw); err != nil {
		t.Errorf("generated password breaks Gigas' rule: %v", err)
	}

	// The same key again is not added twice; the seed moves on.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"ssh_key": testKey}))
	if v := a.vmRecord(vmID); v.SeedGen != 3 || len(v.Provision.AuthorizedKeys) != 1 {
		t.Errorf("after the same key: gen %d, keys %v", v.SeedGen, v.Provision.AuthorizedKeys)
	}

	// The next reboot through the agent is the fresh start that applies it.
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.reboot", vmID))
	if info := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any); info["restart_pending"] != false || a.vmRecord(vmID).RestartPending {
		t.Errorf("restart still pending after a reboot: %v", info["restart_pending"])
	}

	// A VM made without anything to provision gets its first seed (a
	// later one: the guest is installed) and the domain the device.
	plain := vmSpec("plain")
	delete(plain, "password")
	done = a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", plain, map[string]any{}, a.image))
	plainID := done[2]["params"].(map[string]any)["vm_id"].(int64)
	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.update", plainID, map[string]any{"ssh_key": testKey}))
	if id, ud, hash := a.credSeed(plainID); id != a.wf.UUID(plainID)+"-g1" || hash != "" || !strings.Contains(ud, testKey) {
		t.Errorf("plain VM's seed: %s, hash %q\n%s", id, hash, ud)
	}
	if ds, _ := a.wf.DomainSpec(plainID); ds.Seed == "" {
		t.Errorf("plain VM's domain has no seed device")
	}
}

// Bad credentials, someone else's VM, and an agent that writes no seeds:
// a fault naming the field and the rule, and nothing changed.
func TestCredentialsRefused(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "refused")
	noSeeds := newAgent(t, true, func(c *agentConfig) { c.SeedDir = "" })
	plain := vmSpec("noseed")
	delete(plain, "password")
	done := noSeeds.mustDone(noSeeds.alice, noSeeds.mustCall(noSeeds.alice, "hosting.vm.create_from", plain, map[string]any{}, noSeeds.image))
	noSeedVM := done[2]["params"].(map[string]any)["vm_id"].(int64)
	for _, c := range []struct {
		a      *agent
		who    *service.Caller
		method string
		params []any
		want   string
	}{
		{a, a.alice, "hosting.vm.update", []any{vmID, map[string]any{"password": "short"}}, "password: must be 8 to 128 characters"},
		{a, a.alice, "hosting.vm.update", []any{vmID, map[string]any{"ssh_key": "not a key"}}, "ssh_key: "},
		{a, a.alice, "hosting.vm.update", []any{vmID, map[string]any{"ssh_key": ""}}, "update_spec: nothing to change"},
		{a, a.bob, "hosting.vm.reset_password", []any{vmID}, "vm"},
		{a, a.alice, "hosting.vm.reset_password", []any{"x"}, "vm_id"},
		{a, a.alice, "hosting.vm.reset_password", []any{vmID, map[string]any{"nope": 1}}, "nope"},
		{a, a.alice, "hosting.vm.reset_password", []any{vmID, map[string]any{}, 3}, "at most"},
		{noSeeds, noSeeds.alice, "hosting.vm.update", []any{noSeedVM, map[string]any{"password": "long-enough-1"}}, "password: cannot reach"},
		{noSeeds, noSeeds.alice, "hosting.vm.update", []any{noSeedVM, map[string]any{"ssh_key": testKey}}, "ssh_key: cannot reach"},
		{noSeeds, noSeeds.alice, "hosting.vm.reset_password", []any{noSeedVM}, "password: cannot reach"},
	} {
		before := c.a.snapshot()
		if _, f := c.a.call(c.who, c.method, c.params...); f == nil || !strings.Contains(f.Error(), c.want) {
			t.Errorf("%s %v: fault %v, want one naming %q", c.method, c.params, f, c.want)
		}
		if c.a.snapshot() != before {
			t.Errorf("%s %v: a refused call changed records", c.method, c.params)
		}
	}
	if v := a.vmRecord(vmID); v.SeedGen != 0 || v.RestartPending {
		t.Errorf("refused calls moved the seed: %+v", v)
	}
}

// An update cancelled after its seed was written, before the record took
// the credentials, puts the seed back as the record has it: the same
// instance-id and hash as before, nothing pending.
func TestCredentialsCancelledRestoreSeed(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "cancelled")
	id0, ud0, hash0 := a.credSeed(vmID)
	written := ""
	a.rig.OnBoundary(func(op store.Operation, boundary string) {
		if op.Type == "vm_update" && boundary == "done:seed" {
			written, _, _ = a.credSeed(vmID)
			if err := a.eng.Cancel(op.ID); err != nil {
				t.Errorf("cancel: %v", err)
			}
		}
	})
	out := a.wait(a.alice, a.mustCall(a.alice, "hosting.vm.update", vmID, map[string]any{"password": "never-applied"}))
	a.rig.OnBoundary(nil)
	if out[0]["step"] != "CANCEL" || written != a.wf.UUID(vmID)+"-g1" {
		t.Fatalf("operation ended %v (%v); seed written as %q", out[0]["step"], out[0]["last_error"], written)
	}
	if id, ud, hash := a.credSeed(vmID); id != id0 || hash != hash0 || ud != ud0 {
		t.Errorf("seed after the cancelled update: %s (was %s), hash changed: %v", id, id0, hash != hash0)
	}
	if v := a.vmRecord(vmID); v.SeedGen != 0 || v.RestartPending || !passwd.Verify(v.Provision.Password, "password_to_change") {
		t.Errorf("record after the cancelled update: %+v", v)
	}
}
