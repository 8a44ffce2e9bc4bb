package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/xenagent/xenagent/agent/host"
	"libvirt.org/go/libvirt"
)

var _ host.Node = (*Driver)(nil)

// NodeInfo reads the node's capacity with calls that take no domain lock
// (libxl serialises domain calls behind a domain start):
//
//   - virNodeGetInfo (GetNodeInfo): memory total (KiB), cpus, sockets,
//     cores, threads, MHz. On Xen its memory is the host's physical memory
//     (libxl_get_physinfo's total pages), not dom0's.
//   - virNodeGetFreeMemory (GetFreeMemory): free memory in bytes. On Xen
//     the libxl driver answers with libxl_get_free_memory, the
//     hypervisor's free pages: what new domains can get. dom0's own free
//     memory (/proc/meminfo) would say nothing about that, since dom0 has
//     a fixed share (dom0_mem).
//   - virConnectGetType and virConnectGetVersion: the hypervisor's name
//     and version; virConnectGetLibVersion: libvirt's.
func (d *Driver) NodeInfo(ctx context.Context) (host.NodeInfo, error) {
	var n host.NodeInfo
	err := d.call(ctx, "reading node info", func(c *libvirt.Connect) error {
		info, err := c.GetNodeInfo()
		if err != nil {
			return err
		}
		free, err := c.GetFreeMemory()
		if err != nil && !trueZero(err) {
			return err
		}
		n = host.NodeInfo{MemoryTotal: int64(info.Memory) * 1024, MemoryFree: int64(free),
			CPUs: int(info.Cpus), Nodes: int(info.Nodes), Sockets: int(info.Sockets), Cores: int(info.Cores),
			Threads: int(info.Threads), MHz: int(info.MHz), Model: info.Model}
		if n.Hypervisor, err = c.GetType(); err != nil {
			return err
		}
		// A driver without a version (some test builds) still has a name.
		if v, err := c.GetVersion(); err == nil {
			n.HypervisorVersion = dotted(v)
		}
		if v, err := c.GetLibVersion(); err == nil {
			n.Library = dotted(v)
		}
		return nil
	})
	if err != nil {
		return host.NodeInfo{}, err // an abandoned call may still be writing n
	}
	return n, nil
}

// dotted renders libvirt's major*1,000,000 + minor*1,000 + release.
func dotted(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}

// trueZero tells a free memory of 0 from a failure. virNodeGetFreeMemory
// answers 0 for both, and the binding then copies the last error; when
// none was set, libvirt fills in its generic one ("An error occurred, but
// the cause is unknown"): that is a real 0, no memory left for domains
// (libvirt's test driver on a node without cells answers so).
func trueZero(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && (lerr.Code == libvirt.ERR_OK ||
		lerr.Code == libvirt.ERR_INTERNAL_ERROR && strings.Contains(lerr.Message, "cause is unknown"))
}
