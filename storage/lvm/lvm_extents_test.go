package lvm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/testenv"
)

// The recorded pool (testdata/thin_meta.xml, 64 KiB chunks): device 1 is
// xa-snap-1, a snapshot of xa-disk-1, device 2, which since rewrote
// block 2, discarded block 20 and wrote block 30.
const chunk = 64 << 10

func ext(off, n int64) host.Extent { return host.Extent{Off: off, Len: n} }

var (
	diskAllocated = []host.Extent{ext(0, 3*chunk), ext(10*chunk, chunk), ext(30*chunk, chunk)}
	diskChanged   = []host.Extent{ext(2*chunk, chunk), ext(20*chunk, chunk), ext(30*chunk, chunk)}
)

const (
	lvsThin = "lvm lvs --reportformat json --units m --nosuffix -o lv_name,lv_size,thin_id,pool_lv labvg/"
	reserve = "dmsetup message labvg-pool-tpool 0 reserve_metadata_snap"
	release = "dmsetup message labvg-pool-tpool 0 release_metadata_snap"
	dump2   = "thin_dump -m --dev-id 2 /dev/mapper/labvg-pool_tmeta"
	delta12 = "thin_delta -m --thin1 1 --thin2 2 /dev/mapper/labvg-pool_tmeta"
)

func TestThinExtentsCommands(t *testing.T) {
	ctx := context.Background()
	r := &recorded{t: t, answers: map[string]string{vgs: "vgs.json", pool: "lvs_pool.json"}}
	b, err := New(ctx, Config{VG: "labvg", Pool: "pool"}, r)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{lvsThin + "xa-disk-1": "lvs_thin_disk.json", lvsThin + "xa-snap-1": "lvs_thin_snap.json", reserve: "", release: ""}
	with := func(more map[string]string) map[string]string {
		m := map[string]string{}
		for _, x := range []map[string]string{base, more} {
			for k, v := range x {
				m[k] = v
			}
		}
		return m
	}
	allocated := func() ([]host.Extent, error) { return b.Allocated(ctx, "xa-disk-1") }
	changed := func() ([]host.Extent, error) { return b.Changed(ctx, "xa-snap-1", "xa-disk-1") }
	busy := "!device-mapper: message ioctl on labvg-pool-tpool  failed: Device or resource busy\nCommand failed.|"
	for _, c := range []struct {
		name    string
		answers map[string]string
		do      func() ([]host.Extent, error)
		want    []host.Extent
		calls   []string
		wantErr string
	}{
		{"allocated: the LV's mappings in a metadata snapshot", with(map[string]string{dump2: "thin_dump_dev2.xml"}), allocated,
			diskAllocated, []string{lvsThin + "xa-disk-1", reserve, dump2, release}, ""},
		{"allocated: shared subtrees of the Rust thin_dump", with(map[string]string{dump2: "thin_dump_shared.xml"}), allocated,
			diskAllocated, []string{lvsThin + "xa-disk-1", reserve, dump2, release}, ""},
		{"a thin_dump without --dev-id dumps all, one is kept", with(map[string]string{
			dump2: "!error: unexpected argument '--dev-id' found", "thin_dump -m /dev/mapper/labvg-pool_tmeta": "thin_dump_shared.xml"}), allocated,
			diskAllocated, []string{lvsThin + "xa-disk-1", reserve, dump2, "thin_dump -m /dev/mapper/labvg-pool_tmeta", release}, ""},
		{"changed: thin_delta", with(map[string]string{delta12: "thin_delta.xml"}), changed,
			diskChanged, []string{lvsThin + "xa-snap-1", lvsThin + "xa-disk-1", reserve, delta12, release}, ""},
		{"changed: thin_delta --verbose", with(map[string]string{delta12: "thin_delta_verbose.xml"}), changed,
			diskChanged, []string{lvsThin + "xa-snap-1", lvsThin + "xa-disk-1", reserve, delta12, release}, ""},
		// A crash between reserve and release left the snapshot held.
		{"a snapshot left held is taken over", with(map[string]string{reserve: busy, dump2: "thin_dump_dev2.xml"}), allocated,
			diskAllocated, []string{lvsThin + "xa-disk-1", reserve, release, reserve, dump2, release}, ""},
		{"the snapshot is released when the tool fails", with(map[string]string{dump2: "!bad checksum in superblock"}), allocated,
			nil, []string{lvsThin + "xa-disk-1", reserve, dump2, release}, "bad checksum"},
		{"a failed release is an error", with(map[string]string{dump2: "thin_dump_dev2.xml", release: "!Invalid argument"}), allocated,
			nil, []string{lvsThin + "xa-disk-1", reserve, dump2, release}, "releasing the metadata snapshot"},
		{"a device missing from the metadata", with(map[string]string{dump2: "thin_dump_dev2.xml", lvsThin + "xa-disk-1": "lvs_thin_snap.json",
			"thin_dump -m --dev-id 1": "thin_dump_dev2.xml"}), allocated,
			nil, []string{lvsThin + "xa-disk-1", reserve, "thin_dump -m --dev-id 1 /dev/mapper/labvg-pool_tmeta", release}, "not in the pool's metadata"},
		{"an LV of no pool is refused before the pool is asked", with(map[string]string{lvsThin + "xa-disk-1": "lvs_linear.json"}), allocated,
			nil, []string{lvsThin + "xa-disk-1"}, ErrNotThin.Error()},
		{"a missing LV", with(map[string]string{lvsThin + "xa-snap-1": "!  Failed to find logical volume \"labvg/xa-snap-1\""}), changed,
			nil, []string{lvsThin + "xa-snap-1"}, ErrNotFound.Error()},
	} {
		t.Run(c.name, func(t *testing.T) {
			r.answers, r.calls, r.seen = c.answers, nil, nil
			got, err := c.do()
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			if !slices.Equal(r.calls, c.calls) {
				t.Fatalf("commands:\n%s\nwant:\n%s", strings.Join(r.calls, "\n"), strings.Join(c.calls, "\n"))
			}
		})
	}
}

// Without a pool an LV is all allocated, and there are no snapshots to
// compare with.
func TestLinearExtents(t *testing.T) {
	ctx := context.Background()
	r := &recorded{t: t, answers: map[string]string{vgs: "vgs.json", lvsThin + "xa-disk-1": "lvs_linear.json"}}
	b, err := New(ctx, Config{VG: "labvg"}, r)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Allocated(ctx, "xa-disk-1"); err != nil || !slices.Equal(got, []host.Extent{ext(0, 64<<20)}) {
		t.Fatalf("Allocated = %v, %v", got, err)
	}
	if _, err := b.Changed(ctx, "xa-disk-1", "xa-disk-1"); err == nil {
		t.Fatal("Changed without a pool accepted")
	}
}

func TestDMName(t *testing.T) {
	for _, c := range []struct{ vg, lv, want string }{
		{"labvg", "pool", "labvg-pool"},
		{"my-vg", "thin-pool_tmeta", "my--vg-thin--pool_tmeta"},
	} {
		if got := dmName(c.vg, c.lv); got != c.want {
			t.Errorf("dmName(%q, %q) = %q, want %q", c.vg, c.lv, got, c.want)
		}
	}
}

func TestParseThinXMLRefusals(t *testing.T) {
	for _, c := range []struct{ name, xml, want string }{
		{"no superblock", `<device dev_id="2"></device>`, "data_block_size"},
		{"a ref to nothing", `<superblock data_block_size="128"><device dev_id="2"><ref name="9"/></device></superblock>`, "no <def>"},
		{"a bad number", `<superblock data_block_size="128"><device dev_id="2"><single_mapping origin_block="-1" data_block="1" time="0"/></device></superblock>`, "origin_block"},
		{"a mapping outside a device", `<superblock data_block_size="128"><single_mapping origin_block="1" data_block="1" time="0"/></superblock>`, "outside any"},
		{"not XML", `<superblock data_block_size="128"><device`, "unexpected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseThinDump(strings.NewReader(c.xml), 2)
			if !errors.Is(err, errThinXML) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if _, _, err := parseThinDelta(strings.NewReader(`<superblock><diff left="1" right="2"></diff></superblock>`)); !errors.Is(err, errThinXML) {
		t.Fatalf("thin_delta without a block size: %v", err)
	}
}

// The parsers read what the thin-provisioning-tools on this machine
// write (the C++ 0.9 of Debian 12, the Rust 1.x of later ones): the
// recorded pool is restored into a metadata file and dumped and
// compared by the real tools, which read a file as they read the pool's
// metadata device.
func TestParsersReadTheRealTools(t *testing.T) {
	for _, tool := range []string{"thin_restore", "thin_dump", "thin_delta"} {
		testenv.Tool(t, tool, "thin-provisioning-tools")
	}
	meta := filepath.Join(t.TempDir(), "meta")
	if err := os.WriteFile(meta, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(meta, 8<<20); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	run("thin_restore", "-i", filepath.Join("testdata", "thin_meta.xml"), "-o", meta)
	for _, args := range [][]string{{"thin_dump", "--dev-id", "2", meta}, {"thin_dump", meta}} {
		d, err := parseThinDump(strings.NewReader(string(run(args...))), 2)
		if err != nil || !d.found {
			t.Fatalf("%v: %+v, %v", args, d, err)
		}
		if got := toExtents(d.mapped, d.blockSectors, 10<<30); !slices.Equal(got, diskAllocated) {
			t.Fatalf("%v: allocated %v, want %v", args, got, diskAllocated)
		}
	}
	for _, args := range [][]string{{"thin_delta", "--thin1", "1", "--thin2", "2", meta}, {"thin_delta", "--verbose", "--thin1", "1", "--thin2", "2", meta}} {
		sectors, differ, err := parseThinDelta(strings.NewReader(string(run(args...))))
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if got := toExtents(differ, sectors, 10<<30); !slices.Equal(got, diskChanged) {
			t.Fatalf("%v: changed %v, want %v", args, got, diskChanged)
		}
	}
}
