package hostfake

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/xenagent/xenagent/agent/host"
)

var _ host.Console = (*Hypervisor)(nil)

// consoles are the fake's open consoles, one per domain as libvirt's
// forced open leaves it.
type consoles struct {
	mu   sync.Mutex
	open map[string]*fakeConsole
}

// OpenConsole opens an echoing console on a running domain: what is
// written comes back to the reader (a terminal's echo), and
// ConsoleOutput adds what the guest writes. Opening again takes the
// console from the earlier holder, whose reads end; the domain stopping
// or going away ends them too.
func (h *Hypervisor) OpenConsole(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	events, stop := h.Watch(name)
	var open bool
	err := h.do(ctx, "OpenConsole", name, func(*effects) error {
		d, ok := h.doms[name]
		switch {
		case !ok:
			return noDomain("opening console of", name)
		case !d.running:
			return fmt.Errorf("opening console of %s: %w", name, host.ErrNotRunning)
		}
		open = true
		return nil
	})
	if err != nil || !open {
		stop()
		return nil, err
	}
	c := &fakeConsole{h: h, name: name, data: make(chan []byte, 256), done: make(chan struct{})}
	h.consoles.mu.Lock()
	if h.consoles.open == nil {
		h.consoles.open = map[string]*fakeConsole{}
	}
	old := h.consoles.open[name]
	h.consoles.open[name] = c
	h.consoles.mu.Unlock()
	if old != nil {
		old.end()
	}
	go func() {
		defer stop()
		for {
			select {
			case <-c.done:
				return
			case ev := <-events:
				if ev.Kind == host.EventStopped || ev.Kind == host.EventUndefined {
					c.Close()
					return
				}
			}
		}
	}()
	return c, nil
}

// ConsoleOutput has the guest of domain name write b on its console; it
// reports whether a console was open to read it.
func (h *Hypervisor) ConsoleOutput(name string, b []byte) bool {
	h.consoles.mu.Lock()
	c := h.consoles.open[name]
	h.consoles.mu.Unlock()
	if c == nil {
		return false
	}
	_, err := c.deliver(b)
	return err == nil
}

// fakeConsole is one open console.
type fakeConsole struct {
	h    *Hypervisor
	name string
	data chan []byte
	once sync.Once
	done chan struct{}
	rest []byte // what the last Read could not take
}

func (c *fakeConsole) Read(p []byte) (int, error) {
	if len(c.rest) == 0 {
		select {
		case b := <-c.data:
			c.rest = b
		case <-c.done:
			// What was delivered before the end is still read.
			select {
			case b := <-c.data:
				c.rest = b
			default:
				return 0, io.EOF
			}
		}
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

// Write echoes p back to the reader, as a guest's terminal does.
func (c *fakeConsole) Write(p []byte) (int, error) { return c.deliver(p) }

func (c *fakeConsole) deliver(p []byte) (int, error) {
	b := append([]byte(nil), p...)
	select {
	case <-c.done:
		return 0, io.ErrClosedPipe
	default:
	}
	select {
	case c.data <- b:
		return len(p), nil
	case <-c.done:
		return 0, io.ErrClosedPipe
	}
}

// Close ends the console; a pending Read returns io.EOF.
func (c *fakeConsole) Close() error {
	c.end()
	c.h.consoles.mu.Lock()
	if c.h.consoles.open[c.name] == c {
		delete(c.h.consoles.open, c.name)
	}
	c.h.consoles.mu.Unlock()
	return nil
}

func (c *fakeConsole) end() { c.once.Do(func() { close(c.done) }) }
