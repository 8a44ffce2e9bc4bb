package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vm pause, vm resume and vm stop|reboot -force against an agent.
func TestPowerVerbs(t *testing.T) {
	url, image := inProcessAgent(t)
	must := func(args ...string) string {
		t.Helper()
		var out, status bytes.Buffer
		e := &env{c: newClient(url, aliceKey), out: &out, status: &status, poll: 10 * time.Millisecond, now: time.Now}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := run(ctx, e, args); err != nil {
			t.Fatalf("xenagentctl %q: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	must("call", "hosting.vm.create_from", `{"datacenter_id": 1, "hostname": "web1", "memory": 256}`, `{}`, strconv.FormatInt(image, 10), "-wait")
	for _, step := range []struct {
		args  []string
		ends  string
		state string
	}{
		{[]string{"vm", "pause", "1", "-wait"}, "vm_pause DONE\n", "paused"},
		{[]string{"vm", "resume", "1", "-wait"}, "vm_resume DONE\n", "running"},
		{[]string{"vm", "reboot", "1", "-force", "-wait"}, "vm_reboot DONE\n", "running"},
		{[]string{"vm", "stop", "-force", "1", "-wait"}, "vm_stop DONE\n", "halted"},
	} {
		if out := must(step.args...); !strings.HasSuffix(out, step.ends) {
			t.Fatalf("%q printed %q", step.args, out)
		}
		if out := must("vm", "list", "--state", step.state); !strings.Contains(out, "web1") {
			t.Fatalf("after %q, vm list --state %s:\n%s", step.args, step.state, out)
		}
	}
	if out := must("op", "list", "--type", "vm_stop", "-o", "json"); !strings.Contains(out, `"force"`) {
		t.Errorf("the force stop's params do not say force:\n%s", out)
	}
}
