package gigas

import (
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

// opCount counts the operations the agent holds.
func (a *agent) opCount() int {
	n := 0
	a.st.View(func(tx *store.Tx) {
		tx.EachOperation(func(*store.Operation) bool { n++; return true })
	})
	return n
}

// A PUT edit that changes nothing is refused (400 missing_parameter,
// naming each field that holds its value already), as the service
// refuses a vm_update that changes nothing; one that changes something
// is accepted. status offline of an offline VM answers 200 with the VM
// and queues nothing.
func TestNoOpPuts(t *testing.T) {
	a := newAgent(t)
	id := a.createVM("noop2") // 256 MB, 1 cpu, label noop2, 1 GB
	path := a.vmPath(a.alice, id)
	for _, tc := range []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{"memory": "256"}, "body: nothing to change: memory is 256 already"},
		{map[string]any{"memory": 256, "cpus": "1", "label": "noop2", "hostname": "noop2", "primary_disk_size": 1, "boot_type": "default", "cpu_shares": 0, "console": false},
			`body: nothing to change: memory is 256 already; cpus is 1 already; label is "noop2" already; hostname is "noop2" already; cpu_shares is 0 already; console is false already; primary_disk_size is 1 GB already; boot_type is default already`},
		{map[string]any{"max_memory": "1024", "noreboot": true}, "body: nothing to change: max_memory and noreboot are ignored"},
	} {
		before := a.opCount()
		r := a.must(400, aliceKey, "PUT", path, tc.body)
		if msg, _ := r.obj()["message"].(string); r.obj()["code"] != CodeMissing || !strings.HasPrefix(msg, tc.msg) {
			t.Fatalf("%v: %s, want %q", tc.body, r.raw, tc.msg)
		}
		if n := a.opCount(); n != before {
			t.Fatalf("%v: %d operations, was %d", tc.body, n, before)
		}
	}
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"memory": "256", "cpus": "2"}))

	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"status": "offline", "force": true}))
	for _, body := range []map[string]any{{"status": "offline"}, {"status": "offline", "force": "true"}} {
		before := a.opCount()
		r := a.must(200, aliceKey, "PUT", path, body)
		if vm := r.obj(); vm["id"] != id || vm["status"] != "offline" || vm["locked"] != 0.0 || vm["operations"] != nil {
			t.Fatalf("%v on an offline VM: %s", body, r.raw)
		}
		if n := a.opCount(); n != before {
			t.Fatalf("%v on an offline VM: %d operations, was %d", body, n, before)
		}
	}
	a.wait(aliceKey, a.alice, a.must(202, aliceKey, "PUT", path, map[string]any{"status": "online"}))
}
