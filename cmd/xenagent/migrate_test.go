package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/storage/nocloud"
)

// newMoveLab is newDriverLab (libvirt's test driver, the file backend)
// with the operator key, which asks for tickets and moves VMs: one of
// the two agents a move test runs.
func newMoveLab(t *testing.T) *lab { return newMoveLabRetry(t, "2m") }

// newMoveLabRetry is newMoveLab whose steps retry transient failures for
// stepRetry only.
func newMoveLabRetry(t *testing.T, stepRetry string) *lab {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "disks"), 0o755)
	l := &lab{t: t, dir: dir, port: freePort(t), bin: buildPlain(t), conf: filepath.Join(dir, "agent.toml")}
	conf := fmt.Sprintf(`listen = "127.0.0.1:%d"
state_dir = %q
log_level = "debug"
[libvirt]
uri = "test:///default"
[storage]
backend = "file"
dir = %q
[network]
bridge = "xabr0"
wire = false
sweep = false
[network.ipv4]
prefix = "10.77.0.0/24"
[timeouts]
stop = "2s"
stop_messages = 2
reboot = "2s"
step_retry = %q
[demo]
enabled = true
[operator]
key_sha256 = "%s"
[[images]]
label = "plain"
size_mb = 8
`, l.port, dir, filepath.Join(dir, "disks"), stepRetry, service.HashKey(operatorKey))
	os.WriteFile(l.conf, []byte(conf), 0o644)
	t.Cleanup(func() {
		if l.agent != nil {
			l.agent.cmd.Process.Kill()
			l.agent.wait()
		}
		if t.Failed() && l.agent != nil {
			t.Logf("agent %s log:\n%s", dir, l.agent.out)
		}
	})
	return l
}

// asOperator calls method with the operator key.
func (l *lab) asOperator(method string, params ...any) any {
	l.t.Helper()
	key := l.key
	l.key = operatorKey
	defer func() { l.key = key }()
	return l.must(method, params...)
}

// volumeSum is the SHA-256 of disk id's volume file.
func (l *lab) volumeSum(id int64) string {
	l.t.Helper()
	f, err := os.Open(filepath.Join(l.dir, "disks", fmt.Sprintf("xa-disk-%d.img", id)))
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		l.t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// scribble writes recognisable data at a few places of disk id's volume.
func (l *lab) scribble(id int64, seed byte) {
	l.t.Helper()
	f, err := os.OpenFile(filepath.Join(l.dir, "disks", fmt.Sprintf("xa-disk-%d.img", id)), os.O_WRONLY, 0)
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 100<<10)
	for i := range block {
		block[i] = seed ^ byte(i*7)
	}
	for _, off := range []int64{0, 3<<20 + 11, 7 << 20} {
		if _, err := f.WriteAt(block, off); err != nil {
			l.t.Fatal(err)
		}
	}
}

// moveVM moves vmID from src to dst through the Gandi face, as the
// central tier would: a ticket from the target, the move on the source.
// It checks the VM runs on dst only, with the same disks, bytes, MAC and
// address, and that src holds nothing of it.
func moveVM(t *testing.T, src, dst *lab, vmID int64) {
	t.Helper()
	info := src.must("hosting.vm.info", vmID).(map[string]any)
	sums := map[int64]string{}
	var disks []any
	var fullCopy int64
	for _, d := range info["disks"].([]any) {
		dm := d.(map[string]any)
		id := dm["id"].(int64)
		sums[id] = src.volumeSum(id)
		disks = append(disks, map[string]any{"id": id, "size": dm["size"]})
		fullCopy += dm["size"].(int64) << 20
	}
	var ifaces []any
	iface := info["ifaces"].([]any)[0].(map[string]any)
	ip := iface["ips"].([]any)[0].(map[string]any)
	ifaces = append(ifaces, map[string]any{"id": iface["id"], "ip": ip["ip"], "same_network": true})
	acct := src.must("hosting.account.info").(map[string]any)["id"]
	seed := src.seedMeta(vmID)
	ticket := dst.asOperator("hosting.migration.ticket", map[string]any{"account_id": acct, "vm_id": vmID,
		"memory": info["memory"], "cores": info["cores"], "disks": disks, "ifaces": ifaces}).(map[string]any)["ticket"].(string)
	target := fmt.Sprintf("http://127.0.0.1:%d", dst.port)
	start := time.Now()
	op := src.asOperator("hosting.vm.migrate", vmID, map[string]any{"target": target, "ticket": ticket}).(map[string]any)
	got := src.waitOp(op["id"])
	if got["step"] != "DONE" {
		t.Fatalf("vm_migrate ended %v: %v", got["step"], got["last_error"])
	}
	t.Logf("moved vm %d in %s, down %vms (stop to commit)", vmID, time.Since(start).Round(time.Millisecond), got["transfer"].(map[string]any)["downtime_ms"])
	// Only what the disks hold travels: at least what scribble wrote,
	// less than a full copy of every disk.
	if tr, _ := got["transfer"].(map[string]any); tr == nil || tr["bytes"].(int64) < 300<<10 || tr["bytes"].(int64) >= fullCopy {
		t.Fatalf("vm_migrate's transfer %v: want the bytes sent, at least the 300 KiB written, less than the %d of a full copy", got["transfer"], fullCopy)
	}
	received := false
	for _, o := range dst.settle() {
		if o["step"] != "DONE" {
			t.Fatalf("target: operation %v (%v) ended %v: %v", o["id"], o["type"], o["step"], o["last_error"])
		}
		if tr, _ := o["transfer"].(map[string]any); o["type"] == "vm_migrate_in" && tr != nil && tr["bytes"].(int64) > 0 {
			received = true
		}
	}
	if !received {
		t.Fatal("target: no vm_migrate_in shows the bytes received")
	}
	if _, err := src.call("hosting.vm.info", vmID); err == nil {
		t.Fatalf("the source still knows vm %d", vmID)
	}
	if disks := src.checkVolumes(); len(disks) != 0 { // every volume a record's, every record its volume
		t.Fatalf("the source keeps disks %v", disks)
	}
	dst.checkVolumes()
	moved := dst.must("hosting.vm.info", vmID).(map[string]any)
	if moved["state"] != "running" || moved["memory"] != info["memory"] {
		t.Fatalf("target: vm %v, want running with %v MB", moved, info["memory"])
	}
	miface := moved["ifaces"].([]any)[0].(map[string]any)
	if miface["id"] != iface["id"] || miface["ips"].([]any)[0].(map[string]any)["ip"] != ip["ip"] {
		t.Fatalf("target: iface %v, want %v", miface, iface)
	}
	for id, sum := range sums {
		if got := dst.volumeSum(id); got != sum {
			t.Fatalf("target: disk %d's content %s, want %s", id, got, sum)
		}
	}
	// The first-boot seed came along with its instance-id: the guest
	// does not take the new host for a new instance.
	if got := dst.seedMeta(vmID); got != seed || seed == "" {
		t.Fatalf("target: seed meta-data %q, want the source's %q", got, seed)
	}
	if _, err := os.Stat(filepath.Join(src.dir, "seeds", fmt.Sprintf("xa-seed-%d.iso", vmID))); err == nil {
		t.Fatal("the source keeps the vm's seed")
	}
	// Both hosts serve one network: the address the VM kept is in use on
	// the target, and the source (same pool here) must not lease it to
	// another iface, nor to the same account first though it "left".
	other := src.done("hosting.iface.create", map[string]any{"datacenter_id": int64(1)})[0]["iface_id"].(int64)
	oinfo := src.must("hosting.iface.info", other).(map[string]any)
	if got := oinfo["ips"].([]any)[0].(map[string]any)["ip"]; got == ip["ip"] {
		t.Fatalf("the source leased %v, which moved with vm %d and is in use on the target", got, vmID)
	}
	src.done("hosting.iface.delete", other)
}

// seedMeta is the meta-data (instance-id, hostname) of vm's first-boot
// seed, "" when it has none.
func (l *lab) seedMeta(vmID int64) string {
	l.t.Helper()
	entries, _ := os.ReadDir(filepath.Join(l.dir, "seeds"))
	for _, e := range entries {
		if strings.Contains(e.Name(), fmt.Sprintf("-%d.", vmID)) {
			files, _, err := nocloud.ReadImage(filepath.Join(l.dir, "seeds", e.Name()))
			if err != nil {
				l.t.Fatal(err)
			}
			return string(files["meta-data"])
		}
	}
	return ""
}

// Two agent processes on this machine (libvirt's test driver, the file
// backend, their own state and disks, the transfer over loopback): a
// running VM with a data disk moves to the other agent and back, its
// disks' bytes equal each way, and the host it left holds nothing of it.
func TestMoveBetweenAgents(t *testing.T) {
	a, b := newMoveLab(t), newMoveLab(t)
	a.start("")
	b.start("")
	made := a.done("hosting.vm.create_from",
		map[string]any{"datacenter_id": int64(1), "hostname": "mover", "memory": int64(256), "password": "first-boot-pass"},
		map[string]any{"name": "sys"}, a.imageDisk())
	vmID := made[2]["vm_id"].(int64)
	data := a.done("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(16)})[0]["disk_id"].(int64)
	a.done("hosting.vm.disk_attach", vmID, data, map[string]any{})
	a.scribble(data, 0x5a)
	moveVM(t, a, b, vmID)
	b.scribble(data, 0xa5) // written on b: the way back carries it
	moveVM(t, b, a, vmID)
}

// moveSteps are vm_migrate's and vm_migrate_in's steps.
var (
	moveSteps   = []string{"begin", "snapshot", "precopy", "stop", "delta", "prepare", "handover", "cleanup", "forget"}
	moveInSteps = []string{"volumes", "receive", "define", "prepared", "await_commit", "start", "finish"}
)

func boundaries(op string, steps []string) []string {
	var out []string
	for _, s := range steps {
		out = append(out, op+":begin:"+s, op+":done:"+s)
	}
	return out
}

// A kill -9 of either agent at every step boundary of the move (the
// source's vm_migrate, the target's vm_migrate_in), then a restart:
// the move ends, the VM is on exactly one of the two hosts (on the
// target once the source's operation is DONE, on the source otherwise)
// with its disks' bytes, and neither host keeps a volume or an operation
// that is not settled. libvirt's test driver forgets its domains with
// the agent, so a VM may come out halted where it stays; on a host the
// domain outlives the agent.
func TestCrashDuringMove(t *testing.T) {
	cases := append(boundaries("vm_migrate", moveSteps), boundaries("vm_migrate_in", moveInSteps)...)
	for _, fp := range cases {
		t.Run(fp, func(t *testing.T) {
			a, b := newMoveLab(t), newMoveLab(t)
			killed := a
			if strings.HasPrefix(fp, "vm_migrate_in:") {
				killed = b
				a.start("")
				b.start(fp)
			} else {
				a.start(fp)
				b.start("")
			}
			made := a.done("hosting.vm.create_from",
				map[string]any{"datacenter_id": int64(1), "hostname": "mover", "memory": int64(256), "password": "first-boot-pass"},
				map[string]any{"name": "sys"}, a.imageDisk())
			vmID := made[2]["vm_id"].(int64)
			data := a.done("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(16)})[0]["disk_id"].(int64)
			a.done("hosting.vm.disk_attach", vmID, data, map[string]any{})
			a.scribble(data, 0x3c)
			sum := a.volumeSum(data)
			info := a.must("hosting.vm.info", vmID).(map[string]any)
			var disks []any
			for _, d := range info["disks"].([]any) {
				dm := d.(map[string]any)
				disks = append(disks, map[string]any{"id": dm["id"], "size": dm["size"]})
			}
			iface := info["ifaces"].([]any)[0].(map[string]any)
			ip := iface["ips"].([]any)[0].(map[string]any)["ip"]
			acct := a.must("hosting.account.info").(map[string]any)["id"]
			ticket := b.asOperator("hosting.migration.ticket", map[string]any{"account_id": acct, "vm_id": vmID, "memory": info["memory"],
				"cores": info["cores"], "disks": disks, "ifaces": []any{map[string]any{"id": iface["id"], "ip": ip, "same_network": true}}}).(map[string]any)["ticket"].(string)
			migrate := func() (any, error) {
				key := a.key
				a.key = operatorKey
				defer func() { a.key = key }()
				return a.call("hosting.vm.migrate", vmID, map[string]any{"target": fmt.Sprintf("http://127.0.0.1:%d", b.port), "ticket": ticket},
					map[string]any{"idempotency_key": "move"})
			}
			migrate() // the fail point may kill the source before it answers
			killed.waitKilled()
			killed.start("")
			v, err := migrate() // the central tier's retry: the same operation
			if err != nil {
				t.Fatalf("retried move: %v", err)
			}
			op := v.(map[string]any)
			end := a.waitOpLong(op["id"], 3*time.Minute)
			for _, l := range []*lab{a, b} {
				l.settleLong(3 * time.Minute)
				l.checkVolumes()
			}
			on, off := b, a
			if end["step"] != "DONE" {
				on, off = a, b
			}
			got, err := on.call("hosting.vm.info", vmID)
			if err != nil {
				t.Fatalf("vm_migrate ended %v (%v), and the vm is not on %s: %v", end["step"], end["last_error"], on.dir, err)
			}
			st := got.(map[string]any)["state"]
			if st != "running" && st != "halted" {
				t.Fatalf("the vm is %v", st)
			}
			where := map[*lab]string{a: "source", b: "target"}[on]
			t.Logf("vm_migrate %v (%v); the vm is %v on the %s", end["step"], end["last_error"], st, where)
			if _, err := off.call("hosting.vm.info", vmID); err == nil {
				t.Fatalf("vm_migrate ended %v, and the vm is on both hosts", end["step"])
			}
			if got := on.volumeSum(data); got != sum {
				t.Fatalf("the data disk's content %s, want %s", got, sum)
			}
		})
	}
}

// waitOpLong is waitOp with a longer bound (a move retried across an
// agent's restart).
func (l *lab) waitOpLong(id any, d time.Duration) map[string]any {
	l.t.Helper()
	deadline := time.Now().Add(d)
	for {
		info := l.must("operation.info", id).(map[string]any)
		if s := info["step"]; s != "WAIT" && s != "RUN" {
			return info
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("operation %v still %v: %v", id, info["step"], info["last_error"])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settleLong waits until no operation of the demo account is unfinished.
func (l *lab) settleLong(d time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(d)
	for {
		busy := ""
		for _, o := range l.must("operation.list", map[string]any{"items_per_page": int64(500)}).([]any) {
			m := o.(map[string]any)
			if m["step"] == "WAIT" || m["step"] == "RUN" {
				busy = fmt.Sprintf("%v %v at %v", m["id"], m["type"], m["last_error"])
			}
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("operations never settled: %s", busy)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// moveFixture makes on a a running VM with a 16 MB data disk holding
// data, and a ticket for it on b; it returns the VM, the data disk, its
// content's digest and the ticket.
func moveFixture(t *testing.T, a, b *lab) (vmID, data int64, sum, ticket string) {
	t.Helper()
	return moveFixtureWith(t, a, b, 16, func(data int64) { a.scribble(data, 0x3c) })
}

// moveFixtureWith is moveFixture with a data disk of sizeMB that fill
// writes.
func moveFixtureWith(t *testing.T, a, b *lab, sizeMB int64, fill func(data int64)) (vmID, data int64, sum, ticket string) {
	t.Helper()
	made := a.done("hosting.vm.create_from",
		map[string]any{"datacenter_id": int64(1), "hostname": "mover", "memory": int64(256), "password": "first-boot-pass"},
		map[string]any{"name": "sys"}, a.imageDisk())
	vmID = made[2]["vm_id"].(int64)
	data = a.done("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": sizeMB})[0]["disk_id"].(int64)
	a.done("hosting.vm.disk_attach", vmID, data, map[string]any{})
	fill(data)
	info := a.must("hosting.vm.info", vmID).(map[string]any)
	var disks []any
	for _, d := range info["disks"].([]any) {
		dm := d.(map[string]any)
		disks = append(disks, map[string]any{"id": dm["id"], "size": dm["size"]})
	}
	iface := info["ifaces"].([]any)[0].(map[string]any)
	ip := iface["ips"].([]any)[0].(map[string]any)["ip"]
	acct := a.must("hosting.account.info").(map[string]any)["id"]
	ticket = b.asOperator("hosting.migration.ticket", map[string]any{"account_id": acct, "vm_id": vmID, "memory": info["memory"],
		"cores": info["cores"], "disks": disks, "ifaces": []any{map[string]any{"id": iface["id"], "ip": ip, "same_network": true}}}).(map[string]any)["ticket"].(string)
	return vmID, data, a.volumeSum(data), ticket
}

// A kill -9 of the source inside the rollback of a move whose target
// died when asked to prepare: after the restarts the rollback goes on to
// the end (ERROR), its abort reaching the target once it is back; the VM
// is the source's with its data, no snapshot is left, and the target,
// which never ran the VM, removed its side.
func TestCrashDuringMoveRollback(t *testing.T) {
	for _, step := range []string{"prepare", "delta", "stop", "precopy", "snapshot", "begin"} {
		fp := "vm_migrate:undo:" + step
		t.Run(fp, func(t *testing.T) {
			a, b := newMoveLabRetry(t, "2s"), newMoveLab(t)
			a.start(fp)
			b.start("vm_migrate_in:begin:prepared")
			vmID, data, sum, ticket := moveFixture(t, a, b)
			a.asOperator("hosting.vm.migrate", vmID, map[string]any{"target": fmt.Sprintf("http://127.0.0.1:%d", b.port), "ticket": ticket})
			b.waitKilled()
			a.waitKilled()
			a.start("")
			b.start("")
			ops := a.must("operation.list", map[string]any{"type": "vm_migrate"}).([]any)
			end := a.waitOpLong(ops[0].(map[string]any)["id"], 3*time.Minute)
			if end["step"] != "ERROR" {
				t.Fatalf("vm_migrate ended %v: %v; want ERROR, rolled back", end["step"], end["last_error"])
			}
			for _, l := range []*lab{a, b} {
				l.settleLong(time.Minute)
				l.checkVolumes() // no snapshot left, nothing of the move on the target
			}
			if st := a.vmState(vmID); st != "running" && st != "halted" {
				t.Fatalf("source: the vm is %v", st)
			}
			if got := a.volumeSum(data); got != sum {
				t.Fatalf("source: the data disk's content %s, want %s", got, sum)
			}
			if _, err := b.call("hosting.vm.info", vmID); err == nil {
				t.Fatal("target: the vm is still known after the rollback's abort")
			}
		})
	}
}

// A kill -9 of either agent at every step boundary of a detached disk's
// move (disk_migrate, disk_migrate_in): after a restart and the central
// tier's retry, the disk is on exactly one host with its bytes, and
// neither keeps an orphan volume or an unsettled operation.
func TestCrashDuringDiskMove(t *testing.T) {
	cases := append(boundaries("disk_migrate", []string{"begin", "send", "prepare", "handover", "cleanup", "forget"}),
		boundaries("disk_migrate_in", moveInSteps)...)
	for _, fp := range cases {
		t.Run(fp, func(t *testing.T) {
			a, b := newMoveLab(t), newMoveLab(t)
			killed := a
			if strings.HasPrefix(fp, "disk_migrate_in:") {
				killed = b
				a.start("")
				b.start(fp)
			} else {
				a.start(fp)
				b.start("")
			}
			disk := a.done("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(16)})[0]["disk_id"].(int64)
			a.scribble(disk, 0x77)
			sum := a.volumeSum(disk)
			acct := a.must("hosting.account.info").(map[string]any)["id"]
			ticket := b.asOperator("hosting.migration.ticket", map[string]any{"account_id": acct,
				"disks": []any{map[string]any{"id": disk, "size": int64(16)}}}).(map[string]any)["ticket"].(string)
			migrate := func() (any, error) {
				key := a.key
				a.key = operatorKey
				defer func() { a.key = key }()
				return a.call("hosting.disk.migrate", disk, map[string]any{"target": fmt.Sprintf("http://127.0.0.1:%d", b.port), "ticket": ticket},
					map[string]any{"idempotency_key": "move"})
			}
			migrate()
			killed.waitKilled()
			killed.start("")
			v, err := migrate()
			if err != nil {
				t.Fatalf("retried move: %v", err)
			}
			end := a.waitOpLong(v.(map[string]any)["id"], 3*time.Minute)
			for _, l := range []*lab{a, b} {
				l.settleLong(3 * time.Minute)
				l.checkVolumes()
			}
			on, off := b, a
			if end["step"] != "DONE" {
				on, off = a, b
			}
			if d, err := on.call("hosting.disk.info", disk); err != nil || d.(map[string]any)["state"] != "created" {
				t.Fatalf("disk_migrate ended %v (%v); the disk on %s: %v, %v", end["step"], end["last_error"], on.dir, d, err)
			}
			if _, err := off.call("hosting.disk.info", disk); err == nil {
				t.Fatalf("disk_migrate ended %v, and the disk is on both hosts", end["step"])
			}
			if got := on.volumeSum(disk); got != sum {
				t.Fatalf("the disk's content %s, want %s", got, sum)
			}
		})
	}
}
