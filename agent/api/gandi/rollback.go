package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// rollback reads a rollback call's (snapshot_id, call_options).
func rollback(a args, obj service.Object, method string) (service.DiskRollback, error) {
	a.obj = obj
	var req service.DiskRollback
	var err error
	if req.SnapshotID, err = a.int(0, "snapshot_id"); err != nil {
		return req, err
	}
	req.Options, err = callOptions(a, 1, method)
	return req, err
}

// diskRollbackFrom is hosting.disk.rollback_from(snapshot_id, call_options):
// one operation.
func (f *Face) diskRollbackFrom(ctx context.Context, c *service.Caller, a args) (any, error) {
	req, err := rollback(a, service.ObjDisk, "hosting.disk.rollback_from")
	if err != nil {
		return nil, err
	}
	op, err := f.svc.RollbackDisk(ctx, c, req)
	if err != nil {
		return nil, err
	}
	return renderOp(op), nil
}

// vmDiskRollback is hosting.vm.disk_rollback(snapshot_id, call_options):
// the list of operations it chains (listAnswers).
func (f *Face) vmDiskRollback(ctx context.Context, c *service.Caller, a args) (any, error) {
	req, err := rollback(a, service.ObjVM, "hosting.vm.disk_rollback")
	if err != nil {
		return nil, err
	}
	ops, err := f.svc.RollbackVMDisk(ctx, c, req)
	if err != nil {
		return nil, err
	}
	return renderOps(ops), nil
}
