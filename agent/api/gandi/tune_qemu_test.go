package gandi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// cpu_shares on a real QEMU guest: vm.update changes the running
// domain's weight as libvirt reports it (virsh schedinfo's cpu_shares,
// read through virDomainGetSchedulerParameters), live where the host
// allows and otherwise at the next start; the definition keeps it, so a
// stop and a start come back with it.
func TestQEMUCPUShares(t *testing.T) {
	q := newQEMUAgent(t, 30*time.Second, 30*time.Second)
	id := q.boot("coop")
	name := workflow.DomainName(id)
	ctx := context.Background()
	before, err := q.hv.CPUShares(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.update", id, map[string]any{"cpu_shares": int64(300)}))
	var v store.VM
	q.st.View(func(tx *store.Tx) { v, _ = tx.VM(id) })
	live, err := q.hv.CPUShares(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cpu shares %d before, %d after the update (restart pending: %v)", before, live, v.RestartPending)
	switch {
	case v.RestartPending && live != before:
		t.Errorf("refused live (restart pending) yet changed from %d to %d", before, live)
	case !v.RestartPending && live != 300:
		t.Errorf("live cpu shares %d, want 300", live)
	}
	x, err := q.hv.DomainXMLOf(ctx, name)
	if err != nil || !strings.Contains(x, "<shares>300</shares>") {
		t.Fatalf("definition without <shares>300</shares> (%v):\n%s", err, x)
	}
	for _, m := range []string{"hosting.vm.stop", "hosting.vm.start"} {
		q.timedOp(m, id)
	}
	if got, err := q.hv.CPUShares(ctx, name); err != nil || got != 300 {
		t.Fatalf("after a stop and a start: cpu shares %d, %v; want 300", got, err)
	}
	if got := q.mustCall(q.alice, "hosting.vm.info", id).(map[string]any)["cpu_shares"]; got != int64(300) {
		t.Errorf("vm.info cpu_shares = %#v", got)
	}
}
