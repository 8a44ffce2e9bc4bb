package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/xenagent/xenagent/agent/host"
)

var _ host.Console = (*Driver)(nil)

// OpenConsole opens a running domain's console through libvirt's console
// stream (virDomainOpenConsole), forcing out any earlier holder: the
// agent keeps one stream per domain and shares it (agent/console), so an
// earlier holder is a stream the agent itself dropped, or virsh.
//
// The stream is blocking: one goroutine of the caller's sits in Read,
// Write may run at the same time (libvirt's remote client is
// thread-safe, and a stream's send and receive are separate messages),
// and Close aborts the stream, which ends a pending Read.
func (d *Driver) OpenConsole(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	var st *libvirt.Stream
	err := d.call(ctx, "opening console of "+name, func(c *libvirt.Connect) error {
		dom, err := c.LookupDomainByName(name)
		if err != nil {
			return err
		}
		defer dom.Free()
		if active, err := dom.IsActive(); err != nil {
			return err
		} else if !active {
			return fmt.Errorf("opening console of %s: %w", name, ErrNotRunning)
		}
		s, err := c.NewStream(0)
		if err != nil {
			return err
		}
		if err := dom.OpenConsole("", s, libvirt.DOMAIN_CONSOLE_FORCE); err != nil {
			s.Free()
			return err
		}
		st = s
		return nil
	})
	if err != nil {
		if st != nil {
			// The call was abandoned at its timeout after the stream opened.
			go func() { st.Abort(); st.Free() }()
		}
		return nil, err
	}
	return &consoleStream{st: st, name: name, closed: make(chan struct{})}, nil
}

// consoleStream is an open console stream as an io.ReadWriteCloser.
type consoleStream struct {
	st   *libvirt.Stream
	name string

	wmu       sync.Mutex // one Send at a time
	closed    chan struct{}
	closeOnce sync.Once

	// The stream is freed once closed and no Read is inside libvirt:
	// freeing it under a Recv would be a use after free in C.
	mu      sync.Mutex
	reading bool
	aborted bool
	freed   bool
}

func (s *consoleStream) Read(p []byte) (int, error) {
	s.mu.Lock()
	if s.aborted {
		s.mu.Unlock()
		return 0, io.EOF
	}
	s.reading = true
	s.mu.Unlock()
	n, err := s.st.Recv(p)
	s.mu.Lock()
	s.reading = false
	aborted := s.aborted
	s.freeLocked()
	s.mu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		if aborted {
			return n, io.EOF
		}
		return n, classify("reading console of "+s.name, err)
	}
	return n, err
}

func (s *consoleStream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	aborted := s.aborted
	s.mu.Unlock()
	if aborted {
		return 0, io.ErrClosedPipe
	}
	done := 0
	for done < len(p) {
		n, err := s.st.Send(p[done:])
		if err != nil {
			return done, classify("writing console of "+s.name, err)
		}
		done += n
	}
	return done, nil
}

// freeLocked frees an aborted stream no Read is using.
func (s *consoleStream) freeLocked() {
	if s.aborted && !s.reading && !s.freed {
		s.freed = true
		s.st.Free()
	}
}

// Close aborts the stream, which ends a pending Read. Abort waits for
// libvirtd's answer; a daemon that went away must not hang the caller,
// so it runs on its own and Close waits for it a bounded time.
func (s *consoleStream) Close() error {
	first := false
	s.closeOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	close(s.closed)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.wmu.Lock() // not under a Send
		defer s.wmu.Unlock()
		_ = s.st.Abort()
		s.mu.Lock()
		s.aborted = true
		s.freeLocked()
		s.mu.Unlock()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return nil
}
