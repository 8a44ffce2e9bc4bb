package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// What reconciliation does with a volume no disk record may refer to.
// The rule (judgeVolume) deletes only what this agent can prove it made
// and abandoned; anything else of its own is set aside (quarantined) for
// [storage] quarantine_for, and what another instance made, or what was
// made before marks existed, is never touched.
type volVerdict int

const (
	volKeep        volVerdict = iota // a record refers to it, or an unfinished operation is making it
	volClaim                         // unmarked (legacy) but a record refers to it: mark it this agent's
	volDelete                        // this agent's, made by an operation that finished without keeping it
	volQuarantine                    // this agent's, unreferenced, no proof it was abandoned: set aside
	volQuarantined                   // already set aside, kept until it expires
	volExpired                       // set aside longer than quarantine_for: removed
	volForeign                       // another instance's: never touched
	volLeft                          // unmarked and unreferenced, or half-made by an unknown maker: left, reported
	volIgnored                       // not a name the agent makes
)

var verdictNames = [...]string{"keep", "claim", "delete", "quarantine", "quarantined", "expired", "foreign", "left", "ignored"}

func (v volVerdict) String() string { return verdictNames[v] }

// volFacts is what the state says about one volume.
type volFacts struct {
	Instance   string
	Referenced bool             // a disk record names it
	Op         *store.Operation // the operation its mark names, when the journal has it
	Now        time.Time
	KeepFor    time.Duration // how long quarantined volumes are kept; 0 is forever
}

// volumeMakers are the operation types that make a disk's volume, named
// after op.DiskID; their undo removes it.
var volumeMakers = []string{"disk_create", "disk_rollback", "vm_rebuild"}

// judgeVolume decides, from the volume's name and mark and what the state
// says, what reconciliation may do; why says it for the log.
func judgeVolume(v host.Volume, f volFacts) (verdict volVerdict, why string) {
	ours := v.Mark.Owner == f.Instance
	switch {
	case !strings.HasPrefix(v.Name, "xa-"):
		return volIgnored, "not a name the agent makes"
	case v.Partial:
		switch {
		case f.Referenced:
			return volKeep, "half-made volume of a disk the state knows; its operation redoes it"
		case ours && f.Op != nil && !f.Op.Finished():
			return volKeep, "half-made by an unfinished operation"
		case ours && f.Op != nil:
			return volDelete, fmt.Sprintf("half-made by operation %d, which finished %s", f.Op.ID, f.Op.Step)
		case v.Mark.IsZero() || ours:
			return volLeft, "half-made volume whose maker the state does not know"
		}
		return volForeign, "half-made by another agent instance"
	case f.Referenced:
		switch {
		case v.Mark.IsZero():
			return volClaim, "made before volume marks; a disk record refers to it"
		case !ours:
			return volKeep, fmt.Sprintf("a disk record refers to it, but it is marked by instance %s: not re-marked", v.Mark.Owner)
		}
		return volKeep, "a disk record refers to it"
	}
	if _, at, ok := host.ParseQuarantined(v.Name); ok {
		switch {
		case v.Mark.IsZero():
			return volLeft, "quarantined, without a mark"
		case !ours:
			return volForeign, "quarantined by another agent instance"
		case f.KeepFor > 0 && !f.Now.Before(at.Add(f.KeepFor)):
			return volExpired, fmt.Sprintf("quarantined at %s, kept %s", at.Format(time.RFC3339), f.KeepFor)
		}
		return volQuarantined, fmt.Sprintf("quarantined at %s", at.Format(time.RFC3339))
	}
	switch {
	case v.Mark.IsZero():
		return volLeft, "made before volume marks (or not by xenagent) and no disk record refers to it"
	case !ours:
		return volForeign, "made by another agent instance"
	case v.Mark.Op == 0:
		return volQuarantine, "no disk record refers to it and no operation made it"
	case f.Op == nil:
		return volQuarantine, fmt.Sprintf("no disk record refers to it and its operation %d is not in the journal (an older state.db, or pruned)", v.Mark.Op)
	case !f.Op.Finished():
		return volKeep, fmt.Sprintf("operation %d is still making it", f.Op.ID)
	case slices.Contains(volumeMakers, f.Op.Type) && workflow.VolumeName(f.Op.DiskID) == v.Name &&
		(f.Op.Step == store.StepError || f.Op.Step == store.StepCancel):
		return volDelete, fmt.Sprintf("its operation %d (%s) ended %s without keeping it", f.Op.ID, f.Op.Type, f.Op.Step)
	}
	return volQuarantine, fmt.Sprintf("no disk record refers to it, and its operation %d (%s, %s) does not prove it was abandoned", f.Op.ID, f.Op.Type, f.Op.Step)
}

// VolumeTally counts volumes of one kind. A volume has two sizes, and
// both are reported, each named for what it is: SizeBytes is the
// volume's size (what a disk adopted from it holds, what adopt lists),
// AllocatedBytes the space it takes on the storage (allocated blocks of
// a sparse file, the used part of a thin LV), far less for a volume
// mostly never written.
type VolumeTally struct {
	Count, SizeBytes, AllocatedBytes int64
}

func (t *VolumeTally) add(v host.Volume, n int64) {
	t.Count += n
	t.SizeBytes += n * v.SizeMB << 20
	t.AllocatedBytes += n * v.Bytes
}

// VolumeCounts is what the last reconciliation left aside, for /metrics.
type VolumeCounts struct {
	Quarantined, Foreign, Unmarked VolumeTally
}

// allocatedMB is allocated space for the log, in MB rounded up: only a
// volume holding nothing says 0.
func allocatedMB(bytes int64) int64 { return (bytes + 1<<20 - 1) >> 20 }

// volumeState is what the service remembers of the storage between
// reconciliations.
type volumeState struct {
	mu     sync.Mutex
	counts VolumeCounts
	// taken holds the names of volumes on the storage that no record
	// knows: disk ids whose volume name is taken are never allocated
	// (two agents sharing a disks dir or VG, legacy volumes).
	taken  map[string]bool
	listed bool // the start-up listing was logged
}

// reconcileVolumes applies judgeVolume to every volume. It lists the
// storage before reading the state: a volume made meanwhile has its
// record or operation in the state read after, and is never taken for
// an orphan.
func (s *Reconciler) reconcileVolumes(ctx context.Context, rep *ReconcileReport) error {
	vols, err := s.vols.List(ctx)
	if err != nil {
		return err
	}
	p := s.newVolumePass(vols, rep)
	for _, v := range vols {
		if err := s.settleVolume(ctx, p, v); err != nil {
			return err
		}
	}
	s.wf.Taken().Set(p.present, false)
	s.volState.mu.Lock()
	s.volState.counts = p.counts
	s.volState.mu.Unlock()
	if p.atStart || len(rep.QuarantinedVolumes) > 0 {
		s.logVolumePass(p)
	}
	return nil
}

// volumePass is one reconcileVolumes: what it read of the state, and
// what it tallies volume by volume.
type volumePass struct {
	rep        *ReconcileReport
	inst       string
	now        time.Time
	atStart    bool                      // the first pass since the agent started logs every volume it leaves aside
	referenced map[string]bool           // volume names disk records refer to
	ops        map[int64]store.Operation // the operations this instance's volumes' marks name
	counts     VolumeCounts              // for /metrics
	foreign    map[string]int            // volumes of other instances, by instance
	present    []string                  // names on the storage no record knows, for Taken
}

// newVolumePass reads what the state says about the listed volumes.
func (s *Reconciler) newVolumePass(vols []host.Volume, rep *ReconcileReport) *volumePass {
	p := &volumePass{rep: rep, inst: s.st.Instance(), referenced: map[string]bool{}, ops: map[int64]store.Operation{}, foreign: map[string]int{}}
	s.st.View(func(tx *store.Tx) {
		tx.EachDisk(func(d *store.Disk) bool { p.referenced[d.Volume] = true; return true })
		for _, v := range vols {
			if v.Mark.Owner == p.inst && v.Mark.Op > 0 {
				if op, ok := tx.Operation(v.Mark.Op); ok {
					p.ops[op.ID] = op
				}
			}
		}
	})
	s.volState.mu.Lock()
	p.atStart = !s.volState.listed
	s.volState.listed = true
	s.volState.mu.Unlock()
	p.now = time.Now()
	return p
}

// settleVolume judges one volume and acts on the verdict.
func (s *Reconciler) settleVolume(ctx context.Context, p *volumePass, v host.Volume) error {
	f := volFacts{Instance: p.inst, Referenced: p.referenced[strings.TrimSuffix(v.Name, ".tmp")], Now: p.now, KeepFor: s.cfg.QuarantineFor}
	if op, ok := p.ops[v.Mark.Op]; ok && v.Mark.Owner == p.inst {
		f.Op = &op
	}
	verdict, why := judgeVolume(v, f)
	if verdict == volDelete || verdict == volExpired {
		return s.removeVolume(ctx, p, v, verdict, why)
	}
	name, err := s.applyVolumeVerdict(ctx, p, v, verdict, why)
	if err != nil {
		return err
	}
	if !f.Referenced {
		p.present = append(p.present, name)
	}
	return nil
}

// removeVolume deletes an abandoned or expired volume, if its mark still
// allows it; one the storage says is not ours stays, and stays taken.
func (s *Reconciler) removeVolume(ctx context.Context, p *volumePass, v host.Volume, verdict volVerdict, why string) error {
	want := host.Mark{Owner: p.inst}
	if verdict == volDelete {
		want.Op = v.Mark.Op
	}
	if err := s.vols.Delete(ctx, v.Name, want); err != nil {
		if errors.Is(err, host.ErrNotOurs) {
			s.log.Warn("volume left in place: not made by this agent or operation", "volume", v.Name, "err", err)
			p.present = append(p.present, v.Name)
			return nil
		}
		return err
	}
	s.log.Info("volume removed", "volume", v.Name, "size_mb", v.SizeMB, "allocated_mb", allocatedMB(v.Bytes), "why", why)
	p.rep.OrphanVolumes = append(p.rep.OrphanVolumes, v.Name)
	return nil
}

// applyVolumeVerdict acts on any verdict but removal, tallies the volume
// and returns the name it has afterwards (a quarantined one is renamed).
func (s *Reconciler) applyVolumeVerdict(ctx context.Context, p *volumePass, v host.Volume, verdict volVerdict, why string) (string, error) {
	name := v.Name
	switch verdict {
	case volQuarantine:
		name = host.Quarantined(v.Name, p.now)
		if err := s.vols.Rename(ctx, v.Name, name); err != nil {
			return name, fmt.Errorf("quarantining volume %s: %w", v.Name, err)
		}
		s.log.Warn("volume quarantined", "volume", v.Name, "as", name, "size_mb", v.SizeMB, "allocated_mb", allocatedMB(v.Bytes), "why", why, "kept_for", keepFor(s.cfg.QuarantineFor))
		p.rep.QuarantinedVolumes = append(p.rep.QuarantinedVolumes, v.Name)
		p.counts.Quarantined.add(v, 1)
	case volQuarantined:
		if p.atStart {
			s.log.Warn("volume in quarantine", "volume", v.Name, "size_mb", v.SizeMB, "allocated_mb", allocatedMB(v.Bytes), "why", why, "kept_for", keepFor(s.cfg.QuarantineFor))
		}
		p.counts.Quarantined.add(v, 1)
	case volClaim:
		if err := s.vols.SetMark(ctx, v.Name, host.Mark{Owner: p.inst}); err != nil {
			return name, fmt.Errorf("marking volume %s: %w", v.Name, err)
		}
		s.log.Info("volume marked as this agent's", "volume", v.Name, "why", why)
	case volForeign:
		p.foreign[v.Mark.Owner]++
		p.counts.Foreign.add(v, 1)
	case volLeft:
		if p.atStart {
			s.log.Warn("volume left untouched", "volume", v.Name, "size_mb", v.SizeMB, "allocated_mb", allocatedMB(v.Bytes), "why", why)
		}
		p.counts.Unmarked.add(v, 1)
	case volKeep:
		if p.referenced[v.Name] && v.Mark.Owner != p.inst && p.atStart {
			s.log.Warn("volume kept", "volume", v.Name, "why", why)
		}
	}
	return name, nil
}

// logVolumePass sums up what a pass left aside: at start, and whenever
// it quarantined something.
func (s *Reconciler) logVolumePass(p *volumePass) {
	owners := make([]string, 0, len(p.foreign))
	for o, n := range p.foreign {
		owners = append(owners, fmt.Sprintf("%s:%d", o, n))
	}
	sort.Strings(owners)
	c := p.counts
	level := s.log.Info
	if c.Quarantined.Count+c.Foreign.Count+c.Unmarked.Count > 0 {
		level = s.log.Warn
	}
	level("volumes not in the state", "quarantined", c.Quarantined.Count,
		"quarantined_size_mb", c.Quarantined.SizeBytes>>20, "quarantined_allocated_mb", allocatedMB(c.Quarantined.AllocatedBytes),
		"newly_quarantined", len(p.rep.QuarantinedVolumes), "removed", len(p.rep.OrphanVolumes),
		"other_instances", c.Foreign.Count, "by_instance", strings.Join(owners, ","), "unmarked", c.Unmarked.Count,
		"kept_for", keepFor(s.cfg.QuarantineFor))
}

func keepFor(d time.Duration) string {
	if d == 0 {
		return "forever"
	}
	return d.String()
}

// ExpireQuarantine removes this agent's quarantined volumes older than
// quarantine_for, every interval until ctx ends (reconciliation does it
// at start too).
func (s *Reconciler) ExpireQuarantine(ctx context.Context, every time.Duration) {
	if s.cfg.QuarantineFor == 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		vols, err := s.vols.List(ctx)
		if err != nil {
			s.log.Warn("listing volumes for quarantine expiry", "err", err)
			continue
		}
		for _, v := range vols {
			if verdict, why := judgeVolume(v, volFacts{Instance: s.st.Instance(), Now: time.Now(), KeepFor: s.cfg.QuarantineFor}); verdict == volExpired {
				if err := s.vols.Delete(ctx, v.Name, host.Mark{Owner: s.st.Instance()}); err != nil {
					s.log.Warn("removing an expired quarantined volume", "volume", v.Name, "err", err)
					continue
				}
				s.log.Info("volume removed", "volume", v.Name, "size_mb", v.SizeMB, "allocated_mb", allocatedMB(v.Bytes), "why", why)
				s.volState.mu.Lock()
				s.volState.counts.Quarantined.add(v, -1)
				s.volState.mu.Unlock()
			}
		}
	}
}

// WriteVolumeMetrics is the collector of the volumes the agent left
// aside: how many, their size and what they take, by kind.
func (s *Reconciler) WriteVolumeMetrics(w *metrics.Writer) {
	s.volState.mu.Lock()
	c := s.volState.counts
	s.volState.mu.Unlock()
	kinds := []struct {
		name string
		t    VolumeTally
	}{{"quarantined", c.Quarantined}, {"foreign", c.Foreign}, {"unmarked", c.Unmarked}}
	for _, m := range []struct {
		name, help string
		val        func(VolumeTally) int64
	}{
		{"xenagent_volumes", "Volumes no disk record refers to, by kind: quarantined (this agent's, kept for [storage] quarantine_for), foreign (another agent instance's), unmarked (from before volume marks).",
			func(t VolumeTally) int64 { return t.Count }},
		{"xenagent_volume_size_bytes", "Size of those volumes, what adopt lists and a disk adopted from them holds.",
			func(t VolumeTally) int64 { return t.SizeBytes }},
		{"xenagent_volume_allocated_bytes", "Space those volumes take on the storage: allocated blocks of sparse files, used part of thin LVs (less than their size when never fully written).",
			func(t VolumeTally) int64 { return t.AllocatedBytes }},
	} {
		for _, k := range kinds {
			w.Gauge(m.name, m.help, float64(m.val(k.t)), "kind", k.name)
		}
	}
}

// ErrForeignVolumes is why the agent refuses an empty state over a
// storage holding other agents' volumes.
var ErrForeignVolumes = errors.New("refusing to start")

// GuardVolumes runs before anything is created at start. A state that
// knows no disk over a storage (where, for the message) holding volumes
// made by xenagent that are not this instance's is, almost always, an
// empty or mistyped state_dir or the wrong config: starting would set
// them all aside. It refuses, saying what it found, unless allowForeign
// (serve --allow-foreign-volumes) says the operator knows.
func (s *Reconciler) GuardVolumes(ctx context.Context, where string, allowForeign bool) error {
	vols, err := s.vols.List(ctx)
	if err != nil {
		return fmt.Errorf("listing volumes: %w", err)
	}
	inst := s.st.Instance()
	disks := 0
	s.st.View(func(tx *store.Tx) { tx.EachDisk(func(*store.Disk) bool { disks++; return true }) })
	byOwner := map[string]int{}
	var names, examples []string
	var total int
	for _, v := range vols {
		names = append(names, v.Name)
		if !strings.HasPrefix(v.Name, "xa-") || v.Mark.Owner == inst {
			continue
		}
		total++
		owner := v.Mark.Owner
		if owner == "" {
			owner = "unmarked (made before volume marks)"
		}
		byOwner[owner]++
		if len(examples) < 5 {
			examples = append(examples, v.Name)
		}
	}
	s.wf.Taken().Set(names, false)
	if disks > 0 || total == 0 {
		return nil
	}
	var found []string
	for o, n := range byOwner {
		found = append(found, fmt.Sprintf("%d of instance %s", n, o))
	}
	sort.Strings(found)
	if allowForeign {
		s.log.Warn("starting with a state that knows no disk over volumes made by other xenagent instances, as --allow-foreign-volumes asks; they are left untouched",
			"instance", inst, "storage", where, "volumes", total, "found", strings.Join(found, "; "))
		return nil
	}
	return fmt.Errorf("%w: this state (instance %s) knows no disk, but %s holds %d volumes made by xenagent: %s (for example %s). "+
		"Likely causes: state_dir is empty or mistyped (a new, empty state.db was just made there), an older state was not restored, "+
		"or the config points at another agent's disks dir or volume group. Nothing else was changed. "+
		"If the state is right and these volumes are not this agent's, start once with `xenagent serve --allow-foreign-volumes`: they are left untouched and reported. "+
		"To take them over, stop the agent and run `xenagent adopt --config FILE --account ID VOLUME...`",
		ErrForeignVolumes, inst, where, total, strings.Join(found, "; "), strings.Join(examples, ", "))
}
