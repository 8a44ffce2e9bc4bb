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
// (768), hourly points for 31 days (744). A block is 47,232 bytes;
// values are stored XORed with a NaN's bits so that a new block is a
// hole in a sparse file that reads as gaps. A VM with one iface and one
// disk is a 146 KiB file: 146 MB apparent at 1,000 VMs, 1.46 GB at
// 10,000, of which disk is used as the rings fill (41 MB and 410 MB
// after the bench's first rounds; all of it after a month). Memory
// holds each VM's header, newest points and last counters: about 1 KB
// per VM, 1 MB at 1,000 and 10 MB at 10,000 (xenagent-bench). A round
// costs, at 10,000 VMs with an iface and a disk each, about 0.4 s of CPU
// and under a second of wall time (xenagent-bench, "stats round"),
// mostly the open, pwrite and close of each VM's file; the first round
// after a VM appears also creates its file. Points are written with
// pwrite, no fsync: a crash loses at most the round in flight, and a
// file that does not read back is set aside as .bad.
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
