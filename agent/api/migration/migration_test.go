package migration_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/api/migration"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/transfer"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
)

var _ migration.Target = (*service.Service)(nil)

// agent is one agent in this process: libvirt's test driver, the file
// backend in its own directory, its own state, and the migration
// endpoints served over loopback.
type agent struct {
	t    *testing.T
	name string
	st   *store.Store
	eng  *ops.Engine
	hv   host.Hypervisor
	// fake is hv when the agent runs on hostfake (newAgentFake).
	fake *hostfake.Hypervisor
	// memDir holds the memory files of live moves.
	memDir string
	// consoles holds a QEMU agent's guests' console logs.
	consoles string
	vols     *file.Backend
	wf       *workflow.Workflows
	// client is the agent's migration client (Peer and DiskSender).
	client *migration.Client
	svc    *service.Service
	url    string
	acct   int64
	stop   func()
	// gate, when set, sees every request to the endpoints first; false:
	// it answered (the request goes no further).
	gate atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
	// failDeletes fails that many of the workflows' next volume
	// deletions (a storage hiccup).
	failDeletes atomic.Int32
	// longs counts the requests the handler called Config.Long for.
	longs atomic.Int32
}

// faultyVolumes is the file backend whose deletions fail while the
// agent's failDeletes says so.
type faultyVolumes struct {
	*file.Backend
	a *agent
}

func (f faultyVolumes) Delete(ctx context.Context, name string, m host.Mark) error {
	if f.a.failDeletes.Add(-1) >= 0 {
		return errors.New("injected: the storage refuses the deletion")
	}
	f.a.failDeletes.Store(0)
	return f.Backend.Delete(ctx, name, m)
}

// setGate installs fn as a's gate.
func (a *agent) setGate(fn func(w http.ResponseWriter, r *http.Request) bool) { a.gate.Store(&fn) }

type freeMem struct{ host.Node }

func (f freeMem) NodeInfo(ctx context.Context) (host.NodeInfo, error) {
	n, err := f.Node.NodeInfo(ctx)
	n.MemoryFree = 8 << 30
	return n, err
}

var operator = &service.Caller{Operator: true, Handle: "OPERATOR"}

func newAgent(t *testing.T, name string) *agent {
	return newAgentOn(t, name, "10.0.0.0/24")
}

// newAgentOn is newAgent serving network prefix (addresses .10 to .20).
func newAgentOn(t *testing.T, name, prefix string) *agent {
	t.Helper()
	return newAgentWith(t, name, prefix, rigOpts{})
}

// rigOpts choose an agent's hypervisor: libvirt's test driver (the zero
// value), hostfake's (fake), or real QEMU at qemu:///system (qemu) with
// the test guests' kernels and a console directory.
type rigOpts struct {
	fake              *hostfake.Hypervisor
	qemu              bool
	kernels, consoles string
}

// newAgentFake is an agent on hostfake's hypervisor made with opts (its
// Save and Restore keep a guest's counter: a live move shows it counts
// on), the file backend for its disks.
func newAgentFake(t *testing.T, name string, opts ...hostfake.HypervisorOption) *agent {
	t.Helper()
	return newAgentWith(t, name, "10.0.0.0/24", rigOpts{fake: hostfake.NewHypervisor(opts...)})
}

type fakeNode struct{ *hostfake.Hypervisor }

func (f fakeNode) NodeInfo(ctx context.Context) (host.NodeInfo, error) {
	return host.NodeInfo{MemoryTotal: 16 << 30, MemoryFree: 8 << 30, CPUs: 8}, nil
}

func newAgentWith(t *testing.T, name, prefix string, o rigOpts) *agent {
	t.Helper()
	fake := o.fake
	dir := t.TempDir()
	if o.qemu {
		// QEMU runs as its own user: it must reach the disks.
		for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
			os.Chmod(p, 0o755)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("agent", name)
	}
	st, err := store.Open(filepath.Join(dir, "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	nodeXML := filepath.Join(dir, "node.xml")
	if err := os.WriteFile(nodeXML, []byte("<node/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	var hv host.Hypervisor
	var node host.Node
	closeHV := func() {}
	switch {
	case fake != nil:
		hv, node = fake, fakeNode{fake}
	case o.qemu:
		drv, err := hypervisor.Open(context.Background(), hypervisor.Config{URI: "qemu:///system", CommandTimeout: time.Minute, ConsoleDir: o.consoles}, log)
		if err != nil {
			t.Fatal(err)
		}
		hv, node, closeHV = drv, freeMem{drv}, func() { drv.Close() }
	default:
		drv, err := hypervisor.Open(context.Background(), hypervisor.Config{URI: "test://" + nodeXML, CommandTimeout: time.Minute}, log)
		if err != nil {
			t.Fatal(err)
		}
		hv, node, closeHV = drv, freeMem{drv}, func() { drv.Close() }
	}
	vols, err := file.New(filepath.Join(dir, "disks"), log)
	if err != nil {
		t.Fatal(err)
	}
	if o.qemu {
		os.Chmod(filepath.Join(dir, "disks"), 0o777)
	}
	p := netip.MustParsePrefix(prefix).Addr().As4()
	at := func(n byte) string { return netip.AddrFrom4([4]byte{p[0], p[1], p[2], n}).String() }
	v4, err := ipam.Parse(prefix, at(1), at(10), at(20))
	if err != nil {
		t.Fatal(err)
	}
	nw := workflow.Network{Bridge: "xabr0", V4: &v4}
	if o.qemu {
		nw.Bridge = "" // bare taps: no bridge needed on this machine
	}
	eng := ops.New(st, log, ops.Config{RetryFor: 5 * time.Second})
	client := migration.NewClient(nil)
	client.Log = log
	a := &agent{t: t, name: name}
	wf := workflow.New(workflow.Config{DatacenterID: 1, Timeouts: workflow.Timeouts{Stop: 2 * time.Second, StopMessages: 1, Reboot: time.Second},
		Network: nw, Peer: client, Sender: client, MemoryDir: filepath.Join(dir, "memory"), KernelsDir: o.kernels}, st, eng, hv, faultyVolumes{vols, a}, log)
	svc := service.New(service.Config{Version: "test", Datacenter: service.Datacenter{ID: 1},
		Limits:  service.Limits{MaxMemoryMB: 4096, MaxCores: 4, MaxDiskMB: 1 << 16, MaxBandwidth: 1e10, DefaultQuotaMB: 1 << 16},
		Network: nw}, st, eng, wf, log)
	// libvirt's test driver reports no free memory on a node without
	// cells: this host has 8 GiB.
	svc.SetHostSources(service.HostSources{Node: node, Pool: vols})
	acct, err := svc.EnsureAccount("ALICE", "Alice", service.HashKey("alice-key-0123456789abcd"), 0)
	if err != nil {
		t.Fatal(err)
	}
	img := workflow.ImageSpec{Label: "Debian 12", OSArch: "x86-64", SizeMB: 8}
	if o.qemu {
		// guesttest's guest that stops when asked, and counts on its
		// console: a guest resumed from its memory counts on.
		img = workflow.ImageSpec{Label: "coop", OSArch: "x86-64", SizeMB: 8, KernelVersion: "coop", Cmdline: "console=ttyS0 quiet panic=-1 xenagent.count"}
	}
	if err := wf.EnsureImage(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	h, err := migration.New(svc, migration.Config{Long: func(context.Context) { a.longs.Add(1) }}, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g := a.gate.Load(); g != nil && !(*g)(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	// A gate can cut a request's connection (connOf).
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	eng.Start(ctx)
	a.st, a.eng, a.hv, a.vols, a.wf, a.svc, a.url, a.acct, a.client = st, eng, hv, vols, wf, svc, srv.URL, acct, client
	a.fake, a.memDir = fake, filepath.Join(dir, "memory")
	a.stop = func() {
		srv.Close()
		cancel()
		eng.Wait()
		if err := st.Check(); err != nil {
			t.Error(err)
		}
		st.Close()
		closeHV()
	}
	t.Cleanup(a.stop)
	return a
}

// done waits for operations to finish and fails unless all are DONE.
func (a *agent) done(ops ...service.Operation) {
	a.t.Helper()
	for _, o := range ops {
		if got := a.wait(o.ID); got.Step != store.StepDone {
			a.t.Fatalf("%s: operation %d (%s) ended %s: %s", a.name, got.ID, got.Type, got.Step, got.LastError)
		}
	}
}

func (a *agent) wait(id int64) store.Operation {
	a.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var o store.Operation
		a.st.View(func(tx *store.Tx) { o, _ = tx.Operation(id) })
		if o.Finished() {
			return o
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: operation %d (%s) still %s at %d: %s", a.name, id, o.Type, o.Step, o.Cursor, o.LastError)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connKey holds a request's connection in its context.
type connKey struct{}

// connOf is the connection r came on.
func connOf(r *http.Request) net.Conn { return r.Context().Value(connKey{}).(net.Conn) }

// createVM makes a running VM with a system disk and a 4 MB data disk.
func (a *agent) createVM() int64 { return a.createVMWith(4) }

// createVMWith makes a running VM with a system disk and a data disk of
// dataMB.
func (a *agent) createVMWith(dataMB int64) int64 {
	a.t.Helper()
	var image int64
	a.st.View(func(tx *store.Tx) { tx.EachImage(func(i *store.Image) bool { image = i.DiskID; return false }) })
	ops, err := a.svc.CreateVMFrom(context.Background(), operator, service.VMCreateFrom{
		VMSpec:    service.VMSpec{DatacenterID: 1, Hostname: "mover"},
		SrcDiskID: image,
		DataDisks: []service.DataDisk{{Name: "data", SizeMB: dataMB}},
		Options:   service.CallOptions{AccountID: a.acct},
	})
	if err != nil {
		a.t.Fatal(err)
	}
	a.done(ops...)
	return ops[len(ops)-1].VMID
}

// vm reads VM id's records: the VM, its disks and ifaces.
func (a *agent) vm(id int64) (store.VM, []store.Disk, []store.Iface, []store.IP, bool) {
	var v store.VM
	var disks []store.Disk
	var ifaces []store.Iface
	var ips []store.IP
	var ok bool
	a.st.View(func(tx *store.Tx) {
		if v, ok = tx.VM(id); !ok {
			return
		}
		for _, d := range v.DiskIDs {
			x, _ := tx.Disk(d)
			disks = append(disks, x)
		}
		for _, i := range v.IfaceIDs {
			x, _ := tx.Iface(i)
			ifaces = append(ifaces, x)
			for _, ipID := range x.IPIDs {
				ip, _ := tx.IP(ipID)
				ips = append(ips, ip)
			}
		}
	})
	return v, disks, ifaces, ips, ok
}

// ticketFor asks agent a for a ticket admitting what src holds of vm.
func (a *agent) ticketFor(src *agent, vmID int64) string {
	a.t.Helper()
	return a.issue(ticketSpec(src, vmID))
}

// ticketSpec is what the central tier asks for vm vmID of src: its
// memory, cores, disks at their sizes, addresses kept.
func ticketSpec(src *agent, vmID int64) service.TicketSpec {
	v, disks, ifaces, ips, _ := src.vm(vmID)
	spec := service.TicketSpec{AccountID: v.AccountID, VMID: v.ID, MemoryMB: v.Memory, Cores: v.Cores}
	for _, d := range disks {
		spec.Disks = append(spec.Disks, store.TicketDisk{ID: d.ID, SizeMB: d.SizeMB})
	}
	for n, i := range ifaces {
		spec.Ifaces = append(spec.Ifaces, service.TicketIfaceSpec{ID: i.ID, Addr: ips[n].Addr, SameNetwork: true})
	}
	return spec
}

// issue is hosting.migration.ticket on a, the secret.
func (a *agent) issue(spec service.TicketSpec) string {
	a.t.Helper()
	g, err := a.svc.IssueTicket(context.Background(), operator, spec)
	if err != nil {
		a.t.Fatalf("%s: ticket: %v", a.name, err)
	}
	return g.Ticket
}

// write puts recognisable data in a disk's volume.
func (a *agent) write(d store.Disk, seed byte) {
	a.t.Helper()
	f, err := os.OpenFile(a.vols.Path(d.Volume), os.O_WRONLY, 0)
	if err != nil {
		a.t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for i := range block {
		block[i] = seed + byte(i%251)
	}
	for _, off := range []int64{0, 1<<20 + 4096, 3<<20 - 100} {
		if _, err := f.WriteAt(block, off); err != nil {
			a.t.Fatal(err)
		}
	}
}

func (a *agent) sum(d store.Disk) string {
	a.t.Helper()
	f, err := os.Open(a.vols.Path(d.Volume))
	if err != nil {
		a.t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		a.t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// left are what agent a holds of vm: records, volumes, a domain.
func (a *agent) left(vmID int64, disks []store.Disk) []string {
	var out []string
	if _, _, _, _, ok := a.vm(vmID); ok {
		out = append(out, "vm record")
	}
	for _, d := range disks {
		if ok, _ := a.vols.Exists(context.Background(), d.Volume); ok {
			out = append(out, "volume "+d.Volume)
		}
		if _, ok := a.disk(d.ID); ok {
			out = append(out, "disk record "+d.Volume)
		}
	}
	if st, _ := a.hv.State(context.Background(), workflow.DomainName(vmID)); st.Exists {
		out = append(out, "domain")
	}
	vs, _ := a.vols.List(context.Background())
	for _, v := range vs {
		if len(v.Name) > 7 && v.Name[:7] == "xa-mig-" {
			out = append(out, "snapshot "+v.Name)
		}
	}
	return out
}

func (a *agent) disk(id int64) (store.Disk, bool) {
	var d store.Disk
	var ok bool
	a.st.View(func(tx *store.Tx) { d, ok = tx.Disk(id) })
	return d, ok
}

func (a *agent) running(vmID int64) bool {
	st, err := a.hv.State(context.Background(), workflow.DomainName(vmID))
	if err != nil {
		a.t.Fatal(err)
	}
	return st.Running
}

// move moves vm from src to dst and checks that it is on dst only, with
// the same records and data.
func move(t *testing.T, src, dst *agent, vmID int64) {
	t.Helper()
	v, disks, ifaces, ips, _ := src.vm(vmID)
	sums := map[int64]string{}
	for _, d := range disks {
		sums[d.ID] = src.sum(d)
	}
	ticket := dst.ticketFor(src, vmID)
	op, err := src.svc.MigrateVM(context.Background(), operator, vmID, service.MigrateSpec{Target: dst.url, Ticket: ticket}, service.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src.done(op)
	if left := src.left(vmID, disks); len(left) > 0 {
		t.Fatalf("%s still holds %v after the move", src.name, left)
	}
	var in store.Operation
	dst.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool {
			if o.Type == "vm_migrate_in" && o.VMID == vmID {
				in = *o
			}
			return true
		})
	})
	if got := dst.wait(in.ID); got.Step != store.StepDone {
		t.Fatalf("%s: vm_migrate_in ended %s: %s", dst.name, got.Step, got.LastError)
	}
	nv, ndisks, nifaces, nips, ok := dst.vm(vmID)
	if !ok || nv.State != store.VMRunning || !dst.running(vmID) {
		t.Fatalf("%s: vm %d: %+v, running %v; want it running", dst.name, vmID, nv, ok && dst.running(vmID))
	}
	if nv.Memory != v.Memory || nv.Cores != v.Cores || nv.Hostname != v.Hostname || len(ndisks) != len(disks) {
		t.Fatalf("%s: vm %+v, want %+v", dst.name, nv, v)
	}
	for i, d := range ndisks {
		if d.ID != disks[i].ID || d.State != store.DiskCreated || d.SizeMB != disks[i].SizeMB {
			t.Fatalf("%s: disk %+v, want %+v created", dst.name, d, disks[i])
		}
		if got := dst.sum(d); got != sums[d.ID] {
			t.Fatalf("%s: disk %d's content %s, want %s", dst.name, d.ID, got, sums[d.ID])
		}
	}
	if len(nifaces) != 1 || nifaces[0].MAC != ifaces[0].MAC || nifaces[0].Bandwidth != ifaces[0].Bandwidth || nifaces[0].State != store.IfaceUsed {
		t.Fatalf("%s: ifaces %+v, want %+v", dst.name, nifaces, ifaces)
	}
	if len(nips) != 1 || nips[0].Addr != ips[0].Addr || nips[0].ID != ips[0].ID {
		t.Fatalf("%s: ips %+v, want %+v", dst.name, nips, ips)
	}
}

// A running VM with a data disk moves to another agent and back: each
// time it runs on the target only, with the same ids, MAC, address and
// the same bytes on every disk, and the source holds nothing of it.
func TestMoveAndBack(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	_, disks, _, _, _ := a.vm(vmID)
	a.write(disks[1], 7)
	a.write(disks[0], 3)
	move(t, a, b, vmID)
	_, disks, _, _, _ = b.vm(vmID)
	b.write(disks[1], 11) // changed on b: the way back carries it
	move(t, b, a, vmID)
}

// A ticket admits one transfer: a second begin with other records is
// refused; the same begin again answers the same operation.
func TestTicketOneTime(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	ticket := b.ticketFor(a, vmID)
	bundle, err := a.wf.Bundle(vmID)
	if err != nil {
		t.Fatal(err)
	}
	c := migration.NewClient(nil)
	tg := workflow.Target{URL: b.url, Ticket: ticket}
	first, err := c.Begin(context.Background(), tg, bundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range bundle.Disks {
		if v, err := b.svc.Disk(operator, d.ID); err != nil || !v.IsMigrating || v.State != store.DiskBeingMigrated {
			t.Fatalf("b: disk %d %+v, %v; want it being_migrated, is_migrating", d.ID, v, err)
		}
	}
	if _, err := b.svc.StopVM(context.Background(), operator, vmID, service.CallOptions{}); err == nil || !strings.Contains(err.Error(), "is arriving from another host") {
		t.Fatalf("b: a stop of the arriving vm: %v; want it refused", err)
	}
	again, err := c.Begin(context.Background(), tg, bundle)
	if err != nil || again.OpID != first.OpID {
		t.Fatalf("begin again: %+v, %v; want operation %d", again, err, first.OpID)
	}
	bundle.VM.Hostname = "other" // a counter moved: still the same begin
	if again, err := c.Begin(context.Background(), tg, bundle); err != nil || again.OpID != first.OpID {
		t.Fatalf("begin again with a record changed: %+v, %v; want operation %d", again, err, first.OpID)
	}
	other := bundle
	other.Disks = bundle.Disks[:1]
	if _, err := c.Begin(context.Background(), tg, other); err == nil || !strings.Contains(err.Error(), "a ticket begins one") {
		t.Fatalf("a second transfer on one ticket: %v; want it refused", err)
	}
	if _, err := c.State(context.Background(), workflow.Target{URL: b.url, Ticket: "not-a-ticket"}); err == nil {
		t.Fatal("a wrong ticket was answered")
	}
	// Aborted, it removes what begin made; a commit is then refused.
	if _, err := c.Abort(context.Background(), tg, "test"); err != nil {
		t.Fatal(err)
	}
	if got := b.wait(first.OpID); got.Step != store.StepError {
		t.Fatalf("vm_migrate_in ended %s, want ERROR after the abort", got.Step)
	}
	if _, err := c.Commit(context.Background(), tg, true); err == nil {
		t.Fatal("committed after the abort")
	}
	_, disks, _, _, _ := a.vm(vmID)
	if left := b.left(vmID, disks); len(left) > 0 {
		t.Fatalf("b holds %v after the abort", left)
	}
}

// migrate submits vm's move from src to dst and returns the operation.
func migrate(t *testing.T, src, dst *agent, vmID int64) service.Operation {
	t.Helper()
	ticket := dst.ticketFor(src, vmID)
	op, err := src.svc.MigrateVM(context.Background(), operator, vmID, service.MigrateSpec{Target: dst.url, Ticket: ticket}, service.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// incoming is dst's vm_migrate_in of vm.
func (a *agent) incoming(vmID int64) store.Operation {
	var in store.Operation
	a.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool {
			if o.Type == "vm_migrate_in" && o.VMID == vmID {
				in = *o
			}
			return true
		})
	})
	return in
}

// stayed checks the VM runs on src only, whole, and dst holds nothing.
func stayed(t *testing.T, src, dst *agent, vmID int64) {
	t.Helper()
	v, disks, _, _, ok := src.vm(vmID)
	if !ok || !src.running(vmID) || v.State != store.VMRunning {
		t.Fatalf("%s: vm %d %+v, running %v: want it running here still", src.name, vmID, v, ok && src.running(vmID))
	}
	for _, d := range disks {
		if d.State != store.DiskCreated {
			t.Fatalf("%s: disk %+v, want created", src.name, d)
		}
	}
	if in := dst.incoming(vmID); in.ID != 0 {
		if got := dst.wait(in.ID); got.Step == store.StepDone {
			t.Fatalf("%s: vm_migrate_in DONE, and the vm runs on %s too", dst.name, src.name)
		}
	}
	if left := dst.left(vmID, disks); len(left) > 0 {
		t.Fatalf("%s holds %v", dst.name, left)
	}
	var snaps []string
	vs, _ := src.vols.List(context.Background())
	for _, x := range vs {
		if strings.HasPrefix(x.Name, "xa-mig-") {
			snaps = append(snaps, x.Name)
		}
	}
	if len(snaps) > 0 {
		t.Fatalf("%s keeps the migration snapshots %v", src.name, snaps)
	}
}

// Before handover, any failure rolls back: the target aborts and removes
// what it made, the snapshots go, the VM runs again on the source.
func TestRollbackBeforeHandover(t *testing.T) {
	for _, call := range []string{"begin", "disk/", "prepare"} {
		t.Run(call, func(t *testing.T) {
			a, b := newAgent(t, "a"), newAgent(t, "b")
			vmID := a.createVM()
			b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasPrefix(strings.TrimPrefix(r.URL.Path, migration.Prefix), call) {
					http.Error(w, `{"error":"refused by the test"}`, http.StatusBadRequest)
					return false
				}
				return true
			})
			op := migrate(t, a, b, vmID)
			if got := a.wait(op.ID); got.Step != store.StepError || !strings.Contains(got.LastError, "refused by the test") {
				t.Fatalf("vm_migrate ended %s: %s; want ERROR naming the refusal", got.Step, got.LastError)
			}
			stayed(t, a, b, vmID)
		})
	}
}

// The target aborts (its operator, its idle timer) after prepared and
// before the commit: the commit is refused as aborted, and the source,
// sure the target never commits now, runs the VM again. Never both.
func TestTargetAbortsBeforeCommit(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	var ticket atomic.Value
	b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/commit") {
			secret := strings.TrimPrefix(r.Header.Get("Authorization"), "Ticket ")
			ticket.Store(secret)
			if _, err := b.svc.MigrationAbort(r.Context(), secret, "the target's operator"); err != nil {
				t.Errorf("abort: %v", err)
			}
		}
		return true
	})
	op := migrate(t, a, b, vmID)
	if got := a.wait(op.ID); got.Step != store.StepError || !strings.Contains(got.LastError, "aborted") {
		t.Fatalf("vm_migrate ended %s: %s; want ERROR, the target aborted", got.Step, got.LastError)
	}
	stayed(t, a, b, vmID)
}

// The target cannot be reached once the source handed over: the source
// keeps asking, the VM stopped on both hosts (operation.info says why),
// until the target answers; then the VM runs there only.
func TestTargetUnreachableAtHandover(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	var refused atomic.Int32
	b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/commit") && refused.Add(1) <= 2 {
			// As a dead peer: the connection closes with no answer.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return false
				}
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
			return false
		}
		return true
	})
	op := migrate(t, a, b, vmID)
	deadline := time.Now().Add(30 * time.Second)
	for refused.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the commit was never asked twice")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var o store.Operation
	a.st.View(func(tx *store.Tx) { o, _ = tx.Operation(op.ID) })
	if o.Finished() || !strings.Contains(o.LastError, "retrying") {
		t.Fatalf("vm_migrate %s: %q; want it running, saying it retries", o.Step, o.LastError)
	}
	if a.running(vmID) {
		t.Fatal("the vm runs on the source while the commit is unanswered")
	}
	if _, err := a.svc.StartVM(context.Background(), operator, vmID, service.CallOptions{}); err == nil || !strings.Contains(err.Error(), "vm_id: vm 1 is moving to another host") {
		t.Fatalf("a start of the leaving vm: %v; want it refused", err)
	}
	if got := a.wait(op.ID); got.Step != store.StepDone {
		t.Fatalf("vm_migrate ended %s: %s", got.Step, got.LastError)
	}
	if got := b.wait(b.incoming(vmID).ID); got.Step != store.StepDone || !b.running(vmID) {
		t.Fatalf("vm_migrate_in ended %s: %s; running %v", got.Step, got.LastError, b.running(vmID))
	}
	_, disks, _, _, _ := b.vm(vmID)
	if left := a.left(vmID, disks); len(left) > 0 {
		t.Fatalf("a holds %v", left)
	}
}

// A source that begins and then goes silent is not waited for forever:
// after workflow.IdleAbort the target aborts on its own and removes what
// begin made, and a commit arriving later is refused (the source then
// runs the VM again: never both).
func TestTargetAbortsIdleSource(t *testing.T) {
	old := workflow.IdleAbort
	workflow.IdleAbort = time.Second
	t.Cleanup(func() { workflow.IdleAbort = old })
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	ticket := b.ticketFor(a, vmID)
	bundle, err := a.wf.Bundle(vmID)
	if err != nil {
		t.Fatal(err)
	}
	c := migration.NewClient(nil)
	tg := workflow.Target{URL: b.url, Ticket: ticket}
	st, err := c.Begin(context.Background(), tg, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.wait(st.OpID); got.Step != store.StepError || !strings.Contains(got.LastError, "silent") {
		t.Fatalf("vm_migrate_in ended %s: %s; want ERROR, the source silent", got.Step, got.LastError)
	}
	if _, err := c.Commit(context.Background(), tg, true); !errors.Is(err, workflow.ErrPeerAborted) {
		t.Fatalf("commit after the idle abort: %v, want aborted", err)
	}
	_, disks, _, _, _ := a.vm(vmID)
	if left := b.left(vmID, disks); len(left) > 0 {
		t.Fatalf("b holds %v", left)
	}
}

// The endpoints refuse what is not a ticket's call, naming the rule:
// no ticket, a wrong one, an unknown path, a body past the bound, a
// segment whose digest does not match (nothing recorded) or that does
// not follow what the target holds.
func TestEndpointRefusals(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	ticket := b.ticketFor(a, vmID)
	bundle, err := a.wf.Bundle(vmID)
	if err != nil {
		t.Fatal(err)
	}
	c := migration.NewClient(nil)
	tg := workflow.Target{URL: b.url, Ticket: ticket}
	st, err := c.Begin(context.Background(), tg, bundle)
	if err != nil {
		t.Fatal(err)
	}
	for !st.Ready {
		time.Sleep(10 * time.Millisecond)
		if st, err = c.State(context.Background(), tg); err != nil {
			t.Fatal(err)
		}
	}
	disk := bundle.Disks[1].ID
	tests := []struct {
		name, method, path, auth, body string
		code                           int
		saying                         string
	}{
		{"no ticket", "GET", "state", "", "", 403, "Authorization: Ticket"},
		{"an API key", "GET", "state", "Bearer x", "", 403, "Authorization: Ticket"},
		{"a wrong ticket", "GET", "state", "Ticket nope", "", 403, "ticket: unknown"},
		{"a wrong ticket's stream", "PUT", fmt.Sprintf("disk/%d", disk), "Ticket nope", "abc", 403, "ticket: unknown"},
		{"no such endpoint", "GET", "nothing", "Ticket " + ticket, "", 404, "no such endpoint"},
		{"commit by GET", "GET", "commit", "Ticket " + ticket, "", 404, "no such endpoint"},
		{"a body past the bound", "POST", "abort", "Ticket " + ticket, `{"why":"` + strings.Repeat("x", 5<<20) + `"}`, 400, "body:"},
		{"an unknown field", "POST", "commit", "Ticket " + ticket, `{"start":true,"now":1}`, 400, "unknown field"},
		{"commit before prepared", "POST", "commit", "Ticket " + ticket, `{"start":true}`, 409, "receiving: "},
		{"prepare before the data", "POST", "prepare", "Ticket " + ticket, "", 409, "disks: disk"},
		{"a stream that is not one", "PUT", fmt.Sprintf("disk/%d", disk), "Ticket " + ticket, "abc", 400, `"code":"bad_stream"`},
		{"a disk the ticket has not", "PUT", "disk/999", "Ticket " + ticket, "abc", 404, "disk 999"},
		{"not a disk id", "GET", "disk/x1", "Ticket " + ticket, "", 404, `disk_id: \"x1\" is not a disk id`},
		{"the resume point before any", "GET", fmt.Sprintf("disk/%d", disk), "Ticket " + ticket, "", 200, `"done":0`},
		{"a disk by DELETE", "DELETE", fmt.Sprintf("disk/%d", disk), "Ticket " + ticket, "", 404, "no such endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, b.url+migration.Prefix+tt.path, strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || !strings.Contains(string(raw), tt.saying) {
				t.Fatalf("%d %s, want %d saying %q", resp.StatusCode, raw, tt.code, tt.saying)
			}
		})
	}
	// Only the streams of a good ticket are long requests.
	if n := b.longs.Load(); n != 2 {
		t.Fatalf("Config.Long called for %d requests, want the 2 streams with the ticket", n)
	}
	// A good stream after the refused ones: the state names what arrived.
	data := make([]byte, bundle.Disks[1].SizeMB<<20)
	copy(data, "abc")
	target := transfer.NewHTTPTarget(http.DefaultClient, b.url, strconv.FormatInt(disk, 10), ticket)
	if _, err := transfer.Send(context.Background(), bytes.NewReader(data), []transfer.Extent{{Off: 0, Len: 3}}, target,
		transfer.Options{Pass: workflow.PassPrecopy, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	st, _ = c.State(context.Background(), tg)
	if h := st.Disks[disk]; h.Have != 3 || h.Pass != workflow.PassPrecopy {
		t.Fatalf("the target holds %+v of disk %d, want the 3 bytes of the good stream only", h, disk)
	}
}

// A detached data disk and a detached iface move alone (disk_migrate,
// iface_migrate): on the target with their ids, the disk's bytes and the
// iface's MAC and address; nothing of them left on the source.
func TestMoveDetached(t *testing.T) {
	ctx := context.Background()
	a, b := newAgent(t, "a"), newAgent(t, "b")
	size := int64(6)
	dop, err := a.svc.CreateDisk(ctx, operator, service.NewDisk{DatacenterID: 1, Name: "alone", SizeMB: &size, Options: service.CallOptions{AccountID: a.acct}})
	if err != nil {
		t.Fatal(err)
	}
	iop, err := a.svc.CreateIface(ctx, operator, service.NewIface{DatacenterID: 1, Options: service.CallOptions{AccountID: a.acct}})
	if err != nil {
		t.Fatal(err)
	}
	a.done(dop, iop)
	d, _ := a.disk(dop.DiskID)
	a.write(d, 9)
	sum := a.sum(d)
	var iface store.Iface
	var ip store.IP
	a.st.View(func(tx *store.Tx) { iface, _ = tx.Iface(iop.IfaceID); ip, _ = tx.IP(iface.IPIDs[0]) })

	g, err := b.svc.IssueTicket(ctx, operator, service.TicketSpec{AccountID: a.acct, Disks: []store.TicketDisk{{ID: d.ID, SizeMB: d.SizeMB}}})
	if err != nil {
		t.Fatal(err)
	}
	op, err := a.svc.MigrateDisk(ctx, operator, d.ID, service.MigrateSpec{Target: b.url, Ticket: g.Ticket}, service.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.done(op)
	if _, ok := a.disk(d.ID); ok {
		t.Fatal("a keeps the disk's record")
	}
	if ok, _ := a.vols.Exists(ctx, d.Volume); ok {
		t.Fatal("a keeps the disk's volume")
	}
	b.settle()
	moved, ok := b.disk(d.ID)
	if !ok || moved.State != store.DiskCreated || moved.VMID != 0 || b.sum(moved) != sum {
		t.Fatalf("b: disk %+v (%v); want it created, detached, with the same bytes", moved, ok)
	}

	g, err = b.svc.IssueTicket(ctx, operator, service.TicketSpec{AccountID: a.acct, Ifaces: []service.TicketIfaceSpec{{ID: iface.ID, Addr: ip.Addr, SameNetwork: true}}})
	if err != nil {
		t.Fatal(err)
	}
	op, err = a.svc.MigrateIface(ctx, operator, iface.ID, service.MigrateSpec{Target: b.url, Ticket: g.Ticket}, service.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.done(op)
	var gone bool
	a.st.View(func(tx *store.Tx) { _, had := tx.Iface(iface.ID); _, hadIP := tx.IP(ip.ID); gone = !had && !hadIP })
	if !gone {
		t.Fatal("a keeps the iface or its address")
	}
	b.settle()
	var mi store.Iface
	var mip store.IP
	b.st.View(func(tx *store.Tx) { mi, _ = tx.Iface(iface.ID); mip, _ = tx.IP(ip.ID) })
	if mi.State != store.IfaceFree || mi.MAC != iface.MAC || mip.Addr != ip.Addr {
		t.Fatalf("b: iface %+v, ip %+v; want it free with MAC %s and %s", mi, mip, iface.MAC, ip.Addr)
	}
	// Every incoming operation ended DONE.
	b.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool {
			if !o.Finished() || o.Step != store.StepDone {
				t.Errorf("b: operation %d %s is %s: %s", o.ID, o.Type, o.Step, o.LastError)
			}
			return true
		})
	})
}

// settle waits for every operation of a to finish.
func (a *agent) settle() {
	a.t.Helper()
	var ids []int64
	a.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool { ids = append(ids, o.ID); return true })
	})
	for _, id := range ids {
		a.wait(id)
	}
}

// begin checks the source's records against the ticket and this host's
// limits, naming the field, and a refused begin leaves the ticket unused.
func TestBeginChecksRecords(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	ticket := b.ticketFor(a, vmID)
	c := migration.NewClient(nil)
	tg := workflow.Target{URL: b.url, Ticket: ticket}
	tests := []struct {
		name   string
		edit   func(b *workflow.Bundle)
		saying string
	}{
		{"another vm", func(b *workflow.Bundle) { b.VM.ID++ }, "vm.id: the ticket admits vm"},
		{"more memory", func(b *workflow.Bundle) { b.VM.Memory += 64 }, "vm.memory: "},
		{"a disk fewer", func(b *workflow.Bundle) { b.Disks = b.Disks[:1]; b.VM.DiskIDs = b.VM.DiskIDs[:1] }, "vm.disk_ids: "},
		{"a bigger disk", func(b *workflow.Bundle) { b.Disks[1].SizeMB++ }, "disks[1].size: "},
		{"another account's disk", func(b *workflow.Bundle) { b.Disks[0].AccountID++ }, "disks[0].size: disk"},
		{"an iface the ticket has not", func(b *workflow.Bundle) { b.Ifaces[0].ID += 100; b.VM.IfaceIDs = []int64{b.Ifaces[0].ID} }, "vm.iface_ids: "},
		{"vm_max_memory past this host's", func(b *workflow.Bundle) { b.VM.MaxMemory = 8192 }, "vm.vm_max_memory: must be between 128 and 4096"},
		{"bandwidth past this host's", func(b *workflow.Bundle) { b.Ifaces[0].Bandwidth = 1e11 }, "ifaces[0].bandwidth: "},
		{"another version", func(b *workflow.Bundle) { b.Version = 2 }, "version: records of version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle, err := a.wf.Bundle(vmID)
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(&bundle)
			_, err = c.Begin(context.Background(), tg, bundle)
			if !errors.Is(err, workflow.ErrPeerRefused) || !strings.Contains(err.Error(), tt.saying) {
				t.Fatalf("begin: %v; want a refusal saying %q", err, tt.saying)
			}
			if st, err := c.State(context.Background(), tg); err != nil || st.Phase != store.TicketIssued {
				t.Fatalf("after a refused begin: %+v, %v; want the ticket unused", st, err)
			}
		})
	}
}

// Across networks the iface gets an address of the target's pool at
// begin (the seeds' rule), and keeps its id, MAC and bandwidth; the
// source's address is released only once the target committed.
func TestMoveToAnotherNetwork(t *testing.T) {
	a, b := newAgent(t, "a"), newAgentOn(t, "b", "10.9.0.0/24")
	vmID := a.createVM()
	v, disks, ifaces, ips, _ := a.vm(vmID)
	spec := service.TicketSpec{AccountID: v.AccountID, VMID: v.ID, MemoryMB: v.Memory, Cores: v.Cores,
		Ifaces: []service.TicketIfaceSpec{{ID: ifaces[0].ID, Version: 4}}}
	for _, d := range disks {
		spec.Disks = append(spec.Disks, store.TicketDisk{ID: d.ID, SizeMB: d.SizeMB})
	}
	if _, err := b.svc.IssueTicket(context.Background(), operator, service.TicketSpec{AccountID: v.AccountID, VMID: v.ID, MemoryMB: v.Memory, Cores: v.Cores,
		Disks: spec.Disks, Ifaces: []service.TicketIfaceSpec{{ID: ifaces[0].ID, Addr: ips[0].Addr, SameNetwork: true}}}); err == nil {
		t.Fatalf("a ticket keeping %s, outside b's network, was issued", ips[0].Addr)
	}
	g, err := b.svc.IssueTicket(context.Background(), operator, spec)
	if err != nil {
		t.Fatal(err)
	}
	op, err := a.svc.MigrateVM(context.Background(), operator, vmID, service.MigrateSpec{Target: b.url, Ticket: g.Ticket}, service.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.done(op)
	b.settle()
	_, _, nifaces, nips, ok := b.vm(vmID)
	if !ok || len(nips) != 1 || nips[0].Addr != "10.9.0.10" || nifaces[0].MAC != ifaces[0].MAC || nifaces[0].Bandwidth != ifaces[0].Bandwidth {
		t.Fatalf("b: ifaces %+v, ips %+v; want the same iface with 10.9.0.10", nifaces, nips)
	}
	a.st.View(func(tx *store.Tx) {
		if _, ok := tx.IP(ips[0].ID); ok {
			t.Error("a keeps the address record")
		}
	})
}

// A cleanup that fails after the commit is retried forward, not failed:
// the source's records of the VM would otherwise outlive the move, a
// VM a call could start here too. Meanwhile operation.info says why and
// calls on the VM are refused.
func TestCleanupRetriedForward(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVM()
	ticket := b.ticketFor(a, vmID)
	var committed atomic.Bool
	b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/commit") {
			a.failDeletes.Store(2)
			committed.Store(true)
		}
		return true
	})
	op, err := a.svc.MigrateVM(context.Background(), operator, vmID, service.MigrateSpec{Target: b.url, Ticket: ticket}, service.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var o store.Operation
		a.st.View(func(tx *store.Tx) { o, _ = tx.Operation(op.ID) })
		if strings.Contains(o.LastError, "cleaning up after the target committed") {
			break
		}
		if o.Finished() || time.Now().After(deadline) {
			t.Fatalf("vm_migrate %s: %q; want it retrying its cleanup", o.Step, o.LastError)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := a.svc.StartVM(context.Background(), operator, vmID, service.CallOptions{}); err == nil {
		t.Fatal("the vm could be started on the source while its cleanup retried")
	}
	if got := a.wait(op.ID); got.Step != store.StepDone || got.LastError != "" {
		t.Fatalf("vm_migrate ended %s: %q; want DONE", got.Step, got.LastError)
	}
	_, disks, _, _, _ := b.vm(vmID)
	if left := a.left(vmID, disks); len(left) > 0 {
		t.Fatalf("a holds %v", left)
	}
}
