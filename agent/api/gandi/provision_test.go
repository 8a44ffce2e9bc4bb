package gandi

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/storage/nocloud"
)

const (
	testKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJemSO4cJYnMqTYNq8aP104yPPUl0HGk3+1VQ69OpS5 test@x"
	testKeyFP = "08:39:3b:2a:b3:07:dc:ec:ac:56:97:e2:84:2f:e7:e4" // ssh-keygen -l -E md5
	otherKey  = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 other@y"
)

func TestSSHKeys(t *testing.T) {
	a := newAgent(t, true)
	k := a.mustCall(a.alice, "hosting.ssh.create", map[string]any{"name": "laptop", "value": testKey}).(map[string]any)
	if k["fingerprint"] != testKeyFP || k["value"] != testKey {
		t.Fatalf("key = %v", k)
	}
	id := k["id"].(int64)
	if l := a.mustCall(a.alice, "hosting.ssh.list").([]any); len(l) != 1 || l[0].(map[string]any)["value"] != nil {
		t.Fatalf("list = %v (the value is in info only)", l)
	}
	for _, c := range []struct {
		who    *service.Caller
		method string
		params []any
		want   string
	}{
		{a.alice, "hosting.ssh.create", []any{map[string]any{"name": "laptop", "value": testKey}}, "already has"},
		{a.alice, "hosting.ssh.create", []any{map[string]any{"name": "bad", "value": "ssh-ed25519 not-base64!"}}, "value"},
		{a.alice, "hosting.ssh.create", []any{map[string]any{"name": "bad", "value": "ssh-rsa " + strings.Fields(testKey)[1]}}, "value"},
		{a.alice, "hosting.ssh.create", []any{map[string]any{"value": testKey}}, "name"},
		{a.bob, "hosting.ssh.info", []any{id}, "ssh key"},
		{a.bob, "hosting.ssh.delete", []any{id}, "ssh key"},
	} {
		if _, f := a.call(c.who, c.method, c.params...); f == nil || !strings.Contains(f.Error(), c.want) {
			t.Errorf("%s %v: fault %v, want one naming %q", c.method, c.params, f, c.want)
		}
	}
	if n := a.mustCall(a.alice, "hosting.ssh.count"); n != 1 {
		t.Fatalf("count = %v", n)
	}
	if ok := a.mustCall(a.alice, "hosting.ssh.delete", id); ok != true {
		t.Fatalf("delete = %v", ok)
	}
}

// The provisioning fields of vm.create_from become a NoCloud seed,
// attached read-only, removed with the VM.
func TestFirstBootSeed(t *testing.T) {
	a := newAgent(t, true)
	key := a.mustCall(a.alice, "hosting.ssh.create", map[string]any{"name": "laptop", "value": testKey}).(map[string]any)["id"].(int64)
	spec := vmSpec("seeded")
	spec["login"], spec["ssh_key"], spec["keys"], spec["run"] = "alice", otherKey, []any{key}, "touch /root/first"
	done := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", spec, map[string]any{}, a.image))
	vmID := done[2]["params"].(map[string]any)["vm_id"].(int64)
	path := filepath.Join(a.dir, "seeds", fmt.Sprintf("xa-seed-%d.iso", vmID))
	files, label, err := nocloud.ReadImage(path)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	if label != "cidata" {
		t.Errorf("label %q", label)
	}
	ud := string(files["user-data"])
	for _, want := range []string{`"name": "alice"`, testKey, otherKey, "touch /root/first", `"hostname": "seeded"`} {
		if !strings.Contains(ud, want) {
			t.Errorf("user-data lacks %q:\n%s", want, ud)
		}
	}
	if strings.Contains(ud, "password_to_change") {
		t.Errorf("the password itself is in the seed")
	}
	var hash string
	for _, f := range strings.Split(ud, "\"") {
		if strings.HasPrefix(f, "$6$") {
			hash = f
		}
	}
	if !passwd.Verify(hash, "password_to_change") {
		t.Errorf("hashed_passwd %q does not verify the password", hash)
	}
	ip := a.mustCall(a.alice, "hosting.vm.info", vmID).(map[string]any)["ifaces"].([]any)[0].(map[string]any)["ips"].([]any)[0].(map[string]any)["ip"].(string)
	if !strings.Contains(string(files["network-config"]), ip+"/24") {
		t.Errorf("network-config lacks %s/24:\n%s", ip, files["network-config"])
	}
	spec2, err := a.wf.DomainSpec(vmID)
	if err != nil || spec2.Seed != path {
		t.Fatalf("domain seed = %q, %v; want %s", spec2.Seed, err, path)
	}
	// The seed's instance-id is stable, so cloud-init runs once.
	if !strings.Contains(string(files["meta-data"]), a.wf.UUID(vmID)) {
		t.Errorf("meta-data = %s", files["meta-data"])
	}

	// A VM with nothing to provision has no seed.
	plain := vmSpec("plain")
	delete(plain, "password")
	done = a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.create_from", plain, map[string]any{}, a.image))
	plainID := done[2]["params"].(map[string]any)["vm_id"].(int64)
	if _, err := os.Stat(filepath.Join(a.dir, "seeds", fmt.Sprintf("xa-seed-%d.iso", plainID))); !os.IsNotExist(err) {
		t.Errorf("a VM without provisioning got a seed: %v", err)
	}

	for _, c := range []struct {
		field string
		val   any
	}{{"keys", []any{int64(999)}}, {"ssh_key", "not a key"}, {"login", "no spaces"}} {
		bad := vmSpec("bad")
		bad[c.field] = c.val
		before := a.snapshot()
		if _, f := a.call(a.alice, "hosting.vm.create_from", bad, map[string]any{}, a.image); f == nil || !strings.Contains(f.Error(), c.field) {
			t.Errorf("%s=%v: fault %v", c.field, c.val, f)
		}
		if a.snapshot() != before {
			t.Errorf("%s: a refused call changed records", c.field)
		}
	}

	a.mustDone(a.alice, a.mustCall(a.alice, "hosting.vm.delete", vmID))
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("seed left after vm.delete: %v", err)
	}
	// A seed nobody owns (a crash between writing it and recording the
	// VM's end) is removed by reconciliation.
	orphan := filepath.Join(a.dir, "seeds", "xa-seed-424242.iso")
	os.WriteFile(orphan, []byte("x"), 0o600)
	if err := a.rec.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan seed kept: %v", err)
	}
}
