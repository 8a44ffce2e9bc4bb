package lab

import "fmt"

// Timeouts for the agent inside the lab; short, so the stubborn-guest
// scenarios stay quick.
type Timeouts struct {
	Stop, Reboot string
}

// AgentConfig is the agent's configuration inside dom0: the real Xen
// driver, disks as thin LVs in the lab's thin pool (labvg/pool, made at
// first boot), the guests' bridge and address pool, and the test guests
// as kernels (from the 9p share).
func AgentConfig(t Timeouts) string {
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
gateway = "10.99.0.1"
first = "10.99.0.10"
last = "10.99.0.200"

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
`, t.Stop, t.Reboot)
}
