package stats

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/store"
)

type rig struct {
	t   *testing.T
	dir string
	st  *store.Store
	src *hostfake.Stats
	c   *Collector
	now time.Time
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	err = st.Update(func(tx *store.Tx) error {
		tx.PutVM(store.VM{ID: 7, AccountID: 3, Domain: "xa-vm-7", IfaceIDs: []int64{21}, DiskIDs: []int64{31, 32}, State: store.VMRunning})
		tx.PutIface(store.Iface{ID: 21, AccountID: 3, VMID: 7, MAC: "00:16:3E:00:00:15"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dir: dir, st: st, src: hostfake.NewStats(), now: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)}
	r.src.Set(started())
	// Someone else's domain, and one of ours no record names: ignored.
	r.src.Set(host.DomainStats{Name: "xa-vm-8", VMID: 8, Running: true, CPUTimeNs: 1e12})
	r.open()
	return r
}

func (r *rig) open() {
	c, err := Open(Config{Dir: filepath.Join(r.dir, "stats"), Every: time.Minute,
		DiskPath: func(id int64) string { return fmt.Sprintf("/d/%d", id) }}, r.src, r.st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		r.t.Fatal(err)
	}
	c.now = func() time.Time { return r.now }
	r.c = c
}

// started is VM 7's domain just started.
func started() host.DomainStats {
	return host.DomainStats{Name: "xa-vm-7", VMID: 7, Running: true, VCPUTimeNs: []uint64{0, 0}, BalloonKiB: 262144, BalloonMaxKiB: 524288,
		Ifaces: []host.IfaceStats{{Dev: "vif1.0", MAC: "00:16:3e:00:00:15"}},
		Disks:  []host.DiskStats{{Dev: "xvda", Path: "/d/31"}, {Dev: "xvdb", Path: "/elsewhere"}}}
}

// round advances the clock by d, the counters by fn, and collects.
func (r *rig) round(d time.Duration, fn func(s *host.DomainStats)) {
	r.t.Helper()
	r.now = r.now.Add(d)
	if fn != nil {
		r.src.Update("xa-vm-7", fn)
	}
	if err := r.c.Collect(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// busy is one minute of a guest using half a vCPU, receiving 100 B/s
// and reading 1000 B/s from its first disk.
func busy(s *host.DomainStats) {
	s.CPUTimeNs += 30e9
	s.Ifaces[0].RxBytes += 6000
	s.Ifaces[0].RxPackets += 60
	s.Disks[0].ReadBytes += 60000
	s.Disks[1].WriteReqs += 120
}

func (r *rig) last(w string) Series {
	r.t.Helper()
	s, ok, err := r.c.Series(7, Windows[w])
	if err != nil || !ok {
		r.t.Fatalf("series: ok %v, %v", ok, err)
	}
	return s
}

func lastOf(v []float64) float64 { return v[len(v)-1] }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-3*math.Max(1, math.Abs(b)) }

func TestStatsRatesRestartAndDeletion(t *testing.T) {
	r := newRig(t)
	r.round(0, nil) // baseline
	if s, ok, _ := r.c.Series(7, Windows["1h"]); ok && len(s.Ifaces) > 0 {
		t.Fatalf("a baseline wrote points: %+v", s)
	}
	r.round(time.Minute, busy)
	r.round(time.Minute, busy)
	s := r.last("1h")
	if len(s.CPU.Values[CPUUsed]) != 60 || s.Step != time.Minute {
		t.Fatalf("1h window: %d points of %s", len(s.CPU.Values[CPUUsed]), s.Step)
	}
	if len(s.Ifaces) != 1 || s.Ifaces[0].ID != 21 || len(s.Disks) != 2 {
		t.Fatalf("devices: ifaces %+v disks %+v", s.Ifaces, s.Disks)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"cpu", lastOf(s.CPU.Values[CPUUsed]), 0.5},
		{"memory", lastOf(s.CPU.Values[MemKiB]), 262144},
		{"vcpus", lastOf(s.CPU.Values[VCPUs]), 2},
		{"rx bytes", lastOf(s.Ifaces[0].Values[RxBytes]), 100},
		{"rx packets", lastOf(s.Ifaces[0].Values[RxPackets]), 1},
		{"disk 31 read (by path)", lastOf(s.Disks[0].Values[ReadBytes]), 1000},
		{"disk 32 write requests (by position)", lastOf(s.Disks[1].Values[WriteRequests]), 2},
		{"previous minute", s.CPU.Values[CPUUsed][58], 0.5},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !math.IsNaN(s.CPU.Values[CPUUsed][0]) {
		t.Errorf("an hour ago, before collection began: %v, want a gap", s.CPU.Values[CPUUsed][0])
	}
	if l := r.c.Latest(); len(l) != 1 || l[0].VMID != 7 || l[0].AccountID != 3 || l[0].CPUSeconds != 60 || len(l[0].Ifaces) != 1 || l[0].Ifaces[0].RxBytes != 12000 {
		t.Errorf("latest counters = %+v", l)
	}

	// The guest reboots: its counters restart from zero. No negative
	// rate, no spike of a wrapped difference.
	r.round(time.Minute, func(s *host.DomainStats) {
		s.CPUTimeNs = 6e9
		s.Ifaces[0] = host.IfaceStats{Dev: "vif2.0", MAC: "00:16:3e:00:00:15", Counters: host.Counters{RxBytes: 600}}
		s.Disks[0].ReadBytes = 0
	})
	s = r.last("1h")
	if got := lastOf(s.CPU.Values[CPUUsed]); !near(got, 0.1) {
		t.Errorf("cpu after a reboot = %v, want 0.1 (what it counted since)", got)
	}
	if got := lastOf(s.Ifaces[0].Values[RxBytes]); !near(got, 10) {
		t.Errorf("rx after a reboot on a new vif = %v, want 10", got)
	}
	if got := lastOf(s.Disks[0].Values[ReadBytes]); got != 0 {
		t.Errorf("disk read after a reboot = %v, want 0", got)
	}

	// Stopped: zeros, not gaps.
	r.round(time.Minute, func(s *host.DomainStats) { *s = host.DomainStats{Name: s.Name, VMID: 7} })
	s = r.last("1h")
	if got := lastOf(s.Ifaces[0].Values[RxBytes]); got != 0 {
		t.Errorf("rx of a stopped VM = %v, want 0", got)
	}

	// Restart: the history is read back from disk.
	before := r.last("1d")
	r.open()
	after := r.last("1d")
	for v := range before.CPU.Values {
		for i := range before.CPU.Values[v] {
			a, b := before.CPU.Values[v][i], after.CPU.Values[v][i]
			if a != b && !(math.IsNaN(a) && math.IsNaN(b)) {
				t.Fatalf("after a restart, cpu value %d point %d = %v, was %v", v, i, b, a)
			}
		}
	}
	if len(after.Disks) != 2 || !near(after.Disks[0].Values[ReadBytes][len(after.Disks[0].Values[ReadBytes])-4], 1000) {
		t.Fatalf("disks after a restart: %+v", after.Disks)
	}
	// The coarser windows hold the same minutes, averaged.
	if w := r.last("1w"); !near(lastOf(w.CPU.Values[CPUUsed]), (0.5+0.5+0.1+0)/4) {
		t.Errorf("1w window's last point = %v, want the mean of the four minutes", lastOf(w.CPU.Values[CPUUsed]))
	}
	r.round(time.Minute, func(s *host.DomainStats) { *s = started() }) // a baseline again after the restart
	r.round(3*time.Minute, busy)
	s = r.last("1h")
	if got := s.CPU.Values[CPUUsed][58]; !near(got, 30.0/180) {
		t.Errorf("a 3-minute round fills the minutes it covers: %v, want %v", got, 30.0/180)
	}

	// The VM is deleted: its series goes at the next round.
	if err := r.st.Update(func(tx *store.Tx) error { tx.DeleteVM(7); tx.DeleteIface(21); return nil }); err != nil {
		t.Fatal(err)
	}
	r.round(time.Minute, nil)
	if _, err := os.Stat(filepath.Join(r.dir, "stats", "vm-7.rrd")); !os.IsNotExist(err) {
		t.Fatalf("series file of a deleted VM: %v", err)
	}
	if _, ok, _ := r.c.Series(7, Windows["1h"]); ok {
		t.Fatal("series of a deleted VM still answered")
	}
	if len(r.c.Latest()) != 0 {
		t.Fatal("latest counters of a deleted VM still answered")
	}
}

func TestStatsDevPosition(t *testing.T) {
	for dev, want := range map[string]int{"xvda": 0, "vdb": 1, "sdz": 25, "xvdaa": 26, "hdab": 27} {
		if got, ok := devPosition(dev); !ok || got != want {
			t.Errorf("devPosition(%q) = %d, %v; want %d", dev, got, ok, want)
		}
	}
	for _, dev := range []string{"", "xvd", "nvme0n1", "xvdA", "xvdabc", "tap0"} {
		if _, ok := devPosition(dev); ok {
			t.Errorf("devPosition(%q) accepted", dev)
		}
	}
}

func TestStatsParseWindow(t *testing.T) {
	for name, points := range map[string]int{"": 1440, "1h": 60, "1d": 1440, "1w": 672, "1m": 720} {
		w, err := ParseWindow(name)
		if err != nil || w.Points() != points {
			t.Errorf("ParseWindow(%q) = %d points, %v; want %d", name, w.Points(), err, points)
		}
	}
	if _, err := ParseWindow("2d"); err == nil {
		t.Error("2d accepted")
	}
}
