package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A kill -9 of either agent at every step boundary of a detached iface's
// move (iface_migrate, iface_migrate_in): after a restart and the central
// tier's retry, the iface is on exactly one host with its address, which
// exactly one host leases (never both, never neither); neither keeps an
// unsettled operation, and the host it left holds nothing of it: a
// ticket to move it back there is granted (its id and address free, no
// reservation left by the move's ticket). Ifaces have no vif while
// detached; the lab does not wire (network.wire = false).
func TestCrashDuringIfaceMove(t *testing.T) {
	cases := append(boundaries("iface_migrate", []string{"begin", "prepare", "handover", "forget"}),
		boundaries("iface_migrate_in", moveInSteps)...)
	for _, fp := range cases {
		t.Run(fp, func(t *testing.T) {
			a, b := newMoveLab(t), newMoveLab(t)
			killed := a
			if strings.HasPrefix(fp, "iface_migrate_in:") {
				killed = b
				a.start("")
				b.start(fp)
			} else {
				a.start(fp)
				b.start("")
			}
			iface := a.done("hosting.iface.create", map[string]any{"datacenter_id": int64(1), "ip_version": int64(4)})[0]["iface_id"].(int64)
			ip := a.must("hosting.iface.info", iface).(map[string]any)["ips"].([]any)[0].(map[string]any)["ip"].(string)
			acct := a.must("hosting.account.info").(map[string]any)["id"]
			ticketFor := func(on *lab) (string, error) {
				key := on.key
				on.key = operatorKey
				defer func() { on.key = key }()
				v, err := on.call("hosting.migration.ticket", map[string]any{"account_id": acct,
					"ifaces": []any{map[string]any{"id": iface, "ip": ip, "same_network": true}}})
				if err != nil {
					return "", err
				}
				return v.(map[string]any)["ticket"].(string), nil
			}
			ticket, err := ticketFor(b)
			if err != nil {
				t.Fatal(err)
			}
			migrate := func() (any, error) {
				key := a.key
				a.key = operatorKey
				defer func() { a.key = key }()
				return a.call("hosting.iface.migrate", iface, map[string]any{"target": fmt.Sprintf("http://127.0.0.1:%d", b.port), "ticket": ticket},
					map[string]any{"idempotency_key": "move"})
			}
			migrate()
			killed.waitKilled()
			killed.start("")
			v, err := migrate()
			if err != nil {
				t.Fatalf("retried move: %v", err)
			}
			end := a.waitOpLong(v.(map[string]any)["id"], 3*time.Minute)
			for _, l := range []*lab{a, b} {
				l.settleLong(3 * time.Minute)
				l.checkVolumes()
			}
			on, off := b, a
			if end["step"] != "DONE" {
				on, off = a, b
			}
			t.Logf("iface_migrate %v (%v); the iface is on the %s", end["step"], end["last_error"], map[*lab]string{a: "source", b: "target"}[on])
			got, err := on.call("hosting.iface.info", iface)
			if err != nil {
				t.Fatalf("iface_migrate ended %v (%v); the iface is not on %s: %v", end["step"], end["last_error"], on.dir, err)
			}
			gi := got.(map[string]any)
			if ips := gi["ips"].([]any); len(ips) != 1 || ips[0].(map[string]any)["ip"] != ip || gi["vm_id"] != nil && gi["vm_id"] != int64(0) {
				t.Fatalf("the iface %v, want detached with %s", gi, ip)
			}
			if _, err := off.call("hosting.iface.info", iface); err == nil {
				t.Fatalf("iface_migrate ended %v, and the iface is on both hosts", end["step"])
			}
			for l, want := range map[*lab]int{on: 1, off: 0} {
				leased := 0
				for _, x := range l.must0("hosting.ip.list") {
					if m := x.(map[string]any); m["ip"] == ip {
						leased++
						if m["iface_id"] != iface {
							t.Errorf("%s leases %s to iface %v, want %d", l.dir, ip, m["iface_id"], iface)
						}
					}
				}
				if leased != want {
					t.Errorf("%s leases %s %d times, want %d", l.dir, ip, leased, want)
				}
			}
			// Nothing of the move holds the host it left: no record, no
			// lease, no live ticket's reservation of the id or address.
			if _, err := ticketFor(off); err != nil {
				t.Errorf("a ticket to move the iface back to %s: %v", off.dir, err)
			}
		})
	}
}
