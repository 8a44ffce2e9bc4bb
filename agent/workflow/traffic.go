package workflow

import (
	"context"

	"github.com/xenagent/xenagent/agent/store"
)

// CountTraffic reads the counters of every wired device into the records.
// A reading below the last one means the device was made again under the
// same name (a QEMU tap after a restart missed by the watch): the last
// reading is kept as counted.
func (s *Workflows) CountTraffic(ctx context.Context) error {
	wiring := s.cfg.Network.Wiring
	if wiring == nil {
		return nil
	}
	readings := map[int64]store.Traffic{}
	var devs = map[int64]string{}
	s.st.View(func(tx *store.Tx) {
		tx.EachIface(func(i *store.Iface) bool {
			if i.Dev != "" {
				devs[i.ID] = i.Dev
			}
			return true
		})
	})
	for id, dev := range devs {
		c, err := wiring.Read(ctx, dev)
		if err != nil {
			continue // gone: OnLink folds its final counts
		}
		readings[id] = store.Traffic(c)
	}
	if len(readings) == 0 {
		return nil
	}
	return s.st.Update(func(tx *store.Tx) error {
		for id, c := range readings {
			takeReading(tx, id, devs[id], c)
		}
		return nil
	})
}

// tearDown makes a hypervisor call that takes a domain's devices away, or
// may (a stop or reboot message, a reset, a destroy), after reading the
// traffic counters: a Xen vif's counts are zero by the time it is
// removed, so what it counted since the last periodic reading would be
// lost. Every such call of the steps goes through it.
func (s *Workflows) tearDown(ctx context.Context, name string, call func(ctx context.Context, name string) error) error {
	if err := s.CountTraffic(ctx); err != nil {
		s.log.Warn("reading traffic counters", "err", err)
	}
	return call(ctx, name)
}

// deviceGone folds the last counts of an iface's device into its record:
// the larger of what the removal reported and the last reading, since a
// Xen vif reports zeros when it goes.
func deviceGone(i store.Iface, last store.Traffic) store.Iface {
	i.Counted, i.DevCounted, i.Dev = i.Counted.Add(i.DevCounted.Max(last)), store.Traffic{}, ""
	return i
}

// recordReading takes a reading of dev into its iface's record.
func (s *Workflows) recordReading(id int64, dev string, c store.Traffic) error {
	return s.st.Update(func(tx *store.Tx) error {
		takeReading(tx, id, dev, c)
		return nil
	})
}

// takeReading records reading c of dev in iface id, unless the iface has
// another device by now (the reading is stale) or nothing changed.
func takeReading(tx *store.Tx, id int64, dev string, c store.Traffic) {
	i, ok := tx.Iface(id)
	if !ok || i.Dev != dev || i.DevCounted == c {
		return
	}
	i.Counted, i.DevCounted = withReading(i, c)
	tx.PutIface(i)
}

// withReading takes a new reading of an iface's device into its counts.
func withReading(i store.Iface, c store.Traffic) (counted, dev store.Traffic) {
	if c.RxBytes < i.DevCounted.RxBytes || c.TxBytes < i.DevCounted.TxBytes {
		return i.Counted.Add(i.DevCounted), c
	}
	return i.Counted, c
}

// Traffic is everything an iface counted until now: the records, and
// what its device counted since the last write.
func (s *Workflows) Traffic(ctx context.Context, i store.Iface) store.Traffic {
	if w := s.cfg.Network.Wiring; w != nil && i.Dev != "" {
		if c, err := w.Read(ctx, i.Dev); err == nil {
			counted, dev := withReading(i, store.Traffic(c))
			return counted.Add(dev)
		}
	}
	return i.Total()
}
