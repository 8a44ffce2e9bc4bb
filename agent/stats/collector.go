package stats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/store"
)

// Config configures a Collector.
type Config struct {
	// Dir holds one file per VM (state_dir/stats).
	Dir string
	// Every is the collection interval (stats.every).
	Every time.Duration
	// DiskPath is where a disk's volume is (its source in the domain);
	// nil, or a path no stats record has, matches disks by device
	// position instead (xvdb is the VM's second disk).
	DiskPath func(diskID int64) string
}

// Collector reads every domain's counters each round, turns them into
// rates per VM and device and adds them to each VM's series on disk. It
// also keeps each VM's latest counters, for /metrics.
type Collector struct {
	cfg Config
	src host.Stats
	st  *store.Store
	log *slog.Logger
	now func() time.Time

	mu  sync.Mutex
	vms map[int64]*vmSeries // loaded or collected this run
	// onDisk are VMs with a file not loaded yet (from a previous run).
	onDisk map[int64]bool
}

// vmSeries is one VM's state in memory: its file's header and current
// points, and the previous round's counters (rates are differences).
type vmSeries struct {
	mu     sync.Mutex
	rrd    *rrdFile
	prevAt time.Time
	prev   Counters
	latest Counters
}

// Counters are a VM's latest cumulative counters, as /metrics exports
// them. They restart from zero when the domain restarts.
type Counters struct {
	VMID, AccountID int64
	At              time.Time
	Running         bool
	CPUSeconds      float64
	VCPUSeconds     []float64
	BalloonKiB      uint64
	BalloonMaxKiB   uint64
	Ifaces          []IfaceCounters
	Disks           []DiskCounters
}

// IfaceCounters are an iface's counters, from the VM's point of view.
type IfaceCounters struct {
	IfaceID  int64
	Dev, MAC string
	host.Counters
}

// DiskCounters are a disk's counters.
type DiskCounters struct {
	DiskID                                     int64
	Dev, Path                                  string
	ReadBytes, WriteBytes, ReadReqs, WriteReqs uint64
}

// Open makes a collector over the files in cfg.Dir (created if need be).
func Open(cfg Config, src host.Stats, st *store.Store, log *slog.Logger) (*Collector, error) {
	if cfg.Every <= 0 {
		return nil, errors.New("stats: Every must be positive")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	c := &Collector{cfg: cfg, src: src, st: st, log: log, now: time.Now, vms: map[int64]*vmSeries{}, onDisk: map[int64]bool{}}
	ents, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	for _, e := range ents {
		if id, ok := fileVM(e.Name()); ok {
			c.onDisk[id] = true
		}
	}
	return c, nil
}

func (c *Collector) file(vmID int64) string {
	return filepath.Join(c.cfg.Dir, fmt.Sprintf("vm-%d.rrd", vmID))
}

func fileVM(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, "vm-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".rrd")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// Run collects every cfg.Every until ctx ends.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Every)
	defer t.Stop()
	for {
		if err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("collecting stats", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// match is a stats record and what the store says of its VM.
type match struct {
	rec       host.DomainStats
	account   int64
	ifaceMAC  map[string]int64
	ifaceDev  map[string]int64
	diskPath  map[string]int64
	diskIDs   []int64
	prevKnown bool
}

// Collect runs one round: read, match to VMs, write; VMs gone from the
// store lose their series.
func (c *Collector) Collect(ctx context.Context) error {
	recs, err := c.src.AllStats(ctx)
	if err != nil {
		return err
	}
	at := c.now()
	var ms []match
	var gone []int64
	c.mu.Lock()
	known := make([]int64, 0, len(c.vms)+len(c.onDisk))
	for id := range c.vms {
		known = append(known, id)
	}
	for id := range c.onDisk {
		known = append(known, id)
	}
	c.mu.Unlock()
	c.st.View(func(tx *store.Tx) {
		for _, r := range recs {
			v, ok := tx.VM(r.VMID)
			if !ok || v.Domain != r.Name {
				continue
			}
			m := match{rec: r, account: v.AccountID, ifaceMAC: map[string]int64{}, ifaceDev: map[string]int64{},
				diskPath: map[string]int64{}, diskIDs: v.DiskIDs}
			for _, id := range v.IfaceIDs {
				if i, ok := tx.Iface(id); ok {
					m.ifaceMAC[strings.ToLower(i.MAC)] = id
					if i.Dev != "" {
						m.ifaceDev[i.Dev] = id
					}
				}
			}
			if c.cfg.DiskPath != nil {
				for _, id := range v.DiskIDs {
					m.diskPath[c.cfg.DiskPath(id)] = id
				}
			}
			ms = append(ms, m)
		}
		for _, id := range known {
			if !tx.HasVM(id) {
				gone = append(gone, id)
			}
		}
	})
	for _, id := range gone {
		if err := c.Drop(id); err != nil {
			c.log.Warn("dropping stats of a deleted VM", "vm_id", id, "err", err)
		}
	}
	var errs []error
	for _, m := range ms {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.add(m, at); err != nil {
			errs = append(errs, fmt.Errorf("vm %d: %w", m.rec.VMID, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("writing stats of %d VMs, first: %w", len(errs), errs[0])
	}
	return nil
}

// Drop forgets a VM's series (the VM is deleted).
func (c *Collector) Drop(vmID int64) error {
	c.mu.Lock()
	delete(c.vms, vmID)
	delete(c.onDisk, vmID)
	c.mu.Unlock()
	if err := os.Remove(c.file(vmID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// series returns a VM's state, loading its file's header if there is
// one; create makes it when there is none.
func (c *Collector) series(vmID int64, create bool) (*vmSeries, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.vms[vmID]; ok {
		return s, nil
	}
	path := c.file(vmID)
	r, err := loadRRD(path)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrNotExist):
		if !create {
			return nil, nil
		}
		r = &rrdFile{path: path, vmID: vmID}
	default:
		// A torn or foreign file: set it aside rather than lose the VM's
		// collection for good.
		c.log.Warn("stats file unreadable; starting it anew", "vm_id", vmID, "err", err)
		if rerr := os.Rename(path, path+".bad"); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, rerr
		}
		if !create {
			return nil, nil
		}
		r = &rrdFile{path: path, vmID: vmID}
	}
	s := &vmSeries{rrd: r}
	c.vms[vmID] = s
	delete(c.onDisk, vmID)
	return s, nil
}

// add turns one record into counters, rates and a sample.
func (c *Collector) add(m match, at time.Time) error {
	s, err := c.series(m.rec.VMID, true)
	if err != nil {
		return err
	}
	cur := c.counters(m, at)
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, prevAt := s.prev, s.prevAt
	s.prev, s.prevAt, s.latest = cur, at, cur
	if prevAt.IsZero() || !at.After(prevAt) {
		return nil // a baseline: rates need two readings
	}
	smp := sample{at: at, interval: at.Sub(prevAt), points: map[blockKey][nValues]float32{}}
	secs := smp.interval.Seconds()
	nan := float32(math.NaN())
	if !cur.Running {
		// A stopped VM uses nothing: zeros, not gaps, on its devices.
		smp.points[blockKey{KindVM, m.rec.VMID}] = [nValues]float32{0, nan, nan, nan}
		for _, b := range s.rrd.blocks {
			if b.Kind != KindVM {
				smp.points[b] = [nValues]float32{0, 0, 0, 0}
			}
		}
		return c.write(s, smp)
	}
	maxKiB := float32(cur.BalloonMaxKiB)
	if cur.BalloonMaxKiB == 0 {
		maxKiB = nan
	}
	smp.points[blockKey{KindVM, m.rec.VMID}] = [nValues]float32{
		float32(float64(delta(uint64(cur.CPUSeconds*1e9), uint64(prev.CPUSeconds*1e9))) / 1e9 / secs),
		float32(cur.BalloonKiB), maxKiB, float32(len(cur.VCPUSeconds))}
	prevIf := map[int64]host.Counters{}
	for _, i := range prev.Ifaces {
		prevIf[i.IfaceID] = i.Counters
	}
	for _, i := range cur.Ifaces {
		p, ok := prevIf[i.IfaceID]
		if !ok && prev.Running {
			continue // a device plugged since: its rate starts next round
		}
		smp.points[blockKey{KindIface, i.IfaceID}] = [nValues]float32{
			rate(i.RxBytes, p.RxBytes, secs), rate(i.TxBytes, p.TxBytes, secs),
			rate(i.RxPackets, p.RxPackets, secs), rate(i.TxPackets, p.TxPackets, secs)}
	}
	prevDisk := map[int64]DiskCounters{}
	for _, d := range prev.Disks {
		prevDisk[d.DiskID] = d
	}
	for _, d := range cur.Disks {
		p, ok := prevDisk[d.DiskID]
		if !ok && prev.Running {
			continue
		}
		smp.points[blockKey{KindDisk, d.DiskID}] = [nValues]float32{
			rate(d.ReadBytes, p.ReadBytes, secs), rate(d.WriteBytes, p.WriteBytes, secs),
			rate(d.ReadReqs, p.ReadReqs, secs), rate(d.WriteReqs, p.WriteReqs, secs)}
	}
	return c.write(s, smp)
}

func (c *Collector) write(s *vmSeries, smp sample) error {
	f, err := os.OpenFile(s.rrd.path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	werr := s.rrd.write(f, smp)
	if err := f.Close(); werr == nil {
		werr = err
	}
	return werr
}

// delta is what a counter counted since prev. A counter below its last
// reading restarted (the guest rebooted, the device was replugged): what
// it counted since is its value, neither a negative rate nor the wrap
// of an unsigned difference.
func delta(cur, prev uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

func rate(cur, prev uint64, secs float64) float32 {
	return float32(float64(delta(cur, prev)) / secs)
}

// counters maps a record's devices to the store's ifaces and disks.
func (c *Collector) counters(m match, at time.Time) Counters {
	r := m.rec
	out := Counters{VMID: r.VMID, AccountID: m.account, At: at, Running: r.Running, CPUSeconds: float64(r.CPUTimeNs) / 1e9,
		BalloonKiB: r.BalloonKiB, BalloonMaxKiB: r.BalloonMaxKiB}
	for _, v := range r.VCPUTimeNs {
		out.VCPUSeconds = append(out.VCPUSeconds, float64(v)/1e9)
	}
	for _, i := range r.Ifaces {
		id, ok := m.ifaceMAC[strings.ToLower(i.MAC)]
		if !ok || i.MAC == "" {
			id, ok = m.ifaceDev[i.Dev]
		}
		if ok {
			out.Ifaces = append(out.Ifaces, IfaceCounters{IfaceID: id, Dev: i.Dev, MAC: i.MAC, Counters: i.Counters})
		}
	}
	for _, d := range r.Disks {
		id, ok := m.diskPath[d.Path]
		if !ok {
			if pos, pok := devPosition(d.Dev); pok && pos < len(m.diskIDs) && pos != host.SeedPosition {
				id, ok = m.diskIDs[pos], true
			}
		}
		if ok {
			out.Disks = append(out.Disks, DiskCounters{DiskID: id, Dev: d.Dev, Path: d.Path, ReadBytes: d.ReadBytes,
				WriteBytes: d.WriteBytes, ReadReqs: d.ReadReqs, WriteReqs: d.WriteReqs})
		}
	}
	return out
}

// devPosition is a disk device's position from its name: the trailing
// letters of xvdb, vdaa (a=0, z=25, aa=26).
func devPosition(dev string) (int, bool) {
	for _, p := range []string{"xvd", "vd", "sd", "hd"} {
		letters, ok := strings.CutPrefix(dev, p)
		if !ok || letters == "" || len(letters) > 2 || strings.Trim(letters, "abcdefghijklmnopqrstuvwxyz") != "" {
			continue
		}
		n := 0
		for _, ch := range letters {
			n = n*26 + int(ch-'a'+1)
		}
		return n - 1, true
	}
	return 0, false
}

// Latest returns every VM's latest counters, sorted by VM id.
func (c *Collector) Latest() []Counters {
	c.mu.Lock()
	ss := make([]*vmSeries, 0, len(c.vms))
	for _, s := range c.vms {
		ss = append(ss, s)
	}
	c.mu.Unlock()
	out := make([]Counters, 0, len(ss))
	for _, s := range ss {
		s.mu.Lock()
		if !s.latest.At.IsZero() {
			out = append(out, s.latest)
		}
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VMID < out[j].VMID })
	return out
}
