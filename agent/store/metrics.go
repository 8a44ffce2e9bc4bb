package store

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xenagent/xenagent/agent/metrics"
)

// writeStats counts what the committer does, for /metrics.
type writeStats struct {
	once    sync.Once
	latency *metrics.Histogram // one batch: bbolt transaction and fsync
	errors  atomic.Uint64      // batches the file refused
	commits atomic.Uint64      // commits (Update, UpdateAsync) written
}

func (w *writeStats) histogram() *metrics.Histogram {
	w.once.Do(func() { w.latency = metrics.NewHistogram(metrics.FsyncBuckets) })
	return w.latency
}

// batchWritten records one batch of n commits that took d; err is the
// file's answer.
func (w *writeStats) batchWritten(d time.Duration, n int, err error) {
	w.histogram().Observe(d.Seconds())
	if err != nil {
		w.errors.Add(1)
		return
	}
	w.commits.Add(uint64(n))
}

// WriteMetrics is the store's collector: commit latency, write errors
// and whether writes are taken now.
func (s *Store) WriteMetrics(w *metrics.Writer) {
	w.Histogram("xenagent_store_commit_seconds", "Time to write one batch of state changes to the state file: one bbolt transaction and its fsync.",
		s.stats.histogram().Value())
	w.Counter("xenagent_store_write_errors_total", "Batches of state changes the state file refused (full or failing disk); each refuses its writes and every write queued after it.",
		float64(s.stats.errors.Load()))
	w.Counter("xenagent_store_commits_total", "State changes written to the state file.", float64(s.stats.commits.Load()))
	writable := 1.0
	if s.Writable() != nil {
		writable = 0
	}
	w.Gauge("xenagent_store_writable", "1 while the state file takes writes, 0 while they are refused (until a probe succeeds).", writable)
}

// vmStates are the states a VM record can be in, all written (a state
// with no VM is 0, not absent: a series does not vanish from graphs).
var vmStates = []string{VMBeingCreated, VMRunning, VMHalted, VMPaused, VMLocked, VMDeleted}

// WriteRecordMetrics is the collector of what the records say: VMs by
// state and each iface's traffic (the counts the agent keeps, from the
// VM's point of view: in is what the VM received). It copies what it
// needs under the read lock and formats after, so that writers wait for
// a walk of the tables, not for 10,000 ifaces' label strings.
func (s *Store) WriteRecordMetrics(w *metrics.Writer) {
	type ifaceRow struct {
		id, vm, account int64
		t               Traffic
	}
	byState := map[string]int{}
	var ifaces []ifaceRow
	var account func(int64) string
	s.View(func(tx *Tx) {
		tx.EachVM(func(v *VM) bool { byState[v.State]++; return true })
		ifaces = make([]ifaceRow, 0, len(tx.s.ifaces.rows))
		tx.EachIface(func(i *Iface) bool {
			ifaces = append(ifaces, ifaceRow{i.ID, i.VMID, i.AccountID, i.Total()})
			return true
		})
		account = AccountLabel(tx)
	})
	for _, st := range vmStates {
		w.Gauge("xenagent_vms", "VMs by state.", float64(byState[st]), "state", st)
	}
	for st, n := range byState {
		if !slices.Contains(vmStates, st) {
			w.Gauge("xenagent_vms", "VMs by state.", float64(n), "state", st)
		}
	}
	const (
		bytesHelp   = "Bytes through a VM's iface, all its devices over time; direction in is what the VM received. vm_id is empty for an iface on no VM."
		packetsHelp = "Packets through a VM's iface, all its devices over time; direction in is what the VM received. vm_id is empty for an iface on no VM."
	)
	for _, i := range ifaces {
		vm, id, acct := idLabel(i.vm), idLabel(i.id), account(i.account)
		in := []string{"vm_id", vm, "iface_id", id, "account", acct, "direction", "in"}
		out := []string{"vm_id", vm, "iface_id", id, "account", acct, "direction", "out"}
		w.Counter("xenagent_iface_bytes_total", bytesHelp, float64(i.t.RxBytes), in...)
		w.Counter("xenagent_iface_bytes_total", bytesHelp, float64(i.t.TxBytes), out...)
		w.Counter("xenagent_iface_packets_total", packetsHelp, float64(i.t.RxPackets), in...)
		w.Counter("xenagent_iface_packets_total", packetsHelp, float64(i.t.TxPackets), out...)
	}
}

// AccountLabel returns the account label of per-VM series: the
// account's handle (the id when the account has no record). Other
// collectors of per-VM counters (cpu, disks) use it too, so that series
// join on vm_id and account.
func AccountLabel(tx *Tx) func(accountID int64) string {
	handles := map[int64]string{}
	tx.EachAccount(func(a *Account) bool { handles[a.ID] = a.Handle; return true })
	return func(id int64) string {
		if h, ok := handles[id]; ok {
			return h
		}
		return strconv.FormatInt(id, 10)
	}
}

// idLabel is a record id as a label value; 0 (none) is empty.
func idLabel(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}
