// Package hypervisor drives guests through libvirt: domain XML (Xen PV
// with direct kernel boot, QEMU, libvirt's test driver), lifecycle calls,
// lifecycle events, and reconnection when libvirtd goes away.
//
// Every call takes a context and is bounded by the driver's per-command
// timeout (Save and Restore, which move a guest's memory, by a limit of
// their own and the caller's context): a libvirt call blocks in C and cannot be interrupted, so a call
// that overruns is abandoned (its goroutine finishes on its own) and the
// caller gets a transient error. Errors that mean "the connection is gone"
// are transient too; the driver reconnects in the background and
// re-registers its event callbacks, then tells every watcher to re-read
// state (an Event of kind Resync), since events may have been missed.
//
// Xen caveats designed for here (see LAB-NOTES): a reboot is reported as
// Stopped+Started with a new domain id; virDomainReset is unsupported, so
// Reset falls back to destroy+start; a start right after a shutdown can
// fail with "already active" and is retried until the stopped event.
//
// Save and Restore (save.go) carry a guest's memory in a file: QEMU
// takes a new domain XML at restore (disks at new paths), libxl and the
// test driver refuse one in every libvirt release ("xml modification
// unsupported"), so there the saved definition runs and Restore checks
// it first from the file's header: a disk must keep its path.
package hypervisor
