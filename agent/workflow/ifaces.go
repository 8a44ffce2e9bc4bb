package workflow

import (
	"context"
	"fmt"

	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func recordIfaceUpdate(ctx context.Context, r *ops.Run) error {
	in, err := ops.Input[IfaceUpdate](r)
	if err != nil {
		return err
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		i, ok := tx.Iface(op.IfaceID)
		if !ok {
			return fmt.Errorf("iface %d has no record", op.IfaceID)
		}
		i.Bandwidth, i.DateUpdated = in.Bandwidth, now()
		tx.PutIface(i)
		return nil
	})
}

// applyIfaceUpdate wires the iface's VM again if it runs; the VM it was
// attached to when the call came is the one that counts (an attach or
// detach after it waits in the iface's queue).
func (s *Workflows) applyIfaceUpdate(ctx context.Context, r *ops.Run) error {
	vmID := r.Op().VMID
	if vmID == 0 {
		return nil
	}
	running, err := s.IsRunning(ctx, DomainName(vmID))
	if err != nil || !running {
		return err
	}
	_, err = s.WireVM(ctx, vmID)
	return err
}

func recordIPUpdate(ctx context.Context, r *ops.Run) error {
	in, err := ops.Input[IPUpdate](r)
	if err != nil {
		return err
	}
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		ip, ok := tx.IP(op.IPID)
		if !ok {
			return fmt.Errorf("ip %d has no record", op.IPID)
		}
		ip.Reverse, ip.DateUpdated = in.Reverse, now()
		tx.PutIP(ip)
		return nil
	})
}

func (s *Workflows) finishIface(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		i, ok := tx.Iface(op.IfaceID)
		if !ok {
			return fmt.Errorf("iface %d has no record", op.IfaceID)
		}
		i.State = store.IfaceFree
		if i.VMID != 0 {
			i.State = store.IfaceUsed
		}
		i.DateUpdated = now()
		tx.PutIface(i)
		for _, id := range i.IPIDs {
			if ip, ok := tx.IP(id); ok {
				ip.State, ip.DateUpdated = "created", now()
				tx.PutIP(ip)
			}
		}
		return nil
	})
}

func abandonIface(tx *store.Tx, op store.Operation) {
	if i, ok := tx.Iface(op.IfaceID); ok {
		ipam.Release(tx, i)
		tx.DeleteIface(i.ID)
	}
}

func forgetIface(ctx context.Context, r *ops.Run) error {
	return r.Update(func(tx *store.Tx, op *store.Operation) error {
		abandonIface(tx, *op)
		return nil
	})
}
