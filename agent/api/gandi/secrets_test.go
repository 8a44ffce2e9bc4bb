package gandi

import (
	"io"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// logTo, when a test sets it, receives every log line (debug and up) of
// the agents it opens.
var logTo io.Writer

// No password, and no hash of one, is readable through any method or in
// the log: the create path (first-boot seed) and vm.update, in answers,
// operation.info/list, vm/disk/iface/ip info and lists, and faults.
func TestNoSecretIsReadable(t *testing.T) {
	logs := &syncBuffer{}
	logTo = logs
	t.Cleanup(func() { logTo = nil })
	a := newAgent(t, true)
	const first, second = "first-Pässword-1", "second-Pässword-2"

	var answers []any
	ask := func(c *service.Caller, method string, params ...any) any {
		t.Helper()
		v, f := a.call(c, method, params...)
		if f != nil {
			answers = append(answers, f.Error())
			return nil
		}
		answers = append(answers, v)
		return v
	}
	spec := vmSpec("secret")
	spec["password"] = first
	created := ask(a.alice, "hosting.vm.create_from", spec, map[string]any{}, a.image, map[string]any{"idempotency_key": "k1"})
	done := a.mustDone(a.alice, created)
	vmID := done[2]["vm_id"].(int64)
	ask(a.alice, "hosting.vm.create_from", spec, map[string]any{}, a.image, map[string]any{"idempotency_key": "k1"})
	upd := ask(a.alice, "hosting.vm.update", vmID, map[string]any{"password": second}, map[string]any{"idempotency_key": "k2"})
	answers = append(answers, ask(a.alice, "operation.info", upd.(map[string]any)["id"]))
	a.mustDone(a.alice, upd)
	ask(a.alice, "hosting.vm.update", vmID, map[string]any{"password": second}, map[string]any{"idempotency_key": "k2"})
	// Faults about a password say the rule, never the value.
	if ask(a.alice, "hosting.vm.update", vmID, map[string]any{"password": "short-é"}) != nil {
		t.Error("a 7-character password (8 bytes) was accepted")
	}
	ask(a.alice, "hosting.vm.update", vmID, map[string]any{"password": second, "colour": "red"})
	ask(a.alice, "hosting.vm.update", vmID, map[string]any{"password": second}, map[string]any{"idempotency_key": "k2", "vm_id": int64(9)})

	for _, o := range append(done, a.mustDone(a.alice, upd)...) {
		ask(a.alice, "operation.info", o["id"])
	}
	for _, m := range []string{"operation.list", "hosting.vm.list", "hosting.disk.list", "hosting.iface.list", "hosting.ip.list"} {
		ask(a.alice, m)
		ask(a.op, m)
	}
	info := ask(a.alice, "hosting.vm.info", vmID).(map[string]any)
	ask(a.alice, "hosting.disk.info", info["disks_id"].([]int64)[0])
	ask(a.alice, "hosting.iface.info", info["ifaces_id"].([]int64)[0])
	ask(a.alice, "hosting.account.info")

	// The VM's record holds the new hash (the next first boot needs it).
	var hash string
	a.st.View(func(tx *store.Tx) {
		v, _ := tx.VM(vmID)
		hash = v.Provision.Password
		tx.EachOperation(func(o *store.Operation) bool {
			// Every call above that was accepted has been waited for: an
			// unfinished operation here is one that should not exist.
			if !o.Finished() || len(o.Secrets) != 0 || o.Params["password"] != "" {
				t.Errorf("finished operation %d (%s, %s) keeps a secret: %v %v", o.ID, o.Type, o.Step, o.Secrets, o.Params)

			}
			return true
		})
	})
	if !strings.HasPrefix(hash, "$6$") {
		t.Fatalf("the VM's record has no password hash: %q", hash)
	}
	a.close()

	var wire strings.Builder
	for _, v := range answers {
		doc, err := xmlrpc.EncodeResponse(v)
		if err != nil {
			t.Fatal(err)
		}
		wire.Write(doc)
	}
	for what, text := range map[string]string{"API answers": wire.String(), "log": logs.String()} {
		for _, secret := range []string{first, second, hash, "$6$", "Pässword", "P&#228;ssword"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain %q", what, secret)
			}
		}
	}
	if !strings.Contains(logs.String(), "operation ended") {
		t.Errorf("the log capture saw nothing; the test proves nothing")
	}
}

// An operation an older agent journalled with the hash in its params is
// never rendered with it.
func TestLegacyPasswordParamIsNotRendered(t *testing.T) {
	a := newAgent(t, false)
	a.st.Update(func(tx *store.Tx) error {
		tx.PutOperation(store.Operation{ID: 77, AccountID: a.alice.AccountID, Type: "vm_update", Step: store.StepWait,
			Params: map[string]string{"password": "$6$legacy$hash", "memory": "512"}})
		return nil
	})
	info := a.mustCall(a.alice, "operation.info", int64(77)).(map[string]any)
	params := info["params"].(map[string]any)
	if _, ok := params["password"]; ok || params["memory"] != int64(512) {
		t.Fatalf("params = %v", params)
	}
}
