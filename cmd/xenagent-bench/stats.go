package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/xenagent/xenagent/agent/graph"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/stats"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/hypervisor"
)

// statsRows measures a collection round at each size: on libvirt's test
// driver (the one bulk call for all domains; the driver reports only
// their state), then with a fake source giving each VM an iface and a
// disk (the series as they are on a real host), and what the series
// cost in memory and on disk; then a graph's rendering.
func statsRows(sizes []int) ([]row, error) {
	var rows []row
	for _, n := range sizes {
		r, err := statsRowsAt(n)
		if err != nil {
			return nil, fmt.Errorf("%d VMs: %w", n, err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func statsRowsAt(n int) ([]row, error) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir, err := os.MkdirTemp("", "xenagent-bench-stats-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "state.db"), log)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	os.WriteFile(filepath.Join(dir, "node.xml"), []byte("<node/>"), 0o644)
	hv, err := hypervisor.Open(ctx, hypervisor.Config{URI: "test://" + filepath.Join(dir, "node.xml")}, log)
	if err != nil {
		return nil, err
	}
	defer hv.Close()
	fake := hostfake.NewStats()
	err = st.Update(func(tx *store.Tx) error {
		for i := 1; i <= n; i++ {
			id := int64(i)
			name := fmt.Sprintf("xa-vm-%d", id)
			mac := fmt.Sprintf("00:16:3e:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)
			tx.PutVM(store.VM{ID: id, AccountID: 1, Domain: name, State: store.VMRunning, DiskIDs: []int64{id}, IfaceIDs: []int64{id}})
			tx.PutIface(store.Iface{ID: id, AccountID: 1, VMID: id, MAC: mac})
			fake.Set(host.DomainStats{Name: name, VMID: id, Running: true, VCPUTimeNs: []uint64{0},
				Ifaces: []host.IfaceStats{{Dev: fmt.Sprintf("vif%d.0", i), MAC: mac}}, Disks: []host.DiskStats{{Dev: "xvda", Path: fmt.Sprintf("/d/%d", id)}}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("xa-vm-%d", i)
		spec := hypervisor.DomainSpec{Name: name, UUID: fmt.Sprintf("6f1c9a0e-2d7b-4c3a-9a51-%012x", i), VMID: int64(i), Owner: "bench",
			MemoryMB: 64, VCPUs: 1}
		if err := hv.Define(ctx, spec); err != nil {
			return nil, err
		}
		if err := hv.Start(ctx, name); err != nil {
			return nil, err
		}
	}
	diskPath := func(id int64) string { return fmt.Sprintf("/d/%d", id) }

	// The test driver: one bulk call for n domains.
	onDriver, err := stats.Open(stats.Config{Dir: filepath.Join(dir, "driver"), Every: time.Minute, DiskPath: diskPath}, hv, st, log)
	if err != nil {
		return nil, err
	}
	cold, _, err := rounds(ctx, onDriver, 1, nil) // reads every owner mark once
	if err != nil {
		return nil, err
	}
	create, _, err := rounds(ctx, onDriver, 1, nil) // creates the files
	if err != nil {
		return nil, err
	}
	if f := os.Getenv("BENCH_STATS_CPUPROFILE"); f != "" {
		if out, err := os.Create(f); err == nil {
			pprof.StartCPUProfile(out)
			defer pprof.StopCPUProfile()
		}
	}
	warm, warmWall, err := rounds(ctx, onDriver, 5, nil)
	if err != nil {
		return nil, err
	}
	if got := len(onDriver.Latest()); got != n {
		return nil, fmt.Errorf("the test driver's round matched %d VMs, want %d", got, n)
	}

	// A fake source with an iface and a disk per VM: the series' full
	// cost. The heap is measured with the collector alive.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	full, err := stats.Open(stats.Config{Dir: filepath.Join(dir, "full"), Every: time.Minute, DiskPath: diskPath}, fake, st, log)
	if err != nil {
		return nil, err
	}
	bump := func() {
		for i := 1; i <= n; i++ {
			fake.Update(fmt.Sprintf("xa-vm-%d", i), func(s *host.DomainStats) {
				s.CPUTimeNs += 3e9
				s.Ifaces[0].RxBytes += 1e6
				s.Disks[0].WriteBytes += 4e6
			})
		}
	}
	if _, _, err := rounds(ctx, full, 2, bump); err != nil {
		return nil, err
	}
	fullCPU, fullWall, err := rounds(ctx, full, 5, bump)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / 1e6
	apparent, used := dirSize(filepath.Join(dir, "full"))
	if len(full.Latest()) != n {
		return nil, fmt.Errorf("the fake round matched %d VMs", len(full.Latest()))
	}

	// Reading a day of one VM and drawing its iface.
	var reads []time.Duration
	for i := 0; i < 50; i++ {
		t0 := time.Now()
		s, _, err := full.Series(int64(1+i%n), stats.Windows["1d"])
		if err != nil {
			return nil, err
		}
		c, err := graph.ChartOf(s, graph.TargetIface, int64(1+i%n))
		if err != nil {
			return nil, err
		}
		if err := graph.Render(io.Discard, c); err != nil {
			return nil, err
		}
		reads = append(reads, time.Since(t0))
	}
	rm, rp := quantiles(reads)
	rows := []row{
		{fmt.Sprintf("stats round, test driver, %d domains: CPU first / files made / warm", n),
			fmt.Sprintf("%s / %s / %s (wall %s)", ms(cold), ms(create), ms(warm), ms(warmWall)), "", true},
		{fmt.Sprintf("stats round, %d VMs x (cpu, iface, disk): CPU / wall", n), ms(fullCPU) + " / " + ms(fullWall), "", true},
		{fmt.Sprintf("stats series, %d VMs: Go heap; disk apparent / used", n), fmt.Sprintf("%.1f MB; %.0f MB / %.0f MB", heap, apparent/1e6, used/1e6), "", true},
	}
	rows = append(rows, row{fmt.Sprintf("graph: read 1d + render SVG (1440 points), %d VMs: median / p99", n), ms(rm) + " / " + ms(rp), "", true})
	return rows, nil
}

// rounds runs k collection rounds (bump before each) and returns the
// mean CPU time (user + system, the whole process) and wall time per round.
func rounds(ctx context.Context, c *stats.Collector, k int, bump func()) (cpu, wall time.Duration, err error) {
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	var spent time.Duration
	for i := 0; i < k; i++ {
		if bump != nil {
			bump()
		}
		t0 := time.Now()
		if err := c.Collect(ctx); err != nil {
			return 0, 0, err
		}
		spent += time.Since(t0)
		time.Sleep(time.Millisecond) // rates need time to pass
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	used := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	return used / time.Duration(k), spent / time.Duration(k), nil
}

// dirSize is a directory's files' apparent size and the disk they use.
func dirSize(dir string) (apparent, used float64) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || strings.HasSuffix(e.Name(), ".bad") {
			continue
		}
		apparent += float64(fi.Size())
		if s, ok := fi.Sys().(*syscall.Stat_t); ok {
			used += float64(s.Blocks) * 512
		}
	}
	return apparent, used
}

// sizes parses -stats-vms.
func sizes(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}
