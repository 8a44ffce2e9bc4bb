// Package config reads the agent's TOML configuration. Every field is
// documented in deploy/xenagent.example.toml; defaults are the seeds'.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/xenagent/xenagent/agent/passwd"
)

// Duration is a time.Duration written as "5m", "90s".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Config is the whole configuration file.
type Config struct {
	Listen       string     `toml:"listen"`
	PublicURL    string     `toml:"public_url"` // publicurl.go
	StateDir     string     `toml:"state_dir"`
	LogLevel     string     `toml:"log_level"`
	MaxBodyBytes int64      `toml:"max_body_bytes"`
	TLS          TLS        `toml:"tls"`
	Libvirt      Libvirt    `toml:"libvirt"`
	Datacenter   Datacenter `toml:"datacenter"`
	Storage      Storage    `toml:"storage"`
	Timeouts     Timeouts   `toml:"timeouts"`
	Limits       Limits     `toml:"limits"`
	Network      Network    `toml:"network"`
	Operator     Operator   `toml:"operator"`
	Accounts     []Account  `toml:"accounts"`
	Demo         Demo       `toml:"demo"`
	Images       []Image    `toml:"images"`
	ISOs         []ISO      `toml:"isos"` // iso.go
	Snapshots    Snapshots  `toml:"snapshots"`
	Operations   Operations `toml:"operations"`
	Migration    Migration  `toml:"migration"`
	Server       Server     `toml:"server"`
	Metrics      Metrics    `toml:"metrics"`
	Stats        Stats      `toml:"stats"`
	Quotas       Quotas     `toml:"quotas"` // quota.go
	// AllowForeignVolumes is serve --allow-foreign-volumes, never read
	// from the file: a key left on would disarm the check for good.
	AllowForeignVolumes bool `toml:"-"`
}

// Operations configures the operation journal.
type Operations struct {
	// KeepFinished is how long a finished operation (and its idempotency
	// key) stays listable; 0 keeps every one forever.
	KeepFinished Duration `toml:"keep_finished"`
}

// Migration configures moving VMs to other agents (issue 15).
type Migration struct {
	// RateMbps caps, in megabits per second, what this agent sends of
	// disks to other agents, every move and pass together (one token
	// bucket): the guests left on the host keep the rest of its link.
	// 0 is no cap.
	RateMbps int64 `toml:"rate_mbps"`
}

// Stats configures usage statistics.
type Stats struct {
	// Every is how often every domain's counters are read (one libvirt
	// call for all) and added to the series.
	Every Duration `toml:"every"`
}

// Snapshots configures automatic snapshots. Profiles replace the built-in
// ones (minimal, full, hourly) when any is given.
type Snapshots struct {
	// CheckEvery is how often the scheduler looks for snapshots due.
	CheckEvery Duration          `toml:"check_every"`
	Profiles   []SnapshotProfile `toml:"profiles"`
}

type SnapshotProfile struct {
	ID        int64    `toml:"id"`
	Name      string   `toml:"name"`
	Every     Duration `toml:"every"`
	KeptTotal int64    `toml:"kept_total"`
	// QuotaFactor is the percentage of a disk's size it counts against
	// the quota with this profile (its total_size), automatic snapshots
	// included.
	QuotaFactor int64 `toml:"quota_factor"`
}

type TLS struct {
	Cert     string `toml:"cert"`
	Key      string `toml:"key"`
	ClientCA string `toml:"client_ca"`
}

type Libvirt struct {
	URI            string   `toml:"uri"`
	CommandTimeout Duration `toml:"command_timeout"`
	HVM            bool     `toml:"hvm"`
	KVM            bool     `toml:"kvm"`
}

type Datacenter struct {
	ID      int64  `toml:"id"`
	Name    string `toml:"name"`
	Country string `toml:"country"`
	ISO     string `toml:"iso"`
	Code    string `toml:"dc_code"`
}

type Storage struct {
	Backend    string `toml:"backend"`
	Dir        string `toml:"dir"`
	KernelsDir string `toml:"kernels_dir"`
	// VG and ThinPool are the lvm backend's volume group and thin pool.
	VG       string `toml:"vg"`
	ThinPool string `toml:"thin_pool"`
	// CommandTimeout bounds every lvm command (they can hang on the VG lock).
	CommandTimeout Duration `toml:"command_timeout"`
	// QuarantineFor is how long a volume no record refers to, set aside
	// at start, is kept before it is removed; 0 keeps it forever.
	QuarantineFor Duration `toml:"quarantine_for"`
}

type Timeouts struct {
	Stop         Duration `toml:"stop"`
	StopMessages int      `toml:"stop_messages"`
	Reboot       Duration `toml:"reboot"`
	StepRetry    Duration `toml:"step_retry"`
}

type Limits struct {
	MaxMemoryMB    int64   `toml:"max_memory_mb"`
	MaxCores       int64   `toml:"max_cores"`
	MaxDiskMB      int64   `toml:"max_disk_mb"`
	MaxBandwidth   float64 `toml:"max_bandwidth_bps"`
	DefaultQuotaMB int64   `toml:"default_disk_quota_mb"`
	// AllowUnlimited lets calls ask for an unshaped iface (bandwidth
	// "unlimited"): off by default, or any tenant could lift
	// max_bandwidth_bps.
	AllowUnlimited bool `toml:"allow_unlimited_bandwidth"`
}

type Pool struct {
	Prefix  string `toml:"prefix"`
	Gateway string `toml:"gateway"`
	First   string `toml:"first"`
	Last    string `toml:"last"`
}

type Network struct {
	Bridge        string `toml:"bridge"`
	ReverseDomain string `toml:"reverse_domain"`
	IPv4          *Pool  `toml:"ipv4"`
	IPv6          *Pool  `toml:"ipv6"`
	// Wire puts filters and bandwidth limits on the VMs' backend devices;
	// off where there are none (libvirt's test driver).
	Wire bool `toml:"wire"`
	// Sweep removes, at start, filters and IFB devices of interfaces the
	// agent has no record of. Turn it off only when several agents share
	// one host's network namespace.
	Sweep bool `toml:"sweep"`
	// Bandwidths are in bit/s, each way: an iface's rate when a call names
	// none, and the lowest rate a call may ask for (limits.max_bandwidth_bps
	// is the highest).
	DefaultBandwidth float64 `toml:"default_bandwidth_bps"`
	MinBandwidth     float64 `toml:"min_bandwidth_bps"`
	// CountEvery is how often traffic counters are written to the records
	// (a device's last counts are also kept when it goes away).
	CountEvery Duration `toml:"count_every"`
}

type Operator struct {
	KeySHA256 string `toml:"key_sha256"`
}

type Account struct {
	Handle      string `toml:"handle"`
	Fullname    string `toml:"fullname"`
	KeySHA256   string `toml:"key_sha256"`
	DiskQuotaMB int64  `toml:"disk_quota_mb"`
	// AccountQuota is the account's own grant and model (quota.go).
	AccountQuota

	// PasswordHash is the account's login password for the Gandi v1
	// face (login), as a SHA-512 crypt hash of at least
	// passwd.AccountRounds rounds; "" has none (no v1 login).
	PasswordHash string `toml:"password_hash"`
}

type Demo struct {
	Enabled bool   `toml:"enabled"`
	KeyFile string `toml:"key_file"`
	// PasswordHash is the demo account's v1 login password, as an
	// account's password_hash ("" has none: no v1 login).
	PasswordHash string `toml:"password_hash"`
}

type Image struct {
	Label         string `toml:"label"`
	OSArch        string `toml:"os_arch"`
	SizeMB        int64  `toml:"size_mb"`
	KernelVersion string `toml:"kernel_version"`
	Cmdline       string `toml:"cmdline"`
	// SourceFile, when set, is copied into the image volume once.
	SourceFile string `toml:"source_file"`
}

// Default returns the configuration used when a field is absent.
func Default() Config {
	return Config{
		Listen:       "127.0.0.1:8080",
		StateDir:     "/var/lib/xenagent",
		LogLevel:     "info",
		MaxBodyBytes: 1 << 20,
		Libvirt:      Libvirt{URI: "xen:///system", CommandTimeout: Duration{60 * time.Second}},
		Datacenter:   Datacenter{ID: 1, Name: "Local", Country: "France", ISO: "FR", Code: "FR-LOCAL1"},
		Storage:      Storage{Backend: "file", CommandTimeout: Duration{2 * time.Minute}, QuarantineFor: Duration{30 * 24 * time.Hour}},
		Timeouts: Timeouts{Stop: Duration{5 * time.Minute}, StopMessages: 2, Reboot: Duration{2 * time.Minute},
			StepRetry: Duration{2 * time.Minute}},
		Snapshots:  Snapshots{CheckEvery: Duration{time.Minute}},
		Operations: Operations{KeepFinished: Duration{7 * 24 * time.Hour}},
		Migration:  Migration{RateMbps: 1000},
		Network:    Network{Wire: true, Sweep: true, DefaultBandwidth: 102400, MinBandwidth: 8000, CountEvery: Duration{30 * time.Second}},
		Limits:     Limits{MaxMemoryMB: 262144, MaxCores: 32, MaxDiskMB: 2 << 20, MaxBandwidth: 10e9, DefaultQuotaMB: 1 << 20},
		Server:     DefaultServer(),
		Stats:      Stats{Every: Duration{time.Minute}},
	}
}

// Load reads path over the defaults and checks the result.
func Load(path string) (Config, error) {
	c := Default()
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("reading config %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return c, fmt.Errorf("config %s: unknown key %q", path, undecoded[0].String())
	}
	base := filepath.Dir(path)
	for _, p := range []*string{&c.StateDir, &c.Storage.Dir, &c.Storage.KernelsDir, &c.TLS.Cert, &c.TLS.Key, &c.TLS.ClientCA, &c.Demo.KeyFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	for i := range c.ISOs {
		if p := &c.ISOs[i].File; *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	for i := range c.Images {
		if p := &c.Images[i].SourceFile; *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	if c.Storage.Dir == "" {
		c.Storage.Dir = filepath.Join(c.StateDir, "disks")
	}
	if c.Demo.KeyFile == "" {
		c.Demo.KeyFile = filepath.Join(c.StateDir, "apikey")
	}
	// Every message names the file: check-config, serve and adopt print
	// it as it is, and an operator may keep several configurations.
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Validate reports the first inconsistency.
func (c Config) Validate() error {
	var errs []string
	if c.Listen == "" {
		errs = append(errs, "listen: must be host:port")
	}
	errs = append(errs, c.publicURLErrs()...)
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		errs = append(errs, "tls: cert and key go together")
	}
	if c.TLS.ClientCA != "" && c.TLS.Cert == "" {
		errs = append(errs, "tls.client_ca: needs tls.cert and tls.key")
	}
	if c.Datacenter.ID <= 0 {
		errs = append(errs, "datacenter.id: must be positive")
	}
	if c.Storage.Backend != "file" && c.Storage.Backend != "lvm" {
		errs = append(errs, fmt.Sprintf("storage.backend: %q is not a backend (file, lvm)", c.Storage.Backend))
	}
	if c.Storage.Backend == "lvm" && (c.Storage.VG == "" || c.Storage.ThinPool == "") {
		errs = append(errs, "storage: the lvm backend needs vg and thin_pool")
	}
	if q := c.Storage.QuarantineFor.Duration; q < 0 || q > 0 && q < time.Hour {
		errs = append(errs, fmt.Sprintf("storage.quarantine_for: %s must be 0 (keep forever) or at least 1h, time to notice a wrong state_dir", q))
	}
	if d := c.Timeouts.Stop.Duration; d <= 0 {
		errs = append(errs, fmt.Sprintf("timeouts.stop: must be positive (how long a guest gets to shut down before power off), got %s", d))
	}
	if n := c.Timeouts.StopMessages; n < 1 {
		errs = append(errs, fmt.Sprintf("timeouts.stop_messages: must be at least 1 (shutdown requests sent within timeouts.stop), got %d", n))
	}
	if d := c.Timeouts.Reboot.Duration; d <= 0 {
		errs = append(errs, fmt.Sprintf("timeouts.reboot: must be positive (how long a guest gets to reboot before a reset), got %s", d))
	}
	if c.Operator.KeySHA256 != "" && !isKeyHash(c.Operator.KeySHA256) {
		errs = append(errs, "operator.key_sha256: "+keyHashRule)
	}
	seen := map[string]bool{}
	keys := map[string]string{} // key hash -> the field that gave it
	if c.Operator.KeySHA256 != "" {
		keys[c.Operator.KeySHA256] = "operator.key_sha256"
	}
	for i, a := range c.Accounts {
		switch {
		case a.Handle == "":
			errs = append(errs, fmt.Sprintf("accounts[%d].handle: missing", i))
		case seen[a.Handle]:
			errs = append(errs, fmt.Sprintf("accounts[%d].handle: %q is given twice", i, a.Handle))
		}
		if !isKeyHash(a.KeySHA256) {
			errs = append(errs, fmt.Sprintf("accounts[%d].key_sha256: %s", i, keyHashRule))
		} else if other, ok := keys[a.KeySHA256]; ok {
			// One key, two identities: whichever matched first would act
			// for both.
			errs = append(errs, fmt.Sprintf("accounts[%d].key_sha256: the same key as %s; every key must be unique", i, other))
		} else {
			keys[a.KeySHA256] = fmt.Sprintf("accounts[%d].key_sha256", i)
		}
		seen[a.Handle] = true
	}
	errs = append(errs, c.strict()...)
	ids := map[int64]bool{}
	for i, p := range c.Snapshots.Profiles {
		if p.ID <= 0 || ids[p.ID] || p.Name == "" || p.Every.Duration < time.Minute || p.KeptTotal < 1 || p.QuotaFactor < 100 {
			errs = append(errs, fmt.Sprintf("snapshots.profiles[%d]: needs a unique positive id, a name, every >= 1m, kept_total >= 1 and quota_factor >= 100 (percent)", i))
		}
		ids[p.ID] = true
	}
	if c.Snapshots.CheckEvery.Duration <= 0 {
		errs = append(errs, "snapshots.check_every: must be positive")
	}
	if c.Migration.RateMbps < 0 {
		errs = append(errs, "migration.rate_mbps: must not be negative (0 is no cap)")
	}
	if k := c.Operations.KeepFinished.Duration; k != 0 && k < time.Hour {
		errs = append(errs, fmt.Sprintf("operations.keep_finished: %s is shorter than an hour, too short for clients retrying with an idempotency key (0 keeps them forever)", k))
	}
	if n := c.Network; n.MinBandwidth <= 0 || n.DefaultBandwidth < n.MinBandwidth || n.DefaultBandwidth > c.Limits.MaxBandwidth {
		errs = append(errs, fmt.Sprintf("network: need 0 < min_bandwidth_bps <= default_bandwidth_bps <= limits.max_bandwidth_bps (bit/s), got %.0f, %.0f, %.0f",
			n.MinBandwidth, n.DefaultBandwidth, c.Limits.MaxBandwidth))
	}
	if c.Network.CountEvery.Duration <= 0 {
		errs = append(errs, "network.count_every: must be positive")
	}
	for i, im := range c.Images {
		if im.Label == "" || im.SizeMB <= 0 {
			errs = append(errs, fmt.Sprintf("images[%d]: needs a label and a positive size_mb", i))
		}
	}
	if e := c.Stats.Every.Duration; e < 10*time.Second || e > time.Hour {
		errs = append(errs, fmt.Sprintf("stats.every: %s must be from 10s (a libvirt call for every domain) to 1h (the finest graphs have 1-minute points)", e))
	}
	errs = append(errs, c.Server.validate()...)
	errs = append(errs, c.validateISOs()...)
	errs = append(errs, c.validateQuotas()...)
	errs = append(errs, c.Metrics.validate(c)...)
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// keyHashRule says what a key_sha256 is and how to make one: a hash that
// is not this form never matches any key, which locks its owner out
// without a word.
const keyHashRule = "must be the SHA-256 of the API key as 64 lowercase hex digits " +
	"(`xenagent hash-key KEY` prints it, as does `printf %s KEY | sha256sum`)"

func isKeyHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, r := range h {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// strict checks what no agent can run with: unknown names, negative or
// non-finite numbers, addresses that do not parse.
func (c Config) strict() []string {
	var errs []string
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Sprintf("log_level: %q is not a level (debug, info, warn, error)", c.LogLevel))
	}
	if c.StateDir == "" {
		errs = append(errs, "state_dir: missing")
	}
	if c.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Sprintf("listen: %q is not host:port: %v", c.Listen, err))
		} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
			errs = append(errs, fmt.Sprintf("listen: port %q is not a number from 0 to 65535", port))
		}
	}
	if c.Libvirt.URI == "" {
		errs = append(errs, "libvirt.uri: missing")
	}
	positive := []struct {
		field string
		v     int64
	}{
		{"max_body_bytes", c.MaxBodyBytes},
		{"limits.max_memory_mb", c.Limits.MaxMemoryMB}, {"limits.max_cores", c.Limits.MaxCores},
		{"limits.max_disk_mb", c.Limits.MaxDiskMB}, {"limits.default_disk_quota_mb", c.Limits.DefaultQuotaMB},
	}
	for _, p := range positive {
		if p.v <= 0 {
			errs = append(errs, fmt.Sprintf("%s: must be positive, got %d", p.field, p.v))
		}
	}
	if c.Demo.PasswordHash != "" && passwd.Rounds(c.Demo.PasswordHash) < passwd.AccountRounds {
		errs = append(errs, fmt.Sprintf("demo.password_hash: must be a SHA-512 crypt hash of at least %d rounds, as `mkpasswd -m sha-512 -R %d` prints", passwd.AccountRounds, passwd.AccountRounds))
	}
	for i, a := range c.Accounts {
		if a.DiskQuotaMB < 0 {
			errs = append(errs, fmt.Sprintf("accounts[%d].disk_quota_mb: must not be negative (0: limits.default_disk_quota_mb), got %d", i, a.DiskQuotaMB))
		}
		if a.PasswordHash != "" && passwd.Rounds(a.PasswordHash) < passwd.AccountRounds {
			errs = append(errs, fmt.Sprintf("accounts[%d].password_hash: must be a SHA-512 crypt hash of at least %d rounds, as `mkpasswd -m sha-512 -R %d` prints", i, passwd.AccountRounds, passwd.AccountRounds))
		}
	}
	durations := []struct {
		field string
		v     time.Duration
		zero  bool // 0 is allowed (a default applies)
	}{
		{"libvirt.command_timeout", c.Libvirt.CommandTimeout.Duration, false},
		{"storage.command_timeout", c.Storage.CommandTimeout.Duration, false},
		{"timeouts.step_retry", c.Timeouts.StepRetry.Duration, true},
	}
	for _, d := range durations {
		if d.v < 0 || d.v == 0 && !d.zero {
			errs = append(errs, fmt.Sprintf("%s: must be positive, got %s", d.field, d.v))
		}
	}
	for _, f := range []struct {
		field string
		v     float64
	}{
		{"limits.max_bandwidth_bps", c.Limits.MaxBandwidth},
		{"network.default_bandwidth_bps", c.Network.DefaultBandwidth}, {"network.min_bandwidth_bps", c.Network.MinBandwidth},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v <= 0 {
			errs = append(errs, fmt.Sprintf("%s: must be a positive number of bit/s, got %v", f.field, f.v))
		}
	}
	labels := map[string]bool{}
	for i, im := range c.Images {
		if im.Label != "" && labels[im.Label] {
			errs = append(errs, fmt.Sprintf("images[%d].label: %q is given twice (images are registered once, by label)", i, im.Label))
		}
		labels[im.Label] = true
	}
	return errs
}

// EnsureDirs creates the state directory.
func (c Config) EnsureDirs() error { return os.MkdirAll(c.StateDir, 0o750) }
