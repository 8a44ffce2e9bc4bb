package store

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// What an event says of a record: a summary per table, compared before
// and after each write (events.go).

// normal gives a field value one shape whether it was made here or read
// back from JSON: integral numbers int64, others float64, number lists
// []int64.
func normal(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return normal(f)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	case int:
		return int64(x)
	case []any:
		l := make([]int64, 0, len(x))
		for _, e := range x {
			n, ok := normal(e).(int64)
			if !ok {
				return x
			}
			l = append(l, n)
		}
		return l
	}
	return v
}

// A summary is the part of a record that events report; two equal
// summaries mean no event. Its JSON is the event's fields; fields() gives
// the same as a map, to name what a modification changed.
type summary interface {
	comparable
	fields() map[string]any
	owner() int64
}

// watcher makes a table's event hook: it compares the summaries of the
// record before and after a write (nil: absent) and returns the event,
// if any. It runs at every write of those tables, under the write lock:
// it builds no map.
func watcher[T any, S summary](class string, key func(*T) (int64, S)) func(old, nw *T) (change, bool) {
	return func(old, nw *T) (change, bool) {
		switch {
		case old == nil && nw == nil:
			return change{}, false
		case old == nil:
			id, s := key(nw)
			return change{Class: class, Action: ActionAdd, ID: id, Account: s.owner(), Fields: s}, true
		case nw == nil:
			id, s := key(old)
			return change{Class: class, Action: ActionDel, ID: id, Account: s.owner(), Fields: s}, true
		}
		id, a := key(old)
		_, b := key(nw)
		if a == b {
			return change{}, false
		}
		return change{Class: class, Action: ActionMod, ID: id, Account: b.owner(), Fields: b, Changed: changed(a.fields(), b.fields())}, true
	}
}

// changed names the fields whose values differ between a and b (or that
// only one has), sorted. It runs only for a write that makes an event,
// which is then encoded anyway: the maps cost no more than that.
func changed(a, b map[string]any) []string {
	var names []string
	for k, v := range a {
		if w, ok := b[k]; !ok || !reflect.DeepEqual(v, w) {
			names = append(names, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

// The summaries: what a central tier places and bills by. Traffic
// counters are left out on purpose: they change at every tick.

type vmSummary struct {
	Account  int64  `json:"-"`
	State    string `json:"state"`
	Hostname string `json:"hostname"`
	Memory   int64  `json:"memory"`
	Cores    int64  `json:"cores"`
	Console  int64  `json:"console"`
}

func (s vmSummary) owner() int64 { return s.Account }
func (s vmSummary) fields() map[string]any {
	return map[string]any{"state": s.State, "hostname": s.Hostname, "memory": s.Memory, "cores": s.Cores, "console": s.Console}
}

func summarizeVM(v *VM) (int64, vmSummary) {
	return v.ID, vmSummary{v.AccountID, v.State, v.Hostname, v.Memory, v.Cores, v.Console}
}

type diskSummary struct {
	Account int64  `json:"-"`
	State   string `json:"state"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	VM      int64  `json:"vm_id"`
}

func (s diskSummary) owner() int64 { return s.Account }
func (s diskSummary) fields() map[string]any {
	return map[string]any{"state": s.State, "type": s.Type, "name": s.Name, "size": s.Size, "vm_id": s.VM}
}

func summarizeDisk(d *Disk) (int64, diskSummary) {
	return d.ID, diskSummary{d.AccountID, d.State, d.Type, d.Name, d.SizeMB, d.VMID}
}

type ifaceSummary struct {
	Account   int64
	State     string
	VM        int64
	Bandwidth float64
	IPs       string // the ids, comma separated: a summary must compare with ==
}

func (s ifaceSummary) owner() int64 { return s.Account }
func (s ifaceSummary) fields() map[string]any {
	ids := []int64{}
	for p := range strings.SplitSeq(s.IPs, ",") {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			ids = append(ids, n)
		}
	}
	return map[string]any{"state": s.State, "vm_id": s.VM, "bandwidth": s.Bandwidth, "ip_ids": ids}
}

// MarshalJSON writes the ids as a list. Iface events are few (the
// traffic counters make none), so the map costs nothing much.
func (s ifaceSummary) MarshalJSON() ([]byte, error) { return json.Marshal(s.fields()) }

func summarizeIface(i *Iface) (int64, ifaceSummary) {
	var b strings.Builder
	for n, id := range i.IPIDs {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return i.ID, ifaceSummary{i.AccountID, i.State, i.VMID, i.Bandwidth, b.String()}
}

type opSummary struct {
	Account     int64  `json:"-"`
	Type        string `json:"type"`
	Step        string `json:"step"`
	VM          int64  `json:"vm_id,omitempty"` // the objects it is about: most have one or two
	Disk        int64  `json:"disk_id,omitempty"`
	Iface       int64  `json:"iface_id,omitempty"`
	LastError   string `json:"last_error,omitempty"`
	RollingBack bool   `json:"rolling_back,omitempty"`
	Cancel      bool   `json:"cancel_requested,omitempty"`
}

func (s opSummary) owner() int64 { return s.Account }
func (s opSummary) fields() map[string]any {
	f := map[string]any{"type": s.Type, "step": s.Step}
	if s.VM != 0 {
		f["vm_id"] = s.VM
	}
	if s.Disk != 0 {
		f["disk_id"] = s.Disk
	}
	if s.Iface != 0 {
		f["iface_id"] = s.Iface
	}
	if s.LastError != "" {
		f["last_error"] = s.LastError
	}
	if s.RollingBack {
		f["rolling_back"] = true
	}
	if s.Cancel {
		f["cancel_requested"] = true
	}
	return f
}

func summarizeOperation(o *Operation) (int64, opSummary) {
	return o.ID, opSummary{o.AccountID, o.Type, o.Step, o.VMID, o.DiskID, o.IfaceID, o.LastError, o.RollingBack, o.Cancel}
}
