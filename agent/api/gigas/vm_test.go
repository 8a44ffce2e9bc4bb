package gigas

import (
	"strconv"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/store"
)

func TestAuthorization(t *testing.T) {
	a := newAgent(t)
	list := acctPath(a.alice) + "/virtual_machines"
	for _, tc := range []struct {
		name, key, path string
		status          int
		code, msg       string
	}{
		{"no key", "", list, 401, CodeUnauthorized, "Authorization: missing"},
		{"unknown key", "nope", list, 401, CodeUnauthorized, "invalid API key"},
		{"another account's", bobKey, list, 403, CodeForbidden, "account_id:"},
		{"own account", aliceKey, list, 200, "", ""},
		{"bearer prefix", "Bearer " + aliceKey, list, 200, "", ""},
		{"operator as alice", operatorKey, list, 200, "", ""},
		{"operator, unknown account", operatorKey, "/account/999/virtual_machines", 404, CodeNotFound, "account_id:"},
		{"bad account id", aliceKey, "/account/x/virtual_machines", 400, CodeInvalid, "account_id:"},
		{"unknown path", aliceKey, "/account/1/nothing", 404, CodeNotFound, "path:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(tc.key, "GET", tc.path, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.code != "" && (r.obj()["code"] != tc.code || !strings.Contains(r.obj()["message"].(string), tc.msg)) {
				t.Fatalf("error %s, want %s %q", r.raw, tc.code, tc.msg)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	a := newAgent(t)
	create := acctPath(a.alice) + "/virtual_machine"
	tpl := strconv.FormatInt(a.template, 10)
	good := func(over map[string]any) map[string]any {
		m := map[string]any{"memory": "256", "cpus": "1", "label": "l", "primary_disk_size": "1", "hostname": "web1", "template_id": tpl}
		for k, v := range over {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"not json", "{", 400, CodeInvalid, "body:"},
		{"no hostname", good(map[string]any{"hostname": nil}), 400, CodeMissing, "hostname: missing parameter"},
		{"no template", good(map[string]any{"template_id": nil}), 400, CodeMissing, "template_id: missing parameter"},
		{"only memory", `{"memory": "512"}`, 400, CodeMissing,
			"hostname: missing parameter (as are label, cpus, primary_disk_size, template_id)"},
		{"hostname starts with a digit", good(map[string]any{"hostname": "1web"}), 400, CodeInvalid, "hostname:"},
		{"hostname 26 characters", good(map[string]any{"hostname": strings.Repeat("a", 26)}), 400, CodeInvalid, "hostname:"},
		{"memory not a number", good(map[string]any{"memory": "lots"}), 400, CodeInvalid, "memory:"},
		{"memory not a multiple of 64", good(map[string]any{"memory": 200}), 400, CodeInvalid, "memory:"},
		{"cpus 0", good(map[string]any{"cpus": "0"}), 400, CodeInvalid, "cpus:"},
		{"password of 5", good(map[string]any{"initial_root_password": "abc-5"}), 400, CodeInvalid, "initial_root_password: must be 6 to 32"},
		{"password of 33", good(map[string]any{"initial_root_password": strings.Repeat("a", 33)}), 400, CodeInvalid, "initial_root_password: must be 6 to 32"},
		{"password bad character", good(map[string]any{"initial_root_password": "abcdefgh!"}), 400, CodeInvalid, "initial_root_password:"},
		{"unknown template", good(map[string]any{"template_id": "999"}), 404, CodeNotFound, "template_id: template 999 does not exist on this host (templates are its images: hosting.image.list at /xmlrpc/)"},
		{"other location", good(map[string]any{"location_id": 2}), 400, CodeInvalid, "location_id:"},
		{"unknown field", good(map[string]any{"colour": "red"}), 400, CodeInvalid, "colour:"},
		{"central field", good(map[string]any{"data_store_group_id": "3"}), 501, CodeNotImplemented, "data_store_group_id:"},
		{"another network", good(map[string]any{"primary_network_id": "2"}), 404, CodeNotFound, "primary_network_id:"},
		{"secondary disk 0 of 2", good(map[string]any{"secondary_disk_size": []any{"2", 0}}), 400, CodeInvalid, "secondary_disk_size[1]:"},
		{"secondary disk over the quota", good(map[string]any{"secondary_disk_size": []any{"2", "200"}}), 403, CodeQuota, "secondary_disk_size[1]:"},
		{"swap not a number", good(map[string]any{"swap_disk_size": "x"}), 400, CodeInvalid, "swap_disk_size:"},
		{"rate limit negative", good(map[string]any{"rate_limit": "-1"}), 400, CodeInvalid, "rate_limit:"},
		{"too large", `{"note": "` + strings.Repeat("x", 70<<10) + `"}`, 413, CodeTooLarge, "body:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(aliceKey, "POST", create, tc.body)
			if r.status != tc.status || r.obj()["code"] != tc.code || !strings.HasPrefix(r.obj()["message"].(string), tc.field) {
				t.Fatalf("got %d %s, want %d %s %q", r.status, r.raw, tc.status, tc.code, tc.field)
			}
		})
	}
	if r := a.must(200, aliceKey, "GET", acctPath(a.alice)+"/virtual_machines", nil); len(r.list()) != 0 {
		t.Fatalf("a refused create left a VM: %s", r.raw)
	}
	r := a.do(aliceKey, "PATCH", create, nil)
	if r.status != 405 || r.obj()["code"] != CodeMethod || r.header.Get("Allow") == "" {
		t.Fatalf("PATCH: %d %s %v", r.status, r.raw, r.header)
	}
}

// The document's password rule is this face's: 6 to 32 of [A-Za-z0-9_-],
// below the 8 the Gandi faces ask. The VM keeps the password's hash.
func TestPasswordRule(t *testing.T) {
	a := newAgent(t)
	for _, pw := range []string{"ab_-c6", strings.Repeat("Z9", 16)} {
		r := a.must(202, aliceKey, "POST", acctPath(a.alice)+"/virtual_machine", map[string]any{
			"memory": "256", "cpus": "1", "label": "l", "primary_disk_size": "1", "hostname": "pw" + strconv.Itoa(len(pw)),
			"template_id": strconv.FormatInt(a.template, 10), "initial_root_password": pw})
		if got := r.obj()["initial_password"]; got != pw {
			t.Fatalf("initial_password %v, want %q", got, pw)
		}
		id, _ := strconv.ParseInt(r.obj()["id"].(string), 10, 64)
		a.st.View(func(tx *store.Tx) {
			if v, _ := tx.VM(id); v.Provision == nil || !passwd.Verify(v.Provision.Password, pw) {
				t.Errorf("vm %d does not keep the hash of %q: %+v", id, pw, v.Provision)
			}
		})
		a.wait(aliceKey, a.alice, r)
	}
}

// TestLifecycle drives a VM through the document's calls, as its curl
// examples send them (numbers as strings).
func TestLifecycle(t *testing.T) { lifecycle(t, newAgent(t)) }

func lifecycle(t *testing.T, a *agent) {
	create := a.must(202, aliceKey, "POST", acctPath(a.alice)+"/virtual_machine", map[string]any{
		"memory": "256", "cpus": "1", "label": "pruebaApi", "primary_disk_size": "1", "swap_disk_size": "1", "secondary_disk_size": []any{"1", 2},
		"hostname": "pruebaApi", "location_id": 1, "template_id": strconv.FormatInt(a.template, 10), "rate_limit": "0"})
	vm := create.obj()
	if vm["status"] != "unbuilt" || vm["locked"] != 1.0 || len(vm["initial_password"].(string)) != 16 || vm["hostname"] != "pruebaApi" {
		t.Fatalf("create: %s", create.raw)
	}
	if loc := create.header.Get("Location"); !strings.HasPrefix(loc, acctPath(a.alice)+"/operation/") {
		t.Fatalf("Location %q", loc)
	}
	a.wait(aliceKey, a.alice, create)
	id := vm["id"].(string)
	a.st.View(func(tx *store.Tx) {
		n, _ := strconv.ParseInt(id, 10, 64)
		if v, _ := tx.VM(n); v.Provision == nil || v.Provision.Run != swapScript {
			t.Errorf("the first boot does not make the swap disk swap: %+v", v.Provision)
		}
	})
	path := a.vmPath(a.alice, id)
	got := a.must(200, aliceKey, "GET", path, nil).obj()
	if got["status"] != "online" || got["locked"] != 0.0 || got["initial_password"] != nil || got["template_id"] != strconv.FormatInt(a.template, 10) {
		t.Fatalf("get: %v", got)
	}
	if l := a.must(200, aliceKey, "GET", acctPath(a.alice)+"/virtual_machines?status=online&hostname=prueba", nil).list(); len(l) != 1 {
		t.Fatalf("list: %v", l)
	}
	if l := a.must(200, bobKey, "GET", acctPath(a.bob)+"/virtual_machines", nil).list(); len(l) != 0 {
		t.Fatalf("bob sees %v", l)
	}
	if r := a.must(404, bobKey, "GET", a.vmPath(a.bob, id), nil); !strings.HasPrefix(r.obj()["message"].(string), "virtual_machine_id: ") {
		t.Fatalf("404: %s", r.raw)
	}

	// Edit: memory above the ceiling raises it too; label and note.
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"memory": "1024"}))
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"label": "NewLabel", "note": "This is a note.", "cpus": "2"}))
	got = a.must(200, aliceKey, "GET", path, nil).obj()
	if got["memory"] != 1024.0 || got["label"] != "NewLabel" || got["note"] != "This is a note." || got["cpus"] != 2.0 {
		t.Fatalf("after edit: %v", got)
	}
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"primary_disk_size": "2"}))
	disks := a.must(200, aliceKey, "GET", path+"/disks", nil).list()
	if len(disks) != 4 || disks[0].(map[string]any)["size"] != 2.0 || disks[0].(map[string]any)["primary"] != true ||
		disks[1].(map[string]any)["label"] != "pruebaApi-swap" || disks[3].(map[string]any)["size"] != 2.0 || disks[3].(map[string]any)["label"] != "pruebaApi-data2" {
		t.Fatalf("disks: %v", disks)
	}
	if r := a.do(aliceKey, "PUT", path, map[string]any{"status": "offline", "label": "x"}); r.status != 400 || !strings.HasPrefix(r.obj()["message"].(string), "label:") {
		t.Fatalf("status with label: %d %s", r.status, r.raw)
	}
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"hostname": "NewHostname"}))
	if h := a.must(200, aliceKey, "GET", path, nil).obj()["hostname"]; h != "NewHostname" {
		t.Fatalf("hostname: %v", h)
	}
	a.must(400, aliceKey, "PUT", path, map[string]any{"hostname": "9lives"})

	// Power.
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"status": "offline"}))
	if s := a.must(200, aliceKey, "GET", path, nil).obj()["status"]; s != "offline" {
		t.Fatalf("after offline: %v", s)
	}
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"status": "online"}))
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "POST", path+"/reboot", nil))
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"status": "offline", "force": "true"}))
	if s := a.must(200, aliceKey, "GET", path, nil).obj()["status"]; s != "offline" {
		t.Fatalf("after forced offline: %v", s)
	}
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"status": "online"}))

	// Network.
	ifaces := a.must(200, aliceKey, "GET", path+"/network_interfaces", nil).list()
	if len(ifaces) != 1 || ifaces[0].(map[string]any)["rate_limit"] != 0.0 || ifaces[0].(map[string]any)["label"] != "eth0" {
		t.Fatalf("ifaces: %v", ifaces)
	}
	ips := a.must(200, aliceKey, "GET", path+"/ip_addresses", nil).list()
	if len(ips) != 1 || !strings.HasPrefix(ips[0].(map[string]any)["address"].(string), "10.0.0.") {
		t.Fatalf("ips: %v", ips)
	}
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "POST", path+"/apply_firewall_rules", map[string]any{
		"policy": "drop", "rules": []any{map[string]any{"command": "accept", "protocol": "tcp", "port": "22"}}}))
	rules := a.must(200, aliceKey, "GET", path+"/firewall_rules?command=accept", nil).list()
	if len(rules) != 1 || rules[0].(map[string]any)["port"] != "22" || rules[0].(map[string]any)["policy"] != "drop" {
		t.Fatalf("rules: %v", rules)
	}

	// Day two.
	pw := a.must(202, aliceKey, "POST", path+"/reset_password", nil)
	if p, _ := pw.obj()["password"].(string); len(p) != 16 {
		t.Fatalf("reset_password: %s", pw.raw)
	}
	a.wait(aliceKey, a.alice, pw)
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"template_id": strconv.FormatInt(a.template, 10)}))
	if s := a.must(200, aliceKey, "GET", path, nil).obj()["status"]; s != "online" {
		t.Fatalf("after rebuild: %v", s)
	}
	if l := a.must(200, aliceKey, "GET", path+"/snapshots", nil).list(); len(l) != 0 {
		t.Fatalf("snapshots: %v", l)
	}
	a.must(202, aliceKey, "DELETE", path+"/snapshots", nil)
	if l := a.must(200, aliceKey, "GET", path+"/isos", nil).list(); len(l) != 0 {
		t.Fatalf("isos: %v", l)
	}

	// Locks: the operator's, seen by the account.
	a.must(403, aliceKey, "POST", path+"/lock", map[string]any{"description": "maintenance"})
	a.must(200, operatorKey, "POST", path+"/lock", map[string]any{"description": "maintenance"})
	locks := a.must(200, aliceKey, "GET", path+"/locks", nil).list()
	if len(locks) != 1 || locks[0].(map[string]any)["lock_type"] != "Admin" {
		t.Fatalf("locks: %v", locks)
	}
	if got := a.must(200, aliceKey, "GET", path, nil).obj(); got["locked"] != 1.0 || got["status"] != "online" {
		t.Fatalf("locked VM: %v", got)
	}
	a.must(409, aliceKey, "POST", path+"/reboot", nil)
	a.must(200, operatorKey, "DELETE", path+"/lock", nil)

	// Clone, on this host.
	clone := a.must(202, aliceKey, "POST", path+"/clone", map[string]any{"hostname": "clone1", "label": "clone", "required_startup": "true"})
	a.wait(aliceKey, a.alice, clone)
	cid := clone.obj()["id"].(string)
	if got := a.must(200, aliceKey, "GET", a.vmPath(a.alice, cid), nil).obj(); got["memory"] != 1024.0 || got["hostname"] != "clone1" || got["status"] != "online" {
		t.Fatalf("clone: %v", got)
	}
	// The document's default: built, then off.
	off := a.must(202, aliceKey, "POST", path+"/clone", map[string]any{"hostname": "clone2", "label": "clone", "cpus": 1})
	a.wait(aliceKey, a.alice, off)
	oid := off.obj()["id"].(string)
	if got := a.must(200, aliceKey, "GET", a.vmPath(a.alice, oid), nil).obj(); got["status"] != "offline" || got["cpus"] != 1.0 {
		t.Fatalf("clone, required_startup absent: %v", got)
	}
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "DELETE", a.vmPath(a.alice, oid), nil))

	// A central tier's endpoints.
	for _, c := range [][2]string{{"GET", path + "/segregations"}, {"PUT", path + "/segregation/" + cid}, {"POST", path + "/template"}} {
		r := a.must(501, aliceKey, c[0], c[1], nil)
		if r.obj()["code"] != CodeNotImplemented {
			t.Fatalf("%v: %s", c, r.raw)
		}
	}

	// Delete: with every disk, the data disks too.
	for _, v := range []string{cid, id} {
		a.wait(aliceKey, a.alice, a.must(202, aliceKey, "DELETE", a.vmPath(a.alice, v), nil))
		a.must(404, aliceKey, "GET", a.vmPath(a.alice, v), nil)
	}
	n := 0
	a.st.View(func(tx *store.Tx) {
		tx.EachDisk(func(d *store.Disk) bool {
			if d.AccountID == a.alice {
				n++
			}
			return true
		})
	})
	if n != 0 {
		t.Fatalf("%d disks of alice's left after deleting her VMs", n)
	}
}

// A query parameter the list does not take is refused naming the ones it
// does, so a misspelled filter is fixed from the answer alone.
func TestListUnknownFilter(t *testing.T) {
	a := newAgent(t)
	r := a.must(400, aliceKey, "GET", acctPath(a.alice)+"/virtual_machines?colour=red", nil)
	const want = "colour: unknown filter: the list takes cpu_type, disk_type, hostname, id, ip_address, label, " +
		"location_id, locked, sort, status, suspended, type"
	if msg, _ := r.obj()["message"].(string); msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
}
