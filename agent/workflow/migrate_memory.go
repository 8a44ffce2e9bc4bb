package workflow

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// A live move: the VM's memory moves with its disks. At the stop step the
// source saves the domain (host.Hypervisor.Save: paused, memory written
// to a file in Config.MemoryDir, the domain shut off) instead of shutting
// it down; the file goes as one more item of the delta pass, through the
// same chunk stream as the disks (PassMemory, MemoryID); the target's
// define step restores it paused (host.Hypervisor.Restore) and its start
// step resumes it. Until the commit the source keeps its file: a rollback
// restores the VM from it here, so the guest runs on exactly one host and
// its memory is never lost.
//
// It is tried only where it can work, decided before anything is saved:
// the VM runs, the operator did not say live: false, both agents keep a
// memory directory with room for the file, and the target's hypervisor
// can run the saved domain with the target's disk paths (QEMU takes a new
// definition at restore; libxl and libvirt's test driver run the saved
// one, so there the paths must be equal on both hosts). Otherwise the move
// is cold, as before, and the operation says why (VMMigrateProgress.Mode,
// ModeReason).
//
// Caveats: the memory moves in one piece while the guest is paused (save,
// send, restore), not by iterative pre-copy, so the downtime grows with
// the guest's memory and the link's rate (QEMU TCG, 128 MiB guest, a
// 115 MiB file, two agents over loopback on a shared machine: 4.5 s, of
// which save 2.1 s and restore 1.0 s; 14 s under twice the load; a cold
// move of the same guest is 2.4 s down to its start, 16.8 s until it
// counts again, its boot included). The room
// for the file is checked at begin on the target's memory directory, not
// reserved by the ticket (the file is not in the storage pool the ticket
// reserves): two live moves at once may both count on the same room, and
// the second then fails its receive and rolls back, restoring the VM on
// its source. On Xen, libxl restores the saved definition: live only
// where disk paths are equal on both hosts, unverified on real libxl.

// The modes of a VM's move.
const (
	ModeLive = "live"
	ModeCold = "cold"
)

// PassMemory is the pass that carries a saved domain's memory file;
// MemoryID is the id it travels under in the target's receive journal
// (no disk has id 0). Its stream goes to /migration/v1/disk/memory.
const (
	PassMemory       = "memory"
	MemoryID   int64 = 0
	MemoryItem       = "memory"
)

// MemoryOffer is what the source tells the target at begin when the move
// may be live: the domain's disk paths here (the seed last, if any), in
// the domain's order, and its memory. The target answers in
// PeerState.Live whether it can run the saved domain.
type MemoryOffer struct {
	Paths    []string `json:"paths"`
	MemoryMB int64    `json:"memory_mb"`
}

// memorySlack is room a saved file needs beyond the guest's memory: the
// device state and libvirt's header (QEMU's was under 1 MiB for a 128 MiB
// guest).
const memorySlack = 64 << 20

// memoryFileBound is the most a saved file of a guest of mb MB may hold.
func memoryFileBound(mb int64) int64 { return mb<<20 + memorySlack }

// memoryOutPath is where the source saves vm_migrate opID's domain;
// memoryInPath where the target receives vm_migrate_in opID's file. The
// operation's id is in the name, so a sweep finds the files of finished
// operations (OrphanMemory).
func (s *Workflows) memoryOutPath(opID int64) string {
	return filepath.Join(s.cfg.MemoryDir, "xa-mig-"+strconv.FormatInt(opID, 10)+".out.save")
}

func (s *Workflows) memoryInPath(opID int64) string {
	return filepath.Join(s.cfg.MemoryDir, "xa-mig-"+strconv.FormatInt(opID, 10)+".in.save")
}

// memoryRoom is the free bytes in the memory directory.
func memoryRoom(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// ensureMemoryDir makes the memory directory; its files hold guests'
// memory, so only the agent reads them.
func (s *Workflows) ensureMemoryDir() error {
	if s.cfg.MemoryDir == "" {
		return errors.New("this agent keeps no saved memory (no memory directory configured)")
	}
	return os.MkdirAll(s.cfg.MemoryDir, 0o700)
}

// memoryOffer is what the source offers for vm vmID's move, or why it
// cannot be live (the VM does not run, the operator said no, this agent
// has no memory directory).
func (s *Workflows) memoryOffer(ctx context.Context, op store.Operation) (*MemoryOffer, string) {
	in, err := ops.InputOf[VMMigrate](op)
	switch {
	case op.VMID == 0:
		return nil, ""
	case err != nil:
		return nil, err.Error()
	case in.Live != nil && !*in.Live:
		return nil, "the operator asked for a cold move (live: false)"
	case in.Live == nil && !s.hv.RestoreTakesSpec():
		// Xen's libxl (and libvirt's test driver) restore the saved
		// definition as it is. Live on Xen is not proven yet: in the
		// two-host lab the nested target's restore outlived libvirt's
		// deadline. Moving a customer's VM by default the way that
		// is proven (cold) is the safe side; live: true asks for it.
		return nil, "live is not the default where the hypervisor restores the saved definition unchanged (Xen's libxl, libvirt's test driver): ask live: true (xenagentctl -live) to try it"
	}
	if err := s.ensureMemoryDir(); err != nil {
		return nil, err.Error()
	}
	st, err := s.hv.State(ctx, DomainName(op.VMID))
	switch {
	case err != nil:
		return nil, "reading the domain's state: " + err.Error()
	case !st.Running:
		return nil, "the vm does not run: there is no memory to move"
	}
	spec, err := s.DomainSpec(op.VMID)
	if err != nil {
		return nil, err.Error()
	}
	return &MemoryOffer{Paths: specPaths(spec), MemoryMB: max(spec.MemoryMB, spec.MaxMemMB)}, ""
}

// specPaths are a domain's disk paths in its order, the seed last.
func specPaths(spec host.DomainSpec) []string {
	var out []string
	for _, d := range spec.Disks {
		out = append(out, d.Path)
	}
	if spec.Seed != "" {
		out = append(out, spec.Seed)
	}
	return out
}

// LiveVerdict is the target's answer to a source's offer to move b's
// memory: whether it can restore the saved domain here, else why not
// (naming the rule). It reads no records: the disks' volumes here are
// named by their ids.
func (s *Workflows) LiveVerdict(b Bundle) (bool, string) {
	if b.Memory == nil || b.VM == nil {
		return false, ""
	}
	if err := s.ensureMemoryDir(); err != nil {
		return false, "the target: " + err.Error()
	}
	need := memoryFileBound(b.Memory.MemoryMB)
	if room, err := memoryRoom(s.cfg.MemoryDir); err != nil {
		return false, fmt.Sprintf("the target cannot read the free room of %s: %v", s.cfg.MemoryDir, err)
	} else if room < need {
		return false, fmt.Sprintf("the target's %s has %d MiB free; the memory file needs up to %d MiB", s.cfg.MemoryDir, room>>20, need>>20)
	}
	if s.hv.RestoreTakesSpec() {
		return true, ""
	}
	var here []string
	for _, id := range b.VM.DiskIDs {
		here = append(here, s.vols.Path(VolumeName(id)))
	}
	if len(b.Memory.Paths) > len(b.VM.DiskIDs) && s.cfg.Seeds != nil {
		p, _ := s.cfg.Seeds.Path(b.VM.ID)
		here = append(here, p)
	}
	if !slices.Equal(here, b.Memory.Paths) {
		return false, fmt.Sprintf("the target's hypervisor restores the saved definition (libxl, libvirt's test driver), so disk paths must be equal on both hosts: %s there, %s here",
			strings.Join(b.Memory.Paths, ","), strings.Join(here, ","))
	}
	return true, ""
}

// saveForMove saves the domain to path (journalled before by the
// caller). Run again after a crash it finds what the first run did: the
// domain shut off with its file there is saved.
func (s *Workflows) saveForMove(ctx context.Context, name, path string) error {
	st, err := s.hv.State(ctx, name)
	if err != nil {
		return err
	}
	if !st.Running {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("the domain stopped without its memory saved to %s: %w", path, err)
		}
		return nil
	}
	err = s.hv.Save(ctx, name, path)
	if err == nil || ctx.Err() != nil {
		return err
	}
	// A save whose answer was lost (a timeout, libvirtd's connection cut)
	// may have done its work: a failed one leaves the domain running and
	// no file, so a domain shut off with its file is saved.
	if st, serr := s.hv.State(ctx, name); serr == nil && !st.Running {
		if _, ferr := os.Stat(path); ferr == nil {
			s.log.Warn("migration: the save answered an error but saved the vm", "domain", name, "err", err)
			return nil
		}
	}
	return err
}

// restoreHere runs the VM of a rolled back move from the memory file it
// was saved to, and removes the file once it runs. A domain that runs
// already was restored by a run before a crash.
func (s *Workflows) restoreHere(ctx context.Context, r *ops.Run, path string) error {
	name := DomainName(r.Op().VMID)
	st, err := s.hv.State(ctx, name)
	if err != nil {
		return err
	}
	if !st.Running {
		spec, err := s.DomainSpec(r.Op().VMID)
		if err != nil {
			return err
		}
		if err := s.hv.Restore(ctx, path, spec, false); err != nil {
			return fmt.Errorf("restoring vm %d from %s: %w", r.Op().VMID, path, err)
		}
	} else if st.Paused {
		if err := s.hv.Resume(ctx, name); err != nil {
			return err
		}
	}
	if err := s.wireStep(ctx, r); err != nil {
		return err
	}
	return removeFile(path)
}

// removeFile removes path; gone already is done.
func removeFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// memoryFile is the target's receive side of a memory file: written at
// offsets, never truncated (a resumed stream writes on), synced at each
// checkpoint.
type memoryFile struct{ *os.File }

func (f memoryFile) ZeroAt(off, n int64) error {
	// Past the end, extending the file reads as zeros; inside it (a
	// resumed stream over an earlier attempt) zeros are written.
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if off >= st.Size() {
		return f.Truncate(off + n)
	}
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := f.WriteAt(buf[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// MemoryWriter opens the file vm_migrate_in opID receives a saved domain
// into.
func (s *Workflows) MemoryWriter(ctx context.Context, opID int64) (host.VolumeWriter, error) {
	if err := s.ensureMemoryDir(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.memoryInPath(opID), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	return memoryFile{f}, nil
}

// MemoryBound is the most a memory file of vm vmID may hold here.
// MemoryRoom is the free bytes where memory files are received; an
// error when the directory is not there yet.
func (s *Workflows) MemoryRoom() (int64, error) {
	if err := s.ensureMemoryDir(); err != nil {
		return 0, err
	}
	return memoryRoom(s.cfg.MemoryDir)
}

func (s *Workflows) MemoryBound(vmID int64) int64 {
	var mb int64
	s.st.View(func(tx *store.Tx) {
		if v, ok := tx.VM(vmID); ok {
			mb = max(v.Memory, v.MaxMemory)
		}
	})
	return memoryFileBound(mb)
}

// OrphanMemory removes the memory files of migrations that are over
// (keep says which operations still run): a crash between a save or a
// receive and the step that removes the file leaves none behind.
func (s *Workflows) OrphanMemory(ctx context.Context, keep func(opID int64) bool) ([]string, error) {
	if s.cfg.MemoryDir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(s.cfg.MemoryDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "xa-mig-")
		if !ok {
			continue
		}
		idStr, _, _ := strings.Cut(rest, ".")
		id, err := strconv.ParseInt(idStr, 10, 64)
		if err != nil || keep(id) {
			continue
		}
		if err := removeFile(filepath.Join(s.cfg.MemoryDir, e.Name())); err != nil {
			return out, err
		}
		out = append(out, e.Name())
	}
	return out, nil
}

// memoryPass is the saved memory file as one more item of the delta: the
// whole file, onto nothing (the stream's zero markers keep zeros cheap).
func memoryPass(path string) (DiskPass, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return DiskPass{}, fmt.Errorf("the saved memory: %w", err)
	}
	return DiskPass{DiskID: MemoryID, Pass: PassMemory, Path: path, Size: fi.Size(),
		Extents: []host.Extent{{Off: 0, Len: fi.Size()}}}, nil
}
