package config

import (
	"os"
	"path/filepath"
	"testing"
)

// A relative ISO file is the configuration file's directory's, as every
// other path in it.
func TestISOFileRelative(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.toml")
	body := "[[isos]]\nlabel = \"rescue\"\nfile = \"isos/rescue.iso\"\n[[isos]]\nlabel = \"abs\"\nfile = \"/srv/a.iso\"\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []ISO{{Label: "rescue", File: filepath.Join(dir, "isos/rescue.iso")}, {Label: "abs", File: "/srv/a.iso"}}
	if len(c.ISOs) != 2 || c.ISOs[0] != want[0] || c.ISOs[1] != want[1] {
		t.Fatalf("isos = %+v, want %+v", c.ISOs, want)
	}
}
