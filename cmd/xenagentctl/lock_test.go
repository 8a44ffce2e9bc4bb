package main

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// vm lock, locks and unlock against a whole agent: the description is
// the words after the id, a locked VM's stop is refused with the lock
// named, an account's key may not lock, and a missing description is a
// usage error (exit 2) sent nowhere.
func TestVMLockCommands(t *testing.T) {
	url, image := inProcessAgent(t)
	ctl := func(key string, args ...string) (string, error) {
		var out, status bytes.Buffer
		e := &env{c: newClient(url, key), out: &out, status: &status, poll: 10 * time.Millisecond, now: time.Now}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := run(ctx, e, args)
		return out.String(), err
	}
	must := func(key string, args ...string) string {
		t.Helper()
		out, err := ctl(key, args...)
		if err != nil {
			t.Fatalf("xenagentctl %q: %v\n%s", args, err, out)
		}
		return out
	}
	must(aliceKey, "call", "hosting.vm.create_from", `{"datacenter_id": 1, "hostname": "web1", "memory": 256}`, `{}`, strconv.FormatInt(image, 10), "-wait")

	out := must(opKey, "vm", "lock", "1", "legal", "hold,", "ticket", "4711")
	if !strings.Contains(out, `"description": "legal hold, ticket 4711"`) || !strings.Contains(out, `"lock_type": "admin"`) {
		t.Errorf("vm lock printed:\n%s", out)
	}
	out = must(aliceKey, "vm", "locks", "1")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "admin") || !strings.Contains(lines[1], "legal hold, ticket 4711") {
		t.Errorf("vm locks:\n%s", out)
	}
	if out := must(aliceKey, "vm", "list", "--state", "locked"); !strings.Contains(out, "web1") {
		t.Errorf("vm list --state locked:\n%s", out)
	}
	var f *xmlrpc.Fault
	if _, err := ctl(aliceKey, "vm", "stop", "1"); !errors.As(err, &f) || !strings.Contains(f.Message, `"legal hold, ticket 4711"`) {
		t.Errorf("vm stop of the locked vm: %v, want a fault naming the lock", err)
	}
	if _, err := ctl(aliceKey, "vm", "lock", "1", "mine"); !errors.As(err, &f) || f.Code != 518030 {
		t.Errorf("vm lock with an account's key: %v, want fault 518030", err)
	}
	var u *usageError
	if _, err := ctl(opKey, "vm", "lock", "1"); !errors.As(err, &u) {
		t.Errorf("vm lock without a description: %v, want a usage error", err)
	}
	if out := must(opKey, "vm", "unlock", "1"); !strings.Contains(out, `"description": "legal hold, ticket 4711"`) {
		t.Errorf("vm unlock printed:\n%s", out)
	}
	if out := must(aliceKey, "vm", "stop", "1", "-wait"); !strings.HasSuffix(out, "vm_stop DONE\n") {
		t.Errorf("vm stop after the unlock printed %q", out)
	}
}
