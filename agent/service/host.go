package service

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/store"
)

// HostSources are where HostInfo reads what the store does not hold: the
// node's memory and cpus, the storage pool's room, and the agent's
// health. A nil source is reported as unknown, never guessed.
type HostSources struct {
	Node host.Node
	Pool host.PoolCapacity
	// Health is the reconciler's check, the one /healthz runs (state
	// writes, the engine, libvirtd).
	Health func(context.Context) error
}

// SetHostSources gives HostInfo its sources; call it before serving.
func (s *Service) SetHostSources(h HostSources) { s.hostSrc = h }

// HostInfo is what the central tier needs to place work on this host.
// Byte counts are bytes; a face renders them in its own units.
type HostInfo struct {
	Agent      string
	Datacenter Datacenter
	// Node is nil when it could not be read; NodeError says why.
	Node      *host.NodeInfo
	NodeError string
	// Storage is nil when the backend cannot tell (or failed: StorageError).
	Storage      *host.Capacity
	StorageError string
	// VMs counts the VMs by state (every state present, 0 included).
	VMs map[string]int64
	// Operations counts unfinished operations: running (a step began)
	// and queued (waiting for their turn or their first step).
	OpsRunning, OpsQueued int64
	// Healthy is the health check's verdict; Problems its reasons, one
	// an entry (a node or pool that could not be read counts too).
	Healthy  bool
	Problems []string
	At       time.Time
}

// hostInfoTimeout bounds each source, so one wedged source (libvirtd
// busy starting domains, a hung lvs) cannot hold the answer.
const hostInfoTimeout = 10 * time.Second

// VM states HostInfo always counts, so a reader sees 0 rather than a
// missing key.
var hostVMStates = []string{store.VMBeingCreated, store.VMRunning, store.VMHalted, store.VMPaused, store.VMLocked, store.VMBeingMigrated}

// HostInfo reads the host's capacity and load. Operator only: it shows
// every account's VMs and the machine.
func (s *Service) HostInfo(ctx context.Context, c *Caller) (HostInfo, error) {
	if !c.Operator {
		return HostInfo{}, Errorf(ObjMethod, KindNoRight, "hosting.host.info: the operator key only; an account's key may not read the host")
	}
	out := HostInfo{Agent: s.cfg.Version, Datacenter: s.cfg.Datacenter, VMs: map[string]int64{}, At: now()}
	for _, st := range hostVMStates {
		out.VMs[st] = 0
	}
	s.st.View(func(tx *store.Tx) {
		tx.EachVM(func(v *store.VM) bool {
			out.VMs[shownState(v, isLocked(tx, v.ID))]++ // lock.go
			return true
		})
		tx.EachOperation(func(o *store.Operation) bool {
			switch {
			case o.Finished():
			case o.Step == store.StepRun:
				out.OpsRunning++
			default:
				out.OpsQueued++
			}
			return true
		})
	})
	src := s.hostSrc
	if src.Node != nil {
		sctx, cancel := context.WithTimeout(ctx, hostInfoTimeout)
		n, err := src.Node.NodeInfo(sctx)
		cancel()
		if err != nil {
			out.NodeError = err.Error()
		} else {
			out.Node = &n
		}
	} else {
		out.NodeError = "the hypervisor adapter does not report the node"
	}
	if src.Pool != nil {
		sctx, cancel := context.WithTimeout(ctx, hostInfoTimeout)
		p, err := src.Pool.Capacity(sctx)
		cancel()
		if err != nil {
			out.StorageError = err.Error()
		} else {
			out.Storage = &p
		}
	} else {
		out.StorageError = "the storage backend does not report its capacity"
	}
	var herr error
	if src.Health != nil {
		sctx, cancel := context.WithTimeout(ctx, hostInfoTimeout)
		herr = src.Health(sctx)
		cancel()
	} else {
		herr = errors.New("no health check is set")
	}
	out.Problems = problems(herr)
	if out.Node == nil {
		out.Problems = append(out.Problems, "node: "+out.NodeError)
	}
	if out.Storage == nil {
		out.Problems = append(out.Problems, "storage: "+out.StorageError)
	}
	out.Healthy = len(out.Problems) == 0
	return out, nil
}

// problems splits a health error (an errors.Join of reasons) into lines.
func problems(err error) []string {
	if err == nil {
		return []string{}
	}
	var list []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			list = append(list, problems(e)...)
		}
	} else {
		list = append(list, err.Error())
	}
	sort.Strings(list)
	return list
}
