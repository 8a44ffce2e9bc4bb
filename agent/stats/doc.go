// Package stats collects the VMs' usage: every stats.every one bulk read
// of all domains' counters (host.Stats), matched to VMs, ifaces (by MAC,
// else device) and disks (by volume path, else device position) through
// the store, turned into rates and kept as a bounded series per VM on
// disk, across restarts.
//
// Layout: one file per VM, state_dir/stats/vm-ID.rrd, RRD-like and of a
// fixed size per device: a 4 KiB header (each archive's newest bucket
// and its sample count, the block table: kind and store id of each
// device), then one block per device (the VM's cpu and memory, each
// iface, each disk), each holding three rings of points of 4 float32
// values: 1-minute points for a day (1440), 15-minute points for 8 days
// (768), hourly points for 31 days (744). A block is 47,232 bytes; a VM
// with one iface and one disk takes 4 KiB + 3 blocks = 146 KiB on disk,
// 1.4 GiB at 10,000 such VMs (143 MiB at 1,000). Memory holds only each
// VM's header, newest points and last counters (a few hundred bytes per
// VM; the bench measures it). A round writes, per VM, one point per
// block and archive and the header (pwrite, no fsync: a crash loses at
// most the round in flight, and a torn file is set aside as .bad).
//
// Points are the mean over their bucket of the rates measured; a round
// that covers several buckets (a late round, stats.every above a minute)
// fills them all, buckets nobody measured (the agent was down) are gaps
// (NaN). A counter below its last reading restarted (a reboot, a
// replugged device): what it counted since is its value, so a reboot
// gives neither a negative rate nor a spike. A stopped VM's points are
// zeros. The first round after a start only takes a baseline. A VM gone
// from the store loses its file at the next round.
package stats
