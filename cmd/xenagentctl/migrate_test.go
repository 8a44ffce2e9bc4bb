package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// The moves against two agents in this process (libvirt's test driver,
// the file backend, each its own state; the transfer over loopback):
// vm migrate -wait moves a VM and shows its end with the downtime; host
// empty stops at a VM that cannot move (an ISO attached), saying what
// moved, what did not and what is left; once that VM can move, host
// empty -parallel 2 moves the rest, two VMs side by side, detached disk and iface included,
// and the source is left with nothing; the target has them all, with
// their ids and owners. VM 4 and the iface are a second account's: host
// empty, given no -account, reads each owner from the source's info
// calls; vm migrate with the wrong -account is refused before a ticket.
// The ticket is never printed.
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
	toAny := []string{"-to", strings.TrimSuffix(dst, "/xmlrpc/"), "-to-key-file", keyFile}
	to := append(toAny[:len(toAny):len(toAny)], "-account", strconv.FormatInt(acct.ID, 10))
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
	owner := map[string]string{} // vm id: its owner's key
	for n := range 4 {
		key := aliceKey
		if n == 3 {
			key = bobKey
		}
		out := mustCtl(t, src, key, "call", "hosting.vm.create_from",
			fmt.Sprintf(`{"datacenter_id": 1, "hostname": "mover%d", "memory": 256}`, n+1), `{}`, strconv.FormatInt(image, 10), "-wait")
		vms = append(vms, strconv.FormatInt(created(out, "vm_id"), 10))
		owner[vms[n]] = key
	}
	disk := strconv.FormatInt(created(mustCtl(t, src, aliceKey, "call", "hosting.disk.create", `{"datacenter_id": 1, "size": 16}`, "-wait"), "disk_id"), 10)
	iface := strconv.FormatInt(created(mustCtl(t, src, bobKey, "call", "hosting.iface.create", `{"datacenter_id": 1, "ip_version": 4}`, "-wait"), "iface_id"), 10)

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

	// Another account's VM under -account: refused before a ticket.
	if _, _, err := ctlAgent(src, opKey, append([]string{"vm", "migrate", vms[3]}, to...)...); err == nil ||
		!strings.Contains(err.Error(), fmt.Sprintf("-account %d: the agent says the owner is account %d", acct.ID, acct.ID+1)) {
		t.Errorf("vm migrate of bob's vm with -account alice: %v", err)
	}

	// An operator's lock: refused before a ticket holds the target's room.
	out = mustCtl(t, src, aliceKey, "call", "hosting.vm.create_from",
		`{"datacenter_id": 1, "hostname": "locked", "memory": 256}`, `{}`, strconv.FormatInt(image, 10), "-wait")
	locked := strconv.FormatInt(created(out, "vm_id"), 10)
	mustCtl(t, src, opKey, "vm", "lock", locked, "legal hold")
	if _, _, err = ctlAgent(src, opKey, append([]string{"vm", "migrate", locked}, to...)...); err == nil ||
		err.Error() != "vm "+locked+" is locked by the operator (legal hold): vm unlock "+locked+" first" {
		t.Errorf("vm migrate of a locked vm: %v", err)
	}
	mustCtl(t, src, opKey, "vm", "unlock", locked)
	mustCtl(t, src, aliceKey, "vm", "delete", locked, "-wait")

	// An ISO keeps vm 3 here: host empty moves vm 2 and stops there,
	// vm 4 not tried.
	var isos []map[string]any
	json.Unmarshal([]byte(mustCtl(t, src, aliceKey, "iso", "list", "-o", "json")), &isos)
	mustCtl(t, src, aliceKey, "vm", "iso", "attach", vms[2], fmt.Sprint(isos[0]["id"]), "-wait")
	out, _, err = ctlAgent(src, opKey, append([]string{"host", "empty"}, toAny...)...)
	t.Logf("host empty, an ISO attached:\n%s", out)
	for _, want := range []string{
		"vm " + vms[1] + ": operation ",
		"stopped: vm " + vms[2] + " did not move: vm " + vms[2] + ": ISO ",
		"moved: vm " + vms[1] + "\n",
		"not tried: vm " + vms[3] + ", disk " + disk + ", iface " + iface + "\n",
		"left on the source:\n  vm " + vms[2] + " mover3 (running)\n  vm " + vms[3] + " mover4 (running)\n  disk ",
		"  iface " + iface + " ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("host empty with an ISO attached does not say %q:\n%s", want, out)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "1 moved, 3 not tried") {
		t.Errorf("host empty with an ISO attached: %v", err)
	}

	// vms 3 and 4 side by side, then the disk and the iface; -o json
	// says it in one object.
	mustCtl(t, src, aliceKey, "vm", "iso", "detach", vms[2], "-wait")
	out = mustCtl(t, src, opKey, append([]string{"host", "empty", "-parallel", "2", "-o", "json"}, toAny...)...)
	t.Logf("host empty -parallel 2 -o json:\n%s", out)
	var emptied struct {
		Moved []struct {
			Kind            string
			ID              int64
			TargetOperation map[string]any `json:"target_operation"`
		}
		Failed   []any
		NotTried []any `json:"not_tried"`
		Left     map[string][]any
	}
	if err := json.Unmarshal([]byte(out), &emptied); err != nil {
		t.Fatalf("host empty -o json: %v\n%s", err, out)
	}
	var got []string
	for _, m := range emptied.Moved {
		got = append(got, fmt.Sprintf("%s %d", m.Kind, m.ID))
		if m.TargetOperation["step"] != "DONE" || !strings.HasSuffix(fmt.Sprint(m.TargetOperation["type"]), "_migrate_in") {
			t.Errorf("host empty -o json: %s %d's target operation %v", m.Kind, m.ID, m.TargetOperation)
		}
	}
	slices.Sort(got) // side by side: either ends first
	want := []string{"vm " + vms[2], "vm " + vms[3], "disk " + disk, "iface " + iface}
	slices.Sort(want)
	if !slices.Equal(got, want) ||
		len(emptied.Failed) != 0 || len(emptied.NotTried) != 0 || len(emptied.Left["vm"])+len(emptied.Left["disk"])+len(emptied.Left["iface"]) != 0 {
		t.Errorf("host empty -o json: moved %v (want %v), failed %v, not tried %v, left %v", got, want, emptied.Failed, emptied.NotTried, emptied.Left)
	}
	// Each with its owner on the target.
	for _, id := range vms {
		var got map[string]any
		if err := json.Unmarshal([]byte(mustCtl(t, dst, owner[id], "vm", "info", id)), &got); err != nil || got["state"] != "running" {
			t.Errorf("on the target, vm %s is %v (%v)", id, got["state"], err)
		}
	}
	for key, c := range map[string][]string{aliceKey: {"disk", "info", disk}, bobKey: {"call", "hosting.iface.info", iface}} {
		if _, _, err := ctlAgent(dst, key, c...); err != nil {
			t.Errorf("on the target, %s: %v", c, err)
		}
	}
}

// fakeAgent answers XML-RPC calls with answer(method, params) and
// records them.
func fakeAgent(t *testing.T, answer func(method string, params []any) any) (string, *[]string) {
	t.Helper()
	var calls []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, err := xmlrpc.DecodeCall(r.Body)
		if err != nil {
			t.Errorf("decoding the call: %v", err)
			return
		}
		mu.Lock()
		calls = append(calls, call.Method)
		mu.Unlock()
		v := answer(call.Method, call.Params[1:])
		if f, ok := v.(*xmlrpc.Fault); ok {
			w.Write(xmlrpc.EncodeFault(f))
			return
		}
		b, err := xmlrpc.EncodeResponse(v)
		if err != nil {
			t.Errorf("encoding %v: %v", v, err)
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

// The ticket goes from the target's answer to the source's call with
// the target's base address, and nowhere else: not in what is printed,
// not in the error when the source refuses the move (which names the
// unused ticket by its id).
func TestTicketNeverShown(t *testing.T) {
	const secret = "c2VjcmV0LXRpY2tldC10aGF0LW11c3Qtbm90LWxlYWs"
	dst, dstCalls := fakeAgent(t, func(method string, params []any) any {
		if method == "hosting.migration.ticket" {
			return map[string]any{"ticket": secret, "ticket_id": int64(9), "expires": int64(300)}
		}
		return map[string]any{"datacenter": map[string]any{"id": int64(1)}}
	})
	var gotSpec map[string]any
	for _, refuse := range []bool{false, true} {
		src, srcCalls := fakeAgent(t, func(method string, params []any) any {
			switch method {
			case "hosting.vm.info":
				return vmAnswer(nil)
			case "hosting.vm.locks":
				return []any{}
			case "hosting.host.info":
				return map[string]any{"datacenter": map[string]any{"id": int64(1)}}
			case "hosting.vm.migrate":
				gotSpec, _ = params[1].(map[string]any)
				if refuse {
					return &xmlrpc.Fault{Code: 510150, Message: "vm 12: refused"}
				}
				return map[string]any{"id": int64(70), "type": "vm_migrate", "step": "WAIT", "last_error": ""}
			}
			return &xmlrpc.Fault{Code: 1, Message: "unexpected " + method}
		})
		keyFile := filepath.Join(t.TempDir(), "k")
		os.WriteFile(keyFile, []byte("target-operator-key"), 0o600)
		out, status, err := ctlAgent(src+"/xmlrpc/", opKey, "vm", "migrate", "12", "-to", dst, "-to-key-file", keyFile, "-account", "3")
		all := out + status
		if err != nil {
			all += err.Error()
		}
		if strings.Contains(all, secret) {
			t.Errorf("refused %v: the ticket is shown:\n%s", refuse, all)
		}
		if gotSpec["ticket"] != secret || gotSpec["target"] != dst {
			t.Errorf("refused %v: the source got %v, want the ticket and %s", refuse, gotSpec, dst)
		}
		want := "hosting.vm.info hosting.vm.locks hosting.host.info hosting.vm.migrate"
		if got := strings.Join(*srcCalls, " "); got != want {
			t.Errorf("the source's calls: %s, want %s", got, want)
		}
		switch {
		case refuse && (err == nil || !strings.Contains(err.Error(), "the target's ticket 9 is unused")):
			t.Errorf("refused: %v", err)
		case !refuse && (err != nil || out != "operation 70 vm_migrate WAIT\n"):
			t.Errorf("vm migrate: %v\n%s", err, out)
		}
	}
	if got := strings.Join(*dstCalls, " "); got != "hosting.host.info hosting.migration.ticket hosting.host.info hosting.migration.ticket" {
		t.Errorf("the target's calls: %s", got)
	}
}
