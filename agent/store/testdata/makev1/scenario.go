package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// sshKey is a public key the API accepts (the service tests' key).
const sshKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJemSO4cJYnMqTYNq8aP104yPPUl0HGk3+1VQ69OpS5 fixture@example"

// The fail points of the two runs (cmd/xenagent/serve.go): the first run
// ends with a vm_update killed after its apply step, which the second run
// resumes; the second ends with a vm_stop killed as its stop step begins
// (its deadline journalled), and the file is taken then.
const (
	failpointRun1 = "vm_update:done:apply"
	failpointRun2 = "vm_stop:begin:stop"
)

// Ids the operator chooses for the configured account's VM.
const (
	haltedVM    = 4242
	haltedDisk  = 4243
	haltedIface = 4244
	haltedIP    = 4245
)

// scenario drives one agent through both runs and remembers what it made.
type scenario struct {
	a                  *agent
	demoAcct, corpAcct int64
	image              int64
	key                int64
	web, db            int64 // the demo account's VMs
	data, auto         int64 // a data disk with a snapshot profile, and its automatic snapshot
	snap               int64 // a snapshot of the halted VM's system disk
	log                func(format string, args ...any)
}

func (s *scenario) call(key, method string, params ...any) (any, error) {
	return s.a.call(key, method, params...)
}

// opts is a call's trailing options struct, with an idempotency key.
func opts(idem string, kv ...any) map[string]any {
	m := map[string]any{"idempotency_key": idem}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func field(m map[string]any, key string) int64 {
	n, _ := m[key].(int64)
	return n
}

// run1 makes the records every state has, and ends killed inside a vm_update.
func (s *scenario) run1() error {
	a := s.a
	if err := a.start(failpointRun1); err != nil {
		return err
	}
	for _, step := range []struct {
		name string
		fn   func() error
	}{
		{"accounts, image and ssh key", s.basics},
		{"demo VMs web (IPv4) and db (IPv6)", s.demoVMs},
		{"data disk with a snapshot profile, attached read-only to db", s.dataDisk},
		{"operator-made VM 4242, stopped, and a snapshot of its system disk", s.haltedVM},
		{"free IPv6 iface with a reverse, and a deleted IPv4 one", s.ifaces},
		{"a disk copy that fails (its source volume moved away)", s.failedCopy},
	} {
		s.log("run 1: %s", step.name)
		if err := step.fn(); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	s.log("run 1: vm_update of web, killed at %s", failpointRun1)
	// The fail point may kill the agent before it answers.
	s.call(a.demoKey, "hosting.vm.update", s.web, map[string]any{"memory": int64(512), "cores": int64(2), "password": "second-pass-123"},
		opts("update-web"))
	return a.waitKilled()
}

func (s *scenario) basics() error {
	a := s.a
	for _, acct := range []struct {
		key string
		id  *int64
	}{{a.demoKey, &s.demoAcct}, {corpKey, &s.corpAcct}} {
		v, err := s.call(acct.key, "hosting.account.info")
		if err != nil {
			return err
		}
		*acct.id = field(v.(map[string]any), "id")
	}
	v, err := s.call(a.demoKey, "hosting.image.list", map[string]any{})
	if err != nil {
		return err
	}
	s.image = field(v.([]any)[0].(map[string]any), "disk_id")
	v, err = s.call(a.demoKey, "hosting.ssh.create", map[string]any{"name": "fixture-key", "value": sshKey})
	if err != nil {
		return err
	}
	s.key = field(v.(map[string]any), "id")
	return nil
}

func (s *scenario) demoVMs() error {
	a := s.a
	made, err := a.done(a.demoKey, "hosting.vm.create_from",
		map[string]any{"datacenter_id": int64(1), "hostname": "web", "memory": int64(256), "password": "first-boot-pass",
			"login": "admin", "keys": []any{s.key}, "run": "echo fixture > /etc/motd", "ip_version": int64(4)},
		map[string]any{"name": "web-sys"}, s.image, opts("create-web"))
	if err != nil {
		return err
	}
	s.web = field(made[len(made)-1], "vm_id")
	made, err = a.done(a.demoKey, "hosting.vm.create_from",
		map[string]any{"datacenter_id": int64(1), "hostname": "db", "memory": int64(512), "vm_max_memory": int64(1024), "cores": int64(2),
			"ssh_key": sshKey, "ip_version": int64(6)},
		map[string]any{"name": "db-sys", "size": int64(16)}, s.image, opts("create-db"))
	if err != nil {
		return err
	}
	s.db = field(made[len(made)-1], "vm_id")
	return nil
}

func (s *scenario) dataDisk() error {
	a := s.a
	made, err := a.done(a.demoKey, "hosting.disk.create",
		map[string]any{"datacenter_id": int64(1), "name": "data1", "size": int64(16), "snapshot_profile": int64(2)}, opts("disk-data1"))
	if err != nil {
		return err
	}
	s.data = field(made[0], "disk_id")
	// The scheduler (every second) takes the profile's first snapshot.
	deadline := time.Now().Add(30 * time.Second)
	for s.auto == 0 {
		v, err := s.call(a.demoKey, "hosting.disk.list", map[string]any{})
		if err != nil {
			return err
		}
		for _, d := range v.([]any) {
			m := d.(map[string]any)
			if m["type"] == "snapshot_auto" && m["state"] == "created" && field(m, "source") == s.data {
				s.auto = field(m, "id")
			}
		}
		if time.Now().After(deadline) {
			return errors.New("no automatic snapshot was taken")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err = a.done(a.demoKey, "hosting.vm.disk_attach", s.db, s.data,
		map[string]any{"position": int64(1), "access": "read"}, opts("attach-data1"))
	return err
}

func (s *scenario) haltedVM() error {
	a := s.a
	if _, err := a.done(operatorKey, "hosting.vm.create_from",
		map[string]any{"datacenter_id": int64(1), "hostname": "halted", "memory": int64(256)},
		map[string]any{"name": "halted-sys"}, s.image,
		opts("corp-halted", "account_id", s.corpAcct, "vm_id", int64(haltedVM), "disk_id", int64(haltedDisk),
			"iface_id", int64(haltedIface), "ip_id", int64(haltedIP))); err != nil {
		return err
	}
	if _, err := a.done(operatorKey, "hosting.vm.stop", int64(haltedVM), opts("corp-halted-stop")); err != nil {
		return err
	}
	made, err := a.done(corpKey, "hosting.disk.create_from", map[string]any{"type": "snapshot", "name": "halted-snap"},
		int64(haltedDisk), opts("snap-halted"))
	if err != nil {
		return err
	}
	s.snap = field(made[0], "disk_id")
	return nil
}

func (s *scenario) ifaces() error {
	a := s.a
	made, err := a.done(a.demoKey, "hosting.iface.create", map[string]any{"datacenter_id": int64(1), "ip_version": int64(6)}, opts("iface-free6"))
	if err != nil {
		return err
	}
	v, err := s.call(a.demoKey, "hosting.iface.info", field(made[0], "iface_id"))
	if err != nil {
		return err
	}
	ip := v.(map[string]any)["ips_id"].([]any)[0].(int64)
	if _, err := a.done(a.demoKey, "hosting.ip.update", ip, map[string]any{"reverse": "free6.fixture.example"}); err != nil {
		return err
	}
	made, err = a.done(a.demoKey, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)})
	if err != nil {
		return err
	}
	_, err = a.done(a.demoKey, "hosting.iface.delete", field(made[0], "iface_id"), opts("iface-delete"))
	return err
}

// failedCopy makes an operation end in ERROR for a reason a host meets (a
// volume gone from under the agent), then puts the volume back.
func (s *scenario) failedCopy() error {
	a := s.a
	vol := filepath.Join(a.dir, "disks", fmt.Sprintf("xa-disk-%d.img", s.auto))
	aside := filepath.Join(a.dir, "aside.img")
	if err := os.Rename(vol, aside); err != nil {
		return err
	}
	v, err := s.call(a.demoKey, "hosting.disk.create_from", map[string]any{"name": "from-auto"}, s.auto, opts("copy-auto"))
	if err != nil {
		return err
	}
	if _, err := a.waitOp(a.demoKey, opIDs(v)[0], "ERROR"); err != nil {
		return err
	}
	return os.Rename(aside, vol)
}

// run2 resumes the killed vm_update, makes more history, and leaves
// operations in flight: a rollback chain whose clone blocks (its snapshot's
// volume is a FIFO nobody writes), a vm_update queued behind it, and a
// vm_stop killed as its stop step begins.
func (s *scenario) run2() error {
	a := s.a
	if err := a.start(failpointRun2); err != nil {
		return err
	}
	for _, step := range []struct {
		name string
		fn   func() error
	}{
		{"the killed vm_update resumed to DONE", s.resumed},
		{"web and db started again (the test driver forgot them), web rebooted, db updated", s.history},
		{"rollback chain of VM 4242 blocked in its clone, an update queued behind it, a start cancelled", s.blocked},
	} {
		s.log("run 2: %s", step.name)
		if err := step.fn(); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	s.log("run 2: vm_stop of db, killed at %s", failpointRun2)
	s.call(a.demoKey, "hosting.vm.stop", s.db, opts("stop-db"))
	return a.waitKilled()
}

func (s *scenario) resumed() error {
	v, err := s.call(s.a.demoKey, "operation.list", map[string]any{"type": "vm_update"})
	if err != nil {
		return err
	}
	for _, o := range v.([]any) {
		if m := o.(map[string]any); field(m, "vm_id") == s.web {
			_, err := s.a.waitOp(s.a.demoKey, field(m, "id"), "DONE")
			return err
		}
	}
	return errors.New("the vm_update of web is not listed")
}

func (s *scenario) history() error {
	a := s.a
	for _, c := range []struct {
		method string
		params []any
	}{
		{"hosting.vm.start", []any{s.web, opts("start-web")}},
		{"hosting.vm.start", []any{s.db}},
		{"hosting.vm.reboot", []any{s.web, opts("reboot-web")}},
		{"hosting.vm.update", []any{s.db, map[string]any{"memory": int64(384)}, opts("update-db")}},
	} {
		if _, err := a.done(a.demoKey, c.method, c.params...); err != nil {
			return err
		}
	}
	return nil
}

func (s *scenario) blocked() error {
	a := s.a
	// Reading a FIFO blocks until a writer comes: the clone waits, in its
	// step, until the agent is killed.
	vol := filepath.Join(a.dir, "disks", fmt.Sprintf("xa-disk-%d.img", s.snap))
	if err := os.Rename(vol, filepath.Join(a.dir, "snap-aside.img")); err != nil {
		return err
	}
	if err := syscall.Mkfifo(vol, 0o600); err != nil {
		return err
	}
	v, err := s.call(corpKey, "hosting.vm.disk_rollback", s.snap, opts("rollback-halted"))
	if err != nil {
		return err
	}
	chain := opIDs(v)
	if len(chain) != 3 {
		return fmt.Errorf("rollback of a halted VM's disk made %d operations, want 3 (detach, rollback, attach)", len(chain))
	}
	if _, err := a.waitOp(corpKey, chain[0], "DONE"); err != nil {
		return err
	}
	if _, err := a.waitOp(corpKey, chain[1], "RUN"); err != nil {
		return err
	}
	v, err = s.call(corpKey, "hosting.vm.update", int64(haltedVM), map[string]any{"memory": int64(512), "password": "third-pass-1234"},
		opts("update-halted"))
	if err != nil {
		return err
	}
	if _, err := a.waitOp(corpKey, opIDs(v)[0], "WAIT"); err != nil {
		return err
	}
	v, err = s.call(corpKey, "hosting.vm.start", int64(haltedVM))
	if err != nil {
		return err
	}
	if _, err := s.call(corpKey, "operation.cancel", opIDs(v)[0]); err != nil {
		return err
	}
	_, err = a.waitOp(corpKey, opIDs(v)[0], "CANCEL")
	return err
}
