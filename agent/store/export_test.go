package store

import (
	"encoding/json"
	"fmt"
	"reflect"

	bolt "go.etcd.io/bbolt"
)

func (s *Store) failWrites(hook func() error) { s.SetWriteFault(hook) }

func (s *Store) pendingLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.pending)
}

// sameAsFile reports how memory differs from what the file holds, once
// every queued write was committed or refused.
func (s *Store) sameAsFile() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.pending) > 0 || s.inflight {
		s.cond.Wait()
	}
	f := &Store{
		accounts: newTable[Account]("accounts", nil), vms: newTable("vms", VM.clone), disks: newTable[Disk]("disks", nil),
		ifaces: newTable("ifaces", Iface.clone), ips: newTable[IP]("ips", nil), images: newTable[Image]("images", nil),
		operations: newTable("operations", Operation.clone), sshKeys: newTable[SSHKey]("sshkeys", nil),
		locks: newTable[Lock]("locks", nil), isos: newTable[ISO]("isos", nil), tickets: newTable("tickets", Ticket.clone),
		idem: map[string]IdemEntry{}, released: map[string][]string{}, seq: map[string]int64{},
	}
	if err := s.db.View(func(tx *bolt.Tx) error { return f.load(tx) }); err != nil {
		return err
	}
	for _, p := range []struct {
		name      string
		mem, file any
	}{
		{"accounts", s.accounts.rows, f.accounts.rows}, {"vms", s.vms.rows, f.vms.rows}, {"disks", s.disks.rows, f.disks.rows},
		{"ifaces", s.ifaces.rows, f.ifaces.rows}, {"ips", s.ips.rows, f.ips.rows}, {"images", s.images.rows, f.images.rows},
		{"operations", s.operations.rows, f.operations.rows}, {"sshkeys", s.sshKeys.rows, f.sshKeys.rows},
		{"locks", s.locks.rows, f.locks.rows}, {"isos", s.isos.rows, f.isos.rows}, {"tickets", s.tickets.rows, f.tickets.rows},
		{"idempotency", s.idem, f.idem}, {"released", s.released, f.released}, {"seq", s.seq, f.seq},
	} {
		// Through JSON: the file's copy went through it (times lose their
		// monotonic reading).
		var m, fl any
		a, _ := json.Marshal(p.mem)
		b, _ := json.Marshal(p.file)
		json.Unmarshal(a, &m)
		json.Unmarshal(b, &fl)
		if !reflect.DeepEqual(m, fl) {
			return fmt.Errorf("%s: memory %s, file %s", p.name, a, b)
		}
	}
	return nil
}
