package lvm

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hosttest"
)

// Capacity asks lvs for the thin pool's data and metadata in bytes (or
// vgs for the VG without a pool) and turns the percentages into bytes.
// The reports' shapes are those of LVM 2.03 (--reportformat json).
func TestCapacity(t *testing.T) {
	const (
		poolCap = "lvm lvs --reportformat json --units b --nosuffix -o lv_size,data_percent,lv_metadata_size,metadata_percent labvg/pool"
		vgCap   = "lvm vgs --reportformat json --units b --nosuffix -o vg_size,vg_free labvg"
	)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		pool    string
		answers map[string]string
		want    host.Capacity
		wantErr string
	}{
		{"thin pool", "pool", map[string]string{poolCap: "lvs_pool_capacity.json"},
			host.Capacity{Kind: "lvm-thin", Where: "labvg/pool", Size: 10737418240, Used: 1342177280, Free: 9395240960,
				Metadata: &host.Space{Size: 8388608, Used: 859832, Free: 7528776}}, ""},
		{"volume group without a pool", "", map[string]string{vgCap: "vgs_capacity.json"},
			host.Capacity{Kind: "lvm", Where: "labvg", Size: 21470642176, Used: 17179869184, Free: 4290772992}, ""},
		{"lvs fails", "pool", map[string]string{poolCap: "!  Volume group \"labvg\" not found"}, host.Capacity{}, "capacity of labvg/pool"},
		{"a report of another shape", "pool", map[string]string{poolCap: "vgs.json"}, host.Capacity{}, "lv_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answers := map[string]string{vgs: "vgs.json", pool: "lvs_pool.json"}
			for k, v := range tc.answers {
				answers[k] = v
			}
			r := &recorded{t: t, answers: answers}
			b, err := New(ctx, Config{VG: "labvg", Pool: tc.pool}, r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := b.Capacity(ctx)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Capacity() error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Capacity() = %+v (metadata %+v), want %+v (metadata %+v)", got, got.Metadata, tc.want, tc.want.Metadata)
			}
			hosttest.CapacitySuite(t, b, tc.pool != "")
		})
	}
}
