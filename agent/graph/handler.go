package graph

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/stats"
	"github.com/xenagent/xenagent/agent/token"
)

// Purpose is the token purpose graph URLs carry.
const Purpose = "graph"

// Targets a graph URL may name.
const (
	TargetCPU   = "cpu"
	TargetIface = "iface"
	TargetDisk  = "disk"
)

// Source is where the series come from (a *stats.Collector).
type Source interface {
	Series(vmID int64, w stats.Window) (stats.Series, bool, error)
}

// Tokens checks a graph token without consuming it (graph tokens are
// multi-use: a page shows several graphs and reloads them).
type Tokens interface {
	Peek(purpose, tok string) (token.Grant, error)
}

// Handler serves GET /graph/{token}/{target}/{device}.svg?window=W:
// target cpu (device 0), iface (device: the iface id) or disk (the disk
// id); window 1h, 1d (default), 1w or 1m. A bad parameter is a 400 that
// names it, a refused token a 403 that says why.
//
// has says whether a VM has a device (the store's word: a device just
// attached has no series yet, and gets an empty graph rather than a
// 400), and whether the token's VM still exists (has(vm, "cpu", 0)):
// a graph token outlives its VM's deletion, its link must not; nil
// trusts the series alone.
func Handler(tokens Tokens, src Source, has func(vmID int64, target string, device int64) bool, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/graph/"), "/")
		if len(parts) != 3 || !strings.HasSuffix(parts[2], ".svg") {
			http.Error(w, "path: want /graph/{token}/{target}/{device}.svg", http.StatusNotFound)
			return
		}
		g, err := tokens.Peek(Purpose, parts[0])
		if err != nil {
			http.Error(w, "token: "+err.Error(), http.StatusForbidden)
			return
		}
		if has != nil && !has(g.VMID, TargetCPU, 0) {
			http.Error(w, fmt.Sprintf("vm %d no longer exists", g.VMID), http.StatusGone)
			return
		}
		q := r.URL.Query()
		for k, vs := range q {
			switch {
			case k != "window":
				http.Error(w, fmt.Sprintf("%s: unknown parameter (window)", k), http.StatusBadRequest)
				return
			case len(vs) > 1:
				http.Error(w, "window: given more than once", http.StatusBadRequest)
				return
			}
		}
		win, err := stats.ParseWindow(q.Get("window"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		target := parts[1]
		device, err := strconv.ParseInt(strings.TrimSuffix(parts[2], ".svg"), 10, 64)
		if err != nil || device < 0 {
			http.Error(w, fmt.Sprintf("device: %q is not a device number", strings.TrimSuffix(parts[2], ".svg")), http.StatusBadRequest)
			return
		}
		s, _, err := src.Series(g.VMID, win)
		if err != nil {
			log.Warn("reading stats for a graph", "vm_id", g.VMID, "err", err)
			http.Error(w, "reading the series failed", http.StatusInternalServerError)
			return
		}
		c, err := ChartOf(s, target, device)
		if errors.Is(err, ErrDevice) && has != nil && has(g.VMID, target, device) {
			c, err = emptyChart(s, target, device), nil
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var buf bytes.Buffer
		if err := Render(&buf, c); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "private, max-age=60")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Write(buf.Bytes())
	})
}

// ErrTarget and ErrDevice are ChartOf's refusals.
var (
	ErrTarget = errors.New("target: not one of cpu, iface, disk")
	ErrDevice = errors.New("device: the VM has no such device in its series")
)

// ChartOf is the chart of one target and device of a series: cpu in %
// (100% is one vCPU busy), an iface in bit/s each way, a disk in bytes/s
// each way.
func ChartOf(s stats.Series, target string, device int64) (Chart, error) {
	c := Chart{Start: s.Start, Step: s.Step}
	// Spelt out: "1m" in a title reads as a minute, and it is a month.
	long := map[string]string{"1h": "hour", "1d": "day", "1w": "week", "1m": "month"}[s.Window.Name]
	if long == "" {
		long = s.Window.Name
	}
	window := " (last " + long + ")"
	switch target {
	case TargetCPU:
		if device != 0 {
			return c, fmt.Errorf("%w: cpu has only device 0, got %d", ErrDevice, device)
		}
		vcpus := lastKnown(s.CPU.Values[stats.VCPUs])
		c.Title = fmt.Sprintf("VM %d: CPU%s", s.VMID, window)
		c.Unit = "%"
		name := "CPU (100% = one vCPU)"
		if vcpus > 0 {
			name = fmt.Sprintf("CPU of %d vCPUs (100%% = one)", int(vcpus))
		}
		c.Lines = []Line{{Name: name, Values: scale(s.CPU.Values[stats.CPUUsed], 100)}}
	case TargetIface:
		b, ok := find(s.Ifaces, device)
		if !ok {
			return c, fmt.Errorf("%w: no iface %d", ErrDevice, device)
		}
		c.Title = fmt.Sprintf("VM %d: iface %d traffic%s", s.VMID, device, window)
		c.Unit = "bit/s"
		c.Lines = []Line{{"in (received by the VM)", scale(b.Values[stats.RxBytes], 8)}, {"out (sent by the VM)", scale(b.Values[stats.TxBytes], 8)}}
	case TargetDisk:
		b, ok := find(s.Disks, device)
		if !ok {
			return c, fmt.Errorf("%w: no disk %d", ErrDevice, device)
		}
		c.Title = fmt.Sprintf("VM %d: disk %d I/O%s", s.VMID, device, window)
		c.Unit = "B/s"
		c.Lines = []Line{{"read", b.Values[stats.ReadBytes]}, {"write", b.Values[stats.WriteBytes]}}
	default:
		return c, fmt.Errorf("%w, got %q", ErrTarget, target)
	}
	return c, nil
}

// emptyChart is the chart of a device with no series yet.
func emptyChart(s stats.Series, target string, device int64) Chart {
	gaps := make([]float64, s.Window.Points())
	for i := range gaps {
		gaps[i] = math.NaN()
	}
	blk := stats.Block{ID: device}
	for v := range blk.Values {
		blk.Values[v] = gaps
	}
	if target == TargetIface {
		s.Ifaces = []stats.Block{blk}
	} else {
		s.Disks = []stats.Block{blk}
	}
	c, _ := ChartOf(s, target, device)
	return c
}

func find(bs []stats.Block, id int64) (stats.Block, bool) {
	for _, b := range bs {
		if b.ID == id {
			return b, true
		}
	}
	return stats.Block{}, false
}

func scale(vs []float64, f float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = v * f
	}
	return out
}

func lastKnown(vs []float64) float64 {
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i] == vs[i] {
			return vs[i]
		}
	}
	return 0
}
