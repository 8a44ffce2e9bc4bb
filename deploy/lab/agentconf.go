package lab

import (
	"fmt"

	"github.com/xenagent/xenagent/agent/service"
)

// Timeouts for the agent inside the lab; short, so the stubborn-guest
// scenarios stay quick.
type Timeouts struct {
	Stop, Reboot string
}

// Agent is what the lab sets in an agent's configuration.
type Agent struct {
	Timeouts
	// Host places the agent's guests: its address pool. Zero is HostA.
	Host Host
	// OperatorKey is the operator's API key (the central tier's: host.info,
	// migration tickets); its hash goes in [operator]. "" configures none.
	OperatorKey string
}

// AgentConfig is the agent's configuration inside dom0: the real Xen
// driver, disks as thin LVs in the lab's thin pool (labvg/pool, made at
// first boot), the guests' bridge and the host's address pool on the
// guests' segment (with HostA's dom0 as the gateway), the operator key's
// hash, and the test guests as kernels (from the 9p share).
func AgentConfig(a Agent) string {
	h := a.Host
	if h.Name == "" {
		h = HostA
	}
	operator := ""
	if a.OperatorKey != "" {
		operator = fmt.Sprintf("\n[operator]\nkey_sha256 = %q\n", service.HashKey(a.OperatorKey))
	}
	return fmt.Sprintf(`listen = "0.0.0.0:8080"
state_dir = "/var/lib/xenagent"
log_level = "debug"

[libvirt]
uri = "xen:///system"
command_timeout = "120s"

[datacenter]
id = 1
name = "Lab"
country = "France"
iso = "FR"
dc_code = "FR-LAB1"

[storage]
backend = "lvm"
vg = "labvg"
thin_pool = "pool"
kernels_dir = "/mnt/lab/kernels"

[timeouts]
stop = %q
stop_messages = 2
reboot = %q

[network]
bridge = "xenbr0"

[network.ipv4]
prefix = "10.99.0.0/24"
gateway = %q
first = %q
last = %q
%s
[demo]
enabled = true

[[images]]
label = "coop"
os_arch = "x86-64"
size_mb = 16
kernel_version = "coop"
# The guest also claims 10.99.0.250 (outside the pool): anti-spoofing
# must keep it from answering for it.
cmdline = "console=hvc0 xenagent.spoof=10.99.0.250"

[[images]]
label = "stubborn"
os_arch = "x86-64"
size_mb = 16
kernel_version = "stubborn"
cmdline = "console=hvc0"
`, a.Stop, a.Reboot, HostA.IP(), h.PoolFirst, h.PoolLast, operator)
}
