package gigas

import (
	"context"
	"net/http"
)

// Two endpoints of the document ask a central tier's VM to take in
// changes made earlier. Here every change is applied by the operation
// that makes it, so they have nothing left to do: they answer the
// document's success, for a VM of the account, and do nothing.

// rebuildNetwork is the document's "rebuild the network to apply
// changes": interfaces, addresses, rate limits and firewalls are applied
// when they change (hot-plugged on a running VM), so it answers 202 with
// no operations (queue_token null: nothing to poll).
func (s *Server) rebuildNetwork(ctx context.Context, k *call) (int, any, error) {
	if _, err := s.vmInfo(k); err != nil {
		return 0, nil, err
	}
	b, err := k.body()
	if err != nil {
		return 0, nil, err
	}
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	return accepted(k, nil, nil)
}

// applyDisks is the document's "apply disks to the virtual machine": a
// disk is attached, grown or detached by its own operation, so it
// answers the document's 200 with no data. required_format_disk true
// would format the disks, which this agent does not do (a data disk is
// attached blank, for the guest to format): 501 naming why.
func (s *Server) applyDisks(ctx context.Context, k *call) (int, any, error) {
	if _, err := s.vmInfo(k); err != nil {
		return 0, nil, err
	}
	b, err := k.body()
	if err != nil {
		return 0, nil, err
	}
	format, err := b.bool("required_format_disk")
	if err != nil {
		return 0, nil, err
	}
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	if format != nil && *format {
		return 0, nil, notImplemented("required_format_disk", "this agent formats no disk: a data disk is attached blank, for the guest to format; its attachment is applied already")
	}
	return http.StatusOK, nil, nil
}
