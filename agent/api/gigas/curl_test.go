package gigas

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// TestSeedCurlExamples runs the document's own curl command lines
// (testdata/seed_curl.txt, copied verbatim) with sh and curl, as its
// reader would: the URL, the key ($TOKEN, and "apitoken" in the create
// example) and the placeholders it leaves to the reader are the only
// changes. The Python 2 print statement its GET example pipes into is
// Python 3's print() here: the one change to a command itself.
func TestSeedCurlExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	// The create example names location 2: the test host is in it.
	a := newAgent(t, func(c *service.Config) { c.Datacenter.ID = 2 })
	f, err := os.Open("testdata/seed_curl.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "curl ") {
			lines = append(lines, l)
		}
	}
	find := func(substr string) string {
		for _, l := range lines {
			if strings.Contains(l, substr) {
				return l
			}
		}
		t.Fatalf("no example has %q", substr)
		return ""
	}
	tpl := strconv.FormatInt(a.template, 10)
	vmID := ""
	fill := func(l string) string {
		return strings.NewReplacer(
			"https://api.gigas.com", a.srv.URL,
			"ACCOUNT_ID", strconv.FormatInt(a.alice, 10),
			"VM_ID", vmID,
			"TEMPLATE_ID", tpl,
			`"1789310154"`, strconv.Quote(tpl), // the create example's template
			`"Authorization: apitoken"`, `"Authorization: $TOKEN"`,
			`"NN"`, `"6"`, // primary_disk_size, GB: the create example made 5
			`"default|cdrom"`, `"default"`,
			`"intel|amd"`, `"intel"`,
			`"NETWORK_ID"`, `"1"`,
			`"true|false"`, `"false"`,
			`"ethN"`, `"eth1"`,
			`"0|50|100"`, `"50"`,
			`print json.load(sys.stdin)['status']`, `print(json.load(sys.stdin)['status'])`,
		).Replace(l)
	}
	// run runs an example and returns its status (curl -i) and body.
	run := func(l string) (int, string) {
		t.Helper()
		cmd := exec.Command("sh", "-c", fill(l))
		cmd.Env = append(os.Environ(), "TOKEN="+aliceKey)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", fill(l), err)
		}
		head, body, _ := strings.Cut(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n\n")
		if !strings.HasPrefix(head, "HTTP/") { // curl -s: the body only
			return 0, string(out)
		}
		code, _ := strconv.Atoi(strings.Fields(head)[1])
		return code, body
	}
	// wait polls a 202's operations until they end.
	wait := func(body string) {
		t.Helper()
		var r reply
		if err := json.Unmarshal([]byte(body), &r.body); err != nil {
			t.Fatalf("not JSON: %q", body)
		}
		a.wait(aliceKey, a.alice, r)
	}

	status, body := run(find("POST https://api.gigas.com/account/ACCOUNT_ID/virtual_machine -d"))
	if status != 202 {
		t.Fatalf("create: %d %s", status, body)
	}
	var vm map[string]any
	json.Unmarshal([]byte(body), &vm)
	vmID = vm["id"].(string)
	wait(body)

	for _, tc := range []struct {
		example string // a substring naming the example
		status  int
	}{
		{`{"memory": "1024"}`, 202},
		{`{"cpus": "4"}`, 202},
		{`{"label": "NewLabel"}`, 202},
		{`{"hostname": "NewHostname"}`, 202},
		{`{"primary_disk_size": "NN"}`, 202},
		{`{"note": "This is a note."}`, 202},
		{`{"cpu_type": "intel|amd"}`, 501},      // the host's CPU is what it is
		{`{"boot_type": "default|cdrom"}`, 400}, // default already: an edit that changes nothing (cdrom needs an ISO)
		{`{"template_id": "TEMPLATE_ID"}`, 202},
		{`{"status": "offline", "force": "true"}`, 202},
		{`{"status": "online"}`, 202},
		{`VM_ID/reboot`, 202},
		{`VM_ID/disks`, 200},
		{`VM_ID/network_interface -d`, 412}, // the VM has its interface on the host's one, public, network
		{`VM_ID/network_interfaces`, 200},
		{`VM_ID/ip_addresses`, 200},
		{`-X GET https://api.gigas.com/account/ACCOUNT_ID/virtual_machine/VM_ID/snapshots`, 200},
		{`-X DELETE https://api.gigas.com/account/ACCOUNT_ID/virtual_machine/VM_ID/snapshots`, 202},
	} {
		status, body := run(find(tc.example))
		if status != tc.status {
			t.Fatalf("%s: %d, want %d: %s", tc.example, status, tc.status, body)
		}
		if status == 202 {
			wait(body)
		}
	}
	if _, out := run(find("| python -c")); strings.TrimSpace(out) != "online" {
		t.Fatalf("GET | python: %q", out)
	}
	got := a.must(200, aliceKey, "GET", a.vmPath(a.alice, vmID), nil).obj()
	if got["memory"] != 1024.0 || got["cpus"] != 4.0 || got["label"] != "NewLabel" || got["note"] != "This is a note." {
		t.Fatalf("after the examples: %v", got)
	}
	if n := len(a.must(200, aliceKey, "GET", a.vmPath(a.alice, vmID)+"/network_interfaces", nil).list()); n != 1 {
		t.Fatalf("%d interfaces, want 1 (the example's second gets 412)", n)
	}
	status, body = run(find("-X DELETE https://api.gigas.com/account/ACCOUNT_ID/virtual_machine/VM_ID -H"))
	if status != 202 {
		t.Fatalf("delete: %d %s", status, body)
	}
	wait(body)
	a.must(404, aliceKey, "GET", a.vmPath(a.alice, vmID), nil)
}
