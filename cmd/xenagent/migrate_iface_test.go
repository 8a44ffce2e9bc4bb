package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// ifaceMove is a detached iface with its address on a, and how to ask
// any agent for a ticket admitting it.
type ifaceMove struct {
	t      *testing.T
	id     int64
	ip     string
	acct   any
	ticket string
}

// newIfaceMove creates a detached iface on a and a ticket for it on b.
func newIfaceMove(t *testing.T, a, b *lab) *ifaceMove {
	t.Helper()
	m := &ifaceMove{t: t}
	m.id = a.done("hosting.iface.create", map[string]any{"datacenter_id": int64(1), "ip_version": int64(4)})[0]["iface_id"].(int64)
	m.ip = a.must("hosting.iface.info", m.id).(map[string]any)["ips"].([]any)[0].(map[string]any)["ip"].(string)
	m.acct = a.must("hosting.account.info").(map[string]any)["id"]
	var err error
	if m.ticket, err = m.ticketOn(b); err != nil {
		t.Fatal(err)
	}
	return m
}

// ticketOn asks on for a ticket admitting the iface with its address.
func (m *ifaceMove) ticketOn(on *lab) (string, error) {
	key := on.key
	on.key = operatorKey
	defer func() { on.key = key }()
	v, err := on.call("hosting.migration.ticket", map[string]any{"account_id": m.acct,
		"ifaces": []any{map[string]any{"id": m.id, "ip": m.ip, "same_network": true}}})
	if err != nil {
		return "", err
	}
	return v.(map[string]any)["ticket"].(string), nil
}

// migrate asks a to move the iface to b, with the central tier's
// idempotency key (a retry is the same operation).
func (m *ifaceMove) migrate(a, b *lab) (any, error) {
	key := a.key
	a.key = operatorKey
	defer func() { a.key = key }()
	return a.call("hosting.iface.migrate", m.id, map[string]any{"target": fmt.Sprintf("http://127.0.0.1:%d", b.port), "ticket": m.ticket},
		map[string]any{"idempotency_key": "move"})
}

// checkOnOne checks the iface is on on only, detached with its address,
// which on leases once and off not at all; and that nothing of the move
// holds off: a ticket to move the iface there is granted (its id and
// address free, no reservation left by the move's ticket).
func (m *ifaceMove) checkOnOne(on, off *lab) {
	t := m.t
	t.Helper()
	got, err := on.call("hosting.iface.info", m.id)
	if err != nil {
		t.Fatalf("the iface is not on %s: %v", on.dir, err)
	}
	gi := got.(map[string]any)
	if ips := gi["ips"].([]any); len(ips) != 1 || ips[0].(map[string]any)["ip"] != m.ip || gi["vm_id"] != nil && gi["vm_id"] != int64(0) {
		t.Fatalf("the iface %v, want detached with %s", gi, m.ip)
	}
	if _, err := off.call("hosting.iface.info", m.id); err == nil {
		t.Fatal("the iface is on both hosts")
	}
	for l, want := range map[*lab]int{on: 1, off: 0} {
		leased := 0
		for _, x := range l.must0("hosting.ip.list") {
			if r := x.(map[string]any); r["ip"] == m.ip {
				leased++
				if r["iface_id"] != m.id {
					t.Errorf("%s leases %s to iface %v, want %d", l.dir, m.ip, r["iface_id"], m.id)
				}
			}
		}
		if leased != want {
			t.Errorf("%s leases %s %d times, want %d", l.dir, m.ip, leased, want)
		}
	}
	if _, err := m.ticketOn(off); err != nil {
		t.Errorf("a ticket to move the iface to %s: %v", off.dir, err)
	}
}

// A kill -9 of either agent at every step boundary of a detached iface's
// move (iface_migrate, iface_migrate_in): after a restart and the central
// tier's retry, the iface is on exactly one host with its address, which
// exactly one host leases (never both, never neither); neither keeps an
// unsettled operation, and the host it left holds nothing of it. Ifaces
// have no vif while detached; the lab does not wire (network.wire =
// false).
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
			m := newIfaceMove(t, a, b)
			m.migrate(a, b) // the fail point may kill the source before it answers
			killed.waitKilled()
			killed.start("")
			v, err := m.migrate(a, b)
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
			m.checkOnOne(on, off)
		})
	}
}

// A kill -9 of the source inside the rollback of an iface's move whose
// target died when asked to prepare: after both restart, the rollback
// ends (ERROR) and its abort reaches the target; the iface and its lease
// are the source's alone, and the target kept nothing of the move.
func TestCrashDuringIfaceMoveRollback(t *testing.T) {
	a, b := newMoveLabRetry(t, "2s"), newMoveLab(t)
	a.start("iface_migrate:undo:begin")
	b.start("iface_migrate_in:begin:prepared")
	m := newIfaceMove(t, a, b)
	if _, err := m.migrate(a, b); err != nil {
		t.Fatal(err)
	}
	b.waitKilled()
	a.waitKilled()
	a.start("")
	b.start("")
	ops := a.must("operation.list", map[string]any{"type": "iface_migrate"}).([]any)
	end := a.waitOpLong(ops[0].(map[string]any)["id"], 3*time.Minute)
	if end["step"] != "ERROR" {
		t.Fatalf("iface_migrate ended %v: %v; want ERROR, rolled back", end["step"], end["last_error"])
	}
	for _, l := range []*lab{a, b} {
		l.settleLong(time.Minute)
		l.checkVolumes()
	}
	m.checkOnOne(a, b)
}
