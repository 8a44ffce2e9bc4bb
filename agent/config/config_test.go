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

func TestQuarantineFor(t *testing.T) {
	for body, want := range map[string]time.Duration{
		"":                                     30 * 24 * time.Hour,
		"[storage]\nquarantine_for = \"0s\"\n": 0,
		"[storage]\nquarantine_for = \"2h\"\n": 2 * time.Hour,
	} {
		p := filepath.Join(t.TempDir(), "c.toml")
		os.WriteFile(p, []byte(body), 0o644)
		c, err := Load(p)
		if err != nil || c.Storage.QuarantineFor.Duration != want {
			t.Errorf("%q: quarantine_for = %s, %v; want %s", body, c.Storage.QuarantineFor, err, want)
		}
	}
	for _, bad := range []string{"-1h", "30s", "59m"} {
		p := filepath.Join(t.TempDir(), "c.toml")
		os.WriteFile(p, []byte("[storage]\nquarantine_for = \""+bad+"\"\n"), 0o644)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "storage.quarantine_for") {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
	// The flag's field is never read from the file.
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte("AllowForeignVolumes = true\n"), 0o644)
	if c, err := Load(p); err == nil || c.AllowForeignVolumes {
		t.Errorf("the file set AllowForeignVolumes: %v", err)
	}
}
