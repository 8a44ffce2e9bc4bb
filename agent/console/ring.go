package console

// ring is a bounded scrollback: the last cap bytes written.
type ring struct {
	buf  []byte
	cap  int
	full bool
	pos  int
}

func newRing(n int) *ring { return &ring{buf: make([]byte, n), cap: n} }

func (r *ring) Write(p []byte) {
	if len(p) >= r.cap {
		copy(r.buf, p[len(p)-r.cap:])
		r.pos, r.full = 0, true
		return
	}
	n := copy(r.buf[r.pos:], p)
	if n < len(p) {
		copy(r.buf, p[n:])
		r.full = true
	}
	r.pos = (r.pos + len(p)) % r.cap
	if r.pos == 0 && len(p) > 0 {
		r.full = true
	}
}

// Bytes is a copy of the scrollback, oldest first.
func (r *ring) Bytes() []byte {
	if !r.full {
		return append([]byte(nil), r.buf[:r.pos]...)
	}
	out := make([]byte, 0, r.cap)
	out = append(out, r.buf[r.pos:]...)
	return append(out, r.buf[:r.pos]...)
}
