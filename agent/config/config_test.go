package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../../deploy/xenagent.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeouts.Stop.Duration != 5*time.Minute || c.Timeouts.StopMessages != 2 || c.Timeouts.Reboot.Duration != 2*time.Minute {
		t.Errorf("timeouts = %+v", c.Timeouts)
	}
	if c.Operations.KeepFinished.Duration != 7*24*time.Hour {
		t.Errorf("operations.keep_finished = %s, want 168h", c.Operations.KeepFinished)
	}
	if c.Libvirt.URI != "xen:///system" || c.Network.IPv4 == nil || len(c.Accounts) != 1 {
		t.Errorf("config = %+v", c)
	}
	if _, err := Load("../../deploy/dev.toml"); err != nil {
		t.Errorf("dev config: %v", err)
	}
}

func TestRejects(t *testing.T) {
	tests := map[string]string{
		"unknown key":   "listen = \"x:1\"\nlisten_adress = \"y\"\n",
		"bad duration":  "[timeouts]\nstop = \"soon\"\n",
		"cert alone":    "[tls]\ncert = \"a.pem\"\n",
		"bad backend":   "[storage]\nbackend = \"zfs\"\n",
		"bad operator":  "[operator]\nkey_sha256 = \"abc\"\n",
		"zero messages": "[timeouts]\nstop_messages = 0\n",
		"keep a minute": "[operations]\nkeep_finished = \"1m\"\n",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			os.WriteFile(p, []byte(body), 0o644)
			if _, err := Load(p); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.toml")
	os.WriteFile(p, []byte("state_dir = \"state\"\n"), 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != filepath.Join(dir, "state") || !strings.HasPrefix(c.Storage.Dir, dir) {
		t.Fatalf("paths not relative to the file: %s %s", c.StateDir, c.Storage.Dir)
	}
}
