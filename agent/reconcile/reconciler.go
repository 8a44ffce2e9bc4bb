// Package reconcile keeps the records and the host in agreement: at
// start it compares what the store says with what libvirt, the storage
// and the network hold (defining missing domains, judging every volume,
// sweeping leftovers); then it follows libvirt's and the kernel's
// events, writes traffic counters, expires quarantined volumes and
// answers the health check.
package reconcile

import (
	"log/slog"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Config is what reconciliation needs from the agent's configuration.
type Config struct {
	Network workflow.Network
	// QuarantineFor is how long a volume set aside at reconciliation is
	// kept before it is removed; 0 keeps it forever.
	QuarantineFor time.Duration
}

// Reconciler compares and follows; it acts through the workflows' steps.
type Reconciler struct {
	cfg      Config
	st       *store.Store
	eng      *ops.Engine
	hv       host.Hypervisor
	vols     host.Volumes
	wf       *workflow.Workflows
	log      *slog.Logger
	volState volumeState
}

// New makes a reconciler over the same store, engine and ports as wf.
func New(cfg Config, st *store.Store, eng *ops.Engine, hv host.Hypervisor, vols host.Volumes, wf *workflow.Workflows, log *slog.Logger) *Reconciler {
	return &Reconciler{cfg: cfg, st: st, eng: eng, hv: hv, vols: vols, wf: wf, log: log}
}
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }
