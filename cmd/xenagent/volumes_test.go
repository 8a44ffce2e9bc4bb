package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/testenv"
	"github.com/xenagent/xenagent/storage/storagetest"
	"golang.org/x/sys/unix"
)

// These tests run the real agent, with the file backend on a
// loop-mounted btrfs and libvirt's test driver (no VM is needed), through
// every way a start used to delete customers' volumes: an empty or
// mistyped state_dir over a populated disks dir, an older state.db
// restored, two agents sharing one disks dir. No volume is ever lost.

// volAgent is one agent: a state dir and a config over a disks dir.
type volAgent struct {
	*lab
	state, disks string
	env          []string // added to the agent's environment
}

func newVolAgent(t *testing.T, state, disks, storageExtra string) *volAgent {
	t.Helper()
	l := &lab{t: t, dir: state, port: freePort(t), bin: buildPlain(t), conf: filepath.Join(t.TempDir(), "agent.toml")}
	conf := fmt.Sprintf(`listen = "127.0.0.1:%d"
state_dir = %q
log_level = "info"
[libvirt]
uri = "test:///default"
[storage]
backend = "file"
dir = %q
%s
[network]
wire = false
sweep = false
[demo]
enabled = true
[[images]]
label = "base"
size_mb = 8
`, l.port, state, disks, storageExtra)
	if err := os.WriteFile(l.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l.agent != nil {
			l.agent.cmd.Process.Kill()
			l.agent.wait()
			if t.Failed() {
				t.Logf("agent %s log:\n%s", state, l.agent.out)
			}
		}
	})
	return &volAgent{lab: l, state: state, disks: disks}
}

// startWith runs the agent with extra serve arguments until it answers.
func (a *volAgent) startWith(args ...string) {
	a.t.Helper()
	a.run(args...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", a.port)); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-a.agent.exited:
			a.t.Fatalf("agent exited at start:\n%s", a.agent.out)
		default:
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("agent did not come up:\n%s", a.agent.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	raw, err := os.ReadFile(filepath.Join(a.state, "apikey"))
	if err != nil {
		a.t.Fatal(err)
	}
	a.key = strings.TrimSpace(string(raw))
}

func (a *volAgent) run(args ...string) {
	cmd := exec.Command(a.bin, append([]string{"serve", "--config", a.conf}, args...)...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), a.env...)
	if err := cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.agent = &proc{cmd: cmd, out: out, url: fmt.Sprintf("http://127.0.0.1:%d/xmlrpc/", a.port), exited: make(chan struct{})}
	go func(p *proc) { p.cmd.Wait(); close(p.exited) }(a.agent)
}

// refused runs the agent and expects it to exit with an error; it
// returns what the agent said.
func (a *volAgent) refused(args ...string) string {
	a.t.Helper()
	a.run(args...)
	select {
	case <-a.agent.exited:
	case <-time.After(30 * time.Second):
		a.t.Fatalf("the agent started:\n%s", a.agent.out)
	}
	p := a.agent
	a.agent = nil
	if p.cmd.ProcessState.Success() {
		a.t.Fatalf("the agent exited 0:\n%s", p.out)
	}
	return p.out.String()
}

// stopLog stops the agent and returns its log.
func (a *volAgent) stopLog() string {
	out := a.agent.out
	a.stop()
	return out.String()
}

// createDisk makes a data disk, writes payload at 1 MB into its volume
// and returns its id.
func (a *volAgent) createDisk(payload string) int64 {
	a.t.Helper()
	op := a.must("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "name": "d", "size": int64(16)}).(map[string]any)
	a.waitOp(op["id"], "DONE")
	id := op["disk_id"].(int64)
	writeAt(a.t, filepath.Join(a.disks, fmt.Sprintf("xa-disk-%d.img", id)), payload)
	return id
}

func (a *volAgent) waitOp(id any, want string) map[string]any {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info := a.must("operation.info", id).(map[string]any)
		if s := info["step"]; s != "WAIT" && s != "RUN" {
			if s != want {
				a.t.Fatalf("operation %v ended %v, want %s: %v", id, s, want, info["last_error"])
			}
			return info
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("operation %v never finished", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a *volAgent) diskIDs() map[int64]bool {
	ids := map[int64]bool{}
	for _, d := range a.must("hosting.disk.list", map[string]any{}).([]any) {
		ids[d.(map[string]any)["id"].(int64)] = true
	}
	return ids
}

// metric reads /metrics for one kind of volume: how many, their size,
// and the space they hold.
func (a *volAgent) metric(kind string) (count, size, allocated int64) {
	a.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", a.port))
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, m := range []struct {
		name string
		dst  *int64
	}{{"xenagent_volumes", &count}, {"xenagent_volume_size_bytes", &size}, {"xenagent_volume_allocated_bytes", &allocated}} {
		re := regexp.MustCompile(m.name + `\{kind="` + kind + `"\} (\d+)`)
		sub := re.FindSubmatch(body)
		if sub == nil {
			a.t.Fatalf("no %s{kind=%q} in /metrics:\n%s", m.name, kind, body)
		}
		*m.dst, _ = strconv.ParseInt(string(sub[1]), 10, 64)
	}
	return count, size, allocated
}

func writeAt(t *testing.T, path, payload string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(payload), 1<<20); err != nil {
		t.Fatal(err)
	}
}

func readAt(t *testing.T, path string, n int) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("volume lost: %v", err)
	}
	defer f.Close()
	b := make([]byte, n)
	f.ReadAt(b, 1<<20)
	return string(b)
}

// snapshotDir maps every file of the disks dir to its payload.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".xenagent-") {
			continue // an instance's lease, not a volume
		}
		m[e.Name()] = readAt(t, filepath.Join(dir, e.Name()), 12)
	}
	return m
}

// checkKept asserts every file of before is still there with its bytes.
func checkKept(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := snapshotDir(t, dir)
	for name, payload := range before {
		if got, ok := after[name]; !ok || got != payload {
			t.Errorf("volume %s: had %q, now %q (present %v)", name, payload, got, ok)
		}
	}
}

func quarantinedIn(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, payload := range snapshotDir(t, dir) {
		if orig, _, ok := host.ParseQuarantined(strings.TrimSuffix(name, ".img")); ok {
			out[orig] = payload
		}
	}
	return out
}

func volumeEnv(t *testing.T) string {
	testenv.Root(t, "to loop-mount a btrfs for the disks dir")
	return storagetest.Btrfs(t, 1)
}

// An empty or mistyped state_dir over a populated disks dir: the agent
// refuses to start, says what it found and the way out, and every volume
// is still there. With --allow-foreign-volumes it starts and touches
// none of them; adopt then takes one over.
func TestEmptyStateOverPopulatedDisks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state func(root string) string
	}{
		{"empty state dir", func(root string) string { d := filepath.Join(root, "empty"); os.MkdirAll(d, 0o750); return d }},
		{"mistyped state_dir", func(root string) string { return filepath.Join(root, "xenagnet") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disks := filepath.Join(volumeEnv(t), "disks")
			root := t.TempDir()
			first := newVolAgent(t, filepath.Join(root, "state"), disks, "")
			first.startWith()
			d1, d2 := first.createDisk("customer-one"), first.createDisk("customer-two")
			first.stop()
			before := snapshotDir(t, disks)

			second := newVolAgent(t, tc.state(root), disks, "")
			msg := second.refused()
			checkKept(t, disks, before)
			instance := instanceOf(t, disks, d1)
			for _, want := range []string{"refusing to start", "knows no disk", disks, "3 volumes", instance, "state_dir is empty or mistyped", "--allow-foreign-volumes", "xenagent adopt"} {
				if !strings.Contains(msg, want) {
					t.Errorf("the refusal does not say %q:\n%s", want, msg)
				}
			}
			checkKept(t, disks, before)

			second.startWith("--allow-foreign-volumes")
			// Two 16 MB disks and the 8 MB image; the disks hold a payload.
			if n, size, held := second.metric("foreign"); n != 3 || size != 40<<20 || held == 0 || held >= size {
				t.Errorf("foreign volumes in /metrics = %d, size %d bytes, allocated %d bytes; want 3, size %d, 0 < allocated < size", n, size, held, 40<<20)
			}
			if n, _, _ := second.metric("quarantined"); n != 0 {
				t.Errorf("quarantined = %d", n)
			}
			log := second.stopLog()
			if !strings.Contains(log, "by_instance="+instance+":3") {
				t.Errorf("the start-up summary does not report the other instance's volumes:\n%s", log)
			}
			checkKept(t, disks, before)
			if q := quarantinedIn(t, disks); len(q) != 0 {
				t.Errorf("quarantined another instance's volumes: %v", q)
			}
			// Its own image took a name nobody had: the first agent's
			// image (xa-disk-1) is still the first agent's.
			second.startWith()
			second.stop()

			// The first agent finds everything of its own, untouched.
			first.startWith()
			if ids := first.diskIDs(); !ids[d1] || !ids[d2] {
				t.Errorf("first agent's disks = %v", ids)
			}
			if n, _, _ := first.metric("foreign"); n != 1 {
				t.Errorf("the first agent sees %d foreign volumes; want the second's image", n)
			}
			first.stop()
			checkKept(t, disks, before)

			// Adopt: the second agent takes over d2, data and all.
			out, err := exec.Command(second.bin, "adopt", "--config", second.conf, "--account", "1", fmt.Sprintf("xa-disk-%d", d2)).CombinedOutput()
			if err != nil {
				t.Fatalf("adopt: %v\n%s", err, out)
			}
			second.startWith()
			ids := second.diskIDs()
			if !ids[d2] {
				t.Fatalf("adopted disk %d not listed: %v\n%s", d2, ids, out)
			}
			if got := readAt(t, filepath.Join(disks, fmt.Sprintf("xa-disk-%d.img", d2)), 12); got != "customer-two" {
				t.Errorf("adopted volume holds %q", got)
			}
			second.stop()
		})
	}
}

// instanceOf reads the owner mark of a disk's volume.
func instanceOf(t *testing.T, disks string, id int64) string {
	t.Helper()
	b := make([]byte, 64)
	n, err := unix.Getxattr(filepath.Join(disks, fmt.Sprintf("xa-disk-%d.img", id)), "user.xenagent.owner", b)
	if err != nil || n == 0 {
		t.Fatalf("volume of disk %d carries no owner mark: %v", id, err)
	}
	return string(b[:n])
}

// An older state.db restored: the volumes made after the backup are not
// in it. They are quarantined, not deleted: their bytes stay, each is
// listed at start and counted in /metrics; a disk made afterwards never
// reuses them; adopt brings one back.
func TestOldBackupRestored(t *testing.T) {
	disks := filepath.Join(volumeEnv(t), "disks")
	state := filepath.Join(t.TempDir(), "state")
	a := newVolAgent(t, state, disks, "") // quarantine_for: the default, 30 days
	a.startWith()
	kept := a.createDisk("before-backup")
	a.stop()
	backup, err := os.ReadFile(filepath.Join(state, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	a.startWith()
	late1, late2 := a.createDisk("after-one"), a.createDisk("after-two")
	a.stop()
	if err := os.WriteFile(filepath.Join(state, "state.db"), backup, 0o600); err != nil {
		t.Fatal(err)
	}

	a.startWith()
	q := quarantinedIn(t, disks)
	for id, payload := range map[int64]string{late1: "after-one", late2: "after-two"} {
		if got := q[fmt.Sprintf("xa-disk-%d", id)]; !strings.HasPrefix(got, payload) {
			t.Errorf("volume of disk %d: quarantined copy holds %q (quarantined: %v)", id, got, q)
		}
	}
	if n, size, held := a.metric("quarantined"); n != 2 || size != 32<<20 || held < 2<<10 {
		t.Errorf("/metrics quarantined = %d volumes, size %d bytes, allocated %d bytes; want 2, size %d, allocated at least the payloads", n, size, held, 32<<20)
	}
	// A disk made now gets the id the restored state hands out next; the
	// quarantined volume of that name is not reused or touched.
	fresh := a.createDisk("fresh-disk-x")
	if q := quarantinedIn(t, disks); len(q) != 2 {
		t.Errorf("after a new disk, quarantined = %v", q)
	}
	log := a.stopLog()
	for _, id := range []int64{late1, late2} {
		// Its size and the space it holds, each named: a 16 MB disk
		// holding a payload of a few bytes (one block, rounded up).
		if !regexp.MustCompile(`msg="volume quarantined" volume=xa-disk-` + strconv.FormatInt(id, 10) + ` .* size_mb=16 allocated_mb=1 `).MatchString(log) {
			t.Errorf("no start-up line for the quarantined volume of disk %d, with size_mb=16 allocated_mb=1:\n%s", id, log)
		}
	}
	if !strings.Contains(log, `msg="volumes not in the state" quarantined=2 quarantined_size_mb=32 quarantined_allocated_mb=`) {
		t.Errorf("no summary line:\n%s", log)
	}
	if got := readAt(t, filepath.Join(disks, fmt.Sprintf("xa-disk-%d.img", kept)), 13); got != "before-backup" {
		t.Errorf("the disk the state knows holds %q", got)
	}
	// A restart lists them again, one line each.
	a.startWith()
	log = a.stopLog()
	if n := strings.Count(log, `msg="volume in quarantine"`); n != 2 {
		t.Errorf("%d quarantine lines at the second start, want 2:\n%s", n, log)
	}

	// adopt lists the quarantined volumes, refuses while the agent runs,
	// and makes one a disk again under a free id.
	out, err := exec.Command(a.bin, "adopt", "--config", a.conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), host.QuarantinePrefix) {
		t.Fatalf("adopt listing: %v\n%s", err, out)
	}
	var qname string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(strings.Fields(line + " x")[0], fmt.Sprintf("-xa-disk-%d", late2)) {
			qname = strings.Fields(line)[0]
		}
	}
	a.startWith()
	if out, err := exec.Command(a.bin, "adopt", "--config", a.conf, "--account", "1", qname).CombinedOutput(); err == nil || !strings.Contains(string(out), "stop the agent") {
		t.Errorf("adopt with the agent running: %v\n%s", err, out)
	}
	a.stop()
	out, err = exec.Command(a.bin, "adopt", "--config", a.conf, "--account", "1", qname).CombinedOutput()
	if err != nil {
		t.Fatalf("adopt %s: %v\n%s", qname, err, out)
	}
	m := regexp.MustCompile(`as disk (\d+) \((xa-disk-\d+), 16 MB\)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("adopt said:\n%s", out)
	}
	a.startWith()
	adopted, _ := strconv.ParseInt(m[1], 10, 64)
	if ids := a.diskIDs(); !ids[adopted] || !ids[kept] || !ids[fresh] {
		t.Errorf("disks after adopt = %v, want %d, %d, %d", ids, adopted, kept, fresh)
	}
	if got := readAt(t, filepath.Join(disks, m[2]+".img"), 9); got != "after-two" {
		t.Errorf("adopted volume holds %q", got)
	}
	if n, _, _ := a.metric("quarantined"); n != 1 {
		t.Errorf("quarantined after adopt = %d, want 1", n)
	}
	a.stop()
	// One left: the listing says so in the singular, and a name not in it
	// is refused pointing at the listing, which needs no --account.
	if out, err := exec.Command(a.bin, "adopt", "--config", a.conf).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "1 volume in ") {
		t.Errorf("adopt listing one volume: %v\n%s", err, out)
	}
	out, err = exec.Command(a.bin, "adopt", "--config", a.conf, "--account", "1", "xa-disk-999").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "(xenagent adopt --config FILE lists them)") {
		t.Errorf("adopt of an unknown volume: exit %d\n%s", code, out)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// Quarantined volumes are removed once older than quarantine_for (the
// time is in the name: renaming one as if set aside two hours ago stands
// for the wait), and kept before.
func TestQuarantineExpires(t *testing.T) {
	disks := filepath.Join(volumeEnv(t), "disks")
	state := filepath.Join(t.TempDir(), "state")
	a := newVolAgent(t, state, disks, `quarantine_for = "1h"`)
	a.startWith()
	a.stop()
	backup, _ := os.ReadFile(filepath.Join(state, "state.db"))
	a.startWith()
	old, young := a.createDisk("old-quarant"), a.createDisk("young-quara")
	a.stop()
	os.WriteFile(filepath.Join(state, "state.db"), backup, 0o600)
	a.startWith()
	a.stop()
	var oldName string
	for name := range snapshotDir(t, disks) {
		if orig, _, ok := host.ParseQuarantined(strings.TrimSuffix(name, ".img")); ok && orig == fmt.Sprintf("xa-disk-%d", old) {
			oldName = host.Quarantined(orig, time.Now().Add(-2*time.Hour))
			if err := os.Rename(filepath.Join(disks, name), filepath.Join(disks, oldName+".img")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if oldName == "" {
		t.Fatalf("disk %d was not quarantined: %v", old, snapshotDir(t, disks))
	}
	a.startWith()
	log := a.stopLog()
	q := quarantinedIn(t, disks)
	if _, ok := q[fmt.Sprintf("xa-disk-%d", old)]; ok {
		t.Errorf("a volume quarantined 2h ago survived quarantine_for=1h: %v", q)
	}
	if got := q[fmt.Sprintf("xa-disk-%d", young)]; !strings.HasPrefix(got, "young-quara") {
		t.Errorf("a fresh quarantined volume was not kept: %v", q)
	}
	if !strings.Contains(log, `msg="volume removed" volume=`+oldName) {
		t.Errorf("no line for the expired volume:\n%s", log)
	}
}

// Two agents with their own state dirs share one disks dir: each makes
// disks, both restart, and nothing of the other is ever touched; a disk
// id whose name the other took fails cleanly and leaves theirs whole.
func TestTwoAgentsShareADisksDir(t *testing.T) {
	disks := filepath.Join(volumeEnv(t), "disks")
	root := t.TempDir()
	one := newVolAgent(t, filepath.Join(root, "one"), disks, "")
	two := newVolAgent(t, filepath.Join(root, "two"), disks, "")
	one.startWith()
	mine := []int64{one.createDisk("one-a-data"), one.createDisk("one-b-data")}
	two.startWith("--allow-foreign-volumes") // its state knows no disk yet: said once
	theirs := []int64{two.createDisk("two-a-data"), two.createDisk("two-b-data")}
	before := snapshotDir(t, disks)
	// The first agent's next id is the second's image: refused, untouched.
	op := one.must("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "name": "d", "size": int64(8)}).(map[string]any)
	info := one.waitOp(op["id"], "ERROR")
	if !strings.Contains(fmt.Sprint(info["last_error"]), "exists") {
		t.Errorf("collision fault: %v", info["last_error"])
	}
	checkKept(t, disks, before)
	// Each start takes the names on the storage as taken: a disk made
	// after both started may still collide, and fail as above.
	for round := 0; round < 2; round++ {
		one.stop()
		two.stop()
		one.startWith()
		mine = append(mine, one.createDisk(fmt.Sprintf("one-%d-data", round)))
		two.startWith()
		theirs = append(theirs, two.createDisk(fmt.Sprintf("two-%d-data", round)))
		checkKept(t, disks, before)
		before = snapshotDir(t, disks)
	}
	for _, c := range []struct {
		a   *volAgent
		ids []int64
	}{{one, mine}, {two, theirs}} {
		got := c.a.diskIDs()
		for _, id := range c.ids {
			if !got[id] {
				t.Errorf("agent %s lost disk %d: %v", c.a.state, id, got)
			}
		}
		if n, _, _ := c.a.metric("quarantined"); n != 0 {
			t.Errorf("agent %s quarantined %d volumes", c.a.state, n)
		}
	}
	one.stop()
	two.stop()
	checkKept(t, disks, before)
	if q := quarantinedIn(t, disks); len(q) != 0 {
		t.Errorf("quarantined: %v", q)
	}
}
