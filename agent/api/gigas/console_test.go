package gigas

import (
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// The document's remote_console has no activation step: a client that
// follows only the document gets a link for a running VM, the face
// activating the console itself; an offline VM's is 409. The console
// extension turns it off (revoking the links) and a later request turns
// it on again.
func TestRemoteConsole(t *testing.T) {
	a := newAgent(t)
	id := a.createVM("con1")
	path := a.vmPath(a.alice, id)
	c := &service.Caller{AccountID: a.alice}
	console := func() int64 {
		info, err := a.svc.VM(c, vmID(t, id))
		if err != nil {
			t.Fatal(err)
		}
		return info.Console
	}
	if console() != 0 {
		t.Fatalf("console active on a new VM")
	}
	for range 2 {
		con := a.must(200, aliceKey, "GET", path+"/remote_console", nil).obj()
		if !strings.HasPrefix(con["url"].(string), "http://agent.test:8080/console/") || con["virtual_machine_id"] != id || con["type"] != "web" {
			t.Fatalf("console: %v", con)
		}
		if console() != 1 {
			t.Fatalf("console not active after the link")
		}
		a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"console": false}))
		if console() != 0 {
			t.Fatalf(`console active after {"console": false}`)
		}
	}
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"status": "offline", "force": true}))
	r := a.must(409, aliceKey, "GET", path+"/remote_console", nil)
	if msg, _ := r.obj()["message"].(string); !strings.HasPrefix(msg, "virtual_machine_id: ") || !strings.Contains(msg, "offline") {
		t.Fatalf("offline VM: %s", r.raw)
	}
	if console() != 0 {
		t.Fatalf("console activated on an offline VM")
	}
}
