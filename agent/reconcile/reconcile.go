package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// WatchDomains keeps VM states true to lifecycle events until ctx ends:
// a guest powering itself off shows as halted.
func (s *Reconciler) WatchDomains(ctx context.Context) {
	events, stop := s.hv.Watch("")
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if ev.Kind == host.EventResync {
				if err := s.Reconcile(ctx); err != nil {
					s.log.Warn("reconciling after reconnect", "err", err)
				}
				continue
			}
			var id int64
			if _, err := fmtSscan(strings.TrimPrefix(ev.Name, "xa-vm-"), &id); err != nil || !strings.HasPrefix(ev.Name, "xa-vm-") {
				continue
			}
			s.wf.RefreshVMState(ctx, id)
			if ev.Kind == host.EventStarted || ev.Kind == host.EventRebooted || ev.Kind == host.EventResumed {
				s.wf.Kick() // new backend devices, perhaps: RunNetwork wires them
			}
		}
	}
}

// ReconcileReport says what a reconciliation found and did.
type ReconcileReport struct {
	StatesFixed      int
	DomainsRedefined int
	OrphanDomains    []string
	OrphanVolumes    []string // removed: proven made and abandoned by this agent, or quarantine expired
	// QuarantinedVolumes were set aside (renamed xa-quarantine-...).
	QuarantinedVolumes []string
	OrphanSeeds        []string
	// OrphanMemory are the memory files of moves that are over.
	OrphanMemory []string
	IfacesWired  int
	SweptIFBs    []string
	SweptFilters []int64
}

// Reconcile compares the records with libvirt and the disk backend:
// VM states are set to what libvirt reports, a missing domain is defined
// again from its record, and domains that no record (and no unfinished
// operation) refers to are removed. Volumes no record refers to are
// judged by reconcileVolumes: removed only when this agent provably made
// and abandoned them, else quarantined or left. Nothing that a record
// refers to is ever deleted.
func (s *Reconciler) Reconcile(ctx context.Context) error {
	rep, err := s.reconcile(ctx)
	if err != nil {
		return err
	}
	if rep.StatesFixed+rep.DomainsRedefined+len(rep.OrphanDomains)+len(rep.OrphanVolumes)+len(rep.QuarantinedVolumes)+len(rep.OrphanSeeds)+len(rep.OrphanMemory)+
		rep.IfacesWired+len(rep.SweptIFBs)+len(rep.SweptFilters) > 0 {
		s.log.Info("reconciled", "states_fixed", rep.StatesFixed, "domains_redefined", rep.DomainsRedefined,
			"orphan_domains", rep.OrphanDomains, "orphan_volumes", rep.OrphanVolumes, "quarantined_volumes", rep.QuarantinedVolumes, "orphan_seeds", rep.OrphanSeeds, "orphan_memory", rep.OrphanMemory,
			"ifaces_wired", rep.IfacesWired, "swept_ifbs", rep.SweptIFBs, "swept_filters", rep.SweptFilters)
	}
	return nil
}

func (s *Reconciler) reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	var vms []store.VM
	inFlightVM := map[int64]bool{}
	deletingVM := map[int64]bool{}
	s.st.View(func(tx *store.Tx) {
		tx.EachVM(func(v *store.VM) bool { vms = append(vms, *v); return true })
		tx.EachOperation(func(o *store.Operation) bool {
			if !o.Finished() {
				inFlightVM[o.VMID] = true
				if o.Type == "vm_delete" {
					deletingVM[o.VMID] = true
				}
			}
			return true
		})
	})
	for _, v := range vms {
		if v.State == store.VMBeingCreated || v.State == store.VMBeingMigrated || deletingVM[v.ID] {
			continue // its operation will settle it (an incoming migration defines the domain once prepared)
		}
		if inFlightVM[v.ID] {
			// A VM with unfinished operations gets back a lost definition
			// (an operation queued behind another, or one whose steps
			// need no domain, would leave it missing for the next call),
			// but its power state is its operations' to set. One running
			// now (a reconciliation after libvirtd came back) defines
			// what it needs itself: not racing it, this leaves it alone.
			if s.eng.Busy(workflow.VMKey(v.ID)) {
				continue
			}
			if err := s.defineIfMissing(ctx, v, &rep); err != nil {
				return rep, err
			}
			continue
		}
		st, err := s.hv.State(ctx, v.Domain)
		if err != nil {
			return rep, err
		}
		if !st.Exists {
			spec, err := s.wf.DomainSpec(v.ID)
			if err != nil {
				return rep, err
			}
			if err := s.hv.Define(ctx, spec); err != nil {
				return rep, err
			}
			rep.DomainsRedefined++
		}
		if want := workflow.StateOf(st); want != v.State && v.State != store.VMLocked {
			rep.StatesFixed++
			_ = s.st.Update(func(tx *store.Tx) error {
				workflow.RecordVMState(tx, v.ID, want, false)
				return nil
			})
		}
	}
	doms, err := s.hv.Domains(ctx)
	if err != nil {
		return rep, err
	}
	for _, d := range doms {
		known := false
		s.st.View(func(tx *store.Tx) { known = tx.HasVM(d.VMID) })
		if d.Owner != s.st.Instance() || known || inFlightVM[d.VMID] {
			// Another agent's domain (a second state dir on this libvirtd) is not ours to judge.
			continue
		}
		if err := s.hv.Undefine(ctx, d.Name); err != nil {
			return rep, err
		}
		rep.OrphanDomains = append(rep.OrphanDomains, d.Name)
	}
	if err := s.reconcileVolumes(ctx, &rep); err != nil {
		return rep, err
	}
	rep.OrphanSeeds, err = s.wf.OrphanSeeds(ctx, func(id int64) bool {
		known := inFlightVM[id]
		s.st.View(func(tx *store.Tx) { known = known || tx.HasVM(id) })
		return known
	})
	if err != nil {
		return rep, err
	}
	// A move's memory file is kept while its operation runs (a rollback
	// restores from it, a receive resumes into it), whatever a crash cut.
	rep.OrphanMemory, err = s.wf.OrphanMemory(ctx, func(opID int64) bool {
		running := false
		s.st.View(func(tx *store.Tx) {
			op, ok := tx.Operation(opID)
			running = ok && !op.Finished()
		})
		return running
	})
	if err != nil {
		return rep, err
	}
	return rep, s.reconcileWiring(ctx, vms, inFlightVM, &rep)
}

// reconcileWiring wires the running VMs no operation holds (the agent may
// have been down while they started or rebooted) and removes IFBs and
// filters of ifaces that no record or unfinished operation knows.
func (s *Reconciler) reconcileWiring(ctx context.Context, vms []store.VM, inFlightVM map[int64]bool, rep *ReconcileReport) error {
	wiring := s.cfg.Network.Wiring
	if wiring == nil {
		return nil
	}
	for _, v := range vms {
		if inFlightVM[v.ID] || len(v.IfaceIDs) == 0 {
			continue
		}
		if running, err := s.wf.IsRunning(ctx, v.Domain); err != nil || !running {
			if err != nil {
				return err
			}
			continue
		}
		wired, err := s.wf.WireVM(ctx, v.ID)
		if err != nil {
			return err
		}
		rep.IfacesWired += len(wired)
	}
	if !s.cfg.Network.Sweep {
		return nil
	}
	inFlightIface := map[int64]bool{}
	s.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(o *store.Operation) bool {
			if !o.Finished() {
				inFlightIface[o.IfaceID] = true
			}
			return true
		})
	})
	left, err := s.wf.Sweep(ctx, func(id int64) bool {
		known := inFlightIface[id]
		s.st.View(func(tx *store.Tx) { _, ok := tx.Iface(id); known = known || ok })
		return known
	})
	rep.SweptIFBs, rep.SweptFilters = left.IFBs, left.Filters
	return err
}

// defineIfMissing defines a VM's domain from its records if libvirt has
// none.
func (s *Reconciler) defineIfMissing(ctx context.Context, v store.VM, rep *ReconcileReport) error {
	st, err := s.hv.State(ctx, v.Domain)
	if err != nil || st.Exists {
		return err
	}
	spec, err := s.wf.DomainSpec(v.ID)
	if err != nil {
		return err
	}
	if err := s.hv.Define(ctx, spec); err != nil {
		return err
	}
	rep.DomainsRedefined++
	return nil
}

func fmtSscan(s string, id *int64) (int, error) { return fmt.Sscan(s, id) }

// Healthy is the agent's health as /healthz reports it: nil only when
// state writes work, the operation engine runs, and libvirtd answers;
// otherwise every reason. It never blocks longer than ctx allows, and it
// avoids domain-level calls, which libxl serialises behind a domain start.
func (s *Reconciler) Healthy(ctx context.Context) error {
	err := s.Live(ctx)
	if perr := s.hv.Ping(ctx); perr != nil {
		err = errors.Join(err, fmt.Errorf("libvirt: %w", perr))
	}
	return err
}

// Live is what the systemd watchdog asks: the agent itself works (state
// writes, the engine). A libvirtd that is slow or away is not the
// agent's fault and a restart of the agent cannot mend it: after a host
// crash, under load, libvirtd may take longer than WatchdogSec to answer
// while it starts the domains the agent resumes, and aborting the agent
// then only broke the operations it was resuming (the lab saw it).
func (s *Reconciler) Live(ctx context.Context) error {
	var errs []error
	done := make(chan error, 1)
	go func() {
		// Takes the write lock: a wedged writer shows here. While the
		// state disk refuses writes, this fails with the refusal.
		err := s.st.Update(func(tx *store.Tx) error { return nil })
		if err == nil {
			err = s.st.Writable()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			errs = append(errs, fmt.Errorf("state: %w", err))
		}
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("state store: %w", ctx.Err()))
	}
	if err := s.eng.Healthy(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
