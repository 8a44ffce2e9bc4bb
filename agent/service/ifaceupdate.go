package service

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// IfaceUpdate is what iface.update changes: the bandwidth only, which
// the call must give.
type IfaceUpdate struct {
	ID int64 // the iface's
	// Bandwidth is in bit/s; nil is refused as missing.
	Bandwidth *float64
	Options   CallOptions
}

// UpdateIface changes an iface's bandwidth; a running VM gets the new
// rate at once, both ways, without a gap in its traffic.
func (s *Service) UpdateIface(ctx context.Context, c *Caller, req IfaceUpdate) (Operation, error) {
	id := req.ID
	o, err := s.checkOptions(c, req.Options, ObjIface)
	if err != nil {
		return Operation{}, err
	}
	if req.Bandwidth == nil {
		return Operation{}, Missing(ObjIface, "iface_spec (bandwidth)")
	}
	bw := *req.Bandwidth
	if err := s.checkBandwidth(ObjIface, bw); err != nil {
		return Operation{}, err
	}
	owner := func(tx *store.Tx) (int64, error) {
		i, err := ifaceFor(tx, c, id)
		return i.AccountID, err
	}
	return s.submitOneOf(c, o, owner, func(tx *store.Tx) (opSpec, error) {
		i, _ := tx.Iface(id)
		if i.State == store.IfaceBeingCreated || s.deleting(tx, workflow.IfaceKey(id)) {
			return opSpec{}, Errorf(ObjIface, KindConflict, "iface_id: iface %d is %s", id, i.State)
		}
		sp := opSpec{typ: "iface_update", ifaceID: id, keys: []string{workflow.IfaceKey(id)}, eta: 2,
			params: map[string]string{"bandwidth": strconv.FormatFloat(bw, 'f', -1, 64)}, input: workflow.IfaceUpdate{Bandwidth: bw}}
		if i.VMID != 0 {
			sp.vmID = i.VMID
		}
		return sp, nil
	})
}

// IPUpdate is what ip.update changes: the reverse name only, which the
// call must give.
type IPUpdate struct {
	ID int64 // the address's
	// Reverse is a host name, or "" for the default one; nil is refused
	// as missing.
	Reverse *string
	Options CallOptions
}

// UpdateIP changes an address's reverse name, as PTR records show it.
// An empty reverse goes back to the default one.
func (s *Service) UpdateIP(ctx context.Context, c *Caller, req IPUpdate) (Operation, error) {
	id := req.ID
	o, err := s.checkOptions(c, req.Options, ObjIP)
	if err != nil {
		return Operation{}, err
	}
	if req.Reverse == nil {
		return Operation{}, Missing(ObjIP, "ip_spec (reverse)")
	}
	reverse := *req.Reverse
	if reverse != "" && !validDNSName(reverse) {
		return Operation{}, Invalid(ObjIP, "reverse", "%q is not a host name: labels of 1-63 letters, digits or '-', at most 253 characters", reverse)
	}
	owner := func(tx *store.Tx) (int64, error) {
		ip, err := ipFor(tx, c, id)
		return ip.AccountID, err
	}
	return s.submitOneOf(c, o, owner, func(tx *store.Tx) (opSpec, error) {
		ip, _ := tx.IP(id)
		if reverse == "" {
			if a, err := netip.ParseAddr(ip.Addr); err == nil {
				reverse = s.reverse(a)
			}
		}
		return opSpec{typ: "ip_update", ip: id, keys: []string{"ip:" + strconv.FormatInt(id, 10)}, eta: 1,
			params: map[string]string{"reverse": strings.TrimSuffix(reverse, ".")}, input: workflow.IPUpdate{Reverse: strings.TrimSuffix(reverse, ".")}}, nil
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
