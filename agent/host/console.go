package host

import (
	"context"
	"io"
)

// Console opens a domain's serial console (Xen PV hvc0, QEMU's first
// serial port): a byte stream that reads what the guest writes and
// writes what a person types.
//
// One console per domain is open at a time: opening again takes it from
// whoever held it (libvirt's force), so the agent shares one stream
// between the clients rather than opening one each.
type Console interface {
	// OpenConsole opens the console of a running domain; a stopped one
	// is ErrNotRunning, a missing one ErrNoDomain. Reads end (io.EOF or
	// an error) when the domain stops; Close ends the stream and
	// unblocks a pending Read.
	OpenConsole(ctx context.Context, name string) (io.ReadWriteCloser, error)
}
