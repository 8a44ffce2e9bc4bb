package lvm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/host/hosttest"
	"github.com/xenagent/xenagent/agent/testenv"
	"github.com/xenagent/xenagent/storage/runner"
)

// recorded answers commands with outputs recorded from real LVM and
// remembers every command line.
type recorded struct {
	t *testing.T
	// answers maps a command prefix to testdata files (or "!stderr"),
	// used in turn; the last one repeats.
	answers map[string]string
	seen    map[string]int
	calls   []string
}

func (r *recorded) Run(ctx context.Context, args ...string) ([]byte, error) {
	line := strings.Join(args, " ")
	r.calls = append(r.calls, line)
	for prefix, answers := range r.answers {
		if strings.HasPrefix(line, prefix) {
			list := strings.Split(answers, "|")
			if r.seen == nil {
				r.seen = map[string]int{}
			}
			answer := list[min(r.seen[prefix], len(list)-1)]
			r.seen[prefix]++
			if strings.HasPrefix(answer, "!") {
				return nil, &runner.Error{Args: args, ExitCode: 5, Stderr: answer[1:]}
			}
			if answer == "" {
				return nil, nil
			}
			b, err := os.ReadFile(filepath.Join("testdata", answer))
			if err != nil {
				r.t.Fatal(err)
			}
			return b, nil
		}
	}
	r.t.Fatalf("unexpected command: %s", line)
	return nil, nil
}

// own is the mark the recorded LVs carry (lvs_disk1.json).
var own = host.Mark{Owner: "c0ffee00c0ffee00", Op: 1}

const ownTags = "--addtag xenagent --addtag xa-owner-c0ffee00c0ffee00 --addtag xa-op-1"

const (
	vgs     = "lvm vgs --reportformat json --units m --nosuffix -o vg_name labvg"
	pool    = "lvm lvs --reportformat json --units m --nosuffix -o lv_name,lv_attr labvg/pool"
	lvsDisk = "lvm lvs --reportformat json --units m --nosuffix -o lv_name,lv_size,lv_tags labvg/"
	lvsAct  = "lvm lvs --reportformat json --units m --nosuffix -o lv_name,lv_active labvg/"
)

func TestThinCommands(t *testing.T) {
	ctx := context.Background()
	r := &recorded{t: t, answers: map[string]string{vgs: "vgs.json", pool: "lvs_pool.json"}}
	b, err := New(ctx, Config{VG: "labvg", Pool: "pool"}, r)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		answers map[string]string
		do      func() error
		want    []string
		wantErr error
	}{
		{"create thin", map[string]string{lvsDisk + "xa-disk-2": "!  Failed to find logical volume \"labvg/xa-disk-2\"", "lvm lvcreate": ""},
			func() error { return b.Create(ctx, "xa-disk-2", 10240, own) },
			[]string{lvsDisk + "xa-disk-2", "lvm lvcreate -q -y -n xa-disk-2 " + ownTags + " -V 10240m --thinpool labvg/pool"}, nil},
		{"create exists", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json", lvsAct + "xa-disk-1": "lvs_active.json"},
			func() error { return b.Create(ctx, "xa-disk-1", 10240, own) },
			[]string{lvsDisk + "xa-disk-1", lvsAct + "xa-disk-1"}, nil},
		// An lvcreate killed with the agent left the clone inactive; the redo activates it.
		{"clone redo activates", map[string]string{lvsDisk + "xa-disk-3": "lvs_disk1.json", lvsAct + "xa-disk-3": "lvs_inactive.json", "lvm lvchange": ""},
			func() error { return b.Clone(ctx, "xa-disk-1", "xa-disk-3", 10240, own) },
			[]string{lvsDisk + "xa-disk-3", lvsAct + "xa-disk-3", "lvm lvchange -q -ay -K labvg/xa-disk-3", lvsDisk + "xa-disk-3"}, nil},
		{"clone is a thin snapshot, activated, grown", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json",
			lvsDisk + "xa-disk-3": "!  Failed to find logical volume \"labvg/xa-disk-3\"|lvs_disk1.json", "lvm lvcreate": "", "lvm lvextend": ""},
			func() error { return b.Clone(ctx, "xa-disk-1", "xa-disk-3", 10240, own) },
			[]string{lvsDisk + "xa-disk-3", "lvm lvcreate -q -y -s -kn -p rw -n xa-disk-3 " + ownTags + " labvg/xa-disk-1", lvsDisk + "xa-disk-3"}, nil},
		{"grow", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json", "lvm lvextend": ""},
			func() error { return b.Resize(ctx, "xa-disk-1", 20480) },
			[]string{lvsDisk + "xa-disk-1", "lvm lvextend -q -L 20480m labvg/xa-disk-1"}, nil},
		{"never shrink", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json"},
			func() error { return b.Resize(ctx, "xa-disk-1", 1024) },
			[]string{lvsDisk + "xa-disk-1"}, ErrShrink},
		{"delete missing is fine", map[string]string{lvsDisk + "x": "!  Failed to find logical volume \"labvg/x\""},
			func() error { return b.Delete(ctx, "x", own) },
			[]string{lvsDisk + "x"}, nil},
		{"delete checks the mark", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json", "lvm lvremove": ""},
			func() error { return b.Delete(ctx, "xa-disk-1", host.Mark{Owner: own.Owner}) },
			[]string{lvsDisk + "xa-disk-1", "lvm lvremove -q -y labvg/xa-disk-1"}, nil},
		{"never delete another's", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json"},
			func() error { return b.Delete(ctx, "xa-disk-1", host.Mark{Owner: "someoneelse"}) },
			[]string{lvsDisk + "xa-disk-1"}, host.ErrNotOurs},
		{"never an undo of another operation", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json"},
			func() error { return b.Delete(ctx, "xa-disk-1", host.Mark{Owner: own.Owner, Op: 9}) },
			[]string{lvsDisk + "xa-disk-1"}, host.ErrNotOurs},
		{"never a legacy one", map[string]string{lvsDisk + "xa-disk-1": "lvs_legacy.json"},
			func() error { return b.Delete(ctx, "xa-disk-1", host.Mark{Owner: own.Owner}) },
			[]string{lvsDisk + "xa-disk-1"}, host.ErrNotOurs},
		{"never create over another's", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json"},
			func() error { return b.Create(ctx, "xa-disk-1", 10240, host.Mark{Owner: "someoneelse", Op: 1}) },
			[]string{lvsDisk + "xa-disk-1"}, host.ErrExists},
		{"never clone onto a legacy one", map[string]string{lvsDisk + "xa-disk-1": "lvs_legacy.json"},
			func() error { return b.Clone(ctx, "xa-disk-9", "xa-disk-1", 10240, own) },
			[]string{lvsDisk + "xa-disk-1"}, host.ErrExists},
		// Should a snapshot inherit its origin's mark, that mark goes.
		{"a clone keeps its own mark only", map[string]string{lvsDisk + "xa-disk-3": "!  Failed to find logical volume \"labvg/xa-disk-3\"|lvs_inherited.json",
			"lvm lvcreate": "", "lvm lvchange": ""},
			func() error { return b.Clone(ctx, "xa-disk-1", "xa-disk-3", 10240, own) },
			[]string{lvsDisk + "xa-disk-3", "lvm lvcreate -q -y -s -kn -p rw -n xa-disk-3 " + ownTags + " labvg/xa-disk-1", lvsDisk + "xa-disk-3",
				"lvm lvchange -q --deltag xa-op-7 --deltag xa-owner-0ther0ther0ther0 labvg/xa-disk-3"}, nil},
		{"re-mark swaps the tags in one command", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json", "lvm lvchange": ""},
			func() error { return b.SetMark(ctx, "xa-disk-1", host.Mark{Owner: "newowner", Op: 0}) },
			[]string{lvsDisk + "xa-disk-1", "lvm lvchange -q --deltag xa-op-1 --deltag xa-owner-c0ffee00c0ffee00 --addtag xenagent --addtag xa-owner-newowner --addtag xa-op-0 labvg/xa-disk-1"}, nil},
		{"rename never replaces", map[string]string{"lvm lvrename": "!  Logical Volume \"xa-disk-1\" already exists in volume group \"labvg\""},
			func() error { return b.Rename(ctx, "xa-disk-3", "xa-disk-1") },
			[]string{"lvm lvrename -q labvg xa-disk-3 xa-disk-1"}, host.ErrExists},
		{"no space", map[string]string{lvsDisk + "big": "!  Failed to find logical volume \"labvg/big\"", "lvm lvcreate": "!  Insufficient free space: 25600 extents needed, but only 2000 available"},
			func() error { return b.Create(ctx, "big", 102400, own) },
			[]string{lvsDisk + "big", "lvm lvcreate -q -y -n big " + ownTags + " -V 102400m --thinpool labvg/pool"}, ErrNoSpace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.answers, r.calls, r.seen = tt.answers, nil, nil
			err := tt.do()
			if !errors.Is(err, tt.wantErr) && !(err == nil && tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(r.calls, tt.want) {
				t.Fatalf("commands:\n%s\nwant:\n%s", strings.Join(r.calls, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestListOnlyTagged(t *testing.T) {
	r := &recorded{t: t, answers: map[string]string{vgs: "vgs.json", "lvm lvs --reportformat json --units m --nosuffix -o lv_name,lv_size,lv_tags,data_percent labvg": "lvs_two.json"}}
	b, err := New(context.Background(), Config{VG: "labvg"}, r)
	if err != nil {
		t.Fatal(err)
	}
	vols, err := b.List(context.Background())
	want := []host.Volume{
		{Name: "xa-disk-1", SizeMB: 64, Bytes: 16 << 20, Mark: own},
		{Name: "xa-disk-2", SizeMB: 32, Bytes: 32 << 20},
		{Name: "xa-disk-3", SizeMB: 8, Bytes: 8 << 20, Mark: host.Mark{Owner: "0ther0ther0ther0", Op: 4}},
		{Name: "xa-disk-4", SizeMB: 8, Bytes: 8 << 20, Mark: host.Mark{Owner: "0ther0ther0ther0+c0ffee00c0ffee00", Op: -1}},
	}
	if err != nil || !slices.Equal(vols, want) {
		t.Fatalf("List = %+v, %v\nwant %+v", vols, err, want)
	}
}

func TestNewRefusesWhatIsNotAPool(t *testing.T) {
	r := &recorded{t: t, answers: map[string]string{vgs: "vgs.json", "lvm lvs --reportformat json --units m --nosuffix -o lv_name,lv_attr labvg/data": "lvs_two.json"}}
	if _, err := New(context.Background(), Config{VG: "labvg", Pool: "data"}, r); err == nil {
		t.Fatal("a non-pool LV was accepted as the thin pool")
	}
}

// TestRealLVMWithoutDeviceMapper runs real LVM commands on a loop device,
// with --driverloaded n because this kernel has no device-mapper: linear
// LVs, extend, rename, tags, JSON reports. Thin pools need device-mapper
// and run in the Xen lab.
func TestRealLVMWithoutDeviceMapper(t *testing.T) {
	testenv.Root(t, "for a loop device")
	testenv.Tool(t, "lvm", "lvm2")
	ctx := context.Background()
	img := filepath.Join(t.TempDir(), "pv.img")
	if err := os.Truncate(img, 256<<20); err != nil {
		if f, err := os.Create(img); err == nil {
			f.Truncate(256 << 20)
			f.Close()
		}
	}
	out, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	vg := "xatest" + strings.TrimPrefix(filepath.Base(dev), "loop")
	x := &runner.Exec{Timeout: 30 * time.Second, Attempts: 3, Transient: Transient}
	global := []string{"--driverloaded", "n"}
	t.Cleanup(func() {
		x.Run(ctx, "lvm", "vgremove", "--driverloaded", "n", "-q", "-y", vg)
		x.Run(ctx, "lvm", "pvremove", "--driverloaded", "n", "-q", dev)
		exec.Command("losetup", "-d", dev).Run()
	})
	for _, c := range [][]string{{"lvm", "pvcreate", "--driverloaded", "n", "-q", dev}, {"lvm", "vgcreate", "--driverloaded", "n", "-q", vg, dev}} {
		if _, err := x.Run(ctx, c...); err != nil {
			t.Fatal(err)
		}
	}
	b, err := New(ctx, Config{VG: vg, Global: global}, x)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "xa-disk-1", 64, own); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "xa-disk-1", 64, own); err != nil {
		t.Fatalf("creating again: %v", err)
	}
	// Someone else's LV is never listed.
	if _, err := x.Run(ctx, "lvm", "lvcreate", "--driverloaded", "n", "-q", "-y", "-n", "foreign", "-L", "8m", vg); err != nil {
		t.Fatal(err)
	}
	if vols, err := b.List(ctx); err != nil || len(vols) != 1 || vols[0].Name != "xa-disk-1" || vols[0].Mark != own || vols[0].SizeMB != 64 {
		t.Fatalf("List = %+v, %v", vols, err)
	}
	// Without a pool the room is the VG's: its size, and the 64 + 8 MB
	// of extents the two LVs took (the real vgs report, in bytes).
	hosttest.CapacitySuite(t, b, false)
	if c, err := b.Capacity(ctx); err != nil || c.Kind != "lvm" || c.Size < 200<<20 || c.Size > 256<<20 || c.Used != 72<<20 {
		t.Fatalf("Capacity = %+v, %v; want the VG's ~252 MB with 72 MB used", c, err)
	}
	// The fields Extents ask for are real lvs fields; a linear LV is all
	// allocated.
	if got, err := b.Allocated(ctx, "xa-disk-1"); err != nil || len(got) != 1 || got[0] != (host.Extent{Off: 0, Len: 64 << 20}) {
		t.Fatalf("Allocated = %v, %v", got, err)
	}
	// Marks are real tags: another maker is refused, a re-mark is read back.
	other := host.Mark{Owner: "0ther0ther0ther0", Op: 3}
	if err := b.Create(ctx, "xa-disk-1", 64, other); !errors.Is(err, host.ErrExists) {
		t.Fatalf("create over another's LV: %v", err)
	}
	if err := b.Delete(ctx, "xa-disk-1", host.Mark{Owner: other.Owner}); !errors.Is(err, host.ErrNotOurs) {
		t.Fatalf("deleting another's LV: %v", err)
	}
	if err := b.Create(ctx, "xa-disk-5", 8, other); err != nil {
		t.Fatal(err)
	}
	if err := b.SetMark(ctx, "xa-disk-5", host.Mark{Owner: own.Owner}); err != nil {
		t.Fatal(err)
	}
	if err := b.Rename(ctx, "xa-disk-5", "xa-disk-1"); !errors.Is(err, host.ErrExists) {
		t.Fatalf("rename onto an existing LV: %v", err)
	}
	vols, _ := b.List(ctx)
	if len(vols) != 2 || vols[1].Name != "xa-disk-5" || vols[1].Mark != (host.Mark{Owner: own.Owner}) {
		t.Fatalf("after re-mark List = %+v", vols)
	}
	if err := b.Delete(ctx, "xa-disk-5", host.Mark{Owner: own.Owner}); err != nil {
		t.Fatal(err)
	}
	if err := b.Resize(ctx, "xa-disk-1", 128); err != nil {
		t.Fatal(err)
	}
	if size, err := b.SizeMB(ctx, "xa-disk-1"); err != nil || size != 128 {
		t.Fatalf("size after grow = %d, %v", size, err)
	}
	if err := b.Resize(ctx, "xa-disk-1", 64); !errors.Is(err, ErrShrink) {
		t.Fatalf("shrink err = %v", err)
	}
	if err := b.Rename(ctx, "xa-disk-1", "xa-disk-2"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Exists(ctx, "xa-disk-1"); ok {
		t.Fatal("old name still exists after rename")
	}
	if err := b.Create(ctx, "huge", 1<<20, own); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("creating beyond the VG: %v", err)
	}
	if err := b.Delete(ctx, "xa-disk-2", own); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "xa-disk-2", own); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if err := b.Clone(ctx, "foreign", "x", 8, own); err == nil {
		t.Fatal("a clone without a thin pool was accepted")
	}
}

// TestThinConformance runs the storage conformance suite on a real thin
// pool. It needs device-mapper, so it runs in the Xen lab's dom0 (the lab
// carries this test binary in and sets XENAGENT_LVM_VG/POOL).
func TestThinConformance(t *testing.T) {
	vg, pool := os.Getenv("XENAGENT_LVM_VG"), os.Getenv("XENAGENT_LVM_POOL")
	if vg == "" || pool == "" {
		t.Skip("needs a thin pool with device-mapper: runs in the Xen lab (XENAGENT_LVM_VG, XENAGENT_LVM_POOL)")
	}
	x := &runner.Exec{Timeout: time.Minute, Attempts: 5, Transient: Transient}
	b, err := New(context.Background(), Config{VG: vg, Pool: pool}, x)
	if err != nil {
		t.Fatal(err)
	}
	hosttest.VolumesSuite(t, func(t *testing.T) hosttest.VolumesRig {
		return hosttest.VolumesRig{Volumes: b, Prefix: "xa-conf-"}
	})
	// The real lvs report of a thin pool: data and metadata.
	t.Run("capacity", func(t *testing.T) { hosttest.CapacitySuite(t, b, true) })
	// Extents from the pool's metadata, a chunk at a time.
	out, err := x.Run(context.Background(), "lvm", "lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "chunk_size", vg+"/"+pool)
	if err != nil {
		t.Fatal(err)
	}
	chunk, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("chunk size %q: %v", out, err)
	}
	t.Run("extents", func(t *testing.T) {
		hosttest.ExtentsSuite(t, func(t *testing.T) hosttest.ExtentsRig {
			return hosttest.ExtentsRig{VolumesRig: hosttest.VolumesRig{Volumes: b, Prefix: "xa-conf-"}, Extents: b, Grain: chunk}
		})
	})
}
