package migration_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/api/migration"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/transfer"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Attacks from a hostile or buggy peer and a tired operator (an attack
// pass on issue 15); each test states what must hold.

// A hostile source lists the system disk twice and drops the data disk
// from the bundle's disks (the VM's disk_ids stay the ticket's): begin
// refuses it.
func TestAttackDuplicateDiskInBundle(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	ticket := b.ticketFor(a, vmID)
	bundle, err := a.wf.Bundle(vmID)
	if err != nil {
		t.Fatal(err)
	}
	dataID := bundle.Disks[1].ID
	bundle.Disks[1] = bundle.Disks[0]
	c := migration.NewClient(nil)
	st, err := c.Begin(context.Background(), workflow.Target{URL: b.url, Ticket: ticket}, bundle)
	if err == nil {
		_, hasData := b.disk(dataID)
		t.Errorf("begin with disk %d listed twice and disk %d missing was accepted (op %d); data disk record on b: %v",
			bundle.Disks[0].ID, dataID, st.OpID, hasData)
	}
}

// A hostile source lists one iface twice: the ticket admits ifaces i and
// 999 (999 leased), the VM names both, the bundle's ifaces are [i, i].
func TestAttackDuplicateIfaceLeaksAddress(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	v, disks, ifaces, _, _ := a.vm(vmID)
	spec := service.TicketSpec{AccountID: v.AccountID, VMID: v.ID, MemoryMB: v.Memory, Cores: v.Cores}
	for _, d := range disks {
		spec.Disks = append(spec.Disks, store.TicketDisk{ID: d.ID, SizeMB: d.SizeMB})
	}
	spec.Ifaces = []service.TicketIfaceSpec{{ID: ifaces[0].ID, Version: 4}, {ID: 999, Version: 4}}
	g, err := b.svc.IssueTicket(context.Background(), operator, spec)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := a.wf.Bundle(vmID)
	if err != nil {
		t.Fatal(err)
	}
	bundle.VM.IfaceIDs = []int64{ifaces[0].ID, 999}
	bundle.Ifaces = []store.Iface{bundle.Ifaces[0], bundle.Ifaces[0]}
	c := migration.NewClient(nil)
	tg := workflow.Target{URL: b.url, Ticket: g.Ticket}
	st, err := c.Begin(context.Background(), tg, bundle)
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	t.Errorf("begin with iface %d twice and iface 999 missing accepted (op %d)", ifaces[0].ID, st.OpID)
	countIPs := func() (n int, addrs []string) {
		b.st.View(func(tx *store.Tx) {
			tx.EachIP(func(ip *store.IP) bool { n++; addrs = append(addrs, ip.Addr+"/iface"+itoa(ip.IfaceID)); return true })
		})
		return
	}
	n, addrs := countIPs()
	t.Logf("b's IP records after begin: %d %v", n, addrs)
	if _, err := c.Abort(context.Background(), tg, "attack over"); err != nil {
		t.Fatal(err)
	}
	b.wait(st.OpID)
	n, addrs = countIPs()
	if n != 0 {
		t.Errorf("after the abort b still holds %d IP records %v: leaked, the address never leased again", n, addrs)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A tired operator asks a ticket for a data disk a little bigger than it
// is (a ticket's size is "at most"). The move succeeds; the target's
// volume must be the disk's size, as its record says.
func TestAttackTicketBiggerThanDisk(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	spec := ticketSpec(a, vmID)
	for i := range spec.Disks {
		spec.Disks[i].SizeMB += 16
	}
	op, err := a.svc.MigrateVM(context.Background(), operator, vmID, service.MigrateSpec{Target: b.url, Ticket: b.issue(spec)}, service.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.done(op)
	b.settle()
	_, nd, _, _, ok := b.vm(vmID)
	if !ok {
		t.Fatal("vm not on b")
	}
	for _, d := range nd {
		fi, err := os.Stat(b.vols.Path(d.Volume))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != d.SizeMB<<20 {
			t.Errorf("b: disk %d's record says %d MB, its volume is %d MB (the ticket's size); the source's was %d MB",
				d.ID, d.SizeMB, fi.Size()>>20, d.SizeMB)
		}
	}
}

// An address parked on a (its VM moved to b keeping it) must not be
// admitted to a ticket for another iface of another account: it is in
// use on the segment.
func TestAttackTicketForParkedAddress(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	_, _, _, ips, _ := a.vm(vmID)
	addr := ips[0].Addr
	move(t, a, b, vmID)
	var parked []string
	a.st.View(func(tx *store.Tx) { parked = ipam.Parked(tx, 4) })
	t.Logf("a parks %v", parked)
	bob, err := a.svc.EnsureAccount("BOB", "Bob", service.HashKey("bob-key-0123456789abcdefg"), 0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.svc.IssueTicket(context.Background(), operator, service.TicketSpec{AccountID: bob,
		Ifaces: []service.TicketIfaceSpec{{ID: 777, Addr: addr, SameNetwork: true}}})
	if err == nil {
		t.Errorf("a issued ticket %d admitting %s for bob's iface 777, while vm %d uses it on b (parked here)", g.ID, addr, vmID)
	}
}

// Things that should hold: a ticket on the agent for its own VM; two
// tickets for one address; gateway / network / broadcast addresses.
func TestAttackTicketRefusalsHold(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	v, disks, ifaces, ips, _ := a.vm(vmID)
	base := service.TicketSpec{AccountID: v.AccountID, VMID: v.ID, MemoryMB: v.Memory, Cores: v.Cores}
	for _, d := range disks {
		base.Disks = append(base.Disks, store.TicketDisk{ID: d.ID, SizeMB: d.SizeMB})
	}
	withIf := func(s service.TicketSpec, id int64, addr string) service.TicketSpec {
		s.Ifaces = []service.TicketIfaceSpec{{ID: id, Addr: addr, SameNetwork: true}}
		return s
	}
	if _, err := a.svc.IssueTicket(context.Background(), operator, withIf(base, ifaces[0].ID, ips[0].Addr)); err == nil {
		t.Error("a issued a ticket for its own vm")
	}
	for _, addr := range []string{"10.0.0.1", "10.0.0.0", "10.0.0.255", "10.0.1.5", "::1"} {
		s := service.TicketSpec{AccountID: v.AccountID, Ifaces: []service.TicketIfaceSpec{{ID: 500, Addr: addr, SameNetwork: true}}}
		if _, err := b.svc.IssueTicket(context.Background(), operator, s); err == nil {
			t.Errorf("b admitted %s", addr)
		}
	}
	if _, err := b.svc.IssueTicket(context.Background(), operator, withIf(base, ifaces[0].ID, ips[0].Addr)); err != nil {
		t.Fatal(err)
	}
	s2 := service.TicketSpec{AccountID: v.AccountID, Ifaces: []service.TicketIfaceSpec{{ID: 501, Addr: ips[0].Addr, SameNetwork: true}}}
	if _, err := b.svc.IssueTicket(context.Background(), operator, s2); err == nil {
		t.Error("b admitted one address to two tickets")
	}
	s3 := base
	s3.Disks = nil
	s3.VMID = v.ID
	s3.Disks = []store.TicketDisk{{ID: 4000, SizeMB: 1}}
	if _, err := b.svc.IssueTicket(context.Background(), operator, s3); err == nil {
		t.Error("b admitted the same vm to two tickets")
	}
	// a leased address on b meanwhile must skip the reserved one
	_ = time.Second
}

// A ticket bigger than the disks: the target's volumes are the records'
// sizes, so the guest sees no room whose data a move back (a ticket of
// the records' sizes) would drop.
func TestAttackBiggerTicketMakesRecordSizedVolumes(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	spec := ticketSpec(a, vmID)
	for i := range spec.Disks {
		spec.Disks[i].SizeMB += 16
	}
	op, err := a.svc.MigrateVM(context.Background(), operator, vmID, service.MigrateSpec{Target: b.url, Ticket: b.issue(spec)}, service.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.done(op)
	b.settle()
	_, nd, _, _, _ := b.vm(vmID)
	for _, d := range nd {
		fi, err := os.Stat(b.vols.Path(d.Volume))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != d.SizeMB<<20 {
			t.Errorf("disk %d on b: a volume of %d bytes for a record of %d MB (the ticket admitted %d MB): the guest would see room that does not travel back",
				d.ID, fi.Size(), d.SizeMB, d.SizeMB+16)
		}
	}
}

// A cold begin (no memory offer) and then the memory item anyway: the
// target refuses it (it agreed to no live move), so a peer cannot fill
// the state directory's disk with it.
func TestAttackMemoryOnColdMove(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	ticket := b.ticketFor(a, vmID)
	bundle, err := a.wf.Bundle(vmID)
	if err != nil {
		t.Fatal(err)
	}
	bundle.Memory = nil
	bundle.VM.MaxMemory = 4096 // this host's limit
	c := migration.NewClient(nil)
	tg := workflow.Target{URL: b.url, Ticket: ticket}
	st, err := c.Begin(context.Background(), tg, bundle)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("begin: live %v %q; vm memory %d MB, max %d MB", st.Live, st.LiveWhy, bundle.VM.Memory, bundle.VM.MaxMemory)
	for !st.Ready {
		time.Sleep(10 * time.Millisecond)
		if st, err = c.State(context.Background(), tg); err != nil {
			t.Fatal(err)
		}
	}
	size := bundle.VM.Memory<<20 + 32<<20 // past the ticket's memory
	data := randomMiB(t, int(size>>20))
	target := transfer.NewHTTPTarget(http.DefaultClient, b.url, workflow.MemoryItem, ticket)
	_, err = transfer.Send(context.Background(), bytes.NewReader(data), []transfer.Extent{{Off: 0, Len: size}}, target,
		transfer.Options{Pass: workflow.PassMemory, Size: size})
	if err == nil {
		fi, _ := os.ReadDir(b.memDir)
		var names []string
		for _, e := range fi {
			info, _ := e.Info()
			names = append(names, e.Name()+":"+itoa(info.Size()>>20)+"MiB")
		}
		t.Errorf("b took a %d MiB memory item on a cold move of a %d MB vm (ticket memory %d MB); memory dir: %v",
			size>>20, bundle.VM.Memory, bundle.VM.Memory, names)
	} else {
		t.Logf("refused: %v", err)
	}
}

// The operator locks a VM while its move runs: refused (the lock would
// not travel, the VM would arrive unlocked).
func TestAttackLockDuringMove(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/begin") {
			time.Sleep(time.Second)
		}
		return true
	})
	op := migrate(t, a, b, vmID)
	time.Sleep(200 * time.Millisecond)
	l, err := a.svc.LockVM(context.Background(), operator, vmID, "legal hold: do not touch")
	if err != nil {
		t.Logf("lock refused during the move: %v", err)
		return
	}
	t.Logf("locked %d during the move", l.ID)
	got := a.wait(op.ID)
	b.settle()
	var locked bool
	b.st.View(func(tx *store.Tx) { _, locked = tx.Lock(vmID) })
	if got.Step == store.StepDone && !locked {
		t.Errorf("the vm was locked during its move (%q), the move went on (%s) and b holds it unlocked; the lock is gone", l.Description, got.Step)
	}
}

// A hostile source claims negative memory, cores and disk sizes (each
// "not more than the ticket"): refused.
func TestAttackNegativeRecords(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	ticket := b.ticketFor(a, vmID)
	bundle, err := a.wf.Bundle(vmID)
	if err != nil {
		t.Fatal(err)
	}
	bundle.VM.Memory, bundle.VM.Cores = -1<<20, -8
	bundle.Disks[1].SizeMB = -1 << 30
	c := migration.NewClient(nil)
	st, err := c.Begin(context.Background(), workflow.Target{URL: b.url, Ticket: ticket}, bundle)
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	v, disks, _, _, _ := b.vm(vmID)
	if acc, err := b.svc.AccountByID(operator, b.acct); err == nil {
		t.Logf("b: account %d used %+v available %+v", b.acct, acc.Used, acc.Available)
	}
	t.Errorf("begin accepted (op %d): b's records vm memory %d MB, cores %d, disk %d size %d MB (counted in the account's usage while the transfer lasts)",
		st.OpID, v.Memory, v.Cores, disks[1].ID, disks[1].SizeMB)
}

// A hostile source brings an iface with the MAC of another account's
// running VM on the target: refused (a MAC is its iface id's).
func TestAttackMACCollision(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	victim := b.createVM()
	_, _, vifs, _, _ := b.vm(victim)
	a.createVM()
	vmID := a.createVM()
	ticket := b.ticketFor(a, vmID)
	bundle, err := a.wf.Bundle(vmID)
	if err != nil {
		t.Fatal(err)
	}
	bundle.Ifaces[0].MAC = vifs[0].MAC
	c := migration.NewClient(nil)
	st, err := c.Begin(context.Background(), workflow.Target{URL: b.url, Ticket: ticket}, bundle)
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	t.Errorf("begin accepted (op %d) for iface %d with MAC %s, the MAC of vm %d's iface %d on b", st.OpID, bundle.Ifaces[0].ID, vifs[0].MAC, victim, vifs[0].ID)
}

// Concurrent begins on one ticket, some with other records: one
// operation, one set of records.
func TestAttackConcurrentBegins(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	ticket := b.ticketFor(a, vmID)
	bundle, err := a.wf.Bundle(vmID)
	if err != nil {
		t.Fatal(err)
	}
	c := migration.NewClient(nil)
	tg := workflow.Target{URL: b.url, Ticket: ticket}
	type res struct {
		op  int64
		err error
	}
	out := make(chan res, 16)
	for n := 0; n < 16; n++ {
		go func() {
			bb := bundle
			if n%2 == 1 {
				bb.VM = &store.VM{}
				*bb.VM = *bundle.VM
				bb.VM.Hostname = "x" + itoa(int64(n))
			}
			st, err := c.Begin(context.Background(), tg, bb)
			out <- res{st.OpID, err}
		}()
	}
	ops := map[int64]bool{}
	for n := 0; n < 16; n++ {
		r := <-out
		if r.err == nil {
			ops[r.op] = true
		}
	}
	var ins int
	b.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool {
			if o.Type == "vm_migrate_in" {
				ins++
			}
			return true
		})
	})
	if len(ops) != 1 || ins != 1 {
		t.Errorf("concurrent begins: answered ops %v, %d vm_migrate_in on b", ops, ins)
	}
}

// Aborts racing the source's commit: the VM ends on exactly one host.
func TestAttackAbortRacesCommit(t *testing.T) {
	for round := 0; round < 3; round++ {
		a, b := newAgent(t, "a"), newAgent(t, "b")
		vmID := a.createVM()
		ticket := b.ticketFor(a, vmID)
		c := migration.NewClient(nil)
		tg := workflow.Target{URL: b.url, Ticket: ticket}
		b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
			if strings.HasSuffix(r.URL.Path, "/commit") {
				if round == 0 {
					c.Abort(context.Background(), tg, "racer first")
				}
				for n := 0; n < 4; n++ {
					go c.Abort(context.Background(), tg, "racer")
				}
			}
			return true
		})
		op, err := a.svc.MigrateVM(context.Background(), operator, vmID, service.MigrateSpec{Target: b.url, Ticket: ticket}, service.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := a.wait(op.ID)
		b.settle()
		_, _, _, _, onA := a.vm(vmID)
		_, _, _, _, onB := b.vm(vmID)
		runA := onA && a.running(vmID)
		runB := onB && b.running(vmID)
		t.Logf("round %d: source %s %q; a has %v (running %v), b has %v (running %v)", round, got.Step, got.LastError, onA, runA, onB, runB)
		if runA == runB || onA == onB {
			t.Errorf("round %d: the vm is on a %v/%v and on b %v/%v", round, onA, runA, onB, runB)
		}
	}
}
