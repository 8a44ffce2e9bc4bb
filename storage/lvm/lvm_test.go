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
	"time"

	"github.com/xenagent/xenagent/agent/testenv"
	"github.com/xenagent/xenagent/storage/runner"
	"github.com/xenagent/xenagent/storage/storagetest"
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
			func() error { return b.Create(ctx, "xa-disk-2", 10240) },
			[]string{lvsDisk + "xa-disk-2", "lvm lvcreate -q -y -n xa-disk-2 --addtag xenagent -V 10240m --thinpool labvg/pool"}, nil},
		{"create exists", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json", lvsAct + "xa-disk-1": "lvs_active.json"},
			func() error { return b.Create(ctx, "xa-disk-1", 10240) },
			[]string{lvsDisk + "xa-disk-1", lvsAct + "xa-disk-1"}, nil},
		// An lvcreate killed with the agent left the clone inactive; the redo activates it.
		{"clone redo activates", map[string]string{lvsDisk + "xa-disk-3": "lvs_disk1.json", lvsAct + "xa-disk-3": "lvs_inactive.json", "lvm lvchange": ""},
			func() error { return b.Clone(ctx, "xa-disk-1", "xa-disk-3", 10240) },
			[]string{lvsDisk + "xa-disk-3", lvsAct + "xa-disk-3", "lvm lvchange -q -ay -K labvg/xa-disk-3", lvsDisk + "xa-disk-3"}, nil},
		{"clone is a thin snapshot, activated, grown", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json",
			lvsDisk + "xa-disk-3": "!  Failed to find logical volume \"labvg/xa-disk-3\"|lvs_disk1.json", "lvm lvcreate": "", "lvm lvextend": ""},
			func() error { return b.Clone(ctx, "xa-disk-1", "xa-disk-3", 10240) },
			[]string{lvsDisk + "xa-disk-3", "lvm lvcreate -q -y -s -kn -p rw -n xa-disk-3 --addtag xenagent labvg/xa-disk-1", lvsDisk + "xa-disk-3"}, nil},
		{"grow", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json", "lvm lvextend": ""},
			func() error { return b.Resize(ctx, "xa-disk-1", 20480) },
			[]string{lvsDisk + "xa-disk-1", "lvm lvextend -q -L 20480m labvg/xa-disk-1"}, nil},
		{"never shrink", map[string]string{lvsDisk + "xa-disk-1": "lvs_disk1.json"},
			func() error { return b.Resize(ctx, "xa-disk-1", 1024) },
			[]string{lvsDisk + "xa-disk-1"}, ErrShrink},
		{"delete missing is fine", map[string]string{"lvm lvremove": "!  Failed to find logical volume \"labvg/x\""},
			func() error { return b.Delete(ctx, "x") },
			[]string{"lvm lvremove -q -y labvg/x"}, nil},
		{"no space", map[string]string{lvsDisk + "big": "!  Failed to find logical volume \"labvg/big\"", "lvm lvcreate": "!  Insufficient free space: 25600 extents needed, but only 2000 available"},
			func() error { return b.Create(ctx, "big", 102400) },
			[]string{lvsDisk + "big", "lvm lvcreate -q -y -n big --addtag xenagent -V 102400m --thinpool labvg/pool"}, ErrNoSpace},
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
	r := &recorded{t: t, answers: map[string]string{vgs: "vgs.json", "lvm lvs --reportformat json --units m --nosuffix -o lv_name,lv_tags labvg": "lvs_two.json"}}
	b, err := New(context.Background(), Config{VG: "labvg"}, r)
	if err != nil {
		t.Fatal(err)
	}
	names, err := b.List(context.Background())
	if err != nil || !slices.Equal(names, []string{"xa-disk-1"}) {
		t.Fatalf("List = %v, %v", names, err)
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
	if err := b.Create(ctx, "xa-disk-1", 64); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "xa-disk-1", 64); err != nil {
		t.Fatalf("creating again: %v", err)
	}
	// Someone else's LV is never listed.
	if _, err := x.Run(ctx, "lvm", "lvcreate", "--driverloaded", "n", "-q", "-y", "-n", "foreign", "-L", "8m", vg); err != nil {
		t.Fatal(err)
	}
	if names, err := b.List(ctx); err != nil || !slices.Equal(names, []string{"xa-disk-1"}) {
		t.Fatalf("List = %v, %v", names, err)
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
	if err := b.Create(ctx, "huge", 1<<20); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("creating beyond the VG: %v", err)
	}
	if err := b.Delete(ctx, "xa-disk-2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "xa-disk-2"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if err := b.Clone(ctx, "foreign", "x", 8); err == nil {
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
	storagetest.Conformance(t, b, "xa-conf-")
}
