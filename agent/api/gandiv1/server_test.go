package gandiv1

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/metrics/metricstest"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/storage/mkfs"
)

func TestLoginAndSessions(t *testing.T) {
	a := newAgent(t)
	for _, tc := range []struct {
		name   string
		params []any
		code   int
	}{
		{"right, safe", []any{aliceLogin, alicePassword, true}, 0},
		{"right, without safe", []any{aliceLogin, alicePassword}, 0},
		{"right, unsafe", []any{aliceLogin, alicePassword, false}, 0},
		{"wrong password", []any{aliceLogin, "nope"}, 500150},
		{"unknown login", []any{"ZZ-GANDI", alicePassword}, 500150},
		{"account without a password", []any{carolLogin, ""}, 500150},
		{"no password", []any{aliceLogin}, 500110},
		{"password of the wrong type", []any{aliceLogin, int64(5)}, 500120},
		{"safe of the wrong type", []any{aliceLogin, alicePassword, "yes"}, 500120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, f := a.call("login", tc.params...)
			switch {
			case tc.code == 0 && f != nil:
				t.Fatalf("fault %d: %s", f.Code, f.Message)
			case tc.code == 0:
				if s, ok := v.(string); !ok || len(s) != 64 {
					t.Fatalf("session %#v", v)
				}
			case f == nil || f.Code != tc.code:
				t.Fatalf("got %v %v, want fault %d", v, f, tc.code)
			case strings.Contains(f.Message, alicePassword) || !strings.HasPrefix(f.Message, "DataError: "):
				t.Fatalf("fault string %q", f.Message)
			}
		})
	}
	s := a.login(aliceLogin, alicePassword)
	for _, tc := range []struct {
		name   string
		method string
		params []any
		code   int
	}{
		{"a method without a session", "vm_list", nil, 500110},
		{"an unknown session", "vm_list", []any{strings.Repeat("0", 64)}, 500150},
		{"a session of the wrong type", "vm_list", []any{int64(1)}, 500150},
		{"an unknown method", "vm_frobnicate", []any{s}, 590040},
		{"an extra parameter", "vm_list", []any{s, int64(1)}, 510030},
		{"billing: currency", "account_currency", []any{s}, 502090},
		{"billing: balance", "account_balance", []any{s}, 502090},
		{"billing: product add", "hosting_account_product_add", []any{s, "shares", int64(4), "1m"}, 502090},
		{"billing: product renew", "hosting_account_product_renew", []any{s, int64(1234), "1m"}, 502090},
		{"billing: product remove", "hosting_account_product_remove", []any{s, int64(1234)}, 502090},
		{"billing: product update", "hosting_account_product_update", []any{s, int64(1234), int64(5)}, 502090},
		{"vm_disk_link is not defined", "vm_disk_link", []any{s}, 590040},
		{"no such VM", "vm_info", []any{s, int64(9876)}, 510040},
		{"a VM id as a string of digits", "vm_info", []any{s, "9876"}, 510040},
		{"a VM id that is not a number", "vm_info", []any{s, "x"}, 510020},
		{"a VM id out of bounds", "vm_info", []any{s, int64(0)}, 510030},
		{"no such operation", "operation_details", []any{s, int64(1234)}, 512040},
		{"an unknown operation state", "operation_list", []any{s, map[string]any{"state": "SLEEPING"}}, 512030},
		{"an unknown filter key", "operation_list", []any{s, map[string]any{"status": "DONE"}}, 512030},
		{"a disk without a size", "disk_create", []any{s, map[string]any{"name": "d"}}, 511010},
		{"a disk of an unknown fstype", "disk_create", []any{s, map[string]any{"size": int64(1024), "name": "d", "fstype": "ntfs"}}, 511030},
		{"a VM of an unknown OS", "vm_create", []any{s, "vmtest1", "my_password", int64(111), int64(4), int64(1), map[string]any{"login": "gandi"}}, 513040},
		{"a VM of no shares", "vm_create", []any{s, "vmtest1", "my_password", a.image, int64(0), int64(1), map[string]any{}}, 510030},
		{"a VM of a bad hostname", "vm_create", []any{s, "vm test", "my_password", a.image, int64(1), int64(1), map[string]any{}}, 510030},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, f := a.call(tc.method, tc.params...)
			if f == nil || f.Code != tc.code {
				t.Fatalf("got %v %v, want fault %d", v, f, tc.code)
			}
		})
	}
}

// TestScenario drives the document's user case and every VM, disk and
// operation method through HTTP, as a client would.
func TestScenario(t *testing.T) {
	a := newAgent(t)
	s := a.login(aliceLogin, alicePassword)
	bob := a.login(bobLogin, bobPassword)

	oses := a.mustCall("os_list", s).([]any)
	if len(oses) != 1 || oses[0].(map[string]any)["id"] != a.image || oses[0].(map[string]any)["name"] != "Debian 12" {
		t.Fatalf("os_list: %v", oses)
	}
	vmID := a.mustCall("vm_create", s, "vmtest1", "my_password", a.image, int64(4), int64(1), map[string]any{"login": "gandi"}).(int64)
	a.mustDone(s, a.lastOp(s, "vm_create"))
	info := a.mustCall("vm_info", s, vmID).(map[string]any)
	if info["hostname"] != "vmtest1" || info["shares"] != int64(4) || info["memory"] != int64(1024) || info["cpu"] != int64(1) ||
		info["os_id"] != a.image || info["state"] != "running" || len(info["disks"].([]any)) != 1 || len(info["ips"].([]any)) == 0 {
		t.Fatalf("vm_info: %v", info)
	}
	if got := a.mustCall("vm_list", s).([]any); !slices.Equal(got, []any{vmID}) {
		t.Fatalf("vm_list: %v", got)
	}
	if got := a.mustCall("vm_list", bob).([]any); len(got) != 0 {
		t.Fatalf("bob's vm_list: %v", got)
	}
	if _, f := a.call("vm_info", bob, vmID); f == nil || f.Code != 510040 {
		t.Fatalf("bob read alice's VM: %v", f)
	}
	acct := a.mustCall("hosting_account_info", s).(map[string]any)
	if acct["handle"] != aliceLogin || acct["memory_used"] != int64(1024) || acct["servers"] != int64(1) {
		t.Fatalf("hosting_account_info: %v", acct)
	}

	// Resize by shares.
	op := a.mustCall("vm_update", s, vmID, map[string]any{"shares": int64(5)}).(int64)
	a.mustDone(s, op)
	if info := a.mustCall("vm_info", s, vmID).(map[string]any); info["shares"] != int64(5) || info["memory"] != int64(1280) {
		t.Fatalf("vm_info after vm_update: %v", info)
	}

	// A data disk, as the PHP sample sends it (numbers as strings).
	diskID := a.mustCall("disk_create", s, map[string]any{"size": "2048", "name": "disk2GB", "fstype": "ext3"}).(int64)
	createOp := a.lastOp(s, "disk_create")
	a.mustDone(s, createOp)
	if p := a.mustCall("operation_details", s, createOp).(map[string]any)["param"].(map[string]any); p["fstype"] != "ext3" || p["disk_id"] != diskID {
		t.Fatalf("disk_create's param: %v", p)
	}
	var vol string
	a.st.View(func(tx *store.Tx) { d, _ := tx.Disk(diskID); vol = d.Volume })
	if !mkfs.IsExt(a.vols.Path(vol)) {
		t.Fatalf("disk %d (%s) holds no ext3 filesystem", diskID, a.vols.Path(vol))
	}
	d := a.mustCall("disk_info", s, diskID).(map[string]any)
	if d["name"] != "disk2GB" || d["size"] != int64(2048) || d["vm_id"] != int64(0) || d["fstype"] != "ext3" {
		t.Fatalf("disk_info: %v", d)
	}
	if sys := a.mustCall("disk_info", s, info["disks"].([]any)[0]).(map[string]any); sys["fstype"] != "" || sys["is_boot_disk"] != true {
		t.Fatalf("the system disk's disk_info: %v (no filesystem recorded: it is the image's)", sys)
	}
	if got := a.mustCall("disk_list", s).([]any); len(got) != 2 || !slices.Contains(got, any(diskID)) {
		t.Fatalf("disk_list: %v", got)
	}
	a.mustDone(s, a.mustCall("disk_attach", s, diskID, vmID).(int64))
	disks := a.mustCall("vm_disk_list", s, vmID).([]any)
	if len(disks) != 2 || disks[1] != diskID {
		t.Fatalf("vm_disk_list: %v", disks)
	}
	if _, f := a.call("disk_delete", s, diskID); f == nil {
		t.Fatal("an attached disk was deleted")
	}
	a.mustDone(s, a.mustCall("disk_detach", s, diskID, vmID).(int64))
	a.mustDone(s, a.mustCall("disk_delete", s, diskID).(int64))

	// Power.
	a.mustDone(s, a.mustCall("vm_reboot", s, vmID).(int64))
	a.mustDone(s, a.mustCall("vm_stop", s, vmID).(int64))
	if info := a.mustCall("vm_info", s, vmID).(map[string]any); info["state"] != "halted" {
		t.Fatalf("state after vm_stop: %v", info["state"])
	}
	a.mustDone(s, a.mustCall("vm_start", s, vmID).(int64))
	a.mustDone(s, a.mustCall("vm_stop", s, vmID).(int64))

	// Operations: the list is newest first, filters by type, state and date.
	all := a.mustCall("operation_list", s).([]any)
	if len(all) < 10 || all[0].(int64) < all[len(all)-1].(int64) {
		t.Fatalf("operation_list: %v", all)
	}
	stops := a.mustCall("operation_list", s, map[string]any{"type": "vm_stop", "state": "DONE"}).([]any)
	if len(stops) != 2 {
		t.Fatalf("two vm_stop operations DONE, got %v", stops)
	}
	future := a.mustCall("operation_list", s, map[string]any{"created_after": time.Now().Add(time.Hour), "state": "ALL"}).([]any)
	if len(future) != 0 {
		t.Fatalf("operations created in an hour: %v", future)
	}
	det := a.mustCall("operation_details", s, stops[0]).(map[string]any)
	if det["uid"] != stops[0] || det["type"] != "vm_stop" || det["state"] != "DONE" ||
		det["param"].(map[string]any)["param_type"] != "vm" || det["param"].(map[string]any)["vm_id"] != vmID {
		t.Fatalf("operation_details: %v", det)
	}
	if _, f := a.call("operation_cancel", s, stops[0]); f == nil || f.Code != 512060 ||
		f.Message != fmt.Sprintf("DataError: opid: operation %d has already finished [opid: %d]", stops[0], stops[0]) {
		t.Fatalf("a DONE operation was cancelled: %v (want v1's word, opid)", f)
	}
	if _, f := a.call("operation_details", bob, stops[0]); f == nil || f.Code != 512040 {
		t.Fatalf("bob read alice's operation: %v", f)
	}

	a.mustDone(s, a.mustCall("vm_delete", s, vmID).(int64))
	if got := a.mustCall("vm_list", s).([]any); len(got) != 0 {
		t.Fatalf("vm_list after vm_delete: %v", got)
	}
}

// A disk smaller than its filesystem's minimum (mkfs.xfs: 300 MB) is
// refused by the call, naming size, and nothing is made; at the minimum
// it is made and formatted.
func TestDiskCreateBelowTheFSMinimum(t *testing.T) {
	a := newAgent(t)
	s := a.login(aliceLogin, alicePassword)
	if _, err := exec.LookPath("mkfs.xfs"); err != nil {
		t.Skip("mkfs.xfs is not installed (xfsprogs; make test-deps)")
	}
	_, f := a.call("disk_create", s, map[string]any{"size": int64(299), "name": "small", "fstype": "xfs"})
	if f == nil || f.Code != 511030 || !strings.Contains(f.Message, "size: an xfs filesystem needs a disk of at least 300 MB, got 299") {
		t.Fatalf("disk_create of 299 MB xfs: %v, want fault 511030 naming size", f)
	}
	if got := a.mustCall("disk_list", s).([]any); len(got) != 0 {
		t.Fatalf("a refused disk_create left disks %v", got)
	}
	if got := a.mustCall("operation_list", s, map[string]any{"state": "ALL"}).([]any); len(got) != 0 {
		t.Fatalf("a refused disk_create left operations %v", got)
	}
	id := a.mustCall("disk_create", s, map[string]any{"size": int64(300), "name": "least", "fstype": "xfs"}).(int64)
	a.mustDone(s, a.lastOp(s, "disk_create"))
	if d := a.mustCall("disk_info", s, id).(map[string]any); d["fstype"] != "xfs" || d["size"] != int64(300) {
		t.Fatalf("disk_info: %v", d)
	}
}

// TestCancelError: the document's rule, an operation in ERROR may be
// cancelled; it ends CANCEL and keeps its error as comment.
func TestCancelError(t *testing.T) {
	a := newAgent(t)
	s := a.login(aliceLogin, alicePassword)
	var acct int64
	a.st.View(func(tx *store.Tx) {
		tx.EachAccount(func(x *store.Account) bool {
			if x.Handle == aliceLogin {
				acct = x.ID
			}
			return true
		})
	})
	now := time.Now().UTC().Truncate(time.Second)
	a.st.Update(func(tx *store.Tx) error {
		tx.PutOperation(store.Operation{ID: 900, AccountID: acct, Type: "vm_start", Step: store.StepError, VMID: 77,
			LastError: "start: no memory left", DateCreated: now, DateUpdated: now})
		return nil
	})
	d := a.mustCall("operation_details", s, int64(900)).(map[string]any)
	if d["state"] != "ERROR" || d["comment"] != "start: no memory left" {
		t.Fatalf("operation_details: %v", d)
	}
	if got := a.mustCall("operation_list", s, map[string]any{"state": "ERROR"}).([]any); !slices.Equal(got, []any{int64(900)}) {
		t.Fatalf("ERROR operations: %v", got)
	}
	if v := a.mustCall("operation_cancel", s, int64(900)); v != true {
		t.Fatalf("operation_cancel: %v", v)
	}
	d = a.mustCall("operation_details", s, int64(900)).(map[string]any)
	if d["state"] != "CANCEL" || d["comment"] != "start: no memory left" {
		t.Fatalf("operation_details after cancel: %v", d)
	}
	if _, f := a.call("operation_cancel", s, int64(900)); f == nil || f.Code != 512060 || !strings.HasPrefix(f.Message, "DataError: opid: ") {
		t.Fatalf("a CANCEL operation was cancelled again: %v", f)
	}
}

// TestLoginGuard: failed logins are counted by the guard (the v3 face's
// bad-key back-off in the agent), which can refuse a source outright.
func TestLoginGuard(t *testing.T) {
	a := newAgent(t)
	failures := 0
	a.srv.SetGuard(func(r *http.Request, check func() error) error {
		if failures >= 2 {
			return errors.New("backing off")
		}
		err := check()
		if errors.Is(err, service.ErrBadKey) {
			failures++
		}
		return err
	})
	a.login(aliceLogin, alicePassword)
	for i, want := range []int{500150, 500150, 500180, 500180} {
		if _, f := a.call("login", aliceLogin, "wrong"); f == nil || f.Code != want {
			t.Fatalf("login %d: %v, want fault %d", i, f, want)
		}
	}
	if failures != 2 {
		t.Fatalf("the guard counted %d failures, want 2", failures)
	}
	if _, f := a.call("login", aliceLogin, alicePassword); f == nil || f.Code != 500180 {
		t.Fatalf("a backed-off source logged in: %v", f)
	}
}

func TestMetrics(t *testing.T) {
	a := newAgent(t)
	s := a.login(aliceLogin, alicePassword)
	a.mustCall("vm_list", s)
	a.mustCall("vm_list", s)
	a.call("account_balance", s)
	a.call("no_such_method_"+strings.Repeat("x", 100), s)
	reg := metrics.NewRegistry()
	reg.Register(a.srv.WriteMetrics)
	var buf bytes.Buffer
	if err := reg.Write(&buf); err != nil {
		t.Fatal(err)
	}
	p := metricstest.Check(t, buf.Bytes())
	for _, tc := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"method", "login", "fault", "0"}, 1},
		{[]string{"method", "vm_list", "fault", "0"}, 2},
		{[]string{"method", "account_balance", "fault", "502090"}, 1},
		{[]string{"method", "unknown", "fault", "590040"}, 1},
	} {
		if got := p.Sum("xenagent_v1_requests_total", tc.labels...); got != tc.want {
			t.Errorf("xenagent_v1_requests_total%v = %v, want %v", tc.labels, got, tc.want)
		}
	}
	if got := p.Sum("xenagent_v1_sessions"); got != 1 {
		t.Errorf("xenagent_v1_sessions = %v", got)
	}
}

// TestLongHostname: a 63-character hostname is a VM, its system disk's
// name cut to the service's 64 (the caller names no disk to be faulted for).
func TestLongHostname(t *testing.T) {
	a := newAgent(t)
	s := a.login(aliceLogin, alicePassword)
	host := strings.Repeat("h", 63)
	vmID := a.mustCall("vm_create", s, host, "my_password", a.image, int64(1), int64(1), map[string]any{}).(int64)
	a.mustDone(s, a.lastOp(s, "vm_create"))
	disks := a.mustCall("vm_disk_list", s, vmID).([]any)
	if len(disks) != 1 {
		t.Fatalf("vm_disk_list: %v", disks)
	}
	if name := a.mustCall("disk_info", s, disks[0]).(map[string]any)["name"]; name != ("sys_" + host)[:64] {
		t.Fatalf("system disk named %q", name)
	}
}
