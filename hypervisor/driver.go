package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"libvirt.org/go/libvirt"
)

// Config configures a Driver.
type Config struct {
	URI string
	// CommandTimeout bounds every libvirt call.
	CommandTimeout time.Duration
	// HVM selects Xen HVM rather than PV.
	HVM bool
	// KVM selects kvm domains under qemu: URIs.
	KVM bool
	// ConsoleDir, when set, keeps each QEMU guest's serial console in
	// ConsoleDir/NAME.log.
	ConsoleDir string
}

// Driver is a libvirt connection with reconnect and event fan-out.
type Driver struct {
	cfg    Config
	flavor Flavor
	log    *slog.Logger

	mu   sync.Mutex
	conn *libvirt.Connect
	// inUse counts the calls running on conn. A dropped connection is
	// closed only once they return: closing frees the C object, and a call
	// still inside it (a health ping abandoned at its timeout while the
	// host's libvirtd restarted) crashed the agent with SIGSEGV in the lab.
	inUse *sync.WaitGroup
	// closeDropped closes a dropped connection (a test watches it).
	closeDropped func(*libvirt.Connect)
	cbIDs        []int
	watchers     map[int]watcher
	nextW        int
	closed       bool
	reconn       chan struct{}
	reconnects   atomic.Int64 // connstats.go
	statsCache   statsCache   // see stats.go
}

type watcher struct {
	name string // "" for every domain
	ch   chan Event
}

// Open connects to libvirt and starts the event machinery.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Driver, error) {
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 60 * time.Second
	}
	flavor, err := FlavorForURI(cfg.URI, cfg.HVM, cfg.KVM)
	if err != nil {
		return nil, err
	}
	if err := processEventLoop.start(log); err != nil {
		return nil, fmt.Errorf("starting libvirt event loop: %w", err)
	}
	d := &Driver{cfg: cfg, flavor: flavor, log: log, watchers: map[int]watcher{}, reconn: make(chan struct{}, 1),
		closeDropped: func(c *libvirt.Connect) { c.Close() }}
	if err := d.connect(); err != nil {
		return nil, err
	}
	go d.reconnectLoop()
	return d, nil
}

// Flavor reports the kind of domains this driver defines.
func (d *Driver) Flavor() Flavor { return d.flavor }

func (d *Driver) connect() error {
	conn, err := libvirt.NewConnect(d.cfg.URI)
	if err != nil {
		return classify("connecting to "+d.cfg.URI, err)
	}
	if err := conn.SetKeepAlive(5, 3); err != nil {
		// test:/// and some local drivers do not support keepalive.
		d.log.Debug("keepalive not available", "uri", d.cfg.URI, "err", err)
	}
	var ids []int
	id, err := conn.DomainEventLifecycleRegister(nil, d.onLifecycle)
	if err != nil {
		conn.Close()
		return classify("registering lifecycle events", err)
	}
	ids = append(ids, id)
	if id, err = conn.DomainEventRebootRegister(nil, d.onReboot); err == nil {
		ids = append(ids, id)
	}
	if err := conn.RegisterCloseCallback(func(c *libvirt.Connect, reason libvirt.ConnectCloseReason) {
		d.log.Warn("libvirt connection closed", "uri", d.cfg.URI, "reason", reason)
		d.dropConn(c)
	}); err != nil {
		d.log.Debug("close callback not available", "err", err)
	}
	d.mu.Lock()
	d.conn, d.inUse = conn, &sync.WaitGroup{}
	d.cbIDs = ids
	d.mu.Unlock()
	return nil
}

func (d *Driver) dropConn(c *libvirt.Connect) {
	d.mu.Lock()
	if d.conn == nil || (c != nil && d.conn != c) {
		d.mu.Unlock()
		return
	}
	old, inUse := d.conn, d.inUse
	d.conn, d.inUse = nil, nil
	d.mu.Unlock()
	go func() {
		inUse.Wait()
		d.closeDropped(old)
	}()
	select {
	case d.reconn <- struct{}{}:
	default:
	}
}

func (d *Driver) reconnectLoop() {
	for range d.reconn {
		backoff := 100 * time.Millisecond
		for {
			d.mu.Lock()
			closed := d.closed
			d.mu.Unlock()
			if closed {
				return
			}
			if err := d.connect(); err == nil {
				d.log.Info("reconnected to libvirt", "uri", d.cfg.URI)
				d.reconnects.Add(1)
				d.broadcast(Event{Kind: EventResync, Time: time.Now()})
				break
			} else {
				d.log.Warn("reconnecting to libvirt", "uri", d.cfg.URI, "err", err, "retry_in", backoff)
			}
			time.Sleep(backoff)
			backoff = min(backoff*2, 5*time.Second)
		}
	}
}

// Close drops the connection for good.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closed = true
	conn, inUse := d.conn, d.inUse
	d.conn, d.inUse = nil, nil
	ids := d.cbIDs
	d.mu.Unlock()
	if conn == nil {
		return nil
	}
	if !waitFor(inUse, d.cfg.CommandTimeout) {
		// A call stuck in libvirt still holds the connection: leaving it
		// open is a leak at exit, closing it under the call a crash.
		return errors.New("libvirt: calls still running at close; connection left open")
	}
	for _, id := range ids {
		_ = conn.DomainEventDeregister(id)
	}
	_ = conn.UnregisterCloseCallback()
	_, err := conn.Close()
	return err
}

func (d *Driver) onLifecycle(_ *libvirt.Connect, dom *libvirt.Domain, ev *libvirt.DomainEventLifecycle) {
	name, err := dom.GetName()
	if err != nil {
		return
	}
	var kind EventKind
	switch ev.Event {
	case libvirt.DOMAIN_EVENT_STARTED:
		kind = EventStarted
	case libvirt.DOMAIN_EVENT_STOPPED, libvirt.DOMAIN_EVENT_CRASHED:
		kind = EventStopped
	case libvirt.DOMAIN_EVENT_SUSPENDED:
		kind = EventSuspended
	case libvirt.DOMAIN_EVENT_RESUMED:
		kind = EventResumed
	case libvirt.DOMAIN_EVENT_DEFINED:
		kind = EventDefined
	case libvirt.DOMAIN_EVENT_UNDEFINED:
		kind = EventUndefined
	default:
		return
	}
	d.broadcast(Event{Name: name, Kind: kind, Detail: ev.Detail, Time: time.Now()})
}

func (d *Driver) onReboot(_ *libvirt.Connect, dom *libvirt.Domain) {
	if name, err := dom.GetName(); err == nil {
		d.broadcast(Event{Name: name, Kind: EventRebooted, Time: time.Now()})
	}
}

func (d *Driver) broadcast(ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.watchers {
		if w.name != "" && ev.Name != "" && w.name != ev.Name {
			continue
		}
		select {
		case w.ch <- ev:
		default:
			// A slow watcher loses events, never blocks libvirt's loop;
			// watchers re-read state on every event anyway.
		}
	}
}

// Ping checks that libvirtd answers, with a call that takes no domain
// lock (listing domains would wait behind a domain starting for 20 s).
func (d *Driver) Ping(ctx context.Context) error {
	return d.call(ctx, "pinging libvirtd", func(c *libvirt.Connect) error {
		_, err := c.GetLibVersion()
		return err
	})
}

// Watch returns events for domain name ("" for all) until cancel is called.
func (d *Driver) Watch(name string) (<-chan Event, func()) {
	ch := make(chan Event, 64)
	d.mu.Lock()
	id := d.nextW
	d.nextW++
	d.watchers[id] = watcher{name: name, ch: ch}
	d.mu.Unlock()
	return ch, func() {
		d.mu.Lock()
		delete(d.watchers, id)
		d.mu.Unlock()
	}
}

// call runs fn against the live connection within the command timeout.
func (d *Driver) call(ctx context.Context, op string, fn func(c *libvirt.Connect) error) error {
	return d.callWithin(ctx, op, d.cfg.CommandTimeout, fn)
}

// callWithin is call bounded by limit rather than the command timeout:
// for calls that take as long as the data they move (Save, Restore).
func (d *Driver) callWithin(ctx context.Context, op string, limit time.Duration, fn func(c *libvirt.Connect) error) error {
	d.mu.Lock()
	conn, inUse := d.conn, d.inUse
	if conn != nil {
		// One for this function (it asks IsAlive after fn), one for fn's
		// goroutine, which may outlive it when abandoned.
		inUse.Add(2)
	}
	d.mu.Unlock()
	if conn == nil {
		return &Error{Op: op, Err: ErrDisconnected, transient: true}
	}
	defer inUse.Done()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer inUse.Done()
		done <- fn(conn)
	}()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		// Whatever the error says ("client socket is closed", "End of file
		// while reading data"), a dead connection makes it transient.
		if alive, aerr := conn.IsAlive(); !alive || aerr != nil {
			d.dropConn(conn)
			return &Error{Op: op, Err: fmt.Errorf("%w: %v", ErrDisconnected, err), transient: true}
		}
		return classify(op, err)
	case <-ctx.Done():
		return &Error{Op: op, Err: fmt.Errorf("libvirt call abandoned: %w", ctx.Err()), transient: true}
	}
}

// waitFor waits for wg at most d; false if it did not finish.
func waitFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// withDomain looks a domain up by name and runs fn on it.
func (d *Driver) withDomain(ctx context.Context, op, name string, fn func(dom *libvirt.Domain) error) error {
	return d.call(ctx, op+" "+name, func(c *libvirt.Connect) error {
		dom, err := c.LookupDomainByName(name)
		if err != nil {
			return err
		}
		defer dom.Free()
		return fn(dom)
	})
}
