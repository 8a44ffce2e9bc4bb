package transfer

import "time"

// Progress is a pass's advance as either side reports it to its
// operation (operation.info's bytes, rate and ETA).
type Progress struct {
	Pass string
	// Done and Total are bytes of the pass's data: verified and written
	// (receiver) or handed to the connection (sender), resumed bytes
	// included.
	Done, Total int64
	// Wire is the bytes this side put on or took off the connection in
	// this call, frames and compression included.
	Wire int64
	// Rate is the data bytes per second over the last rateWindow (since
	// the call began until it is that old; resumed bytes excluded); ETA
	// is what is left at that rate (0 when unknown).
	Rate float64
	ETA  time.Duration
}

// rateWindow is how far back Rate looks: long enough to smooth a
// throttle's bursts and the receiver's checkpoints, short enough that a
// rate changed mid-pass shows in the ETA within seconds.
const rateWindow = 5 * time.Second

// meter turns counts into Progress.
type meter struct {
	pass    string
	total   int64
	fn      func(Progress)
	now     func() time.Time
	samples []sample // oldest first, spaced at least rateWindow/16
}

type sample struct {
	at   time.Time
	done int64
}

func newMeter(pass string, total, resumedFrom int64, fn func(Progress)) *meter {
	m := &meter{pass: pass, total: total, fn: fn, now: time.Now}
	m.samples = []sample{{at: m.now(), done: resumedFrom}}
	return m
}

func (m *meter) progress(done, wire int64) Progress {
	p := Progress{Pass: m.pass, Done: done, Total: m.total, Wire: wire}
	now := m.now()
	if last := m.samples[len(m.samples)-1]; now.Sub(last.at) >= rateWindow/16 {
		m.samples = append(m.samples, sample{at: now, done: done})
	}
	// Keep one sample at or before the window's start.
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) >= rateWindow {
		m.samples = m.samples[1:]
	}
	first := m.samples[0]
	if el := now.Sub(first.at).Seconds(); el > 0 && done > first.done {
		p.Rate = float64(done-first.done) / el
		p.ETA = time.Duration(float64(m.total-done) / p.Rate * float64(time.Second))
	}
	return p
}

func (m *meter) report(done, wire int64) {
	if m.fn != nil {
		m.fn(m.progress(done, wire))
	}
}
