package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

func renderSSHKey(k service.SSHKey, withValue bool) map[string]any {
	out := map[string]any{"id": k.ID, "name": k.Name, "fingerprint": k.Fingerprint}
	if withValue {
		out["value"] = k.Value
	}
	return out
}

func sshKeyFilter(sp *spec) (f service.SSHKeyFilter, err error) {
	if f.IDs, err = sp.ints("id"); err != nil {
		return f, err
	}
	if f.Names, err = sp.strs("name"); err != nil {
		return f, err
	}
	f.Fingerprints, err = sp.strs("fingerprint")
	return f, err
}

func (f *Face) sshList(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.SSHKeyFilter
	p, err := listOptions(a, service.ObjSSHKey, func(sp *spec) (err error) { filter, err = sshKeyFilter(sp); return err })
	if err != nil {
		return nil, err
	}
	keys, err := f.svc.SSHKeys(c, filter, p)
	return renderAll(keys, func(k service.SSHKey) any { return renderSSHKey(k, false) }), err
}

func (f *Face) sshCount(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.SSHKeyFilter
	if err := countOptions(a, service.ObjSSHKey, func(sp *spec) (err error) { filter, err = sshKeyFilter(sp); return err }); err != nil {
		return nil, err
	}
	return f.svc.CountSSHKeys(c, filter), nil
}

func (f *Face) sshInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	id, err := a.id(0, "key_id", service.ObjSSHKey)
	if err != nil {
		return nil, err
	}
	k, err := f.svc.SSHKey(c, id)
	if err != nil {
		return nil, err
	}
	return renderSSHKey(k, true), nil
}

func (f *Face) sshCreate(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjSSHKey
	opts, err := callOptions(a, 1, "hosting.ssh.create")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "params", false)
	if err != nil {
		return nil, err
	}
	req := service.NewSSHKey{Options: opts}
	if req.Name, err = sp.str("name", "", true); err != nil {
		return nil, err
	}
	if req.Value, err = sp.str("value", "", true); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	k, err := f.svc.CreateSSHKey(c, req)
	if err != nil {
		return nil, err
	}
	return renderSSHKey(k, true), nil
}

func (f *Face) sshDelete(ctx context.Context, c *service.Caller, a args) (any, error) {
	id, err := a.id(0, "key_id", service.ObjSSHKey)
	if err != nil {
		return nil, err
	}
	if err := f.svc.DeleteSSHKey(c, id); err != nil {
		return nil, err
	}
	return true, nil
}
