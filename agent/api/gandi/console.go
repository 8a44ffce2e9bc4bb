package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// consoleURL is vm.info's console_url: a fresh single-use link when the
// VM's console is active and it runs, else "" (as the seed has it for a
// console not activated).
func (f *Face) consoleURL(c *service.Caller, v service.VM) string {
	if v.Console != 1 || v.State != store.VMRunning {
		return ""
	}
	l, err := f.svc.ConsoleLink(c, v.ID)
	if err != nil {
		return ""
	}
	return l.URL
}

// vmConsole is the extension hosting.vm.console(apikey, vm_id) →
// {url, expires}: a console link, or a fault saying why not (console not
// active, VM not running). xenagentctl console uses it; the operator
// may open any VM's console.
func (f *Face) vmConsole(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	id, err := a.id(0, "vm_id", service.ObjVM)
	if err != nil {
		return nil, err
	}
	l, err := f.svc.ConsoleLink(c, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"url": l.URL, "expires": l.Expires}, nil
}
