package stats

import (
	"fmt"
	"os"
	"sort"
	"time"
)

// Window is a span of history a series or graph covers.
type Window struct {
	Name    string
	Span    time.Duration
	archive int
}

// Step is the time between two points of the window.
func (w Window) Step() time.Duration { return archives[w.archive].Step }

// Points is how many points the window has.
func (w Window) Points() int { return int(w.Span / w.Step()) }

// Windows are the spans offered, by name.
var Windows = map[string]Window{
	"1h": {"1h", time.Hour, 0},
	"1d": {"1d", 24 * time.Hour, 0},
	"1w": {"1w", 7 * 24 * time.Hour, 1},
	"1m": {"1m", 30 * 24 * time.Hour, 2},
}

// WindowNames lists the windows, shortest first, for messages.
const WindowNames = "1h, 1d, 1w, 1m"

// ParseWindow returns the window of a name ("" is 1d).
func ParseWindow(name string) (Window, error) {
	if name == "" {
		name = "1d"
	}
	w, ok := Windows[name]
	if !ok {
		return Window{}, fmt.Errorf("window: %q is not one of %s", name, WindowNames)
	}
	return w, nil
}

// Series is a VM's history over a window: points at Start, Start+Step...
// (each the mean over the step that ends there); NaN where nothing was
// measured (the agent was down, the device absent).
type Series struct {
	VMID   int64
	Window Window
	Start  time.Time
	Step   time.Duration
	CPU    Block   // KindVM
	Ifaces []Block // by iface id
	Disks  []Block // by disk id
}

// Block is one device's values; their meaning is its Kind's.
type Block struct {
	Kind   Kind
	ID     int64
	Values [nValues][]float64
}

// Value indexes within a Block, by kind.
const (
	CPUUsed       = 0 // vCPUs busy (1: one vCPU all the time)
	MemKiB        = 1
	MemMaxKiB     = 2
	VCPUs         = 3
	RxBytes       = 0 // iface, per second
	TxBytes       = 1
	RxPackets     = 2
	TxPackets     = 3
	ReadBytes     = 0 // disk, per second
	WriteBytes    = 1
	ReadRequests  = 2
	WriteRequests = 3
)

// Series returns a VM's history over w, ending now. A VM with no
// history (never collected, or deleted) has a series of gaps with no
// devices, and ok false.
func (c *Collector) Series(vmID int64, w Window) (Series, bool, error) {
	step := w.Step()
	n := w.Points()
	end := c.now().Unix() / int64(step/time.Second)
	out := Series{VMID: vmID, Window: w, Step: step, Start: time.Unix((end-int64(n)+1)*int64(step/time.Second), 0).UTC()}
	out.CPU = Block{Kind: KindVM, ID: vmID}
	for v := range out.CPU.Values {
		out.CPU.Values[v] = nans(n)
	}
	s, err := c.series(vmID, false)
	if err != nil || s == nil {
		return out, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.Open(s.rrd.path)
	if os.IsNotExist(err) {
		return out, false, nil
	}
	if err != nil {
		return out, false, err
	}
	defer f.Close()
	vals, err := s.rrd.read(f, w.archive, end, n)
	if err != nil {
		return out, false, err
	}
	for i, b := range s.rrd.blocks {
		blk := Block{Kind: b.Kind, ID: b.ID, Values: vals[i]}
		switch b.Kind {
		case KindVM:
			out.CPU = blk
		case KindIface:
			out.Ifaces = append(out.Ifaces, blk)
		case KindDisk:
			out.Disks = append(out.Disks, blk)
		}
	}
	sort.Slice(out.Ifaces, func(i, j int) bool { return out.Ifaces[i].ID < out.Ifaces[j].ID })
	sort.Slice(out.Disks, func(i, j int) bool { return out.Disks[i].ID < out.Disks[j].ID })
	return out, true, nil
}

func nans(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = nan
	}
	return out
}
