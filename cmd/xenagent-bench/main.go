// Command xenagent-bench measures the agent on libvirt's test driver and
// prints a table: per-operation overhead over the bare libvirt calls,
// independent operations per second, and vm.list / vm.info latency with
// 10,000 VMs recorded, with the process RSS then; and the rest of the
// rows each file names (storage, network, console, stats, events, a
// migration's disk transfer, a move between two agents). `make bench`
// runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
)

type row struct {
	name, value, target string
	ok                  bool
}

func main() {
	rounds := flag.Int("rounds", 300, "lifecycle operations measured one at a time")
	parallel := flag.Int("ops", 4000, "independent operations for the throughput run")
	vms := flag.Int("vms", 10000, "VMs recorded for the list/info run")
	imageGiB := flag.Int("image-gib", 10, "image size for the storage run (0 skips it)")
	netSeconds := flag.Int("net-seconds", 5, "seconds measured per bandwidth run (0 skips them)")
	netRates := flag.String("net-rates", "1,10,100,1000", "rates measured, Mbit/s")
	statsVMs := flag.String("stats-vms", "1000,10000", "VMs per stats collection run (empty skips them)")
	transferGiB := flag.Int("transfer-gib", 10, "disk size for the migration transfer and move runs (0 skips them)")
	transferMiB := flag.Int("transfer-data-mib", 1024, "data the transfer and move runs' disk holds")
	deltaMiB := flag.Int("transfer-delta-mib", 100, "data written after the transfer and move runs' snapshot, sent as the delta")
	flag.Parse()
	if os.Getenv("BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact profile
	}
	rows, err := run(*rounds, *parallel, *vms)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xenagent-bench:", err)
		os.Exit(1)
	}
	rows = append(rows, consoleRows(2000)...) // console.go
	if *statsVMs != "" {
		srows, err := statsRows(sizes(*statsVMs))
		if err != nil {
			fmt.Fprintln(os.Stderr, "xenagent-bench: stats:", err)
			os.Exit(1)
		}
		rows = append(rows, srows...)
	}
	if *imageGiB > 0 {
		srows, err := storageRows(*imageGiB)
		if err != nil {
			fmt.Fprintln(os.Stderr, "xenagent-bench: storage:", err)
			os.Exit(1)
		}
		rows = append(rows, srows...)
	}
	if *netSeconds > 0 {
		var rates []uint64
		for _, f := range strings.Split(*netRates, ",") {
			r, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil || r == 0 {
				fmt.Fprintf(os.Stderr, "xenagent-bench: -net-rates: %q is not a rate in Mbit/s\n", f)
				os.Exit(2)
			}
			rates = append(rates, r)
		}
		nrows, err := netRows(*netSeconds, rates)
		if err != nil {
			fmt.Fprintln(os.Stderr, "xenagent-bench: network:", err)
			os.Exit(1)
		}
		rows = append(rows, nrows...)
	}
	if *transferGiB > 0 {
		trows, err := transferRows(*transferGiB, *transferMiB, *deltaMiB) // transfer.go
		if err != nil {
			fmt.Fprintln(os.Stderr, "xenagent-bench: transfer:", err)
			os.Exit(1)
		}
		rows = append(rows, trows...)
		mrows, err := moveRowsOnBtrfs(*transferGiB, *transferMiB, *deltaMiB) // move.go
		if err != nil {
			fmt.Fprintln(os.Stderr, "xenagent-bench: move:", err)
			os.Exit(1)
		}
		rows = append(rows, mrows...)
	}
	rows = append(rows, eventRowsOrExit()...)
	fmt.Printf("%-62s %-34s %-20s %s\n", "measure", "value", "target", "")
	fmt.Println(strings.Repeat("-", 122))
	failed := false
	for _, r := range rows {
		mark := "ok"
		if !r.ok {
			mark, failed = "MISSED", true
		}
		fmt.Printf("%-62s %-34s %-20s %s\n", r.name, r.value, r.target, mark)
	}
	if failed {
		os.Exit(3)
	}
}

type bench struct {
	dir    string
	st     *store.Store
	eng    *ops.Engine
	hv     *hypervisor.Driver
	svc    *service.Service
	api    *gandi.Face // the calls go through the face, as a client's do
	caller *service.Caller
	image  int64
}

func setup(dir string) (*bench, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := workflow.OpenState(filepath.Join(dir, "state.db"), log)
	if err != nil {
		return nil, err
	}
	os.WriteFile(filepath.Join(dir, "node.xml"), []byte("<node/>"), 0o644)
	hv, err := hypervisor.Open(context.Background(), hypervisor.Config{URI: "test://" + filepath.Join(dir, "node.xml")}, log)
	if err != nil {
		return nil, err
	}
	vols, err := file.New(filepath.Join(dir, "disks"), log)
	if err != nil {
		return nil, err
	}
	v4, _ := ipam.Parse("10.0.0.0/16", "10.0.0.1", "", "")
	eng := ops.New(st, log, ops.Config{})
	network := workflow.Network{Bridge: "br0", V4: &v4}
	wf := workflow.New(workflow.Config{DatacenterID: 1, Network: network,
		Timeouts: workflow.Timeouts{Stop: time.Minute, StopMessages: 2, Reboot: time.Minute}}, st, eng, hv, vols, log)
	svc := service.New(service.Config{
		Datacenter: service.Datacenter{ID: 1, Name: "Bench"},
		Limits:     service.Limits{MaxMemoryMB: 65536, MaxCores: 16, MaxDiskMB: 1 << 20, MaxBandwidth: 1e10, DefaultQuotaMB: 1 << 30},
		Network:    network,
	}, st, eng, wf, log)
	acct, err := svc.EnsureAccount("BENCH", "Bench", service.HashKey("bench-key-0123456789abcd"), 0)
	if err != nil {
		return nil, err
	}
	if err := wf.EnsureImage(context.Background(), workflow.ImageSpec{Label: "img", SizeMB: 1}); err != nil {
		return nil, err
	}
	b := &bench{dir: dir, st: st, eng: eng, hv: hv, svc: svc, api: gandi.NewFace(svc), caller: &service.Caller{AccountID: acct, Handle: "BENCH"}}
	st.View(func(tx *store.Tx) { tx.EachImage(func(i *store.Image) bool { b.image = i.DiskID; return false }) })
	eng.Start(context.Background())
	return b, nil
}

func (b *bench) submitWait(ctx context.Context, method string, id int64) error {
	v, err := b.api.Call(ctx, b.caller, method, []any{id})
	if err != nil {
		return err
	}
	opID := v.(map[string]any)["id"].(int64)
	<-b.eng.Done(opID)
	var o store.Operation
	b.st.View(func(tx *store.Tx) { o, _ = tx.Operation(opID) })
	if o.Step != store.StepDone {
		return fmt.Errorf("%s ended %s: %s", method, o.Step, o.LastError)
	}
	return nil
}

func (b *bench) createVM(ctx context.Context, i int) (int64, error) {
	v, err := b.api.Call(ctx, b.caller, "hosting.vm.create_from", []any{
		map[string]any{"datacenter_id": int64(1), "hostname": fmt.Sprintf("b%d", i), "memory": int64(256)},
		map[string]any{}, b.image})
	if err != nil {
		return 0, err
	}
	list := v.([]any)
	for _, o := range list {
		<-b.eng.Done(o.(map[string]any)["id"].(int64))
	}
	return list[2].(map[string]any)["vm_id"].(int64), nil
}

func quantiles(d []time.Duration) (median, p99 time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[len(d)*99/100]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

func run(rounds, parallel, nVMs int) ([]row, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "xenagent-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b, err := setup(dir)
	if err != nil {
		return nil, err
	}
	var rows []row

	// 1. Overhead: stop/start through the agent vs the bare libvirt calls.
	vm, err := b.createVM(ctx, 0)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("xa-vm-%d", vm)
	var bare, agent []time.Duration
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		if err := b.hv.Shutdown(ctx, name); err != nil {
			return nil, err
		}
		if _, err := b.hv.WaitFor(ctx, name, func(s hypervisor.State) bool { return !s.Running }); err != nil {
			return nil, err
		}
		t1 := time.Now()
		if err := b.hv.Start(ctx, name); err != nil {
			return nil, err
		}
		bare = append(bare, t1.Sub(t0), time.Since(t1))
	}
	for i := 0; i < rounds; i++ {
		for _, m := range []string{"hosting.vm.stop", "hosting.vm.start"} {
			t0 := time.Now()
			if err := b.submitWait(ctx, m, vm); err != nil {
				return nil, err
			}
			agent = append(agent, time.Since(t0))
		}
	}
	bm, bp := quantiles(bare)
	am, ap := quantiles(agent)
	rows = append(rows,
		row{"bare libvirt stop/start (test driver), median / p99", ms(bm) + " / " + ms(bp), "", true},
		row{"agent submit -> DONE stop/start, median / p99", ms(am) + " / " + ms(ap), "", true},
		row{"agent overhead per lifecycle op, median", ms(am - bm), "<= 3 ms", am-bm <= 3*time.Millisecond},
		row{"agent overhead per lifecycle op, p99", ms(ap - bp), "", true},
	)

	// 2. Throughput: independent operations on many VMs at once.
	const fleet = 50
	ids := make([]int64, fleet)
	for i := range ids {
		if ids[i], err = b.createVM(ctx, i+1); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	per := parallel / fleet
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < per; j++ {
				m := []string{"hosting.vm.stop", "hosting.vm.start"}[j%2]
				if err := b.submitWait(ctx, m, id); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	opsPerSec := float64(per*fleet) / time.Since(start).Seconds()
	rows = append(rows, row{fmt.Sprintf("independent ops/s (%d VMs, %d ops)", fleet, per*fleet), fmt.Sprintf("%.0f", opsPerSec), ">= 1000", opsPerSec >= 1000})

	// 3. Reads with 10,000 VMs recorded.
	now := time.Now().UTC()
	if err := b.st.Update(func(tx *store.Tx) error {
		for i := 0; i < nVMs; i++ {
			id := tx.NextID("vm", tx.HasVM)
			tx.PutVM(store.VM{ID: id, AccountID: b.caller.AccountID, DatacenterID: 1, Hostname: fmt.Sprintf("host%05d", i),
				Memory: 512, MaxMemory: 2048, Cores: 1, State: store.VMHalted, DiskIDs: []int64{1}, IfaceIDs: []int64{1},
				Domain: fmt.Sprintf("xa-vm-%d", id), DateCreated: now, DateUpdated: now})
		}
		return nil
	}); err != nil {
		return nil, err
	}
	runtime.GC()
	var list, info []time.Duration
	pages := (nVMs + fleet + 1) / 100 // full pages only
	for i := 0; i < 300; i++ {
		t0 := time.Now()
		v, err := b.api.Call(ctx, b.caller, "hosting.vm.list", []any{map[string]any{"items_per_page": int64(100), "page": int64(i % pages)}})
		if err != nil {
			return nil, err
		}
		list = append(list, time.Since(t0))
		if len(v.([]any)) != 100 {
			return nil, fmt.Errorf("vm.list page %d has %d entries", i%pages, len(v.([]any)))
		}
		t0 = time.Now()
		if _, err := b.api.Call(ctx, b.caller, "hosting.vm.info", []any{ids[i%fleet]}); err != nil {
			return nil, err
		}
		info = append(info, time.Since(t0))
	}
	lm, lp := quantiles(list)
	im, ip := quantiles(info)
	// Steady state: what the agent holds, not garbage from the list runs
	// above that the runtime has not yet handed back.
	debug.FreeOSMemory()
	rss := rssMB()
	var mst runtime.MemStats
	runtime.ReadMemStats(&mst)
	fi, _ := os.Stat(filepath.Join(dir, "state.db"))
	if f := os.Getenv("BENCH_HEAPPROFILE"); f != "" {
		if out, err := os.Create(f); err == nil {
			pprof.WriteHeapProfile(out)
			out.Close()
		}
	}
	if os.Getenv("BENCH_SMAPS") != "" {
		fmt.Fprintf(os.Stderr, "go: heap live %d kB, in use %d kB, idle-not-released %d kB, stacks %d kB, spans %d kB, gc %d kB, other %d kB, goroutines %d\n",
			mst.HeapAlloc>>10, mst.HeapInuse>>10, (mst.HeapIdle-mst.HeapReleased)>>10, mst.StackSys>>10, mst.MSpanSys>>10, mst.GCSys>>10, mst.OtherSys>>10, runtime.NumGoroutine())
		b, _ := os.ReadFile("/proc/self/smaps")
		var cur string
		sizes := map[string]int{}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 5 && strings.Contains(f[0], "-") {
				cur = "[anon]"
				if len(f) >= 6 {
					cur = f[5]
				}
			}
			if len(f) >= 2 && f[0] == "Rss:" {
				var kb int
				fmt.Sscan(f[1], &kb)
				sizes[cur] += kb
			}
		}
		for k, v := range sizes {
			if v > 500 {
				fmt.Fprintf(os.Stderr, "rss %6d kB %s\n", v, k)
			}
		}
	}
	heapRow := row{"of which Go heap in use; state file size", fmt.Sprintf("%.1f MB; %.1f MB", float64(mst.HeapInuse)/1e6, float64(fi.Size())/1e6), "", true}
	rows = append(rows,
		row{fmt.Sprintf("hosting.vm.list, 100/page, %d VMs: median / p99", nVMs+fleet+1), ms(lm) + " / " + ms(lp), "<= 5 ms", lm <= 5*time.Millisecond},
		row{fmt.Sprintf("hosting.vm.info, %d VMs: median / p99", nVMs+fleet+1), ms(im) + " / " + ms(ip), "<= 1 ms", im <= time.Millisecond},
		row{"agent RSS with them recorded", fmt.Sprintf("%.1f MB", rss), "<= 40 MB", rss <= 40},
		heapRow,
	)
	return rows, nil
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%f", &kb)
			return kb / 1024
		}
	}
	return -1
}
