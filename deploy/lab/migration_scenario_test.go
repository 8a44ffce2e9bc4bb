package lab

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// migrationScenario is issue 15 on real Xen: the running PV guest vmID
// (address ip) on A moves to B with its system disk and a data disk of
// known content. B's operator issues the ticket, A's asks for the move
// (as the central tier would); both operations are followed to DONE,
// their transfer logged; the downtime is measured by a pinger in B's
// dom0 started before the move and by the agent (downtime_ms). After
// it the guest answers ping at ip from both dom0s, its domain runs on B
// and not on A, its disks' LVs on B hash as they did on A, and A holds
// nothing of it (records, addresses, LVs, the move's snapshots, the
// domain). Then B is emptied with the operator's tool, xenagentctl host
// empty, run in B's dom0 towards A's agent: the guest is back on A, its
// disks intact, and B holds nothing. The guest is left running on A
// without the data disk, as it was found.
func (s *scenario) migrationScenario(b *scenario, vmID int64, ip string) {
	t := s.t
	begin := time.Now()

	// A data disk with 8 MiB of random data 16 MiB in, written in A's
	// dom0 before it is attached (the guest never writes its disks): its
	// LV's hash is what B must have. Small: the segment carries ~3 MB/s.
	op := s.c.must("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "name": "moves1", "size": int64(64)})
	s.c.wait(op, 2*time.Minute)
	data := op.(map[string]any)["disk_id"].(int64)
	s.dom0(fmt.Sprintf("head -c 8M /dev/urandom | dd of=/dev/labvg/xa-disk-%d bs=1M seek=16 iflag=fullblock conv=fsync status=none", data))
	s.c.wait(s.c.must("hosting.vm.disk_attach", vmID, data, map[string]any{}), 2*time.Minute)
	sys := s.sysDisk(vmID)
	sums := s.lvSums(sys, data)
	t.Logf("guest %d's disks on A before the move: system %d, data %d (8 MiB random at 16 MiB): %v", vmID, sys, data, sums)

	// A to B, from the test as the central tier would: the ticket from
	// the target's operator, the move asked of the source's. Cold (shut
	// down, booted on B): a live move (the memory saved and restored; on
	// Xen only with the disks at the same paths on both hosts, true
	// here) failed in the lab on 2026-12-03: B's restore outlived the
	// agent's 120 s libvirt deadline under TCG, after the source had
	// committed (README). XENAGENT_LAB_LIVE=1 tries it: a live move that
	// fails before the commit is logged with both hosts' libxl logs and
	// made again cold, so the rest is still checked.
	account := s.c.must("hosting.account.info").(map[string]any)["id"].(int64)
	cold := os.Getenv("XENAGENT_LAB_LIVE") != "1"
	var live any
	if cold {
		live = false
	}
	out, in, moved, gap, replies, failed := s.moveOnce(b, vmID, ip, account, live)
	if failed != "" && !cold {
		t.Errorf("live move A -> B of guest %d failed after %v: %s\nA's libxl log:\n%s\nB's libxl log:\n%s", vmID, moved.Round(time.Millisecond), failed,
			s.dom0(fmt.Sprintf("tail -n 40 /var/log/libvirt/libxl/xa-vm-%d.log /var/log/libvirt/libxl/libxl-driver.log 2>&1", vmID)),
			b.dom0(fmt.Sprintf("tail -n 40 /var/log/libvirt/libxl/xa-vm-%d.log /var/log/libvirt/libxl/libxl-driver.log 2>&1", vmID)))
		cold = true
		s.pingable(ip)
		s.runsHere(vmID, true)
		out, in, moved, gap, replies, failed = s.moveOnce(b, vmID, ip, account, false)
	}
	if failed != "" {
		t.Fatalf("move A -> B of guest %d: %s", vmID, failed)
	}
	t.Logf("move A -> B of guest %d: both operations DONE in %v (%s); pinger in B's dom0: longest gap %v (%d replies); agent: %s; target: %s",
		vmID, moved.Round(time.Millisecond), moveMode(out), gap, replies, transferLine(out), transferLine(in))
	t.Logf("guest %d on B answers ping from A's dom0 %v after", vmID, s.pingable(ip).Round(time.Second))
	b.runsHere(vmID, true)
	s.runsHere(vmID, false)
	if got := b.lvSums(sys, data); !sameSums(got, sums) {
		t.Fatalf("disks of guest %d after the move: LVs on B hash %v, on A they hashed %v", vmID, got, sums)
	}
	t.Logf("guest %d's disks on B hash as on A", vmID)
	s.holdsNothing(vmID, ip, sys, data)
	b.disksMatchLVs()

	// B emptied with the operator's tool, in B's dom0 as an operator
	// would run it: its own agent found by its configuration and the
	// operator key in its state_dir, A's key in a file.
	b.dom0(fmt.Sprintf("umask 077; printf %%s %q > /var/lib/xenagent/operator.key; printf %%s %q > /root/target-operator.key", b.op.key, s.op.key))
	p := s.startPinger(ip)
	start := time.Now()
	cmd := fmt.Sprintf("xenagentctl host empty -to %s -to-key-file /root/target-operator.key -account %d", agentBase(s), account)
	if cold {
		cmd += " -cold"
	}
	got, err := b.l.ExecWithin(s.ctx, 15*time.Minute, cmd+" 2>&1")
	emptied := time.Since(start)
	if err != nil {
		t.Fatalf("in B's dom0, %s: %v\n%s", cmd, err, got)
	}
	onA := s.pingable(ip)
	gap, replies = p.stop()
	back := b.lastOp("vm_migrate", vmID)
	t.Logf("host empty of B (%s) in %v, ping from A's dom0 %v after; pinger in A's dom0: longest gap %v (%d replies); B's vm_migrate (%s): %s; it said:\n%s",
		cmd, emptied.Round(time.Millisecond), onA.Round(time.Second), gap, replies, moveMode(back), transferLine(back), strings.TrimSpace(got))
	if !strings.Contains(got, "left on the source: nothing") {
		t.Fatalf("host empty did not leave B empty:\n%s", got)
	}
	s.runsHere(vmID, true)
	b.runsHere(vmID, false)
	if got := s.lvSums(sys, data); !sameSums(got, sums) {
		t.Fatalf("disks of guest %d back on A hash %v, before the moves %v", vmID, got, sums)
	}
	b.holdsNothing(vmID, ip, sys, data)
	b.dom0("rm -f /var/lib/xenagent/operator.key /root/target-operator.key")
	s.disksMatchLVs()

	s.c.wait(s.c.must("hosting.vm.disk_detach", vmID, data), 2*time.Minute)
	s.c.wait(s.c.must("hosting.disk.delete", data), 2*time.Minute)
	t.Logf("migration scenario: %v", time.Since(begin).Round(time.Second))
}

// agentBase is the host's agent as the other reaches it: on the
// guests' segment, dom0 to dom0.
func agentBase(h *scenario) string { return "http://" + h.l.Host().IP() + ":8080" }

// ticketSpec is hosting.migration.ticket's spec for moving vmID, read
// from vm.info as the central tier (or xenagentctl) reads it: its
// memory, cores, disks, and ifaces keeping their addresses (both hosts
// serve the segment).
func (s *scenario) ticketSpec(vmID, account int64) map[string]any {
	s.t.Helper()
	info := s.op.must("hosting.vm.info", vmID).(map[string]any)
	var disks, ifaces []any
	for _, d := range info["disks"].([]any) {
		d := d.(map[string]any)
		disks = append(disks, map[string]any{"id": d["id"], "size": d["size"]})
	}
	for _, i := range info["ifaces"].([]any) {
		i := i.(map[string]any)
		addr := i["ips"].([]any)[0].(map[string]any)["ip"]
		ifaces = append(ifaces, map[string]any{"id": i["id"], "same_network": true, "ip": addr})
	}
	return map[string]any{"account_id": account, "vm_id": vmID, "memory": info["memory"], "cores": info["cores"],
		"disks": disks, "ifaces": ifaces, "expires": int64(600)}
}

// moveOnce moves vmID from s to to (live as given, nil: where it can
// be), with a pinger in to's dom0 from before the move until the guest
// answers there. It returns the source's and target's last
// operation.info, how long the move took, the pinger's longest gap and
// replies, and why it failed ("" when it did not).
func (s *scenario) moveOnce(to *scenario, vmID int64, ip string, account int64, live any) (out, in map[string]any, took, gap time.Duration, replies int, failed string) {
	s.t.Helper()
	ticket := to.op.must("hosting.migration.ticket", s.ticketSpec(vmID, account)).(map[string]any)
	spec := map[string]any{"target": agentBase(to), "ticket": ticket["ticket"]}
	if live != nil {
		spec["live"] = live
	}
	after := to.lastOpID("vm_migrate_in", vmID)
	p := to.startPinger(ip)
	start := time.Now()
	out, in, failed = s.followMove(to, s.op.must("hosting.vm.migrate", vmID, spec), vmID, after)
	took = time.Since(start)
	if failed == "" {
		s.t.Logf("guest %d answers ping from %s's dom0 %v after the move", vmID, to.l.Host().Name, to.pingable(ip).Round(time.Second))
	}
	gap, replies = p.stop()
	return out, in, took, gap, replies, failed
}

// followMove polls the source's vm_migrate (op, on s) and the target's
// vm_migrate_in (on to, the first with an id above after) until both are
// DONE, logging their steps and transfers as they change or every 10 s.
// It returns both operations' last operation.info, and the source's
// error when it did not end DONE (its rollback over); the target's
// ending otherwise fails the test.
func (s *scenario) followMove(to *scenario, op any, vmID, after int64) (out, in map[string]any, failed string) {
	s.t.Helper()
	id := op.(map[string]any)["id"]
	start := time.Now()
	var inID int64
	var last string
	var logged time.Time
	for {
		out = s.op.must("operation.info", id).(map[string]any)
		if inID == 0 {
			if n := to.lastOpID("vm_migrate_in", vmID); n > after {
				inID = n
			}
		}
		if inID != 0 {
			in = to.op.must("operation.info", inID).(map[string]any)
		}
		line := fmt.Sprintf("%s %v %v %s", s.l.Host().Name, out["type"], out["step"], transferLine(out))
		if in != nil {
			line += fmt.Sprintf("; %s %v %v %s", to.l.Host().Name, in["type"], in["step"], transferLine(in))
		}
		if line != last && time.Since(logged) > 2*time.Second || time.Since(logged) > 10*time.Second {
			s.t.Logf("move at %v: %s", time.Since(start).Round(time.Second), line)
			last, logged = line, time.Now()
		}
		if out["step"] == "ERROR" || out["step"] == "CANCEL" {
			return out, in, fmt.Sprintf("operation %v (%v) ended %v: %v (target: %s)", out["id"], out["type"], out["step"], out["last_error"], line)
		}
		if in != nil && out["step"] == "DONE" && (in["step"] == "ERROR" || in["step"] == "CANCEL") {
			s.t.Fatalf("move of vm %d: the source is DONE, the target's operation %v (%v) ended %v: %v", vmID, in["id"], in["type"], in["step"], in["last_error"])
		}
		if out["step"] == "DONE" && in != nil && in["step"] == "DONE" {
			s.t.Logf("move done at %v: %s", time.Since(start).Round(time.Millisecond), line)
			return out, in, ""
		}
		if time.Since(start) > 15*time.Minute {
			s.t.Fatalf("move of vm %d not done after %v: %s", vmID, time.Since(start).Round(time.Second), line)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// lastOpID is the id of the host's latest operation of typ on vmID, 0
// for none (operator key).
func (s *scenario) lastOpID(typ string, vmID int64) int64 {
	s.t.Helper()
	list := s.op.must("operation.list", map[string]any{"type": typ, "vm_id": vmID, "sort_by": "-id", "items_per_page": int64(1)}).([]any)
	if len(list) == 0 {
		return 0
	}
	return list[0].(map[string]any)["id"].(int64)
}

// lastOp is the host's latest operation of typ on vmID (operator key).
func (s *scenario) lastOp(typ string, vmID int64) map[string]any {
	s.t.Helper()
	list := s.op.must("operation.list", map[string]any{"type": typ, "vm_id": vmID, "sort_by": "-id", "items_per_page": int64(1)}).([]any)
	if len(list) == 0 {
		s.t.Fatalf("host %s: no %s operation for vm %d", s.l.Host().Name, typ, vmID)
	}
	return s.op.must("operation.info", list[0].(map[string]any)["id"]).(map[string]any)
}

// transferLine is an operation's transfer as a log reads it.
func transferLine(op map[string]any) string {
	t, ok := op["transfer"].(map[string]any)
	if !ok {
		return "(no transfer)"
	}
	num := func(k string) float64 {
		switch v := t[k].(type) {
		case int64:
			return float64(v)
		case float64:
			return v
		}
		return 0
	}
	line := fmt.Sprintf("%.1f of %.1f MiB, %.2f MB/s, eta %.0f s", num("bytes")/(1<<20), num("bytes_total")/(1<<20), num("rate")/1e6, num("eta"))
	if d := num("downtime_ms"); d > 0 {
		line += fmt.Sprintf(", downtime %.0f ms", d)
	}
	return line
}

// moveMode says how the guest moved: the operation's transfer.mode
// where the agent says it (live: its memory saved and restored; cold:
// shut down, started again on the target) with mode_reason, why cold;
// an agent without the field moves cold only.
func moveMode(op map[string]any) string {
	params, _ := op["params"].(map[string]any)
	t, _ := op["transfer"].(map[string]any)
	for _, m := range []any{op["mode"], t["mode"], params["mode"]} {
		if m != nil && m != "" {
			if why, _ := t["mode_reason"].(string); why != "" {
				return fmt.Sprintf("%v: %s", m, why)
			}
			return fmt.Sprint(m)
		}
	}
	return "cold"
}

// lvSums hashes the LVs of disks ids in this host's dom0.
func (s *scenario) lvSums(ids ...int64) map[int64]string {
	s.t.Helper()
	out := map[int64]string{}
	for _, id := range ids {
		sum := s.dom0(fmt.Sprintf("sha256sum /dev/labvg/xa-disk-%d | cut -d' ' -f1", id))
		if len(sum) != 64 {
			s.t.Fatalf("host %s: sha256sum of disk %d's LV: %q", s.l.Host().Name, id, sum)
		}
		out[id] = sum[:16]
	}
	return out
}

func sameSums(a, b map[int64]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// runsHere checks that the guest's domain runs on this host (here) or
// that it has none at all, and that the agent's record agrees.
func (s *scenario) runsHere(vmID int64, here bool) {
	s.t.Helper()
	name := fmt.Sprintf("xa-vm-%d", vmID)
	running := s.dom0("virsh -c xen:///system list --name")
	all := s.dom0("virsh -c xen:///system list --all --name")
	switch {
	case here && !strings.Contains(running+"\n", name+"\n"):
		s.t.Fatalf("host %s: domain %s not running; virsh list --all:\n%s", s.l.Host().Name, name, all)
	case !here && strings.Contains(all+"\n", name+"\n"):
		s.t.Fatalf("host %s: domain %s left after the move; virsh list --all:\n%s", s.l.Host().Name, name, all)
	case here && s.state(vmID) != "running":
		s.t.Fatalf("host %s: vm %d is %s, want running", s.l.Host().Name, vmID, s.state(vmID))
	}
}

// holdsNothing checks that the host has nothing left of a VM that moved
// away: no record of it, its disks or its ifaces, no lease of its
// address, no LV of its disks nor of the move's snapshots (xa-mig-*).
func (s *scenario) holdsNothing(vmID int64, ip string, disks ...int64) {
	s.t.Helper()
	name := s.l.Host().Name
	for _, v := range s.op.must("hosting.vm.list", map[string]any{}).([]any) {
		if id := v.(map[string]any)["id"]; id == vmID {
			s.t.Fatalf("host %s: vm %d still listed after it moved away", name, vmID)
		}
	}
	for _, d := range s.op.must("hosting.disk.list", map[string]any{}).([]any) {
		if d := d.(map[string]any); d["type"] != "image" {
			s.t.Fatalf("host %s: disk %v (%v) left after its vm moved away", name, d["id"], d["type"])
		}
	}
	if list := s.op.must("hosting.iface.list", map[string]any{}).([]any); len(list) > 0 {
		s.t.Fatalf("host %s: ifaces left after the vm moved away: %v", name, list)
	}
	for _, a := range s.op.must("hosting.ip.list", map[string]any{}).([]any) {
		if a.(map[string]any)["ip"] == ip {
			s.t.Fatalf("host %s: %s still leased after its vm moved away: %v", name, ip, a)
		}
	}
	lvs := s.dom0("lvs --noheadings -o lv_name labvg")
	for _, lv := range strings.Fields(lvs) {
		if strings.HasPrefix(lv, "xa-mig-") {
			s.t.Fatalf("host %s: the move's snapshot %s is left", name, lv)
		}
		for _, d := range disks {
			if lv == fmt.Sprintf("xa-disk-%d", d) {
				s.t.Fatalf("host %s: LV %s left after its disk moved away", name, lv)
			}
		}
	}
	s.runsHere(vmID, false)
	s.disksMatchLVs()
	s.t.Logf("host %s holds nothing of vm %d: no record, lease, LV or domain", name, vmID)
}
