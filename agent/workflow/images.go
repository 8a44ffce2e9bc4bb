package workflow

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/xenagent/xenagent/agent/store"
)

// ImageSpec is an image the operator registers from configuration.
type ImageSpec struct {
	Label, OSArch, KernelVersion, Cmdline, SourceFile string
	SizeMB                                            int64
}

// EnsureImage registers an image once: a public disk of type image (its
// volume made, or filled from SourceFile) and the image record. The
// volume is made before the records, and a crash in between leaves an
// unreferenced volume that reconciliation quarantines.
func (s *Workflows) EnsureImage(ctx context.Context, spec ImageSpec) error {
	exists := false
	s.st.View(func(tx *store.Tx) {
		tx.EachImage(func(i *store.Image) bool {
			exists = exists || i.Label == spec.Label
			return !exists
		})
	})
	if exists {
		return nil
	}
	var diskID int64
	if err := s.st.Update(func(tx *store.Tx) error {
		diskID = tx.NextID("disk", s.taken.DiskIDFree(tx))
		return nil
	}); err != nil {
		return err
	}
	vol := VolumeName(diskID)
	if err := s.madeVolume(vol, s.vols.Create(ctx, vol, spec.SizeMB, s.ownMark(0))); err != nil {
		return err
	}
	if spec.SourceFile != "" {
		if err := fill(s.vols.Path(vol), spec.SourceFile); err != nil {
			s.vols.Delete(ctx, vol, s.ownMark(0))
			return err
		}
	}
	// Images are shared by every disk made from them: nothing writes them.
	if err := s.vols.SetReadOnly(ctx, vol); err != nil {
		s.vols.Delete(ctx, vol, s.ownMark(0))
		return err
	}
	return s.st.Update(func(tx *store.Tx) error {
		t := now()
		tx.PutDisk(store.Disk{ID: diskID, DatacenterID: s.cfg.DatacenterID, Name: spec.Label, SizeMB: spec.SizeMB,
			State: store.DiskCreated, Type: store.DiskTypeImage, KernelVersion: spec.KernelVersion, Cmdline: spec.Cmdline,
			Label: spec.Label, Visibility: "all", Volume: vol, DateCreated: t, DateUpdated: t})
		tx.PutImage(store.Image{ID: tx.NextID("image", func(n int64) bool { _, ok := tx.Image(n); return ok }),
			Label: spec.Label, OSArch: spec.OSArch, DatacenterID: s.cfg.DatacenterID, DiskID: diskID,
			Visibility: "all", DateCreated: t, DateUpdated: t})
		return nil
	})
}

func fill(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("image source: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
