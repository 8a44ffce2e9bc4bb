package gandi

import (
	"context"
	"maps"

	"github.com/xenagent/xenagent/agent/service"
)

// vmPower makes vm.stop and vm.reboot: a VM id, then options, which take
// one extension: "force" (a boolean; false by default) powers off or
// resets at once instead of asking the guest, and does not wait behind a
// graceful stop or reboot of the VM (service.ForceStopVM).
//
//	hosting.vm.stop(apikey, vm_id, {"force": true})
//	hosting.vm.reboot(apikey, vm_id, {"force": true})
func (f *Face) vmPower(name string, graceful, force func(ctx context.Context, c *service.Caller, id int64, opts service.CallOptions) (service.Operation, error)) method {
	return func(ctx context.Context, c *service.Caller, a args) (any, error) {
		a.obj = service.ObjVM
		id, err := a.int(0, "vm_id")
		if err != nil {
			return nil, err
		}
		forced, rest, err := takeForce(a)
		if err != nil {
			return nil, err
		}
		opts, err := callOptions(rest, 1, name)
		if err != nil {
			return nil, err
		}
		// The call is the whole call, force included: a retry with the
		// same key and another force is another call.
		opts.Digest = digest(name, a.vals)
		do := graceful
		if forced {
			do = force
		}
		op, err := do(ctx, c, id, opts)
		if err != nil {
			return nil, err
		}
		return renderOp(op), nil
	}
}

// takeForce reads the "force" option and returns the arguments without
// it, for callOptions, which knows only the common ones.
func takeForce(a args) (bool, args, error) {
	if err := a.atMost(2); err != nil {
		return false, a, err
	}
	sp, err := a.spec(1, "call_options", true)
	if err != nil {
		return false, a, err
	}
	forced, err := sp.boolean("force", false)
	if err != nil || !sp.has("force") {
		return forced, a, err
	}
	m := maps.Clone(sp.m)
	delete(m, "force")
	rest := args{vals: append([]any{a.vals[0]}, m), obj: a.obj}
	return forced, rest, nil
}
