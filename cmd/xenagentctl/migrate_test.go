package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// The moves against two agents in this process (libvirt's test driver,
// the file backend, each its own state; the transfer over loopback):
// vm migrate -wait moves a VM and shows its end with the downtime; host
// empty stops at a VM that cannot move (an ISO attached), saying what
// moved, what did not and what is left; once that VM can move, host
// empty -parallel 2 moves the rest, detached disk and iface included,
// and the source is left with nothing; the target has them all, with
// their ids. The ticket is never printed.
func TestMoveCommands(t *testing.T) {
	src, image := serveAgent(t, true)
	dst, _ := serveAgent(t, true)
	keyFile := filepath.Join(t.TempDir(), "target.key")
	if err := os.WriteFile(keyFile, []byte(opKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var acct struct{ ID int64 }
	if err := json.Unmarshal([]byte(mustCtl(t, src, aliceKey, "call", "hosting.account.info")), &acct); err != nil {
		t.Fatal(err)
	}
	to := []string{"-to", strings.TrimSuffix(dst, "/xmlrpc/"), "-to-key-file", keyFile, "-account", strconv.FormatInt(acct.ID, 10)}
	created := func(out string, key string) int64 {
		t.Helper()
		var ops []map[string]any
		if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "]")+1]), &ops); err != nil {
			// create calls answer one operation, create_from a list.
			var op map[string]any
			if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &op); err != nil {
				t.Fatalf("cannot read %q", out)
			}
			ops = []map[string]any{op}
		}
		return int64(ops[len(ops)-1][key].(float64))
	}
	var vms []string
	for n := range 3 {
		out := mustCtl(t, src, aliceKey, "call", "hosting.vm.create_from",
			fmt.Sprintf(`{"datacenter_id": 1, "hostname": "mover%d", "memory": 256}`, n+1), `{}`, strconv.FormatInt(image, 10), "-wait")
		vms = append(vms, strconv.FormatInt(created(out, "vm_id"), 10))
	}
	disk := strconv.FormatInt(created(mustCtl(t, src, aliceKey, "call", "hosting.disk.create", `{"datacenter_id": 1, "size": 16}`, "-wait"), "disk_id"), 10)
	iface := strconv.FormatInt(created(mustCtl(t, src, aliceKey, "call", "hosting.iface.create", `{"datacenter_id": 1, "ip_version": 4}`, "-wait"), "iface_id"), 10)

	out, status, err := ctlAgent(src, opKey, append([]string{"vm", "migrate", vms[0], "-wait"}, to...)...)
	if err != nil {
		t.Fatalf("vm migrate %s -wait: %v\n%s%s", vms[0], err, out, status)
	}
	t.Logf("vm migrate -wait:\n%s%s", out, status)
	if !strings.Contains(out, "vm_migrate DONE") || !strings.Contains(out, "sent, downtime ") {
		t.Errorf("vm migrate -wait printed:\n%s", out)
	}
	if strings.Contains(strings.ToLower(out+status), "ticket") {
		t.Errorf("vm migrate shows the ticket:\n%s%s", out, status)
	}
	if got := vmInfo(t, dst, vms[0]); got["state"] != "running" || got["hostname"] != "mover1" {
		t.Errorf("on the target, vm %s is %v %v; want mover1 running", vms[0], got["hostname"], got["state"])
	}
	var f *xmlrpc.Fault
	if _, _, err := ctlAgent(src, aliceKey, "vm", "info", vms[0]); !errors.As(err, &f) {
		t.Errorf("on the source, vm info %s after the move: %v; want a fault", vms[0], err)
	}
	// Once moved, again: refused at the source, before the target is asked.
	if _, _, err := ctlAgent(src, opKey, append([]string{"vm", "migrate", vms[0]}, to...)...); err == nil || !strings.Contains(err.Error(), "source: hosting.vm.info") {
		t.Errorf("vm migrate of a vm gone: %v", err)
	}

	// An ISO keeps vm 3 here: host empty moves vm 2 and stops there.
	var isos []map[string]any
	json.Unmarshal([]byte(mustCtl(t, src, aliceKey, "iso", "list", "-o", "json")), &isos)
	mustCtl(t, src, aliceKey, "vm", "iso", "attach", vms[2], fmt.Sprint(isos[0]["id"]), "-wait")
	out, _, err = ctlAgent(src, opKey, append([]string{"host", "empty"}, to...)...)
	t.Logf("host empty, an ISO attached:\n%s", out)
	for _, want := range []string{
		"vm " + vms[1] + ": operation ",
		"stopped: vm " + vms[2] + " did not move: vm " + vms[2] + ": ISO ",
		"moved: vm " + vms[1] + "\n",
		"not tried: disk " + disk + ", iface " + iface + "\n",
		"left on the source:\n  vm " + vms[2] + " mover3 (running)\n  disk ",
		"  iface " + iface + " ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("host empty with an ISO attached does not say %q:\n%s", want, out)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "1 moved, 2 not tried") {
		t.Errorf("host empty with an ISO attached: %v", err)
	}

	mustCtl(t, src, aliceKey, "vm", "iso", "detach", vms[2], "-wait")
	out = mustCtl(t, src, opKey, append([]string{"host", "empty", "-parallel", "2"}, to...)...)
	t.Logf("host empty -parallel 2:\n%s", out)
	if !strings.HasSuffix(out, "left on the source: nothing\n") || !strings.Contains(out, "disk "+disk+": operation ") ||
		!strings.Contains(out, "iface "+iface+": operation ") {
		t.Errorf("host empty:\n%s", out)
	}
	for _, id := range vms {
		if got := vmInfo(t, dst, id); got["state"] != "running" {
			t.Errorf("on the target, vm %s is %v", id, got["state"])
		}
	}
	for _, c := range [][]string{{"disk", "info", disk}, {"call", "hosting.iface.info", iface}} {
		if _, _, err := ctlAgent(dst, aliceKey, c...); err != nil {
			t.Errorf("on the target, %s: %v", c, err)
		}
	}
}
