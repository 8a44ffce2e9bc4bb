// Package host declares the ports through which the agent acts on its
// machine (Hypervisor, Volumes, Extents, Wiring, Seeds) in a vocabulary of their
// own: domain and device specs, volume marks, wiring specs and counters,
// first-boot seed specs.
//
// The adapters implement them (hypervisor/ over libvirt, storage/lvm and
// storage/file, storage/nocloud, network/wire over netlink and nftables)
// and cmd/xenagent plugs them in, so nothing under agent/ links libvirt,
// netlink or nftables. host/hostfake holds in-memory fakes for the
// rules' tests and host/hosttest the one suite every implementation of a
// port passes.
package host
