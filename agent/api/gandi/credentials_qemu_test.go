package gandi

import (
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// credsLine is the console line a guest prints when it reads vmID's seed
// as recorded now: its instance-id and the digest of its credentials.
func (q *qemuAgent) credsLine(vmID int64) string {
	v := q.vmRecord(vmID)
	var hashes []string
	if v.Provision.Password != "" {
		hashes = append(hashes, v.Provision.Password)
	}
	return guesttest.SeedLine(q.wf.InstanceID(v), guesttest.CredsDigest(hashes, v.Provision.AuthorizedKeys))
}

// New credentials reach a real guest: the running guest read its first
// seed; after vm.update's password and ssh_key and an agent reboot it
// reads the new seed (new instance-id, the new hash and key), and after
// reset_password and a stop and start, the next one. The busybox guest
// prints what it read (guesttest.CredsDigest); cloud-init would apply it.
func TestQEMUCredentialsReachGuest(t *testing.T) {
	t.Parallel()
	q := newQEMUAgent(t, 60*time.Second, 60*time.Second)
	vmID := q.boot("coop")
	first := q.credsLine(vmID)
	q.waitConsole(vmID, first, 1)

	op := q.mustCall(q.alice, "hosting.vm.update", vmID, map[string]any{"password": "qemu-pass-2", "ssh_key": testKey}).(map[string]any)
	q.mustDone(q.alice, op)
	second := q.credsLine(vmID)
	if second == first {
		t.Fatalf("the seed's line did not change: %s", second)
	}
	// Until the next boot the guest has read only the first seed.
	q.waitConsole(vmID, guesttest.ReadyMarker, 1)
	start := time.Now()
	o, _ := q.timedOp("hosting.vm.reboot", vmID)
	if p := rebootProgress(t, o); !p.FreshStart {
		t.Errorf("the reboot after new credentials was not a fresh start: %+v", p)
	}
	q.waitConsole(vmID, guesttest.ReadyMarker, 2)
	q.waitConsole(vmID, second, 1)
	t.Logf("new password and key: the guest read %q %v after the reboot was asked", second, time.Since(start).Round(time.Millisecond))

	res := q.mustCall(q.alice, "hosting.vm.reset_password", vmID).(map[string]any)
	pw := res["password"].(string)
	q.mustDone(q.alice, res)
	if !passwd.Verify(q.vmRecord(vmID).Provision.Password, pw) {
		t.Fatalf("the recorded hash does not verify the password reset_password returned")
	}
	third := q.credsLine(vmID)
	q.timedOp("hosting.vm.stop", vmID)
	q.timedOp("hosting.vm.start", vmID)
	q.waitConsole(vmID, guesttest.ReadyMarker, 3)
	q.waitConsole(vmID, third, 1)
	t.Logf("reset_password: the guest read %q after a stop and start", third)
	if v := q.vmRecord(vmID); v.SeedGen != 2 || v.RestartPending {
		t.Errorf("record: gen %d, restart pending %v", v.SeedGen, v.RestartPending)
	}
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.delete", vmID))
}
