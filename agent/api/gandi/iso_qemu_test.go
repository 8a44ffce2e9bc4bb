package gandi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// A real QEMU guest boots from an ISO the test builds (isolinux boots the
// coop guest with guesttest.ISOMarker on its command line, which the
// kernel prints on the serial console), and from its system disk again
// once the ISO is detached.
func TestQEMUBootFromISO(t *testing.T) {
	guesttest.RequireQEMU(t)
	guesttest.RequireISOTools(t)
	q := newQEMUAgent(t, 60*time.Second, 60*time.Second)
	iso := filepath.Join(q.dir, "rescue.iso")
	if err := guesttest.BuildISO(iso, filepath.Join(guests(t), "coop")); err != nil {
		t.Fatal(err)
	}
	if err := q.wf.EnsureISO(context.Background(), workflow.ISOSpec{Label: "rescue", File: iso}); err != nil {
		t.Fatal(err)
	}
	isoID := q.mustCall(q.alice, "hosting.iso.list").([]any)[0].(map[string]any)["id"].(int64)
	vmID := q.boot("coop") // from its system disk's kernel: one ready marker
	log := filepath.Join(q.consoles, workflow.DomainName(vmID)+".log")
	isoBoots := func() int {
		b, _ := os.ReadFile(log)
		return strings.Count(string(b), guesttest.ISOMarker)
	}

	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.iso_attach", vmID, isoID))
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.boot_type", vmID, "cdrom"))
	if n := isoBoots(); n != 0 {
		t.Fatalf("the running guest booted from the CD %d times before any reboot", n)
	}
	start := time.Now()
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.reboot", vmID)) // a fresh start: the change is pending
	q.waitConsole(vmID, guesttest.ISOMarker, 1)
	q.waitConsole(vmID, guesttest.ReadyMarker, 2)
	t.Logf("reboot into the ISO: ISO marker and guest ready %v after the call", time.Since(start).Round(time.Millisecond))
	fromCD := isoBoots()
	x := q.domainXMLLive(vmID)
	if !strings.Contains(x, `device="cdrom"`) || !strings.Contains(x, iso) {
		t.Fatalf("running definition has no CD-ROM of %s:\n%s", iso, x)
	}

	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.iso_detach", vmID))
	start = time.Now()
	q.mustDone(q.alice, q.mustCall(q.alice, "hosting.vm.reboot", vmID))
	q.waitConsole(vmID, guesttest.ReadyMarker, 3)
	t.Logf("reboot from the disk after the detach: guest ready %v after the call", time.Since(start).Round(time.Millisecond))
	if n := isoBoots(); n != fromCD {
		t.Fatalf("ISO marker seen %d times after booting from the disk again, want %d (the CD boot's only)", n, fromCD)
	}
	if x := q.domainXMLLive(vmID); strings.Contains(x, "cdrom") {
		t.Fatalf("running definition still has a CD-ROM after the detach:\n%s", x)
	}
}

// domainXMLLive is the definition as libvirt keeps it, quotes made double.
func (q *qemuAgent) domainXMLLive(vmID int64) string {
	q.t.Helper()
	x, err := q.hv.DomainXMLOf(context.Background(), workflow.DomainName(vmID))
	if err != nil {
		q.t.Fatal(err)
	}
	return strings.ReplaceAll(x, "'", `"`)
}
