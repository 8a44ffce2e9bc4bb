package reconcile

import (
	"context"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// RunNetwork keeps wiring and counters true until ctx ends: watch reports
// link changes to the workflows' HandleLink; devices that appeared get wired a moment later
// (several appear together); counters reach the records every CountEvery.
func (s *Reconciler) RunNetwork(ctx context.Context, watch host.LinkWatcher) {
	if s.cfg.Network.Wiring == nil {
		return
	}
	go func() {
		for ctx.Err() == nil {
			if err := watch(ctx, func(ev host.LinkEvent) { s.wf.HandleLink(ctx, ev) }); err != nil {
				s.log.Warn("link watch ended; restarting", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	every := s.cfg.Network.CountEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	count := time.NewTicker(every)
	defer count.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wf.Kicked():
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			s.wireRunning(ctx)
		case <-count.C:
			if err := s.wf.CountTraffic(ctx); err != nil {
				s.log.Warn("counting traffic", "err", err)
			}
		}
	}
}

// wireRunning wires every running VM that no operation holds.
func (s *Reconciler) wireRunning(ctx context.Context) {
	var ids []int64
	s.st.View(func(tx *store.Tx) {
		tx.EachVM(func(v *store.VM) bool {
			if v.State == store.VMRunning && len(v.IfaceIDs) > 0 {
				ids = append(ids, v.ID)
			}
			return true
		})
	})
	for _, id := range ids {
		if s.eng.Busy(workflow.VMKey(id)) {
			continue // its operation wires it
		}
		if _, err := s.wf.WireVM(ctx, id); err != nil {
			s.log.Warn("wiring", "vm_id", id, "err", err)
		}
	}
}
