package gandi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// addrsOf lists the addresses leased (IP records) and those released to
// each account, the pool's two halves.
func (a *agent) addrsOf() (leased []string, released map[string][]string) {
	released = map[string][]string{}
	a.st.View(func(tx *store.Tx) {
		tx.EachIP(func(ip *store.IP) bool { leased = append(leased, ip.Addr); return true })
		tx.EachReleased(func(key string, addrs []string) { released[key] = slices.Clone(addrs) })
	})
	return leased, released
}

// A vm.create_from that fails, at any of its operations, leaves nothing
// it made: no VM, no disk or volume, no iface, no IP lease (the address
// goes back to the account first, the seeds' recycling rule), no seed;
// and the failed operation says why.
func TestFailedCreateFromReleasesWhatItMade(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(t *testing.T, a *agent, kernels string, img int64)
		failed  string // the operation that fails
		cause   string // in its last_error
	}{
		{"define refused: the image's kernel is gone", func(t *testing.T, a *agent, kernels string, img int64) {
			os.RemoveAll(filepath.Join(kernels, "6.1"))
		}, "vm_create", `define: kernel "6.1"`},
		{"clone refused: the image's volume is gone", func(t *testing.T, a *agent, kernels string, img int64) {
			d := a.disk(img)
			if err := a.vols.Delete(context.Background(), d.Volume, host.Mark{Owner: a.st.Instance(), Op: 0}); err != nil {
				t.Fatal(err)
			}
		}, "disk_create", "create_volume"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kernels := t.TempDir()
			os.MkdirAll(filepath.Join(kernels, "6.1"), 0o755)
			os.WriteFile(filepath.Join(kernels, "6.1", "vmlinuz"), []byte("k"), 0o644)
			a := newAgent(t, true, func(c *agentConfig) { c.KernelsDir = kernels })
			if err := a.wf.EnsureImage(context.Background(), workflow.ImageSpec{Label: "pv", SizeMB: 8, KernelVersion: "6.1", Cmdline: "root=/dev/xvda ro"}); err != nil {
				t.Fatal(err)
			}
			var img int64
			a.st.View(func(tx *store.Tx) {
				tx.EachImage(func(i *store.Image) bool {
					if i.Label == "pv" {
						img = i.DiskID
					}
					return true
				})
			})
			// Another VM of the account, so that the failed one is not alone.
			a.createVM(a.alice, "kept")
			c.breakIt(t, a, kernels, img)
			before := a.snapshot()
			leasedBefore, _ := a.addrsOf()

			ops := a.mustCall(a.alice, "hosting.vm.create_from", vmSpec("doomed"), map[string]any{}, img)
			var took []string // the addresses the call leased
			a.st.View(func(tx *store.Tx) {
				tx.EachIP(func(ip *store.IP) bool {
					if !slices.Contains(leasedBefore, ip.Addr) {
						took = append(took, ip.Addr)
					}
					return true
				})
			})
			if len(took) == 0 {
				t.Fatal("the call leased no address")
			}
			ended := a.wait(a.alice, ops)
			for _, o := range ended {
				if o["step"] == "DONE" && o["type"] == c.failed {
					t.Fatalf("%s did not fail: %v", c.failed, ended)
				}
				if o["type"] == c.failed && !strings.Contains(o["last_error"].(string), c.cause) {
					t.Errorf("%s last_error = %q, want it to say %q", c.failed, o["last_error"], c.cause)
				}
			}
			after := a.snapshot()
			before[4] += 3 // the three operations stay, finished
			if after != before {
				t.Errorf("records [vms disks ifaces ips ops volumes] = %v, want %v as before the call", after, before)
			}
			if _, err := os.Stat(filepath.Join(a.dir, "seeds", fmt.Sprintf("xa-seed-%d.iso", ended[2]["params"].(map[string]any)["vm_id"].(int64)))); !os.IsNotExist(err) {
				t.Errorf("the failed VM's seed is left: %v", err)
			}
			leased, released := a.addrsOf()
			for _, addr := range took {
				if slices.Contains(leased, addr) {
					t.Errorf("address %s is still leased", addr)
				}
				if key := ipam.ReleasedKey(a.alice.AccountID, ipVersion(addr)); !slices.Contains(released[key], addr) {
					t.Errorf("address %s is not back in the account's released list %v", addr, released)
				}
			}
			// The next iface of the account gets its address back.
			made := a.mustDone(a.alice, a.mustCall(a.alice, "hosting.iface.create", map[string]any{"datacenter_id": int64(1)}))
			var got string
			a.st.View(func(tx *store.Tx) {
				i, _ := tx.Iface(made[0]["iface_id"].(int64))
				ip, _ := tx.IP(i.IPIDs[0])
				got = ip.Addr
			})
			if !slices.Contains(took, got) {
				t.Errorf("the next iface got %s, not the released %v", got, took)
			}
		})
	}
}

func ipVersion(addr string) int64 {
	if strings.Contains(addr, ":") {
		return 6
	}
	return 4
}
