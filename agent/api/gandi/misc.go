package gandi

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

func (f *Face) versionInfo(ctx context.Context, c *service.Caller, a args) (any, error) {
	if err := a.atMost(0); err != nil {
		return nil, err
	}
	v := f.svc.Version()
	return map[string]any{"api_version": v.API, "agent_version": v.Agent}, nil
}

func (f *Face) datacenterList(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.DatacenterFilter
	err := countOptions(a, service.ObjDatacenter, func(sp *spec) (err error) {
		if filter.IDs, err = sp.ints("id"); err != nil {
			return err
		}
		if filter.ISO, err = sp.str("iso", "", false); err != nil {
			return err
		}
		if filter.Country, err = sp.str("country", "", false); err != nil {
			return err
		}
		filter.Code, err = sp.str("dc_code", "", false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return renderAll(f.svc.Datacenters(filter), func(dc service.Datacenter) any {
		return map[string]any{"id": dc.ID, "name": dc.Name, "country": dc.Country, "iso": dc.ISO, "dc_code": dc.Code}
	}), nil
}

func (f *Face) imageList(ctx context.Context, c *service.Caller, a args) (any, error) {
	var filter service.ImageFilter
	err := countOptions(a, service.ObjImage, func(sp *spec) (err error) {
		if filter.DatacenterIDs, err = sp.ints("datacenter_id"); err != nil {
			return err
		}
		if filter.IDs, err = sp.ints("id"); err != nil {
			return err
		}
		if filter.Labels, err = sp.strs("label"); err != nil {
			return err
		}
		if filter.LabelLike, err = sp.str("~label", "", false); err != nil {
			return err
		}
		filter.OSArch, err = sp.str("os_arch", "", false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return renderAll(f.svc.Images(filter), func(i service.Image) any {
		return map[string]any{
			"id": i.ID, "label": i.Label, "os_arch": i.OSArch, "datacenter_id": i.DatacenterID, "disk_id": i.DiskID,
			"author_id": i.AuthorID, "visibility": i.Visibility, "date_created": i.DateCreated, "date_updated": i.DateUpdated,
		}
	}), nil
}
