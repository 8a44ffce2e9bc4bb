package gigas

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// doIdem sends a request with an Idempotency-Key.
func (a *agent) doIdem(key, idem, method, path string, body any) reply {
	a.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, a.srv.URL+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", key)
	req.Header.Set(IdempotencyHeader, idem)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := reply{status: resp.StatusCode, header: resp.Header}
	out.raw, _ = io.ReadAll(resp.Body)
	json.Unmarshal(out.raw, &out.body)
	a.seen = append(a.seen, observed{method: method, path: path, reply: out})
	return out
}

func opIDs(r reply) []string {
	var out []string
	for _, o := range r.obj()["operations"].([]any) {
		out = append(out, o.(map[string]any)["id"].(string))
	}
	return out
}

func TestIdempotencyKey(t *testing.T) {
	a := newAgent(t)
	create := acctPath(a.alice) + "/virtual_machine"
	spec := map[string]any{"memory": "256", "cpus": "1", "label": "l", "primary_disk_size": "1", "hostname": "idem1",
		"template_id": strconv.FormatInt(a.template, 10), "swap_disk_size": "1"}
	first := a.doIdem(aliceKey, "create-1", "POST", create, spec)
	again := a.doIdem(aliceKey, "create-1", "POST", create, spec)
	if first.status != 202 || again.status != 202 || first.obj()["id"] != again.obj()["id"] || again.obj()["initial_password"] != nil ||
		first.obj()["initial_password"] == nil || len(opIDs(first)) != 4 || !equal(opIDs(first), opIDs(again)) {
		t.Fatalf("retried create:\n%s\n%s", first.raw, again.raw)
	}
	a.wait(aliceKey, a.alice, first)
	if n := len(a.must(200, aliceKey, "GET", acctPath(a.alice)+"/virtual_machines", nil).list()); n != 1 {
		t.Fatalf("%d VMs after a retried create", n)
	}
	spec["hostname"] = "idem2"
	if r := a.doIdem(aliceKey, "create-1", "POST", create, spec); r.status != 409 || r.obj()["code"] != CodeDuplicate {
		t.Fatalf("the key on another call: %d %s", r.status, r.raw)
	}
	path := a.vmPath(a.alice, first.obj()["id"].(string))

	// An edit of two kinds is two service calls, each with its key.
	edit := map[string]any{"memory": "512", "boot_type": "default"}
	e1 := a.doIdem(aliceKey, "edit-1", "PUT", path, edit)
	e2 := a.doIdem(aliceKey, "edit-1", "PUT", path, edit)
	if e1.status != 202 || len(opIDs(e1)) != 2 || !equal(opIDs(e1), opIDs(e2)) {
		t.Fatalf("retried edit:\n%s\n%s", e1.raw, e2.raw)
	}
	a.wait(aliceKey, a.alice, e1)

	// A retried delete of what is gone gets the first answer, not 404.
	d1 := a.doIdem(aliceKey, "delete-1", "DELETE", path, nil)
	a.wait(aliceKey, a.alice, d1)
	d2 := a.doIdem(aliceKey, "delete-1", "DELETE", path, nil)
	if d1.status != 202 || d2.status != 202 || !equal(opIDs(d1), opIDs(d2)) {
		t.Fatalf("retried delete:\n%s\n%s", d1.raw, d2.raw)
	}
	// Bob's key of the same name is his own.
	if r := a.doIdem(bobKey, "delete-1", "DELETE", a.vmPath(a.bob, first.obj()["id"].(string)), nil); r.status != 404 {
		t.Fatalf("bob's retry: %d %s", r.status, r.raw)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A call of several steps refused after its first was accepted (an edit
// of memory and disk, the disk past the quota): a retry with its key is
// not answered 202 with the first step's operations, as if all of it had
// been done, but 409 naming them; its refused step is not retried under
// the key. A call whose every step was accepted is replayed whole.
func TestIdempotencyKeyPartial(t *testing.T) {
	a := newAgent(t, func(c *service.Config) { c.Quotas.Default = service.Resources{DiskMB: 1100} })
	path := a.vmPath(a.alice, a.createVM("partial"))
	for _, tc := range []struct {
		name   string
		body   map[string]any
		first  int
		retry  int
		answer string
	}{
		{"second step refused", map[string]any{"memory": "512", "primary_disk_size": "2"}, 403, 409, "Idempotency-Key: the call first made with this key stopped after operation "},
		{"every step accepted", map[string]any{"memory": "384", "rate_limit": "50"}, 202, 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := a.doIdem(aliceKey, tc.name, "PUT", path, tc.body)
			if first.status != tc.first {
				t.Fatalf("first call: %d %s, want %d", first.status, first.raw, tc.first)
			}
			retry := a.doIdem(aliceKey, tc.name, "PUT", path, tc.body)
			if retry.status != tc.retry {
				t.Fatalf("retry: %d %s, want %d", retry.status, retry.raw, tc.retry)
			}
			if tc.retry == 202 {
				if !equal(opIDs(first), opIDs(retry)) {
					t.Fatalf("retry's operations %v, first's %v", opIDs(retry), opIDs(first))
				}
				a.wait(aliceKey, a.alice, first)
				return
			}
			if msg, _ := retry.obj()["message"].(string); retry.obj()["code"] != CodeConflict || !strings.HasPrefix(msg, tc.answer) || !strings.Contains(msg, "vm_update") {
				t.Fatalf("retry: %s, want %s %q... naming the vm_update", retry.raw, CodeConflict, tc.answer)
			}
		})
	}
}
