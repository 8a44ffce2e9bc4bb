package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func TestJudgeVolume(t *testing.T) {
	const me, other = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"
	now := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	op := func(id int64, typ, step string, disk int64) *store.Operation {
		return &store.Operation{ID: id, Type: typ, Step: step, DiskID: disk}
	}
	vol := func(name, owner string, opID int64) host.Volume {
		return host.Volume{Name: name, Mark: host.Mark{Owner: owner, Op: opID}}
	}
	partial := func(v host.Volume) host.Volume { v.Partial = true; v.Name += ".tmp"; return v }
	tests := []struct {
		name string
		v    host.Volume
		f    volFacts
		want volVerdict
	}{
		{"referenced, ours", vol("xa-disk-1", me, 4), volFacts{Referenced: true}, volKeep},
		{"referenced, legacy: claimed", vol("xa-disk-1", "", 0), volFacts{Referenced: true}, volClaim},
		{"referenced, another's: kept, not claimed", vol("xa-disk-1", other, 4), volFacts{Referenced: true}, volKeep},
		{"create failed and rolled back", vol("xa-disk-7", me, 9), volFacts{Op: op(9, "disk_create", store.StepError, 7)}, volDelete},
		{"create cancelled", vol("xa-disk-7", me, 9), volFacts{Op: op(9, "disk_create", store.StepCancel, 7)}, volDelete},
		{"rollback clone abandoned", vol("xa-disk-7", me, 9), volFacts{Op: op(9, "disk_rollback", store.StepError, 7)}, volDelete},
		{"op in flight", vol("xa-disk-7", me, 9), volFacts{Op: op(9, "disk_create", store.StepRun, 7)}, volKeep},
		{"op waiting", vol("xa-disk-7", me, 9), volFacts{Op: op(9, "disk_create", store.StepWait, 7)}, volKeep},
		// An older state.db restored, or the op pruned: no proof.
		{"op not in the journal", vol("xa-disk-7", me, 9), volFacts{}, volQuarantine},
		{"op finished DONE: it kept the volume", vol("xa-disk-7", me, 9), volFacts{Op: op(9, "disk_create", store.StepDone, 7)}, volQuarantine},
		// An id reused after a restore: op 9 is now something else.
		{"op of another type", vol("xa-disk-7", me, 9), volFacts{Op: op(9, "vm_start", store.StepError, 0)}, volQuarantine},
		{"op made another disk", vol("xa-disk-7", me, 9), volFacts{Op: op(9, "disk_create", store.StepError, 8)}, volQuarantine},
		{"no op (an image, adopted)", vol("xa-disk-7", me, 0), volFacts{}, volQuarantine},
		{"ambiguous op", vol("xa-disk-7", me, -1), volFacts{}, volQuarantine},
		{"another instance's", vol("xa-disk-7", other, 9), volFacts{}, volForeign},
		// The op is only looked up for our own marks, but even a matching
		// failed op never lets another instance's volume go.
		{"another instance's with a matching op", vol("xa-disk-7", other, 9), volFacts{Op: op(9, "disk_create", store.StepError, 7)}, volForeign},
		{"legacy unreferenced", vol("xa-disk-7", "", 0), volFacts{}, volLeft},
		{"not a name the agent makes", vol("lost+found", me, 9), volFacts{Op: op(9, "disk_create", store.StepError, 7)}, volIgnored},
		{"quarantined, young", vol(host.Quarantined("xa-disk-7", now.Add(-time.Hour)), me, 9), volFacts{KeepFor: 24 * time.Hour}, volQuarantined},
		{"quarantined, expired", vol(host.Quarantined("xa-disk-7", now.Add(-25*time.Hour)), me, 9), volFacts{KeepFor: 24 * time.Hour}, volExpired},
		{"quarantined, expired to the second", vol(host.Quarantined("xa-disk-7", now.Add(-24*time.Hour)), me, 9), volFacts{KeepFor: 24 * time.Hour}, volExpired},
		{"quarantined, kept forever", vol(host.Quarantined("xa-disk-7", now.AddDate(-5, 0, 0)), me, 9), volFacts{KeepFor: 0}, volQuarantined},
		{"quarantined by another instance", vol(host.Quarantined("xa-disk-7", now.AddDate(-1, 0, 0)), other, 9), volFacts{KeepFor: time.Hour}, volForeign},
		{"quarantined, unmarked", vol(host.Quarantined("xa-disk-7", now.AddDate(-1, 0, 0)), "", 0), volFacts{KeepFor: time.Hour}, volLeft},
		// A quarantined volume is never "proven abandoned": only expiry removes it.
		{"quarantined, its op failed", vol(host.Quarantined("xa-disk-7", now), me, 9), volFacts{Op: op(9, "disk_create", store.StepError, 7), KeepFor: time.Hour}, volQuarantined},
		{"partial of a referenced disk", partial(vol("xa-disk-7", me, 9)), volFacts{Referenced: true}, volKeep},
		{"partial, op in flight", partial(vol("xa-disk-7", me, 9)), volFacts{Op: op(9, "disk_create", store.StepRun, 7)}, volKeep},
		{"partial, op finished", partial(vol("xa-disk-7", me, 9)), volFacts{Op: op(9, "disk_create", store.StepDone, 7)}, volDelete},
		{"partial, op unknown", partial(vol("xa-disk-7", me, 9)), volFacts{}, volLeft},
		{"partial, another's", partial(vol("xa-disk-7", other, 9)), volFacts{}, volForeign},
		{"partial, unmarked", partial(vol("xa-disk-7", "", 0)), volFacts{}, volLeft},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Instance, tt.f.Now = me, now
			if tt.f.Op != nil && tt.v.Mark.Owner != me {
				tt.f.Op = nil // reconcileVolumes looks ops up for our marks only
			}
			got, why := judgeVolume(tt.v, tt.f)
			if got != tt.want {
				t.Fatalf("verdict %s (%s), want %s", got, why, tt.want)
			}
			if why == "" {
				t.Fatal("no reason given")
			}
		})
	}
}

// The rule never deletes what it cannot prove: across every mark,
// reference and operation outcome, a delete needs our mark, no record,
// and a finished volume-making op for this very disk that did not keep it.
func TestJudgeVolumeDeletesOnlyWithProof(t *testing.T) {
	const me = "aaaaaaaaaaaaaaaa"
	now := time.Now()
	for _, owner := range []string{me, "bbbbbbbbbbbbbbbb", ""} {
		for _, ref := range []bool{false, true} {
			for _, typ := range []string{"disk_create", "disk_rollback", "disk_delete", "vm_create"} {
				for _, step := range []string{store.StepWait, store.StepRun, store.StepDone, store.StepError, store.StepCancel} {
					for _, disk := range []int64{7, 8} {
						v := host.Volume{Name: "xa-disk-7", Mark: host.Mark{Owner: owner, Op: 9}}
						f := volFacts{Instance: me, Referenced: ref, Now: now, Op: &store.Operation{ID: 9, Type: typ, Step: step, DiskID: disk}}
						got, _ := judgeVolume(v, f)
						proof := owner == me && !ref && (typ == "disk_create" || typ == "disk_rollback") && disk == 7 &&
							(step == store.StepError || step == store.StepCancel)
						if (got == volDelete) != proof {
							t.Errorf("owner %q referenced %v op %s/%s disk %d: %s", owner, ref, typ, step, disk, got)
						}
					}
				}
			}
		}
	}
}

// reconcileVolumes applies the rule to a real file backend: the volume of
// a failed disk_create goes, one whose op the journal lacks is
// quarantined, another instance's and an unmarked one stay, a legacy one
// a record names is marked, and /metrics counts what is aside.
func TestReconcileVolumes(t *testing.T) {
	a := newAgent(t, false)
	ctx := context.Background()
	const failedOp, failedDisk = 900, 901
	a.st.Update(func(tx *store.Tx) error {
		tx.PutOperation(store.Operation{ID: failedOp, Type: "disk_create", Step: store.StepError, DiskID: failedDisk})
		return nil
	})
	other := host.Mark{Owner: "0ther0ther0ther0", Op: 3}
	for _, c := range []struct {
		name string
		m    host.Mark
	}{{volumeName(failedDisk), a.svc.ownMark(failedOp)}, {volumeName(902), a.svc.ownMark(12345)}, {volumeName(903), other}} {
		if err := a.vols.Create(ctx, c.name, 1, c.m); err != nil {
			t.Fatal(err)
		}
	}
	// A legacy volume, unmarked: one a record names, one nothing names.
	for _, n := range []string{volumeName(904), volumeName(905)} {
		if err := os.WriteFile(a.vols.Path(n), make([]byte, 1<<20), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	a.st.Update(func(tx *store.Tx) error {
		tx.PutDisk(store.Disk{ID: 904, AccountID: a.alice.AccountID, Volume: volumeName(904), State: store.DiskCreated, Type: store.DiskTypeData, SizeMB: 1})
		return nil
	})
	if err := a.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	vols, _ := a.vols.List(ctx)
	byName := map[string]host.Volume{}
	quarantined := 0
	for _, v := range vols {
		byName[v.Name] = v
		if orig, _, ok := host.ParseQuarantined(v.Name); ok && orig == volumeName(902) && v.Mark == a.svc.ownMark(12345) {
			quarantined++
		}
	}
	if _, ok := byName[volumeName(failedDisk)]; ok {
		t.Error("the volume of a failed disk_create survived")
	}
	if quarantined != 1 {
		t.Errorf("the volume of an unknown operation was not quarantined: %v", byName)
	}
	if v, ok := byName[volumeName(903)]; !ok || v.Mark != other {
		t.Errorf("another instance's volume: %+v, %v", v, ok)
	}
	if v := byName[volumeName(904)]; v.Mark != a.svc.ownMark(0) {
		t.Errorf("a legacy volume a record names is marked %v", v.Mark)
	}
	if v, ok := byName[volumeName(905)]; !ok || !v.Mark.IsZero() {
		t.Errorf("an unreferenced legacy volume: %+v, %v", v, ok)
	}
	var m strings.Builder
	a.svc.WriteVolumeMetrics(&m)
	// Each volume is 1 MB in size; what it holds is what the listing says
	// (sparse ones hold next to nothing): both are reported, by name.
	want := []string{`xenagent_volumes{kind="quarantined"} 1`, `xenagent_volumes{kind="foreign"} 1`, `xenagent_volumes{kind="unmarked"} 1`}
	for kind, v := range map[string]host.Volume{"foreign": byName[volumeName(903)], "unmarked": byName[volumeName(905)]} {
		want = append(want, fmt.Sprintf(`xenagent_volume_size_bytes{kind=%q} %d`, kind, 1<<20),
			fmt.Sprintf(`xenagent_volume_allocated_bytes{kind=%q} %d`, kind, v.Bytes))
	}
	want = append(want, `xenagent_volume_size_bytes{kind="quarantined"} 1048576`,
		"# HELP xenagent_volume_size_bytes Size of", "# HELP xenagent_volume_allocated_bytes Space those volumes take")
	for _, want := range want {
		if !strings.Contains(m.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, m.String())
		}
	}
	// The next disk id skips every name on the storage (902's went aside).
	a.st.View(func(tx *store.Tx) {
		free := a.svc.diskIDFree(tx)
		for n, taken := range map[int64]bool{902: false, 903: true, 905: true, 904: true} {
			if free(n) != taken {
				t.Errorf("disk id %d taken = %v, want %v", n, !taken, taken)
			}
		}
	})
}

// GuardVolumes refuses a state that knows no disk over other instances'
// volumes, says what it found, and lets the operator through.
func TestGuardVolumes(t *testing.T) {
	a := newAgent(t, false)
	ctx := context.Background()
	if err := a.svc.GuardVolumes(ctx, "disks dir X", false); err != nil {
		t.Fatalf("own state with disks: %v", err)
	}
	// A new, empty state over the same disks dir.
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fresh := New(a.svc.cfg, st, ops.New(st, a.svc.log, ops.Config{}), a.hv, a.vols, a.svc.log)
	err = fresh.GuardVolumes(ctx, "disks dir X", false)
	if !errors.Is(err, ErrForeignVolumes) || !strings.Contains(err.Error(), a.st.Instance()) || !strings.Contains(err.Error(), "disks dir X") {
		t.Fatalf("err = %v", err)
	}
	if err := fresh.GuardVolumes(ctx, "disks dir X", true); err != nil {
		t.Fatalf("with allow: %v", err)
	}
}
