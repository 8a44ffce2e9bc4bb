package nocloud

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
)

func TestDir(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "seeds") // made at the first write
	d := New(dir)
	if p, ok := d.Path(7); ok || p != filepath.Join(dir, "xa-seed-7.iso") {
		t.Fatalf("Path(7) before any write = %q, %v", p, ok)
	}
	if got, err := d.Sweep(ctx, func(int64) bool { return false }); err != nil || got != nil {
		t.Fatalf("Sweep of a missing dir = %v, %v", got, err)
	}
	if err := d.Remove(ctx, 7); err != nil {
		t.Fatalf("Remove of a missing seed: %v", err)
	}

	spec := host.SeedSpec{InstanceID: "xa-vm-7", Hostname: "web1"}
	for _, id := range []int64{7, 8} {
		if err := d.Write(ctx, id, spec); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o711 {
		t.Errorf("seed dir: %v, %v; want mode 0711 (QEMU's user traverses it)", fi, err)
	}
	p, ok := d.Path(7)
	if !ok {
		t.Fatalf("Path(7) after Write: not there")
	}
	files, label, err := ReadImage(p)
	if err != nil || label != Label || len(files["meta-data"]) == 0 {
		t.Fatalf("image of vm 7: %v, label %q, files %v", err, label, files)
	}
	// Writing again replaces the image.
	spec.Hostname = "web2"
	if err := d.Write(ctx, 7, spec); err != nil {
		t.Fatal(err)
	}
	if files, _, err := ReadImage(p); err != nil || !strings.Contains(string(files["meta-data"]), "web2") {
		t.Errorf("rewritten image: %v, %s", err, files["meta-data"])
	}

	// A crash's leftovers: a work dir, and names that are not images.
	os.MkdirAll(filepath.Join(dir, ".seed-work-123", "tree"), 0o700)
	for _, name := range []string{"notes.txt", "xa-seed-x.iso", "9"} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o600)
	}
	removed, err := d.Sweep(ctx, func(id int64) bool { return id == 8 })
	if err != nil || !slices.Equal(removed, []string{"xa-seed-7.iso"}) {
		t.Fatalf("Sweep = %v, %v; want [xa-seed-7.iso]", removed, err)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"9", "notes.txt", "xa-seed-8.iso", "xa-seed-x.iso"}; !slices.Equal(left, want) {
		t.Errorf("after Sweep the dir holds %v, want %v (work dir and vm 7's image gone, unknown names kept)", left, want)
	}
	if err := d.Remove(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Path(8); ok {
		t.Errorf("vm 8's seed is there after Remove")
	}
}

func TestImageVM(t *testing.T) {
	for _, c := range []struct {
		name string
		id   int64
		ok   bool
	}{
		{"xa-seed-42.iso", 42, true},
		{"xa-seed-42.iso.tmp", 0, false},
		{"xa-seed-.iso", 0, false},
		{"seed-42.iso", 0, false},
		{"42", 0, false},
	} {
		if id, ok := imageVM(c.name); id != c.id || ok != c.ok {
			t.Errorf("imageVM(%q) = %d, %v; want %d, %v", c.name, id, ok, c.id, c.ok)
		}
	}
}
