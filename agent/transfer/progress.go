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
	// Rate is the data bytes per second since this call began (resumed
	// bytes excluded); ETA is what is left at that rate (0 when unknown).
	Rate float64
	ETA  time.Duration
}

// meter turns counts into Progress.
type meter struct {
	pass        string
	total       int64
	start       time.Time
	resumedFrom int64
	fn          func(Progress)
	now         func() time.Time
}

func newMeter(pass string, total, resumedFrom int64, fn func(Progress)) *meter {
	return &meter{pass: pass, total: total, start: time.Now(), resumedFrom: resumedFrom, fn: fn, now: time.Now}
}

func (m *meter) progress(done, wire int64) Progress {
	p := Progress{Pass: m.pass, Done: done, Total: m.total, Wire: wire}
	if el := m.now().Sub(m.start).Seconds(); el > 0 && done > m.resumedFrom {
		p.Rate = float64(done-m.resumedFrom) / el
		p.ETA = time.Duration(float64(m.total-done) / p.Rate * float64(time.Second))
	}
	return p
}

func (m *meter) report(done, wire int64) {
	if m.fn != nil {
		m.fn(m.progress(done, wire))
	}
}
