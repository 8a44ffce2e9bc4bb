package gandi

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

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/metrics/metricstest"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

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
	}{{workflow.VolumeName(failedDisk), host.Mark{Owner: a.st.Instance(), Op: failedOp}}, {workflow.VolumeName(902), host.Mark{Owner: a.st.Instance(), Op: 12345}}, {workflow.VolumeName(903), other}} {
		if err := a.vols.Create(ctx, c.name, 1, c.m); err != nil {
			t.Fatal(err)
		}
	}
	// A legacy volume, unmarked: one a record names, one nothing names.
	for _, n := range []string{workflow.VolumeName(904), workflow.VolumeName(905)} {
		if err := os.WriteFile(a.vols.Path(n), make([]byte, 1<<20), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	a.st.Update(func(tx *store.Tx) error {
		tx.PutDisk(store.Disk{ID: 904, AccountID: a.alice.AccountID, Volume: workflow.VolumeName(904), State: store.DiskCreated, Type: store.DiskTypeData, SizeMB: 1})
		return nil
	})
	if err := a.rec.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	vols, _ := a.vols.List(ctx)
	byName := map[string]host.Volume{}
	quarantined := 0
	for _, v := range vols {
		byName[v.Name] = v
		if orig, _, ok := host.ParseQuarantined(v.Name); ok && orig == workflow.VolumeName(902) && v.Mark == (host.Mark{Owner: a.st.Instance(), Op: 12345}) {
			quarantined++
		}
	}
	if _, ok := byName[workflow.VolumeName(failedDisk)]; ok {
		t.Error("the volume of a failed disk_create survived")
	}
	if quarantined != 1 {
		t.Errorf("the volume of an unknown operation was not quarantined: %v", byName)
	}
	if v, ok := byName[workflow.VolumeName(903)]; !ok || v.Mark != other {
		t.Errorf("another instance's volume: %+v, %v", v, ok)
	}
	if v := byName[workflow.VolumeName(904)]; v.Mark != (host.Mark{Owner: a.st.Instance(), Op: 0}) {
		t.Errorf("a legacy volume a record names is marked %v", v.Mark)
	}
	if v, ok := byName[workflow.VolumeName(905)]; !ok || !v.Mark.IsZero() {
		t.Errorf("an unreferenced legacy volume: %+v, %v", v, ok)
	}
	var m strings.Builder
	reg := metrics.NewRegistry()
	reg.Register(a.rec.WriteVolumeMetrics)
	if err := reg.Write(&m); err != nil {
		t.Fatal(err)
	}
	metricstest.Check(t, []byte(m.String()))
	// Each volume is 1 MB in size; what it holds is what the listing says
	// (sparse ones hold next to nothing): both are reported, by name.
	want := []string{`xenagent_volumes{kind="quarantined"} 1`, `xenagent_volumes{kind="foreign"} 1`, `xenagent_volumes{kind="unmarked"} 1`}
	for kind, v := range map[string]host.Volume{"foreign": byName[workflow.VolumeName(903)], "unmarked": byName[workflow.VolumeName(905)]} {
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
		free := a.wf.Taken().DiskIDFree(tx)
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
	if err := a.rec.GuardVolumes(ctx, "disks dir X", false); err != nil {
		t.Fatalf("own state with disks: %v", err)
	}
	// A new, empty state over the same disks dir.
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng := ops.New(st, a.log, ops.Config{})
	wf := workflow.New(workflow.Config{}, st, eng, a.hv, a.vols, a.log)
	fresh := reconcile.New(reconcile.Config{}, st, eng, a.hv, a.vols, wf, a.log)
	err = fresh.GuardVolumes(ctx, "disks dir X", false)
	if !errors.Is(err, reconcile.ErrForeignVolumes) || !strings.Contains(err.Error(), a.st.Instance()) || !strings.Contains(err.Error(), "disks dir X") {
		t.Fatalf("err = %v", err)
	}
	if err := fresh.GuardVolumes(ctx, "disks dir X", true); err != nil {
		t.Fatalf("with allow: %v", err)
	}
}
