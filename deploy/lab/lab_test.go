package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/service"
)

// The harness's pure parts, tested without booting anything.

func TestQEMUArgs(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		cfg                  Config
		mem, smp, dom0, link string
	}{
		{"single host (zero Host is A)", Config{RunDir: "/run/x"}, "3072", "2", "dom0_mem=1536M,max:1536M dom0_max_vcpus=2", ""},
		{"host A of two", Config{RunDir: "/run/a", Host: HostA, Link: &Link{Local: 40001, Remote: 40002}}, "3072", "2",
			"dom0_mem=1536M,max:1536M dom0_max_vcpus=2",
			"dgram,id=n1,local.type=inet,local.host=127.0.0.1,local.port=40001,remote.type=inet,remote.host=127.0.0.1,remote.port=40002"},
		{"host B of two", Config{RunDir: "/run/b", Host: HostB, Link: &Link{Local: 40002, Remote: 40001}}, "2048", "1",
			"dom0_mem=1024M,max:1024M dom0_max_vcpus=1",
			"dgram,id=n1,local.type=inet,local.host=127.0.0.1,local.port=40002,remote.type=inet,remote.host=127.0.0.1,remote.port=40001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := qemuArgs(tc.cfg, "/img", "tcg", "Nehalem", 8080, 2222)
			opt := map[string][]string{}
			for i := 0; i+1 < len(args); i += 2 {
				if !strings.HasPrefix(args[i], "-") {
					t.Fatalf("argument %d %q is not an option: %q", i, args[i], args)
				}
				if args[i] == "-no-reboot" {
					i--
					continue
				}
				opt[args[i]] = append(opt[args[i]], args[i+1])
			}
			if got := opt["-m"]; len(got) != 1 || got[0] != tc.mem {
				t.Errorf("-m %q, want %s", got, tc.mem)
			}
			if got := opt["-smp"]; len(got) != 1 || got[0] != tc.smp {
				t.Errorf("-smp %q, want %s", got, tc.smp)
			}
			if got := opt["-append"]; len(got) != 1 || !strings.Contains(got[0], tc.dom0) {
				t.Errorf("-append %q, want %q in it", got, tc.dom0)
			}
			// QEMU splits -initrd's multiboot modules at commas.
			if got := opt["-initrd"]; len(got) != 1 || strings.Count(got[0], ",") != 1 {
				t.Errorf("-initrd %q: one comma, between the two modules", got)
			}
			if got := opt["-qmp"]; len(got) != 1 || !strings.HasPrefix(got[0], "unix:"+tc.cfg.RunDir+"/qmp.sock,") {
				t.Errorf("-qmp %q: not in the run directory", got)
			}
			netdevs := opt["-netdev"]
			if tc.link == "" {
				if len(netdevs) != 1 {
					t.Fatalf("-netdev %q: want user networking alone", netdevs)
				}
				return
			}
			if len(netdevs) != 2 || netdevs[1] != tc.link {
				t.Fatalf("-netdev %q, want the second %q", netdevs, tc.link)
			}
			if got := opt["-device"]; len(got) != 2 || got[1] != "virtio-net-pci,netdev=n1,mac="+tc.cfg.Host.LinkMAC {
				t.Errorf("-device %q: the second is not the segment's NIC with the host's MAC", got)
			}
		})
	}
}

func TestLinkPair(t *testing.T) {
	a, b, err := LinkPair()
	if err != nil {
		t.Fatal(err)
	}
	if a.Local == a.Remote || a.Local != b.Remote || a.Remote != b.Local || a.Local == 0 || b.Local == 0 {
		t.Fatalf("LinkPair = %+v, %+v: want two ports, crossed", a, b)
	}
}

// The hosts must not collide anywhere on the segment they share.
func TestHostsApart(t *testing.T) {
	a, b := HostA, HostB
	for _, f := range []struct{ what, a, b string }{
		{"name", a.Name, b.Name}, {"dom0 address", a.Addr, b.Addr},
		{"NIC MAC", a.LinkMAC, b.LinkMAC}, {"bridge MAC", a.BridgeMAC, b.BridgeMAC},
	} {
		if f.a == f.b {
			t.Errorf("A and B have one %s: %s", f.what, f.a)
		}
	}
	if !(ipLess(a.PoolLast, b.PoolFirst) || ipLess(b.PoolLast, a.PoolFirst)) {
		t.Errorf("pools overlap: A %s-%s, B %s-%s", a.PoolFirst, a.PoolLast, b.PoolFirst, b.PoolLast)
	}
	if b.CPUs > a.CPUs || b.MemoryMB > a.MemoryMB {
		t.Errorf("B (%d vCPU, %d MB) is larger than A (%d, %d)", b.CPUs, b.MemoryMB, a.CPUs, a.MemoryMB)
	}
}

func ipLess(x, y string) bool {
	var a, b [4]int
	fmt.Sscanf(x, "%d.%d.%d.%d", &a[0], &a[1], &a[2], &a[3])
	fmt.Sscanf(y, "%d.%d.%d.%d", &b[0], &b[1], &b[2], &b[3])
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// What the lab writes, the agent's own loader reads: each host's pool on
// the segment, one gateway, the operator key's hash.
func TestAgentConfigLoads(t *testing.T) {
	for _, tc := range []struct {
		name        string
		agent       Agent
		first, last string
		operator    string
	}{
		{"single host", Agent{Timeouts: Timeouts{Stop: "20s", Reboot: "60s"}}, "10.99.0.10", "10.99.0.200", ""},
		{"host A", Agent{Timeouts: Timeouts{Stop: "20s", Reboot: "60s"}, Host: HostA, OperatorKey: "op-a"}, "10.99.0.10", "10.99.0.200", "op-a"},
		{"host B", Agent{Timeouts: Timeouts{Stop: "20s", Reboot: "60s"}, Host: HostB, OperatorKey: "op-b"}, "10.99.0.201", "10.99.0.240", "op-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "xenagent.toml")
			if err := os.WriteFile(p, []byte(AgentConfig(tc.agent)), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			if v4 := c.Network.IPv4; v4 == nil || v4.First != tc.first || v4.Last != tc.last || v4.Gateway != HostA.IP() || v4.Prefix != "10.99.0.0/24" {
				t.Errorf("network.ipv4 = %+v, want %s-%s in 10.99.0.0/24 with gateway %s", v4, tc.first, tc.last, HostA.IP())
			}
			want := ""
			if tc.operator != "" {
				want = service.HashKey(tc.operator)
			}
			if c.Operator.KeySHA256 != want {
				t.Errorf("operator.key_sha256 = %q, want %q", c.Operator.KeySHA256, want)
			}
			if c.Timeouts.Stop.String() != "20s" {
				t.Errorf("timeouts.stop = %v", c.Timeouts.Stop)
			}
		})
	}
}

func TestLinkTree(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "share")
	if err := os.MkdirAll(filepath.Join(src, "kernels/coop"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"xenagent.deb", "kernels/coop/vmlinuz"} {
		if err := os.WriteFile(filepath.Join(src, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := linkTree(src, dst); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"xenagent.deb", "kernels/coop/vmlinuz"} {
		b, err := os.ReadFile(filepath.Join(dst, f))
		if err != nil || string(b) != f {
			t.Fatalf("%s: %q, %v", f, b, err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dst, f), &st); err != nil || st.Nlink != 2 {
			t.Errorf("%s: %d links, want 2 (a hard link, not a copy)", f, st.Nlink)
		}
	}
}

// joinScript run for real on a dom0's network as the image leaves it
// (xenbr0 with 10.99.0.1, the segment's NIC loose), in namespaces of its
// own: twice (every boot runs it), then the bridge is the host's.
func TestJoinScript(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network and mount namespaces")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare")
	}
	for _, h := range []Host{HostA, HostB} {
		t.Run(h.Name, func(t *testing.T) {
			hostname := filepath.Join(t.TempDir(), "hostname")
			if err := os.WriteFile(hostname, []byte("lab-dom0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			script := filepath.Join(t.TempDir(), "join.sh")
			if err := os.WriteFile(script, []byte(joinScript(h)), 0o755); err != nil {
				t.Fatal(err)
			}
			setup := fmt.Sprintf(`set -e
mount -t sysfs sysfs /sys
mount --bind %s /etc/hostname
ip link add xenbr0 type bridge
ip addr add 10.99.0.1/24 dev xenbr0
ip link set xenbr0 up
ip link add ethx address 52:54:00:12:34:56 type veth peer name ethxp
ip link add eth1 address %s type veth peer name eth1p
sh %[3]s && sh %[3]s
echo "host=$(hostname) file=$(cat /etc/hostname)"
echo "mac=$(cat /sys/class/net/xenbr0/address)"
echo "addr=$(ip -4 -o addr show dev xenbr0 | awk '{print $4}' | tr '\n' ' ')"
echo "master=$(basename $(readlink /sys/class/net/eth1/master))"
echo "loose=$(readlink /sys/class/net/ethx/master || echo none)"
`, hostname, h.LinkMAC, script)
			out, err := exec.Command("unshare", "--net", "--uts", "--mount", "sh", "-c", setup).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, want := range []string{
				fmt.Sprintf("host=lab-%[1]s file=lab-%[1]s", h.Name),
				"mac=" + h.BridgeMAC,
				"addr=" + h.Addr + " \n",
				"master=xenbr0",
				"loose=none",
			} {
				if !strings.Contains(string(out), want) {
					t.Errorf("want %q in:\n%s", want, out)
				}
			}
		})
	}
}
