package store

import (
	"path/filepath"
	"testing"
)

// An iface's firewall is part of its record: a copy read or written
// shares nothing with the stored one, so a caller changing its copy's
// rules changes neither the state in memory nor what the file holds
// (as VM.clone does for Provision).
func TestIfaceFirewallIsCopied(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "state.db"))
	fw := &Firewall{Policy: FirewallDrop, Rules: []FirewallRule{{Protocol: "tcp", PortMin: 22, PortMax: 22, Action: FirewallAccept}}}
	if err := s.Update(func(tx *Tx) error {
		tx.PutIface(Iface{ID: 1, AccountID: 1, Firewall: fw})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fw.Policy, fw.Rules[0].Action = FirewallAccept, FirewallDrop // the writer's copy
	s.View(func(tx *Tx) {
		i, _ := tx.Iface(1)
		i.Firewall.Policy, i.Firewall.Rules[0].PortMin = FirewallAccept, 1 // a reader's copy
	})
	s.View(func(tx *Tx) {
		i, _ := tx.Iface(1)
		if i.Firewall.Policy != FirewallDrop || i.Firewall.Rules[0] != (FirewallRule{Protocol: "tcp", PortMin: 22, PortMax: 22, Action: FirewallAccept}) {
			t.Errorf("stored firewall changed through a copy: %+v", *i.Firewall)
		}
	})
	if err := s.sameAsFile(); err != nil {
		t.Fatal(err)
	}
}
