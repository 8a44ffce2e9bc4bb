package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// vmRebuild is the extension hosting.vm.rebuild(apikey, vm_id,
// {image_id | disk_id, start}, call_options) → the list of operations it
// chains (listAnswers): the VM's system disk reinstalled from an image
// (image_id, as hosting.image.list gives it) or a disk of the account
// (disk_id), exactly one of them; start (default true, Gigas's
// required_startup) says whether the VM runs at the end.
func (f *Face) vmRebuild(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = service.ObjVM
	opts, err := callOptions(a, 2, "hosting.vm.rebuild")
	if err != nil {
		return nil, err
	}
	id, err := a.int(0, "vm_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "rebuild_spec", false)
	if err != nil {
		return nil, err
	}
	req := service.RebuildRequest{Options: opts}
	switch {
	case sp.has("image_id") && sp.has("disk_id"):
		return nil, service.Invalid(service.ObjVM, "image_id", "give image_id or disk_id, not both")
	case sp.has("image_id"):
		imageID, err := sp.int("image_id", 0, true)
		if err != nil {
			return nil, err
		}
		images := f.svc.Images(service.ImageFilter{IDs: []int64{imageID}})
		if len(images) == 0 {
			return nil, service.Errorf(service.ObjImage, service.KindNotFound, "image_id: image %d does not exist", imageID)
		}
		req.SourceDiskID, req.SourceField = images[0].DiskID, "image_id"
	case sp.has("disk_id"):
		if req.SourceDiskID, err = sp.int("disk_id", 0, true); err != nil {
			return nil, err
		}
		req.SourceField = "disk_id"
	default:
		return nil, service.Missing(service.ObjVM, "image_id")
	}
	if req.StartAfter, err = sp.boolPtr("start"); err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	ops, err := f.svc.RebuildVM(ctx, c, id, req)
	if err != nil {
		return nil, err
	}
	return renderOps(ops), nil
}
