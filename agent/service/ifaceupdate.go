package service

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// ifaceUpdate changes an iface's bandwidth; a running VM gets the new rate
// at once, both ways, without a gap in its traffic.
func (s *Service) ifaceUpdate(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjIface
	id, err := a.int(0, "iface_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "iface_spec", false)
	if err != nil {
		return nil, err
	}
	o, err := s.callOpts(c, a, 2)
	if err != nil {
		return nil, err
	}
	if !sp.has("bandwidth") {
		return nil, missing(ObjIface, "iface_spec (bandwidth)")
	}
	bw, err := sp.float("bandwidth", 0)
	if err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	if err := s.checkBandwidth(ObjIface, bw); err != nil {
		return nil, err
	}
	owner := func(tx *store.Tx) (int64, error) {
		i, err := ifaceFor(tx, c, id)
		return i.AccountID, err
	}
	return s.submitOne(c, o, "hosting.iface.update", a.vals, owner, func(tx *store.Tx) (opSpec, error) {
		i, _ := tx.Iface(id)
		if i.State == store.IfaceBeingCreated || s.deleting(tx, workflow.IfaceKey(id)) {
			return opSpec{}, fault(ObjIface, KindConflict, "iface_id: iface %d is %s", id, i.State)
		}
		sp := opSpec{typ: "iface_update", ifaceID: id, keys: []string{workflow.IfaceKey(id)}, eta: 2,
			params: map[string]string{"bandwidth": strconv.FormatFloat(bw, 'f', -1, 64)}}
		if i.VMID != 0 {
			sp.vmID = i.VMID
		}
		return sp, nil
	})
}

// ipUpdate changes an address's reverse name, as PTR records show it.
// An empty reverse goes back to the default one.
func (s *Service) ipUpdate(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjIP
	id, err := a.int(0, "ip_id")
	if err != nil {
		return nil, err
	}
	sp, err := a.spec(1, "ip_spec", false)
	if err != nil {
		return nil, err
	}
	o, err := s.callOpts(c, a, 2)
	if err != nil {
		return nil, err
	}
	if !sp.has("reverse") {
		return nil, missing(ObjIP, "ip_spec (reverse)")
	}
	reverse, err := sp.str("reverse", "", false)
	if err != nil {
		return nil, err
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	if reverse != "" && !validDNSName(reverse) {
		return nil, invalid(ObjIP, "reverse", "%q is not a host name: labels of 1-63 letters, digits or '-', at most 253 characters", reverse)
	}
	owner := func(tx *store.Tx) (int64, error) {
		ip, ok := tx.IP(id)
		if !ok || !c.owns(ip.AccountID) {
			return 0, notFound(ObjIP, "ip", id)
		}
		return ip.AccountID, nil
	}
	return s.submitOne(c, o, "hosting.ip.update", a.vals, owner, func(tx *store.Tx) (opSpec, error) {
		ip, _ := tx.IP(id)
		if reverse == "" {
			if a, err := netip.ParseAddr(ip.Addr); err == nil {
				reverse = s.reverse(a)
			}
		}
		return opSpec{typ: "ip_update", ip: id, keys: []string{"ip:" + strconv.FormatInt(id, 10)}, eta: 1,
			params: map[string]string{"reverse": strings.TrimSuffix(reverse, ".")}}, nil
	})
}

func validDNSName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if len(name) == 0 || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if !hostnameRE.MatchString(label) {
			return false
		}
	}
	return true
}
