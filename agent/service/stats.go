package service

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/stats"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/token"
)

// GraphPurpose is the token purpose of graph links (agent/graph checks
// it); GraphTTL how long a graph link works. Graph tokens are multi-use:
// a page shows several graphs and reloads them.
const (
	GraphPurpose = "graph"
	GraphTTL     = time.Hour
)

// StatsSource is where VMs' series come from (a *stats.Collector).
type StatsSource interface {
	Series(vmID int64, w stats.Window) (stats.Series, bool, error)
}

// statsDeps is what graph links and raw series need.
type statsDeps struct {
	src    StatsSource
	tokens *token.Issuer
	base   string // public URL of the agent, without a trailing slash

	// issued is each VM's graph token while it has more than half its
	// life left: a client calling vm.info in a loop gets the same links
	// instead of pushing its earlier ones out of the issuer's bound.
	mu     sync.Mutex
	issued map[int64]graphToken
}

type graphToken struct {
	tok     string
	expires time.Time
}

// token returns a VM's graph token, minting one when there is none with
// more than half of GraphTTL left.
func (d *statsDeps) token(vmID, account int64) (string, time.Time, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	// The issuer may have dropped it meanwhile (its per-account bound,
	// which console links count against too): then a fresh one.
	if t, ok := d.issued[vmID]; ok && t.expires.Sub(now) > GraphTTL/2 {
		if _, err := d.tokens.Peek(GraphPurpose, t.tok); err == nil {
			return t.tok, t.expires, nil
		}
	}
	tok, g, err := d.tokens.Issue(token.Grant{Purpose: GraphPurpose, VMID: vmID, Account: account, TTL: GraphTTL})
	if err != nil {
		return "", time.Time{}, err
	}
	if len(d.issued) >= 4096 { // forget the expired ones now and then
		for id, t := range d.issued {
			if !t.expires.After(now) {
				delete(d.issued, id)
			}
		}
	}
	d.issued[vmID] = graphToken{tok, g.Expires}
	return tok, g.Expires, nil
}

// SetStats lets the service answer series (src) and mint graph links:
// tokens from tokens, URLs under publicURL (where clients reach the
// agent). Without it VMGraphs answers none and VMStats refuses.
func (s *Service) SetStats(src StatsSource, tokens *token.Issuer, publicURL string) error {
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("graphs' public URL %q: want http(s)://host[:port]", publicURL)
	}
	s.stats = &statsDeps{src: src, tokens: tokens, base: strings.TrimRight(publicURL, "/"), issued: map[int64]graphToken{}}
	return nil
}

// VMGraphs are a VM's graph links, one per device, in the VM's device
// order (disks by position, ifaces as attached), and its probes.
type VMGraphs struct {
	CPU, Disks, Ifaces []string
	Expires            time.Time
	Probes             []Probe
}

// Probe is something the agent measures on a VM: its cpu, each iface
// (the seed's ProbeReturn; disks are measured and graphed but the seed
// names no probe type for them).
type Probe struct {
	ID          int64 // the VM's id for cpu, the iface's id for an iface
	Name        string
	DeviceType  string // "cpu", "iface"
	Datasource  string // what the graph of the probe shows
	Status      string // "active": measured now; "inactive": its VM is not running
	DateCreated time.Time
}

// VMGraphs gives a graph token for a VM the caller owns (bound to the
// VM and its account, multi-use, GraphTTL; the same one while it has
// more than half its life left) and the links of its graphs
// over a day (a client changes ?window= to 1h, 1w or 1m). No stats
// configured: probes but no links, and no error.
func (s *Service) VMGraphs(c *Caller, id int64) (VMGraphs, error) {
	var v store.VM
	var ifaces []store.Iface
	var err error
	s.st.View(func(tx *store.Tx) {
		if v, err = vmFor(tx, c, id); err != nil {
			return
		}
		for _, iid := range v.IfaceIDs {
			if i, ok := tx.Iface(iid); ok {
				ifaces = append(ifaces, i)
			}
		}
	})
	if err != nil {
		return VMGraphs{}, err
	}
	out := VMGraphs{CPU: []string{}, Disks: []string{}, Ifaces: []string{}, Probes: probes(v, ifaces)}
	if s.stats == nil {
		return out, nil
	}
	tok, expires, err := s.stats.token(id, v.AccountID)
	if err != nil {
		return out, Errorf(ObjVM, KindInternal, "graphs: issuing a token: %v", err)
	}
	link := func(target string, device int64) string {
		return fmt.Sprintf("%s/graph/%s/%s/%d.svg?window=1d", s.stats.base, tok, target, device)
	}
	out.Expires = expires
	out.CPU = []string{link("cpu", 0)}
	for _, d := range v.DiskIDs {
		out.Disks = append(out.Disks, link("disk", d))
	}
	for _, i := range ifaces {
		out.Ifaces = append(out.Ifaces, link("iface", i.ID))
	}
	return out, nil
}

func probes(v store.VM, ifaces []store.Iface) []Probe {
	status := "inactive"
	if v.State == store.VMRunning {
		status = "active"
	}
	out := []Probe{{ID: v.ID, Name: fmt.Sprintf("vm %d cpu", v.ID), DeviceType: "cpu", Datasource: "cpu_time", Status: status, DateCreated: v.DateCreated}}
	for _, i := range ifaces {
		out = append(out, Probe{ID: i.ID, Name: fmt.Sprintf("iface %d", i.ID), DeviceType: "iface", Datasource: "bytes", Status: status,
			DateCreated: i.DateCreated})
	}
	return out
}

// GraphDevice says whether VM id has the device a graph URL names (cpu
// 0, an iface or a disk by id), so that a device not measured yet gets
// an empty graph rather than a refusal. Cpu 0 is whether the VM still
// exists: agent/graph refuses the links of a deleted VM with it.
func (s *Service) GraphDevice(id int64, target string, device int64) bool {
	var ok bool
	s.st.View(func(tx *store.Tx) {
		v, found := tx.VM(id)
		if !found {
			return
		}
		switch target {
		case "cpu":
			ok = device == 0
		case "iface":
			ok = slices.Contains(v.IfaceIDs, device)
		case "disk":
			ok = slices.Contains(v.DiskIDs, device)
		}
	})
	return ok
}

// StatsRequest asks for a VM's raw series.
type StatsRequest struct {
	Window  string   // 1h, 1d (default), 1w, 1m
	Targets []string // cpu, iface, disk; none: all
}

// VMStats are a VM's raw series over a window: Points points, Step
// apart, the first starting at Start, each the mean over its step; NaN
// where nothing was measured.
type VMStats struct {
	VMID   int64
	Window string
	Start  time.Time
	Step   time.Duration
	Points int
	CPU    *CPUSeries // nil unless asked
	Ifaces []IfaceSeries
	Disks  []DiskSeries
}

// CPUSeries: CPU used in vCPUs (1 is one vCPU busy all the time),
// memory in KiB (the balloon and its maximum).
type CPUSeries struct {
	Used, MemKiB, MemMaxKiB []float64
	VCPUs                   int
}

// IfaceSeries: per second, from the VM's point of view.
type IfaceSeries struct {
	IfaceID                                int64
	RxBytes, TxBytes, RxPackets, TxPackets []float64
}

// DiskSeries: per second.
type DiskSeries struct {
	DiskID                                     int64
	ReadBytes, WriteBytes, ReadReqs, WriteReqs []float64
}

// VMStats returns the raw series of a VM the caller owns: every device
// the VM had in the window, detached ones included (their traffic was
// the VM's).
func (s *Service) VMStats(c *Caller, id int64, req StatsRequest) (VMStats, error) {
	w, err := stats.ParseWindow(req.Window)
	if err != nil {
		return VMStats{}, Invalid(ObjVM, "window", "must be one of %s, got %q", stats.WindowNames, req.Window)
	}
	want := map[string]bool{}
	for _, t := range req.Targets {
		switch t {
		case "cpu", "iface", "disk":
			want[t] = true
		default:
			return VMStats{}, Invalid(ObjVM, "targets", "%q is not one of cpu, iface, disk", t)
		}
	}
	if len(want) == 0 {
		want = map[string]bool{"cpu": true, "iface": true, "disk": true}
	}
	s.st.View(func(tx *store.Tx) { _, err = vmFor(tx, c, id) })
	if err != nil {
		return VMStats{}, err
	}
	if s.stats == nil {
		return VMStats{}, Errorf(ObjVM, KindUnavailable, "stats: this agent collects no statistics")
	}
	ser, _, err := s.stats.src.Series(id, w)
	if err != nil {
		return VMStats{}, Errorf(ObjVM, KindInternal, "stats: reading vm %d's series: %v", id, err)
	}
	out := VMStats{VMID: id, Window: w.Name, Start: ser.Start, Step: ser.Step, Points: w.Points(), Ifaces: []IfaceSeries{}, Disks: []DiskSeries{}}
	if want["cpu"] {
		v := ser.CPU.Values
		out.CPU = &CPUSeries{Used: v[stats.CPUUsed], MemKiB: v[stats.MemKiB], MemMaxKiB: v[stats.MemMaxKiB], VCPUs: lastCount(v[stats.VCPUs])}
	}
	if want["iface"] {
		for _, b := range ser.Ifaces {
			v := b.Values
			out.Ifaces = append(out.Ifaces, IfaceSeries{IfaceID: b.ID, RxBytes: v[stats.RxBytes], TxBytes: v[stats.TxBytes],
				RxPackets: v[stats.RxPackets], TxPackets: v[stats.TxPackets]})
		}
	}
	if want["disk"] {
		for _, b := range ser.Disks {
			v := b.Values
			out.Disks = append(out.Disks, DiskSeries{DiskID: b.ID, ReadBytes: v[stats.ReadBytes], WriteBytes: v[stats.WriteBytes],
				ReadReqs: v[stats.ReadRequests], WriteReqs: v[stats.WriteRequests]})
		}
	}
	return out, nil
}

// lastCount is the last measured value of a series of counts.
func lastCount(vs []float64) int {
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i] == vs[i] {
			return int(vs[i])
		}
	}
	return 0
}
