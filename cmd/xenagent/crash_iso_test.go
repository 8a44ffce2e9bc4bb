package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A kill -9 at every step boundary of vm_iso_attach, vm_iso_detach and
// vm_boot_type, on the test driver (its domains vanish with the agent):
// after a restart the operation ends DONE, the client's retry with the
// same idempotency key gets the same operation, the VM's record says what
// the call asked, and the VM reboots, stops and starts from a definition
// made again from the records.
func TestCrashDuringISOOperations(t *testing.T) {
	type want struct {
		iso  bool
		boot string
	}
	cases := []struct {
		op      string
		prepare []func(l *lab, vm, iso int64)
		call    func(vm, iso int64) (string, []any)
		want    want
	}{
		{op: "vm_iso_attach",
			call: func(vm, iso int64) (string, []any) { return "hosting.vm.iso_attach", []any{vm, iso} },
			want: want{iso: true, boot: "default"}},
		{op: "vm_boot_type", prepare: []func(l *lab, vm, iso int64){attachISO},
			call: func(vm, iso int64) (string, []any) { return "hosting.vm.boot_type", []any{vm, "cdrom"} },
			want: want{iso: true, boot: "cdrom"}},
		{op: "vm_iso_detach", prepare: []func(l *lab, vm, iso int64){attachISO, bootCDROM},
			call: func(vm, iso int64) (string, []any) { return "hosting.vm.iso_detach", []any{vm} },
			want: want{iso: false, boot: "default"}},
	}
	for _, c := range cases {
		for _, b := range []string{"begin:record", "done:record", "begin:define", "done:define"} {
			fp := c.op + ":" + b
			t.Run(fp, func(t *testing.T) {
				l := newDriverLab(t)
				iso := filepath.Join(l.dir, "rescue.iso")
				img := make([]byte, 64<<10)
				copy(img[0x8001:], "CD001")
				os.WriteFile(iso, img, 0o644)
				f, _ := os.OpenFile(l.conf, os.O_APPEND|os.O_WRONLY, 0)
				fmt.Fprintf(f, "[[isos]]\nlabel = \"rescue\"\nfile = %q\n", iso)
				f.Close()
				l.start(fp)
				made := l.done("hosting.vm.create_from",
					map[string]any{"datacenter_id": int64(1), "hostname": "cd", "memory": int64(256)},
					map[string]any{"name": "sys"}, l.imageDisk())
				vm := made[2]["vm_id"].(int64)
				isoID := l.must("hosting.iso.list").([]any)[0].(map[string]any)["id"].(int64)
				for _, p := range c.prepare {
					p(l, vm, isoID)
				}
				method, params := c.call(vm, isoID)
				params = append(params, map[string]any{"idempotency_key": "k-" + fp})
				l.call(method, params...) // the fail point may kill the agent before it answers
				l.waitKilled()
				l.start("")
				for _, o := range l.settle() {
					if o["step"] != "DONE" {
						t.Errorf("operation %v %v ended %v: %v", o["id"], o["type"], o["step"], o["last_error"])
					}
				}
				before := len(l.settle())
				op := l.must(method, params...).(map[string]any) // the client's retry
				if op["type"] != c.op || len(l.settle()) != before {
					t.Fatalf("retry after the restart: %v, %d operations then %d", op, before, len(l.settle()))
				}
				check := func(when string) {
					info := l.must("hosting.vm.info", vm).(map[string]any)
					if (info["iso_id"] == isoID) != c.want.iso || info["boot_type"] != c.want.boot {
						t.Fatalf("%s: iso_id %v boot_type %v, want iso %v boot %s", when, info["iso_id"], info["boot_type"], c.want.iso, c.want.boot)
					}
				}
				check("after the restart")
				l.done("hosting.vm.reboot", vm)
				l.done("hosting.vm.stop", vm)
				l.done("hosting.vm.start", vm)
				if s := l.vmState(vm); s != "running" {
					t.Fatalf("after start: state %s", s)
				}
				l.restart("")
				check("after one more restart")
				l.stop()
			})
		}
	}
}

func attachISO(l *lab, vm, iso int64) { l.done("hosting.vm.iso_attach", vm, iso) }
func bootCDROM(l *lab, vm, _ int64)   { l.done("hosting.vm.boot_type", vm, "cdrom") }
