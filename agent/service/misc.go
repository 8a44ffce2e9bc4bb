package service

import (
	"context"
	"slices"
	"sort"

	"github.com/xenagent/xenagent/agent/store"
)

// APIVersion is the Gandi hosting API version whose shape we serve.
const APIVersion = "3.3.42"

func (s *Service) versionInfo(ctx context.Context, c *Caller, a args) (any, error) {
	if err := a.atMost(0); err != nil {
		return nil, err
	}
	return map[string]any{"api_version": APIVersion, "agent_version": s.cfg.Version}, nil
}

func (s *Service) datacenterList(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjDatacenter
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "opts", true)
	if err != nil {
		return nil, err
	}
	ids, err := sp.ints("id")
	if err != nil {
		return nil, err
	}
	iso, err := sp.str("iso", "", false)
	if err != nil {
		return nil, err
	}
	country, err := sp.str("country", "", false)
	if err != nil {
		return nil, err
	}
	code, err := sp.str("dc_code", "", false)
	if err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	dc := s.cfg.Datacenter
	if (len(ids) > 0 && !slices.Contains(ids, dc.ID)) || (iso != "" && iso != dc.ISO) || (country != "" && country != dc.Country) || (code != "" && code != dc.Code) {
		return []any{}, nil
	}
	return []any{map[string]any{"id": dc.ID, "name": dc.Name, "country": dc.Country, "iso": dc.ISO, "dc_code": dc.Code}}, nil
}

func (s *Service) imageList(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjImage
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "opts", true)
	if err != nil {
		return nil, err
	}
	dcs, err := sp.ints("datacenter_id")
	if err != nil {
		return nil, err
	}
	ids, err := sp.ints("id")
	if err != nil {
		return nil, err
	}
	labels, err := sp.strs("label")
	if err != nil {
		return nil, err
	}
	like, err := sp.str("~label", "", false)
	if err != nil {
		return nil, err
	}
	arch, err := sp.str("os_arch", "", false)
	if err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	out := []any{}
	s.st.View(func(tx *store.Tx) {
		var imgs []store.Image
		tx.EachImage(func(i *store.Image) bool {
			if (len(dcs) == 0 || slices.Contains(dcs, i.DatacenterID)) && (len(ids) == 0 || slices.Contains(ids, i.ID)) &&
				(len(labels) == 0 || slices.Contains(labels, i.Label)) && (like == "" || likeMatch(like, i.Label)) && (arch == "" || arch == i.OSArch) {
				imgs = append(imgs, *i)
			}
			return true
		})
		sort.Slice(imgs, func(a, b int) bool { return imgs[a].ID < imgs[b].ID })
		for _, i := range imgs {
			out = append(out, map[string]any{
				"id": i.ID, "label": i.Label, "os_arch": i.OSArch, "datacenter_id": i.DatacenterID, "disk_id": i.DiskID,
				"author_id": i.AuthorID, "visibility": i.Visibility, "date_created": i.DateCreated, "date_updated": i.DateUpdated,
			})
		}
	})
	return out, nil
}

func (s *Service) accountInfo(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjAccount
	if err := a.atMost(0); err != nil {
		return nil, err
	}
	if c.Operator {
		return nil, fault(ObjAccount, KindConflict, "the operator key has no account; use an account's key")
	}
	var out map[string]any
	s.st.View(func(tx *store.Tx) {
		acct, _ := tx.Account(c.AccountID)
		var servers, memory, cores, ips int64
		var bandwidth float64
		tx.EachVM(func(v *store.VM) bool {
			if v.AccountID == c.AccountID {
				servers++
				memory += v.Memory
				cores += v.Cores
			}
			return true
		})
		tx.EachIface(func(i *store.Iface) bool {
			if i.AccountID == c.AccountID {
				bandwidth += i.Bandwidth
				ips += int64(len(i.IPIDs))
			}
			return true
		})
		disk := s.usedDiskMB(tx, c.AccountID)
		quota := s.quotaMB(tx, c.AccountID)
		out = map[string]any{
			"id": acct.ID, "handle": acct.Handle, "fullname": acct.Fullname, "rating_enabled": false,
			"products": []any{}, "share_definition": nil,
			"resources": map[string]any{
				"used":      map[string]any{"servers": servers, "memory": memory, "cores": float64(cores), "disk": disk, "ips": ips, "bandwidth": bandwidth},
				"granted":   map[string]any{"disk": quota},
				"available": map[string]any{"disk": max(quota-disk, 0)},
				"expired":   map[string]any{},
			},
		}
	})
	return out, nil
}
