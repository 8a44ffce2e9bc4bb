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
	if c.Migration.RateMbps != 1000 {
		t.Errorf("migration.rate_mbps = %d, want 1000", c.Migration.RateMbps)
	}
	if c.Libvirt.URI != "xen:///system" || c.Network.IPv4 == nil || len(c.Accounts) != 1 {
		t.Errorf("config = %+v", c)
	}
	for _, dev := range []string{"../../deploy/dev.toml", "../../deploy/dev-b.toml"} {
		if _, err := Load(dev); err != nil {
			t.Errorf("dev config %s: %v", dev, err)
		}
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

// Every invalid value is refused at load, with the field named and the
// rule said.
func TestRefusesNamingTheField(t *testing.T) {
	upper := strings.Repeat("AB", 32)
	for _, tc := range []struct{ name, body, want string }{
		{"operator key uppercase", "[operator]\nkey_sha256 = \"" + upper + "\"\n", "operator.key_sha256: must be the SHA-256 of the API key as 64 lowercase hex digits (`xenagent hash-key KEY`"},
		{"operator key not hex", "[operator]\nkey_sha256 = \"" + strings.Repeat("g", 64) + "\"\n", "operator.key_sha256: must be"},
		{"operator key short", "[operator]\nkey_sha256 = \"abc\"\n", "operator.key_sha256: must be"},
		{"account key uppercase", "[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + upper + "\"\n", "accounts[0].key_sha256: must be the SHA-256"},
		{"account without handle", "[[accounts]]\nkey_sha256 = \"" + strings.Repeat("a", 64) + "\"\n", "accounts[0].handle: missing"},
		{"account handle twice", "[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + strings.Repeat("a", 64) + "\"\n[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + strings.Repeat("b", 64) + "\"\n", "accounts[1].handle: \"A\" is given twice"},
		{"account password weak", "[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + strings.Repeat("a", 64) + "\"\npassword_hash = \"$6$salt$abc\"\n", "accounts[0].password_hash: must be a SHA-512 crypt hash of at least 100000 rounds"},
		{"account password not crypt", "[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + strings.Repeat("a", 64) + "\"\npassword_hash = \"mypassword\"\n", "accounts[0].password_hash: must be"},
		{"demo password weak", "[demo]\nenabled = true\npassword_hash = \"$6$salt$abc\"\n", "demo.password_hash: must be a SHA-512 crypt hash of at least 100000 rounds"},
		{"account key twice", "[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + strings.Repeat("a", 64) + "\"\n[[accounts]]\nhandle = \"B\"\nkey_sha256 = \"" + strings.Repeat("a", 64) + "\"\n", "accounts[1].key_sha256: the same key as accounts[0].key_sha256; every key must be unique"},
		{"account key is the operator's", "[operator]\nkey_sha256 = \"" + strings.Repeat("c", 64) + "\"\n[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + strings.Repeat("c", 64) + "\"\n", "accounts[0].key_sha256: the same key as operator.key_sha256; every key must be unique"},
		{"account quota negative", "[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + strings.Repeat("a", 64) + "\"\ndisk_quota_mb = -1\n", "accounts[0].disk_quota_mb: must not be negative"},
		{"log level", "log_level = \"verbose\"\n", "log_level: \"verbose\" is not a level (debug, info, warn, error)"},
		{"log level case", "log_level = \"INFO\"\n", "log_level: \"INFO\" is not a level"},
		{"state dir empty", "state_dir = \"\"\n", "state_dir: missing"},
		{"listen no port", "listen = \"127.0.0.1\"\n", "listen: \"127.0.0.1\" is not host:port"},
		{"listen bad port", "listen = \"127.0.0.1:99999\"\n", "listen: port \"99999\" is not a number"},
		{"libvirt uri empty", "[libvirt]\nuri = \"\"\n", "libvirt.uri: missing"},
		{"max body negative", "max_body_bytes = -1\n", "max_body_bytes: must be positive, got -1"},
		{"max memory negative", "[limits]\nmax_memory_mb = -512\n", "limits.max_memory_mb: must be positive, got -512"},
		{"max cores zero", "[limits]\nmax_cores = 0\n", "limits.max_cores: must be positive, got 0"},
		{"max disk negative", "[limits]\nmax_disk_mb = -1\n", "limits.max_disk_mb: must be positive"},
		{"default quota negative", "[limits]\ndefault_disk_quota_mb = -1\n", "limits.default_disk_quota_mb: must be positive"},
		{"max bandwidth negative", "[limits]\nmax_bandwidth_bps = -1.0\n", "limits.max_bandwidth_bps: must be a positive number of bit/s"},
		{"max bandwidth nan", "[limits]\nmax_bandwidth_bps = nan\n", "limits.max_bandwidth_bps: must be a positive number of bit/s, got NaN"},
		{"max bandwidth inf", "[limits]\nmax_bandwidth_bps = inf\n", "limits.max_bandwidth_bps: must be a positive number of bit/s, got +Inf"},
		{"min bandwidth nan", "[network]\nmin_bandwidth_bps = nan\n", "network.min_bandwidth_bps: must be a positive number"},
		{"libvirt timeout negative", "[libvirt]\ncommand_timeout = \"-1s\"\n", "libvirt.command_timeout: must be positive, got -1s"},
		{"storage timeout zero", "[storage]\ncommand_timeout = \"0s\"\n", "storage.command_timeout: must be positive, got 0s"},
		{"step retry negative", "[timeouts]\nstep_retry = \"-5s\"\n", "timeouts.step_retry: must be positive, got -5s"},
		{"stop negative", "[timeouts]\nstop = \"-1m\"\n", "timeouts.stop: must be positive (how long a guest gets to shut down before power off), got -1m0s"},
		{"stop zero", "[timeouts]\nstop = \"0s\"\n", "timeouts.stop: must be positive"},
		{"reboot negative", "[timeouts]\nreboot = \"-1s\"\n", "timeouts.reboot: must be positive (how long a guest gets to reboot before a reset), got -1s"},
		{"stop messages zero", "[timeouts]\nstop_messages = 0\n", "timeouts.stop_messages: must be at least 1 (shutdown requests sent within timeouts.stop), got 0"},
		{"stop messages negative", "[timeouts]\nstop_messages = -2\n", "timeouts.stop_messages: must be at least 1"},
		{"keep finished negative", "[operations]\nkeep_finished = \"-1h\"\n", "operations.keep_finished: -1h0m0s is shorter than an hour"},
		{"migration rate negative", "[migration]\nrate_mbps = -1\n", "migration.rate_mbps: must not be negative (0 is no cap)"},
		{"count every negative", "[network]\ncount_every = \"-1s\"\n", "network.count_every: must be positive"},
		{"check every negative", "[snapshots]\ncheck_every = \"-1s\"\n", "snapshots.check_every: must be positive"},
		{"image size negative", "[[images]]\nlabel = \"x\"\nsize_mb = -1\n", "images[0]: needs a label and a positive size_mb"},
		{"image label twice", "[[images]]\nlabel = \"x\"\nsize_mb = 1\n[[images]]\nlabel = \"x\"\nsize_mb = 2\n", "images[1].label: \"x\" is given twice"},
		{"iso without label", "[[isos]]\nfile = \"a.iso\"\n", "isos[0].label: must not be empty"},
		{"iso without file", "[[isos]]\nlabel = \"x\"\n", "isos[0].file: must name the ISO image's file"},
		{"iso label twice", "[[isos]]\nlabel = \"x\"\nfile = \"a.iso\"\n[[isos]]\nlabel = \"x\"\nfile = \"b.iso\"\n", "isos[1].label: \"x\" is given twice"},
		{"datacenter id negative", "[datacenter]\nid = -1\n", "datacenter.id: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error containing %q", err, tc.want)
			}
			// Which file, too: the same field may be right in another.
			if !strings.HasPrefix(err.Error(), "config "+p+": ") {
				t.Errorf("Load = %v, want it to start with the file, %q", err, "config "+p+": ")
			}
		})
	}
}

// A key hash as the documented commands print it is accepted.
func TestAcceptsKeyHashes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	body := "[operator]\nkey_sha256 = \"" + strings.Repeat("0123456789abcdef", 4) + "\"\n"
	os.WriteFile(p, []byte(body), 0o644)
	if _, err := Load(p); err != nil {
		t.Fatal(err)
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
