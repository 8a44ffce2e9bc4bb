// Package lvm is the disk backend for dom0s: one volume group, one thin
// pool. A disk is a thin LV; an image is a read-only thin LV; a clone
// (create_from, snapshot, rollback) is a thin snapshot, constant time
// whatever the size; resize grows only. Every LV the agent makes carries
// the tag "xenagent", and List reports only those, so reconciliation never
// touches a volume someone else made. Its mark (host.Mark) is two
// more tags, set by the lvcreate that makes it: "xa-owner-<instance>" and
// "xa-op-<operation id>". An LV tagged "xenagent" alone was made before
// marks existed.
//
// For moving a volume (host.Extents, lvm_extents.go) a thin LV's data is
// what the pool maps (thin_dump) and what changed since a snapshot what
// the pool maps differently for the two (thin_delta), both read from a
// metadata snapshot of the live pool. Without a pool an LV is all data.
//
// Every command goes through a runner.Runner (argument slices, LC_ALL=C,
// a deadline, retries only for lock contention) and reads JSON reports.
package lvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/storage/runner"
)

// Tag marks the agent's LVs; the owner and op tags carry their mark.
const (
	Tag       = "xenagent"
	ownerTag  = "xa-owner-"
	opTag     = "xa-op-"
	listField = "lv_name,lv_size,lv_tags,data_percent"
)

// markTags are the tags an LV marked m carries.
func markTags(m host.Mark) []string {
	return []string{Tag, ownerTag + m.Owner, opTag + strconv.FormatInt(m.Op, 10)}
}

func addTags(m host.Mark) []string {
	var args []string
	for _, t := range markTags(m) {
		args = append(args, "--addtag", t)
	}
	return args
}

// markOf reads a mark from an LV's tags. Two owner tags make an owner
// that matches no instance (never touched); two op tags an op that
// matches no operation.
func markOf(tags string) host.Mark {
	var m host.Mark
	for _, t := range strings.Split(tags, ",") {
		switch {
		case strings.HasPrefix(t, ownerTag):
			if m.Owner != "" {
				m.Owner += "+" + strings.TrimPrefix(t, ownerTag)
			} else {
				m.Owner = strings.TrimPrefix(t, ownerTag)
			}
		case strings.HasPrefix(t, opTag):
			op, err := strconv.ParseInt(strings.TrimPrefix(t, opTag), 10, 64)
			if err != nil || m.Op != 0 {
				op = -1
			}
			m.Op = op
		}
	}
	return m
}

// markTagsOf are the mark tags an LV carries now.
func markTagsOf(tags string) []string {
	var out []string
	for _, t := range strings.Split(tags, ",") {
		if strings.HasPrefix(t, ownerTag) || strings.HasPrefix(t, opTag) {
			out = append(out, t)
		}
	}
	return out
}

// Errors, classified from LVM's messages.
var (
	ErrNotFound = errors.New("logical volume not found")
	ErrShrink   = errors.New("volumes never shrink")
	ErrNoSpace  = errors.New("not enough space in the volume group or thin pool")
)

// Config names the volume group and thin pool. Without a pool, volumes
// are linear LVs and clones are refused: that mode exists for hosts and
// tests without device-mapper's thin target.
type Config struct {
	VG   string
	Pool string
	// Global arguments added to every command ("--driverloaded", "n" in
	// tests on a kernel without device-mapper).
	Global []string
}

// Backend manages LVs in one VG.
type Backend struct {
	cfg Config
	run runner.Runner
	// metaSnap: the pool holds one metadata snapshot at a time
	// (lvm_extents.go).
	metaSnap sync.Mutex
}

// New returns a backend and checks that the VG (and pool) exist.
func New(ctx context.Context, cfg Config, run runner.Runner) (*Backend, error) {
	if cfg.VG == "" {
		return nil, errors.New("lvm: a volume group is required")
	}
	b := &Backend{cfg: cfg, run: run}
	if _, err := b.report(ctx, "vgs", "vg_name", cfg.VG); err != nil {
		return nil, fmt.Errorf("lvm: volume group %s: %w", cfg.VG, err)
	}
	if cfg.Pool != "" {
		rows, err := b.report(ctx, "lvs", "lv_name,lv_attr", cfg.VG+"/"+cfg.Pool)
		if err != nil {
			return nil, fmt.Errorf("lvm: thin pool %s/%s: %w", cfg.VG, cfg.Pool, err)
		}
		if len(rows) != 1 || !strings.HasPrefix(rows[0]["lv_attr"], "t") {
			return nil, fmt.Errorf("lvm: %s/%s is not a thin pool", cfg.VG, cfg.Pool)
		}
	}
	return b, nil
}

func (b *Backend) lv(name string) string { return b.cfg.VG + "/" + name }

// Path is the block device the hypervisor uses.
func (b *Backend) Path(name string) string { return "/dev/" + b.cfg.VG + "/" + name }

// IsBlock reports that volumes are block devices.
func (b *Backend) IsBlock() bool { return true }

// cmd runs an lvm command with the global arguments and classifies errors.
func (b *Backend) cmd(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{"lvm", args[0]}, b.cfg.Global...)
	full = append(full, args[1:]...)
	out, err := b.run.Run(ctx, full...)
	return out, classify(err)
}

func classify(err error) error {
	var re *runner.Error
	if !errors.As(err, &re) {
		return err
	}
	switch s := strings.ToLower(re.Stderr); {
	case strings.Contains(s, "failed to find logical volume"), strings.Contains(s, "not found"):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case strings.Contains(s, "already exists"):
		return fmt.Errorf("%w: %v", host.ErrExists, err)
	case strings.Contains(s, "insufficient free space"), strings.Contains(s, "insufficient suitable"),
		strings.Contains(s, "would exceed"), strings.Contains(s, "free extents"):
		return fmt.Errorf("%w: %v", ErrNoSpace, err)
	}
	return err
}

// Transient says which LVM failures are worth retrying: lock contention
// and a device briefly held open (udev probing a new LV).
func Transient(e *runner.Error) bool {
	s := e.Stderr
	return strings.Contains(s, "Resource temporarily unavailable") || strings.Contains(s, "Can't get lock") ||
		strings.Contains(s, "is used by another device") || strings.Contains(s, "Logical volume") && strings.Contains(s, "in use")
}

type report struct {
	Report []map[string][]map[string]string `json:"report"`
}

// report runs vgs/lvs with a JSON report and returns its rows.
func (b *Backend) report(ctx context.Context, cmd, fields string, target ...string) ([]map[string]string, error) {
	args := append([]string{cmd, "--reportformat", "json", "--units", "m", "--nosuffix", "-o", fields}, target...)
	out, err := b.cmd(ctx, args...)
	if err != nil {
		return nil, err
	}
	return parseReport(out)
}

func parseReport(out []byte) ([]map[string]string, error) {
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("lvm: parsing report: %w", err)
	}
	var rows []map[string]string
	for _, section := range r.Report {
		for _, list := range section {
			rows = append(rows, list...)
		}
	}
	return rows, nil
}

func parseMB(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("lvm: size %q: %w", s, err)
	}
	return int64(math.Round(f)), nil
}

func hasTag(tags string) bool {
	for _, t := range strings.Split(tags, ",") {
		if t == Tag {
			return true
		}
	}
	return false
}

// Exists reports whether the agent's LV exists.
func (b *Backend) Exists(ctx context.Context, name string) (bool, error) {
	_, err := b.SizeMB(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// SizeMB returns an LV's virtual size.
func (b *Backend) SizeMB(ctx context.Context, name string) (int64, error) {
	size, _, err := b.info(ctx, name)
	return size, err
}

// info returns an LV's virtual size and tags.
func (b *Backend) info(ctx context.Context, name string) (int64, string, error) {
	rows, err := b.report(ctx, "lvs", "lv_name,lv_size,lv_tags", b.lv(name))
	if err != nil {
		return 0, "", err
	}
	if len(rows) != 1 {
		return 0, "", fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	size, err := parseMB(rows[0]["lv_size"])
	return size, rows[0]["lv_tags"], err
}

// claim checks that name is free for an LV marked m, or already the one
// m made (a redo), whose size it returns.
func (b *Backend) claim(ctx context.Context, name string, m host.Mark) (exists bool, size int64, err error) {
	size, tags, err := b.info(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	if have := markOf(tags); !have.Allows(m) {
		return false, 0, fmt.Errorf("volume %s (%s): %w; it is left as it is", name, have, host.ErrExists)
	}
	return true, size, nil
}

// ensureActive activates an LV that exists but is not active: an
// lvcreate killed with the agent can leave it so (the lab showed it), and
// a redo that only checks existence would hand out a path with no device.
func (b *Backend) ensureActive(ctx context.Context, name string) error {
	rows, err := b.report(ctx, "lvs", "lv_name,lv_active", b.lv(name))
	if err != nil {
		return err
	}
	if len(rows) == 1 && rows[0]["lv_active"] == "active" {
		return nil
	}
	_, err = b.cmd(ctx, "lvchange", "-q", "-ay", "-K", b.lv(name))
	return err
}

// Create makes an empty volume marked m; an existing one of the same size
// and mark is kept (and activated), one of another mark is host.ErrExists.
func (b *Backend) Create(ctx context.Context, name string, sizeMB int64, m host.Mark) error {
	if err := m.Valid(); err != nil {
		return err
	}
	if ok, size, err := b.claim(ctx, name, m); err != nil {
		return err
	} else if ok && size == sizeMB {
		return b.ensureActive(ctx, name)
	}
	size := strconv.FormatInt(sizeMB, 10) + "m"
	args := append([]string{"lvcreate", "-q", "-y", "-n", name}, addTags(m)...)
	if b.cfg.Pool != "" {
		args = append(args, "-V", size, "--thinpool", b.lv(b.cfg.Pool))
	} else {
		args = append(args, "-L", size, b.cfg.VG)
	}
	_, err := b.cmd(ctx, args...)
	return err
}

// Clone makes dst, marked m, a thin snapshot of src, active and
// writable, grown to sizeMB if larger. An existing dst of the same mark
// is kept (a redo after a crash); one of another mark is host.ErrExists.
func (b *Backend) Clone(ctx context.Context, src, dst string, sizeMB int64, m host.Mark) error {
	if b.cfg.Pool == "" {
		return errors.New("lvm: clones need a thin pool")
	}
	if err := m.Valid(); err != nil {
		return err
	}
	ok, _, err := b.claim(ctx, dst, m)
	if err != nil {
		return err
	}
	if !ok {
		// -kn: thin snapshots are skipped at activation by default; a disk must activate.
		args := append([]string{"lvcreate", "-q", "-y", "-s", "-kn", "-p", "rw", "-n", dst}, addTags(m)...)
		if _, err := b.cmd(ctx, append(args, b.lv(src))...); err != nil {
			return err
		}
	} else if err := b.ensureActive(ctx, dst); err != nil {
		return err
	}
	cur, tags, err := b.info(ctx, dst)
	if err != nil {
		return err
	}
	// Should a snapshot ever inherit its origin's tags, the source's mark
	// goes: a volume carries its own maker's mark only.
	if stale := staleTags(tags, m); len(stale) > 0 {
		args := []string{"lvchange", "-q"}
		for _, t := range stale {
			args = append(args, "--deltag", t)
		}
		if _, err := b.cmd(ctx, append(args, b.lv(dst))...); err != nil {
			return err
		}
	}
	return b.grow(ctx, dst, cur, sizeMB)
}

// staleTags are the mark tags an LV carries that are not m's.
func staleTags(tags string, m host.Mark) []string {
	want := markTags(m)
	var out []string
	for _, t := range markTagsOf(tags) {
		if !slices.Contains(want, t) {
			out = append(out, t)
		}
	}
	return out
}

// Resize grows a volume; asking for less is ErrShrink.
func (b *Backend) Resize(ctx context.Context, name string, sizeMB int64) error {
	cur, err := b.SizeMB(ctx, name)
	if err != nil {
		return err
	}
	return b.grow(ctx, name, cur, sizeMB)
}

func (b *Backend) grow(ctx context.Context, name string, cur, sizeMB int64) error {
	switch {
	case sizeMB < cur:
		return fmt.Errorf("resizing %s from %d to %d MB: %w", name, cur, sizeMB, ErrShrink)
	case sizeMB == cur:
		return nil
	}
	_, err := b.cmd(ctx, "lvextend", "-q", "-L", strconv.FormatInt(sizeMB, 10)+"m", b.lv(name))
	return err
}

// Rename gives an LV a new name (quarantine, adoption); LVM never
// replaces an existing LV (host.ErrExists).
func (b *Backend) Rename(ctx context.Context, from, to string) error {
	_, err := b.cmd(ctx, "lvrename", "-q", b.cfg.VG, from, to)
	return err
}

// SetMark marks an existing LV (a legacy one the state refers to, an
// adopted one): one lvchange swaps the tags, so it is never half-marked.
func (b *Backend) SetMark(ctx context.Context, name string, m host.Mark) error {
	if err := m.Valid(); err != nil {
		return err
	}
	_, tags, err := b.info(ctx, name)
	if err != nil {
		return err
	}
	args := []string{"lvchange", "-q"}
	for _, t := range staleTags(tags, m) {
		args = append(args, "--deltag", t)
	}
	_, err = b.cmd(ctx, append(append(args, addTags(m)...), b.lv(name))...)
	return err
}

// SetReadOnly makes an LV read-only (images).
func (b *Backend) SetReadOnly(ctx context.Context, name string) error {
	_, err := b.cmd(ctx, "lvchange", "-q", "-p", "r", b.lv(name))
	return err
}

// Delete removes an LV whose mark allows m (same owner; same operation
// unless m.Op is 0); a missing one is fine, one of another mark is
// host.ErrNotOurs and stays.
func (b *Backend) Delete(ctx context.Context, name string, m host.Mark) error {
	_, tags, err := b.info(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if have := markOf(tags); !have.Allows(m) {
		return fmt.Errorf("deleting volume %s (%s): %w; it is left as it is", name, have, host.ErrNotOurs)
	}
	_, err = b.cmd(ctx, "lvremove", "-q", "-y", b.lv(name))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// List returns the agent's LVs (tagged), never anyone else's, with their
// marks; Bytes is what a thin LV holds in the pool.
func (b *Backend) List(ctx context.Context) ([]host.Volume, error) {
	rows, err := b.report(ctx, "lvs", listField, b.cfg.VG)
	if err != nil {
		return nil, err
	}
	var vols []host.Volume
	for _, r := range rows {
		if !hasTag(r["lv_tags"]) {
			continue
		}
		size, err := parseMB(r["lv_size"])
		if err != nil {
			return nil, err
		}
		v := host.Volume{Name: r["lv_name"], SizeMB: size, Bytes: size << 20, Mark: markOf(r["lv_tags"])}
		if pct, err := strconv.ParseFloat(strings.TrimSpace(r["data_percent"]), 64); err == nil {
			v.Bytes = int64(float64(size<<20) * pct / 100)
		}
		vols = append(vols, v)
	}
	return vols, nil
}
