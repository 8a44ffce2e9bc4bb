package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// vmResetPassword is the extension hosting.vm.reset_password(apikey,
// vm_id[, call_options]) → the vm_update operation with one more field,
// "password": a new random password (16 of [A-Za-z0-9_-], within Gandi's
// rule and Gigas') for root and the VM's login user, returned this once.
// The guest applies it at its next boot, as a vm.update password: the
// operation's params say "effective": "next_boot". A retry answered from
// its idempotency key returns the operation without the password.
func (f *Face) vmResetPassword(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	id, err := a.int(0, "vm_id")
	if err != nil {
		return nil, err
	}
	opts, err := callOptions(a, 1, "hosting.vm.reset_password")
	if err != nil {
		return nil, err
	}
	op, pw, err := f.svc.ResetPassword(ctx, c, id, opts)
	if err != nil {
		return nil, err
	}
	out := renderOp(op)
	if pw != "" {
		out["password"] = pw
	}
	return out, nil
}
