package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// opDateKeys are Gandi's date range keys, a date field and a comparison
// ("date_created >="), as the service's bounds.
var opDateKeys = func() []service.DateBound {
	var out []service.DateBound
	for _, field := range []string{"date_created", "date_updated", "date_start"} {
		for _, op := range []string{">=", "<=", ">", "<"} {
			out = append(out, service.DateBound{Field: field, Op: op})
		}
	}
	return out
}()

func opFilter(sp *spec) (f service.OperationFilter, err error) {
	if f.Types, err = sp.strs("type"); err != nil {
		return f, err
	}
	if f.Steps, err = sp.strs("step"); err != nil {
		return f, err
	}
	for key, dst := range map[string]*[]int64{"id": &f.IDs, "vm_id": &f.VMIDs, "disk_id": &f.DiskIDs, "iface_id": &f.IfaceIDs} {
		if *dst, err = sp.ints(key); err != nil {
			return f, err
		}
	}
	for _, b := range opDateKeys {
		t, ok, err := sp.time(b.Field + " " + b.Op)
		if err != nil {
			return f, err
		}
		if ok {
			b.At = t
			f.Dates = append(f.Dates, b)
		}
	}
	return f, nil
}

func (f *Face) opInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	id, err := a.id(0, "op_id", service.ObjOperation)
	if err != nil {
		return nil, err
	}
	o, err := f.svc.Operation(c, id)
	if err != nil {
		return nil, err
	}
	return renderOp(o), nil
}

func (f *Face) opList(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.OperationFilter
	p, err := listOptions(a, service.ObjOperation, func(sp *spec) (err error) { filter, err = opFilter(sp); return err })
	if err != nil {
		return nil, err
	}
	list, err := f.svc.Operations(c, filter, p)
	return renderOps(list), err
}

func (f *Face) opCount(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.OperationFilter
	if err := countOptions(a, service.ObjOperation, func(sp *spec) (err error) { filter, err = opFilter(sp); return err }); err != nil {
		return nil, err
	}
	return f.svc.CountOperations(c, filter)
}

func (f *Face) opCancel(ctx context.Context, c *service.Caller, a args) (any, error) {
	id, err := a.id(0, "op_id", service.ObjOperation)
	if err != nil {
		return nil, err
	}
	if err := f.svc.CancelOperation(ctx, c, id); err != nil {
		return nil, err
	}
	return true, nil
}
