package gandi

import (
	"context"
	"fmt"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// Moving VMs between agents (issue 15; agent/service migration.go). The
// central tier asks the target for a ticket, then the source to move the
// VM there with it. Both are the operator key's.

// migrationTicket is the extension hosting.migration.ticket(apikey,
// {account_id, vm_id?, memory, cores, disks: [{id, size}], ifaces: [{id,
// ip?, ip_version?, same_network}], expires?}) → {ticket, ticket_id,
// expires}: the secret is shown this once.
func (f *Face) migrationTicket(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	if err := service.OperatorOnly(c, "hosting.migration.ticket", "admit a migration"); err != nil {
		return nil, err
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "ticket_spec", false)
	if err != nil {
		return nil, err
	}
	var spec service.TicketSpec
	if spec.AccountID, err = sp.int("account_id", 0, true); err != nil {
		return nil, err
	}
	if spec.VMID, err = sp.int("vm_id", 0, false); err != nil {
		return nil, err
	}
	if spec.MemoryMB, err = sp.int("memory", 0, spec.VMID != 0); err != nil {
		return nil, err
	}
	if spec.Cores, err = sp.int("cores", 0, spec.VMID != 0); err != nil {
		return nil, err
	}
	secs, err := sp.int("expires", 0, false)
	if err != nil {
		return nil, err
	}
	spec.Expires = time.Duration(secs) * time.Second
	disks, err := structs(sp, "disks")
	if err != nil {
		return nil, err
	}
	for _, d := range disks {
		var td store.TicketDisk
		if td.ID, err = d.int("id", 0, true); err != nil {
			return nil, err
		}
		if td.SizeMB, err = d.int("size", 0, true); err != nil {
			return nil, err
		}
		if err := d.done(); err != nil {
			return nil, err
		}
		spec.Disks = append(spec.Disks, td)
	}
	ifaces, err := structs(sp, "ifaces")
	if err != nil {
		return nil, err
	}
	for _, i := range ifaces {
		var ti service.TicketIfaceSpec
		if ti.ID, err = i.int("id", 0, true); err != nil {
			return nil, err
		}
		if ti.SameNetwork, err = i.boolean("same_network", false); err != nil {
			return nil, err
		}
		if ti.Addr, err = i.str("ip", "", false); err != nil {
			return nil, err
		}
		if ti.Version, err = i.int("ip_version", 4, false); err != nil {
			return nil, err
		}
		if err := i.done(); err != nil {
			return nil, err
		}
		spec.Ifaces = append(spec.Ifaces, ti)
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	g, err := f.svc.IssueTicket(ctx, c, spec)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ticket": g.Ticket, "ticket_id": g.ID, "expires": g.Expires}, nil
}

// structs reads key as an array of structs, each a spec named
// key[i] in faults; absent is none.
func structs(sp *spec, key string) ([]*spec, error) {
	v, present, err := sp.val(key)
	if err != nil || !present {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, wrongType(sp.obj, key, "an array of structs", v)
	}
	out := make([]*spec, 0, len(list))
	for i, x := range list {
		name := fmt.Sprintf("%s[%d]", key, i)
		m, ok := x.(map[string]any)
		if !ok {
			return nil, wrongType(sp.obj, name, "a struct", x)
		}
		out = append(out, &spec{obj: sp.obj, name: name, m: m, used: map[string]bool{}})
	}
	return out, nil
}

// migrateMethod is hosting.vm.migrate(apikey, vm_id, {target, ticket}
// [, call_options]) → the vm_migrate operation (operator key), and
// hosting.disk.migrate and hosting.iface.migrate for a detached disk or
// iface (disk_migrate, iface_migrate). The seed's form, an int
// target_dc, is answered with a fault saying the central tier resolves a
// datacenter to an agent and forwards with a ticket.
func (f *Face) migrateMethod(name, idField string, obj service.Object,
	do func(ctx context.Context, c *service.Caller, id int64, spec service.MigrateSpec, opts service.CallOptions) (service.Operation, error)) method {
	return func(ctx context.Context, c *service.Caller, a args) (any, error) {
		a.obj = obj
		id, err := a.int(0, idField)
		if err != nil {
			return nil, err
		}
		if a.len() > 1 {
			if dc, ok := a.vals[1].(int64); ok {
				return nil, service.Invalid(obj, "target_dc", "an agent knows no other datacenter: the central tier resolves datacenter %d to an agent and calls with {target, ticket}", dc)
			}
		}
		opts, err := callOptions(a, 2, name)
		if err != nil {
			return nil, err
		}
		sp, err := a.spec(1, "migrate_spec", false)
		if err != nil {
			return nil, err
		}
		var ms service.MigrateSpec
		if ms.Target, err = sp.str("target", "", true); err != nil {
			return nil, err
		}
		if ms.Ticket, err = sp.str("ticket", "", true); err != nil {
			return nil, err
		}
		if _, present, _ := sp.val("live"); present {
			// live: false, a cold move; absent, live where it can be.
			live, err := sp.boolean("live", true)
			if err != nil {
				return nil, err
			}
			ms.Live = &live
		}
		if err := sp.done(); err != nil {
			return nil, err
		}
		op, err := do(ctx, c, id, ms, opts)
		if err != nil {
			return nil, err
		}
		return renderOp(op), nil
	}
}
