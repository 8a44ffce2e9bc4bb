package hypervisor

import (
	"log/slog"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
)

// eventLoop starts libvirt's default event loop, which must exist before
// any connection opens and then runs for the life of the process.
//
// It is started on the first successful try, not merely on the first try:
// a sync.Once around a registration that failed left every later Open
// running without the loop (no lifecycle events, no close callback, so no
// reconnect) and without an error saying so.
type eventLoop struct {
	register func() error // libvirt.EventRegisterDefaultImpl
	run      func() error // libvirt.EventRunDefaultImpl: one iteration

	mu      sync.Mutex
	started bool
}

// processEventLoop is libvirt's, which is process-wide: the one piece of
// package state, because the C library holds the loop globally.
var processEventLoop = &eventLoop{register: libvirt.EventRegisterDefaultImpl, run: libvirt.EventRunDefaultImpl}

// start registers the loop and starts its goroutine unless an earlier call
// already did. A failed registration is returned and tried again by the
// next call.
func (l *eventLoop) start(log *slog.Logger) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return nil
	}
	if err := l.register(); err != nil {
		return err
	}
	l.started = true
	go l.loop(log)
	return nil
}

func (l *eventLoop) loop(log *slog.Logger) {
	for {
		if err := l.run(); err != nil {
			log.Error("libvirt event loop", "err", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
}
