// Package console bridges a VM's serial console to browsers and
// xenagentctl over a WebSocket.
//
// The Hub keeps, per VM, one console stream from the hypervisor
// (host.Console) shared by every client: opening a second libvirt stream
// would take the console from the first. What the guest writes goes to
// every client and into a bounded scrollback that a late joiner receives
// first. One client at a time is the writer (the first to join; when it
// leaves, the oldest reader is promoted); the keystrokes of readers are
// dropped. A VM's sessions end, each with a status message, when the VM
// stops, when a client's right to the console ends (its check, asked
// again every second: the console deactivated, the VM deleted or given
// away) or on Close(vmID).
//
// Handler serves the WebSocket protocol of issue 12 on
// /console/{token}/ws and the page on /console/{token}; tokens come from
// agent/token (purpose "console", single-use): the URL carries no API
// key, ever.
package console
