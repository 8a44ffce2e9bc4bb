package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/api/migration"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/transfer"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
	"github.com/xenagent/xenagent/storage/nocloud"
)

// moveRows measures a real move between two agents in this process
// (libvirt's test driver, the file backend, each its own state and
// disks, the migration endpoints over loopback HTTP, no rate cap): a
// running VM whose data disk of diskGiB holds dataMiB, moved with
// hosting.vm.migrate; once the source's snapshot step is done, deltaMiB
// is written into the data disk's volume, while the precopy runs, so it
// travels in the delta pass, with the VM stopped. The row gives the
// operation's downtime (stop to the target's commit) and the delta
// pass's bytes, against the raw loopback rate of the same run. A write
// that ended after the precopy would have been measured against a
// stopped VM: the figure is then void.
//
// srcDisks is the source's disks directory: a reflink filesystem
// (btrfs) makes the snapshot and the delta's extent comparison what
// they are on a host; elsewhere both copy and read the whole data.
// rateMbps caps the source's disk streams (0: none), which a test uses
// to keep a small precopy running while it writes.
func moveRows(srcDisks string, diskGiB, dataMiB, deltaMiB int, rateMbps int64) ([]row, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "xenagent-bench-move-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	var mu sync.Mutex
	at := map[string]time.Time{} // vm_migrate's boundaries, when first passed
	snapshotDone := make(chan struct{})
	var once sync.Once
	// The engine's journal boundaries say when the steps end exactly
	// (operation.info shows the operation running, not its step).
	onBoundary := func(o store.Operation, b string) {
		if o.Type != "vm_migrate" {
			return
		}
		mu.Lock()
		if _, ok := at[b]; !ok {
			at[b] = time.Now()
		}
		mu.Unlock()
		if b == "done:snapshot" {
			once.Do(func() { close(snapshotDone) })
		}
	}
	src, err := newMoveAgent(filepath.Join(dir, "source"), srcDisks, rateMbps, onBoundary)
	if err != nil {
		return nil, fmt.Errorf("source agent: %w", err)
	}
	defer src.close()
	dst, err := newMoveAgent(filepath.Join(dir, "target"), "", 0, nil)
	if err != nil {
		return nil, fmt.Errorf("target agent: %w", err)
	}
	defer dst.close()

	vmID, dataDisk, err := src.vmWithDataDisk(ctx, int64(diskGiB)<<10)
	if err != nil {
		return nil, err
	}
	size := int64(diskGiB) << 30
	vol, err := os.OpenFile(src.vols.Path(fmt.Sprintf("xa-disk-%d", dataDisk)), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer vol.Close()
	if err := scatter(vol, size, int64(dataMiB)<<20, 7); err != nil { // transfer.go
		return nil, fmt.Errorf("filling the data disk: %w", err)
	}
	// What the VM wrote long before its move is on disk on a host: the
	// fill's writeback must not land in the move (one machine, one
	// page cache, both agents' filesystems on the same disk).
	unix.Sync()
	ticket, err := src.ticketOn(ctx, dst, vmID)
	if err != nil {
		return nil, err
	}

	v, err := src.api.Call(ctx, operator, "hosting.vm.migrate", []any{vmID, map[string]any{"target": dst.srv.URL, "ticket": ticket}})
	if err != nil {
		return nil, fmt.Errorf("hosting.vm.migrate: %w", err)
	}
	opID := v.(map[string]any)["id"].(int64)
	done := src.eng.Done(opID)
	var written []transfer.Extent
	var writeEnd time.Time
	select {
	case <-snapshotDone:
		if written, err = writeDelta(vol, size, int64(deltaMiB)<<20); err != nil {
			return nil, fmt.Errorf("writing the delta: %w", err)
		}
		writeEnd = time.Now()
	case <-done:
	}
	<-done
	var op store.Operation
	src.st.View(func(tx *store.Tx) { op, _ = tx.Operation(opID) })
	if op.Step != store.StepDone {
		return nil, fmt.Errorf("vm_migrate ended %s: %s", op.Step, op.LastError)
	}
	// The downtime as a client reads it; the precopy's bytes, which
	// operation.info does not split from the delta's, from the record.
	info, err := src.api.Call(ctx, operator, "operation.info", []any{opID})
	if err != nil {
		return nil, err
	}
	downtimeMS, _ := info.(map[string]any)["transfer"].(map[string]any)["downtime_ms"].(int64)
	p, err := ops.ProgressOf[workflow.VMMigrateProgress](op)
	if err != nil {
		return nil, err
	}
	// The target starts the VM after its commit.
	<-dst.eng.Done(p.TargetOp)
	if err := dst.holds(ctx, vmID, dataDisk, vol, written); err != nil {
		return nil, fmt.Errorf("the target after the move: %w", err)
	}
	held, err := allocatedBytes(dst.vols.Path(fmt.Sprintf("xa-disk-%d", dataDisk)))
	if err != nil {
		return nil, err
	}

	delta, want := p.Sent-p.Precopy, int64(deltaMiB)<<20
	raw, err := loopbackRate(max(delta, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("raw loopback: %w", err)
	}
	rawDelta := time.Duration(float64(delta) / raw * float64(time.Second))
	downtime := time.Duration(downtimeMS) * time.Millisecond
	mu.Lock()
	void := writeEnd.IsZero() || !writeEnd.Before(at["done:precopy"])
	took := func(step string) string {
		return fmt.Sprintf("%s %d", step, at["done:"+step].Sub(at["begin:"+step]).Milliseconds())
	}
	steps := fmt.Sprintf("%s, %s, %s, %s ms", took("stop"), took("delta"), took("prepare"), took("handover"))
	mu.Unlock()
	first := row{name: fmt.Sprintf("move, two agents: downtime, %d MiB written since the snapshot", deltaMiB),
		value: fmt.Sprintf("%d ms (stop to commit; raw loopback: %s)", downtimeMS, ms(rawDelta)), target: "<= 1 s",
		ok: downtime > 0 && downtime <= time.Second}
	if void {
		first.value, first.ok = "void: the write ended after the precopy", false
	}
	capNote := "no rate cap"
	if rateMbps > 0 {
		capNote = fmt.Sprintf("capped at %d Mbit/s", rateMbps)
	}
	return []row{
		first,
		{name: "  its delta pass, sent with the vm stopped", value: fmt.Sprintf("%s (written: %s)", mib(delta), mib(want)),
			target: "= written", ok: delta >= want && delta <= want+want/100},
		{name: "  its steps while the vm is down", value: steps, target: "-", ok: true},
		{name: fmt.Sprintf("  its precopy, %d GiB disk holding %d MiB (%s)", diskGiB, dataMiB, capNote),
			value: fmt.Sprintf("%s; the target's file holds %s", mib(p.Precopy), mib(held)), target: "-", ok: true},
		{name: "  raw loopback, same run (one TCP connection)", value: fmt.Sprintf("%s/s", mib(int64(raw))), target: "-", ok: true},
	}, nil
}

// operator is the central tier: it asks for tickets and moves VMs.
var operator = &service.Caller{Operator: true}

// moveAgent is one whole agent in this process, serving its Gandi face
// and its /migration/v1/ endpoints over loopback HTTP.
type moveAgent struct {
	st    *store.Store
	eng   *ops.Engine
	vols  *file.Backend
	api   *gandi.Face
	srv   *httptest.Server
	acct  *service.Caller
	image int64
	close func()
}

// newMoveAgent makes an agent whose state is under dir and whose disks
// are in disks ("": under dir).
func newMoveAgent(dir, disks string, rateMbps int64, onBoundary func(store.Operation, string)) (*moveAgent, error) {
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if disks == "" {
		disks = filepath.Join(dir, "disks")
	}
	log := slog.New(slog.DiscardHandler)
	st, err := workflow.OpenState(filepath.Join(dir, "state.db"), log)
	if err != nil {
		return nil, err
	}
	node := filepath.Join(dir, "node.xml")
	os.WriteFile(node, []byte("<node/>"), 0o644)
	hv, err := hypervisor.Open(ctx, hypervisor.Config{URI: "test://" + node}, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	vols, err := file.New(disks, log)
	if err != nil {
		st.Close()
		hv.Close()
		return nil, err
	}
	v4, _ := ipam.Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.200")
	network := workflow.Network{Bridge: "br0", V4: &v4}
	eng := ops.New(st, log, ops.Config{RetryFor: 5 * time.Second, OnBoundary: onBoundary})
	c := migration.NewClient(nil)
	if rateMbps > 0 {
		c.Limiter = transfer.NewLimiter(rateMbps * 1e6 / 8)
	}
	wf := workflow.New(workflow.Config{DatacenterID: 1, Network: network, Seeds: nocloud.New(filepath.Join(dir, "seeds")),
		Timeouts: workflow.Timeouts{Stop: 2 * time.Second, StopMessages: 2, Reboot: 2 * time.Second},
		Peer:     c, Sender: c}, st, eng, hv, vols, log)
	rec := reconcile.New(reconcile.Config{Network: network}, st, eng, hv, vols, wf, log)
	svc := service.New(service.Config{
		Datacenter: service.Datacenter{ID: 1, Name: "Bench"},
		Limits:     service.Limits{MaxMemoryMB: 65536, MaxCores: 16, MaxDiskMB: 1 << 20, MaxBandwidth: 1e10, DefaultQuotaMB: 1 << 30},
		Network:    network,
	}, st, eng, wf, log)
	svc.SetHostSources(service.HostSources{Node: hv, Pool: vols, Health: rec.Healthy})
	a := &moveAgent{st: st, eng: eng, vols: vols, api: gandi.NewFace(svc)}
	fail := func(err error) (*moveAgent, error) { st.Close(); hv.Close(); return nil, err }
	acct, err := svc.EnsureAccount("BENCH", "Bench", service.HashKey("bench-key-0123456789abcd"), 0)
	if err != nil {
		return fail(err)
	}
	a.acct = &service.Caller{AccountID: acct, Handle: "BENCH"}
	if err := wf.EnsureImage(ctx, workflow.ImageSpec{Label: "img", SizeMB: 8}); err != nil {
		return fail(err)
	}
	st.View(func(tx *store.Tx) { tx.EachImage(func(i *store.Image) bool { a.image = i.DiskID; return false }) })
	if err := rec.Reconcile(ctx); err != nil {
		return fail(err)
	}
	moves, err := migration.New(svc, migration.Config{}, log)
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	mux.Handle(migration.Prefix, moves)
	a.srv = httptest.NewServer(mux)
	rctx, cancel := context.WithCancel(ctx)
	eng.Start(rctx)
	go rec.WatchDomains(rctx)
	a.close = func() { a.srv.Close(); cancel(); eng.Wait(); st.Close(); hv.Close() }
	return a, nil
}

// call calls method for the agent's account and waits for the
// operations it answers.
func (a *moveAgent) call(ctx context.Context, method string, params ...any) ([]map[string]any, error) {
	v, err := a.api.Call(ctx, a.acct, method, params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	var out []map[string]any
	for _, o := range list {
		m := o.(map[string]any)
		<-a.eng.Done(m["id"].(int64))
		var op store.Operation
		a.st.View(func(tx *store.Tx) { op, _ = tx.Operation(m["id"].(int64)) })
		if op.Step != store.StepDone {
			return nil, fmt.Errorf("%s: %s ended %s: %s", method, op.Type, op.Step, op.LastError)
		}
		out = append(out, m)
	}
	return out, nil
}

// vmWithDataDisk makes a running VM with an empty data disk of sizeMB.
func (a *moveAgent) vmWithDataDisk(ctx context.Context, sizeMB int64) (vmID, disk int64, err error) {
	made, err := a.call(ctx, "hosting.vm.create_from",
		map[string]any{"datacenter_id": int64(1), "hostname": "mover", "memory": int64(256)}, map[string]any{}, a.image)
	if err != nil {
		return 0, 0, err
	}
	vmID = made[len(made)-1]["vm_id"].(int64)
	d, err := a.call(ctx, "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": sizeMB})
	if err != nil {
		return 0, 0, err
	}
	disk = d[0]["disk_id"].(int64)
	if _, err := a.call(ctx, "hosting.vm.disk_attach", vmID, disk, map[string]any{}); err != nil {
		return 0, 0, err
	}
	return vmID, disk, nil
}

// ticketOn is a ticket from target for vmID as it is here: its memory,
// disks and address.
func (a *moveAgent) ticketOn(ctx context.Context, target *moveAgent, vmID int64) (string, error) {
	v, err := a.api.Call(ctx, a.acct, "hosting.vm.info", []any{vmID})
	if err != nil {
		return "", err
	}
	info := v.(map[string]any)
	var disks []any
	for _, d := range info["disks"].([]any) {
		dm := d.(map[string]any)
		disks = append(disks, map[string]any{"id": dm["id"], "size": dm["size"]})
	}
	iface := info["ifaces"].([]any)[0].(map[string]any)
	ip := iface["ips"].([]any)[0].(map[string]any)["ip"]
	if a.acct.AccountID != target.acct.AccountID {
		return "", errors.New("the two agents gave the bench account different ids")
	}
	g, err := target.api.Call(ctx, operator, "hosting.migration.ticket", []any{map[string]any{"account_id": a.acct.AccountID, "vm_id": vmID,
		"memory": info["memory"], "cores": info["cores"], "disks": disks,
		"ifaces": []any{map[string]any{"id": iface["id"], "ip": ip, "same_network": true}}}})
	if err != nil {
		return "", fmt.Errorf("hosting.migration.ticket: %w", err)
	}
	return g.(map[string]any)["ticket"].(string), nil
}

// holds checks the VM runs here with its data disk, which holds what
// was written into the source's volume (src) over written: the delta
// arrived.
func (a *moveAgent) holds(ctx context.Context, vmID, disk int64, src *os.File, written []transfer.Extent) error {
	v, err := a.api.Call(ctx, a.acct, "hosting.vm.info", []any{vmID})
	if err != nil {
		return err
	}
	if st := v.(map[string]any)["state"]; st != "running" {
		return fmt.Errorf("vm %d is %v", vmID, st)
	}
	if err := sameOver(src, a.vols.Path(fmt.Sprintf("xa-disk-%d", disk)), written); err != nil { // transfer.go
		return fmt.Errorf("disk %d: %w", disk, err)
	}
	return nil
}

// writeDelta writes n bytes into f in distinct 1 MiB pieces spread
// evenly over size (some over the data, most where it had none), each
// piece distinct, and syncs: what a guest wrote since the snapshot.
func writeDelta(f *os.File, size, n int64) ([]transfer.Extent, error) {
	const piece = 1 << 20
	count := n / piece
	if count == 0 {
		return nil, nil
	}
	buf := randomPiece(piece, 9)
	step := size / count / piece * piece
	var out []transfer.Extent
	for i := range count {
		binary.LittleEndian.PutUint64(buf, uint64(i)|1<<62)
		off := i*step + step/2/piece*piece
		if _, err := f.WriteAt(buf, off); err != nil {
			return nil, err
		}
		out = append(out, transfer.Extent{Off: off, Len: piece})
	}
	return out, f.Sync()
}

// mountBtrfs loop-mounts a fresh btrfs of sizeGiB (a sparse image file)
// under dir, as a host's reflink-capable disks directory.
func mountBtrfs(dir string, sizeGiB int) (mnt string, unmount func(), err error) {
	if os.Geteuid() != 0 {
		return "", nil, errors.New("loop-mounting btrfs needs root")
	}
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return "", nil, err
	}
	f, err := os.Create(img)
	if err != nil {
		return "", nil, err
	}
	f.Truncate(int64(sizeGiB) << 30)
	f.Close()
	for _, c := range [][]string{{"mkfs.btrfs", "-q", img}, {"mount", "-o", "loop", img, mnt}} {
		var stderr bytes.Buffer
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Run(); err != nil {
			return "", nil, fmt.Errorf("%v: %v %s", c, err, stderr.Bytes())
		}
	}
	return mnt, func() { exec.Command("umount", mnt).Run() }, nil
}

// moveRowsOnBtrfs is moveRows with the source's disks on a fresh btrfs,
// as on a host with the file backend.
func moveRowsOnBtrfs(diskGiB, dataMiB, deltaMiB int) ([]row, error) {
	dir, err := os.MkdirTemp("", "xenagent-bench-movefs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	mnt, unmount, err := mountBtrfs(dir, 2*diskGiB+4)
	if err != nil {
		return nil, fmt.Errorf("the source's btrfs: %w", err)
	}
	defer unmount()
	return moveRows(mnt, diskGiB, dataMiB, deltaMiB, 0)
}
