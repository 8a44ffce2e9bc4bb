package reconcile

import (
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
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
