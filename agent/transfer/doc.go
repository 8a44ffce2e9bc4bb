// Package transfer moves a disk's data from one agent to another: the
// chunk stream of a migration (PUT /migration/v1/disk/{id} on the target).
//
// The sender (Send) reads the ranges of a source that hold data (the
// extent list its caller got from the storage: SEEK_DATA/SEEK_HOLE on
// files, the thin pool's mappings on LVM) in chunks aligned to the chunk
// size, hashes each with SHA-256, compresses it with zstd (or sends it
// raw when that does not pay, or as a bare marker when it is all zeros)
// and streams it to a Target, throttled to a rate. The receiver
// (Receiver, an http.Handler) decompresses each chunk, checks its hash
// and length and that it is the chunk expected next, and only then writes
// it through the io.WriterAt its Resolver gives.
//
// A stream carries one pass over one disk: a pre-copy of a snapshot's
// allocated extents on a fresh volume (Base ""), then a delta of the
// extents changed since (Base: the pre-copy's pass id), on top of what
// the receiver completed. Invariants:
//
//   - Chunks arrive in extent order, each covering extent ∩ one aligned
//     chunk-size window; the receiver refuses any other order, length or
//     offset, so a lost, doubled or reordered chunk can never be written.
//   - Nothing is written unverified: a chunk whose hash differs is refused
//     and the stream stops before it.
//   - The end-to-end digest (SHA-256 over the pass, the size, the extent
//     list and each chunk's offset, length and hash, in order) is computed
//     by both sides, the sender from what it read, the receiver from what
//     it verified, across every resumed connection, and compared at the
//     end: a pass is done only when they are equal.
//   - Resumable: the receiver keeps, through its Journal, the point below
//     which every chunk of the pass is verified and synced to the volume
//     (with its running digest). It checkpoints periodically and whenever
//     a stream stops (cut connection, refused chunk); a sender asks
//     (Target.Have) and resumes there. A crash of the receiver loses at
//     most what came after its last checkpoint, which is sent again.
//   - A pass is accepted only on top of the pass it names as its base
//     (or a fresh volume): a new pre-copy over a half-received one would
//     leave data of the old snapshot where the new one has holes, so it is
//     refused (ErrConflict) and the caller starts again on a new volume.
//
// Caveats: resuming makes the sender read (not send) the source again up
// to the resume point, to rebuild its digest; the source must not change
// between connections of a pass (it is a snapshot). All-zero chunks are
// not written in a pass on a fresh volume (Base ""), which reads zeros
// already; in a pass on top of another they are zeroed through ZeroAt
// when the volume offers it (host.VolumeWriter: a hole punched, a thin
// LV's range unmapped), else written as zeros.
//
// Mounting (the migrate room): the /migration/v1/ handler checks the
// ticket, puts it in the request's context and hands PUT and GET of
// DiskPath to the Receiver; the Resolver finds the ticket's disk in that
// context and gives its volume (host.Extents' Writer is a Volume with
// ZeroAt), its size, a Journal kept with the vm_migrate_in operation
// (State is JSON) and Progress into the operation's bytes, rate and ETA.
// The source opens the snapshot (pre-copy: its Allocated extents, base
// "") or the stopped disk (delta: Changed(snapshot, disk), base the
// pre-copy), and calls Send with NewHTTPTarget; host.Extent converts to
// Extent as is. Receiver.Have answers the migration's state endpoint
// without disturbing a running stream.
//
// agent/api/migration mounts it so (disk.go, the state journalled in the
// ticket, which its state endpoint reads), and its Client sends the
// workflow's passes with Send.
//
// TODO:
//   - a delta pass cut half-way and begun again with a grown extent list
//     is refused as a conflict (a move's delta is taken with the VM
//     stopped, so its list does not grow); accepting a superset of the
//     half-received list would be safe.
//   - a pass hashes and compresses on one goroutine (reading ahead on a
//     second, the HTTP transport writing on a third): about one core per
//     disk moving, deliberately, as the guests on the host need theirs.
//     A pool of compressors would raise the rate on compressible data
//     where the link is faster than one core's zstd (~10 Gbit/s).
package transfer
