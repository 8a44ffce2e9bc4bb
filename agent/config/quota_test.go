package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuotas(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"read", "[quotas]\nservers = 4\ncores = 2.5\nmemory_mb = 4096\nbandwidth_bps = 1e9\nips = 8\nshares = 3\nmodel = \"rating\"\n" +
			"[quotas.share]\nservers = 1\ncores = 0.5\nmemory_mb = 256\ndisk_mb = 8192\nbandwidth_bps = 5e6\nips = 2\n", ""},
		{"servers negative", "[quotas]\nservers = -1\n", "quotas.servers: must be 0 (the built-in default) or positive, got -1"},
		{"cores nan", "[quotas]\ncores = nan\n", "quotas.cores: must be 0"},
		{"share bandwidth inf", "[quotas.share]\nbandwidth_bps = inf\n", "quotas.share.bandwidth_bps: must be 0"},
		{"model", "[quotas]\nmodel = \"credits\"\n", "quotas.model: must be \"shares\" or \"rating\", got \"credits\""},
		{"unknown key", "[quotas]\ncpus = 1\n", "cpus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(p)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Load = %v, want an error containing %q", err, tc.want)
				}
				return
			}
			want := Quotas{Servers: 4, Cores: 2.5, MemoryMB: 4096, BandwidthBPS: 1e9, IPs: 8, Shares: 3, Model: "rating",
				Share: Share{Servers: 1, Cores: 0.5, MemoryMB: 256, DiskMB: 8192, BandwidthBPS: 5e6, IPs: 2}}
			if err != nil || c.Quotas != want {
				t.Fatalf("Load = %+v, %v; want %+v", c.Quotas, err, want)
			}
		})
	}
}

// An account's own grant sits in its [[accounts]] entry, beside its key.
func TestAccountQuota(t *testing.T) {
	key := strings.Repeat("a", 64)
	for _, tc := range []struct{ name, body, want string }{
		{"read", "[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + key + "\"\nservers = 3\ncores = 1.5\nmemory_mb = 2048\nbandwidth_bps = 1e6\nips = 2\nshares = 4\nmodel = \"rating\"\n", ""},
		{"negative", "[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + key + "\"\nips = -1\n", "accounts[0].ips: must be 0 ([quotas]' value) or positive, got -1"},
		{"model", "[[accounts]]\nhandle = \"A\"\nkey_sha256 = \"" + key + "\"\nmodel = \"credits\"\n", "accounts[0].model: must be \"shares\" or \"rating\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(p)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Load = %v, want an error containing %q", err, tc.want)
				}
				return
			}
			want := AccountQuota{Servers: 3, Cores: 1.5, MemoryMB: 2048, BandwidthBPS: 1e6, IPs: 2, Shares: 4, Model: "rating"}
			if err != nil || len(c.Accounts) != 1 || c.Accounts[0].AccountQuota != want {
				t.Fatalf("Load = %+v, %v; want %+v", c.Accounts, err, want)
			}
		})
	}
}
