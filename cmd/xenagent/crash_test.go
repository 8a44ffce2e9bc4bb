package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/xmlrpc"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
	"github.com/xenagent/xenagent/network/antispoof"
	"github.com/xenagent/xenagent/network/wire"
)

// These tests kill the real agent process with SIGKILL at every journal
// boundary of vm.create_from and vm.delete (a fail point armed through
// XENAGENT_FAILPOINT), start it again, and check that the operation was
// resumed to the end and that nothing is orphaned: no domain, volume or
// record that nothing refers to. They run against real QEMU through
// libvirtd, whose domains outlive the agent as they do on a host.

var (
	buildOnce sync.Once
	binPath   string
	kernels   string
	buildErr  error
)

func buildAgent(t *testing.T) (string, string) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "xenagent-crash-")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755)
		binPath = filepath.Join(dir, "xenagent")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building the agent: %v\n%s", err, out)
			return
		}
		kernels = filepath.Join(dir, "kernels")
		buildErr = guesttest.Build(kernels)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath, kernels
}

type proc struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	url    string
	exited chan struct{} // closed once cmd.Wait returned
}

func (p *proc) wait() {
	<-p.exited
}

type lab struct {
	t     *testing.T
	dir   string
	conf  string
	key   string
	port  int
	bin   string
	agent *proc
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newLab(t *testing.T, extra string) *lab {
	guesttest.RequireQEMU(t)
	bin, kern := buildAgent(t)
	dir := t.TempDir()
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	os.MkdirAll(filepath.Join(dir, "disks"), 0o777)
	l := &lab{t: t, dir: dir, port: freePort(t), bin: bin, conf: filepath.Join(dir, "agent.toml")}
	conf := fmt.Sprintf(`listen = "127.0.0.1:%d"
state_dir = %q
log_level = "debug"
[libvirt]
uri = "qemu:///system"
[storage]
backend = "file"
dir = %q
kernels_dir = %q
[network.ipv4]
prefix = "10.77.0.0/24"
[demo]
enabled = true
[operator]
key_sha256 = "%s"
[[images]]
label = "stubborn"
size_mb = 8
kernel_version = "stubborn"
cmdline = "console=ttyS0 quiet panic=-1"
%s`, l.port, dir, filepath.Join(dir, "disks"), kern, service.HashKey(operatorKey), extra)
	os.WriteFile(l.conf, []byte(conf), 0o644)
	t.Cleanup(func() {
		if l.agent != nil {
			l.agent.cmd.Process.Kill()
			l.agent.wait()
		}
		if t.Failed() && l.agent != nil {
			t.Logf("agent log:\n%s", l.agent.out)
		}
	})
	return l
}

// start runs the agent, with a fail point if one is given, and waits
// until it answers.
func (l *lab) start(failpoint string) {
	l.t.Helper()
	cmd := exec.Command(l.bin, "serve", "--config", l.conf)
	cmd.Env = append(os.Environ(), "XENAGENT_FAILPOINT="+failpoint)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.agent = &proc{cmd: cmd, out: out, url: fmt.Sprintf("http://127.0.0.1:%d/xmlrpc/", l.port), exited: make(chan struct{})}
	go func(p *proc) { p.cmd.Wait(); close(p.exited) }(l.agent)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", l.port)); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("agent did not come up:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	raw, err := os.ReadFile(filepath.Join(l.dir, "apikey"))
	if err != nil {
		l.t.Fatal(err)
	}
	l.key = strings.TrimSpace(string(raw))
}

// waitKilled waits for the fail point to kill the agent.
func (l *lab) waitKilled() {
	l.t.Helper()
	select {
	case <-l.agent.exited:
	case <-time.After(60 * time.Second):
		l.t.Fatalf("fail point never fired:\n%s", l.agent.out)
	}
	ws, _ := l.agent.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		l.t.Fatalf("agent exited with %v, not SIGKILL:\n%s", l.agent.cmd.ProcessState, l.agent.out)
	}
	l.agent = nil
}

func (l *lab) stop() {
	l.agent.cmd.Process.Signal(syscall.SIGTERM)
	l.agent.wait()
	l.agent = nil
}

func (l *lab) call(method string, params ...any) (any, error) {
	body, _ := xmlrpc.EncodeCall(method, append([]any{l.key}, params...)...)
	resp, err := http.Post(l.agent.url, "text/xml", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return xmlrpc.DecodeResponse(resp.Body)
}

// operatorKey is the lab's central tier: only it may choose ids.
const operatorKey = "crash-operator-key-0123456789"

// create makes something with ids the call chooses, as the central tier
// does: with the operator key, for the demo account. The trailing struct
// is the call's options.
func (l *lab) create(method string, params ...any) (any, error) {
	l.t.Helper()
	acct := l.must("hosting.account.info").(map[string]any)["id"]
	opts := map[string]any{"account_id": acct}
	for k, v := range params[len(params)-1].(map[string]any) {
		opts[k] = v
	}
	params = append(append([]any{}, params[:len(params)-1]...), opts)
	key := l.key
	l.key = operatorKey
	defer func() { l.key = key }()
	return l.call(method, params...)
}

// mustCreate is create that fails the test on a fault.
func (l *lab) mustCreate(method string, params ...any) any {
	l.t.Helper()
	v, err := l.create(method, params...)
	if err != nil {
		l.t.Fatalf("%s: %v", method, err)
	}
	return v
}

func (l *lab) must(method string, params ...any) any {
	l.t.Helper()
	v, err := l.call(method, params...)
	if err != nil {
		l.t.Fatalf("%s: %v", method, err)
	}
	return v
}

// settle waits until no operation is WAIT or RUN.
func (l *lab) settle() []map[string]any {
	l.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ops := l.must("operation.list", map[string]any{"items_per_page": int64(500)}).([]any)
		busy := false
		var out []map[string]any
		for _, o := range ops {
			m := o.(map[string]any)
			out = append(out, m)
			if m["step"] == "WAIT" || m["step"] == "RUN" {
				busy = true
			}
		}
		if !busy {
			return out
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("operations never settled: %v", ops)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkWhole asserts the invariants after recovery.
func (l *lab) checkWhole(vmID int64, wantVM bool) {
	l.t.Helper()
	l.checkDisks()
	ctx := context.Background()
	hv, err := hypervisor.Open(ctx, hypervisor.Config{URI: "qemu:///system"}, slog.Default())
	if err != nil {
		l.t.Fatal(err)
	}
	defer hv.Close()
	st, err := hv.State(ctx, fmt.Sprintf("xa-vm-%d", vmID))
	if err != nil {
		l.t.Fatal(err)
	}
	_, verr := l.call("hosting.vm.info", vmID)
	switch {
	case wantVM && (verr != nil || !st.Running):
		l.t.Errorf("vm %d: record err %v, domain %+v; want a running VM", vmID, verr, st)
	case !wantVM && (verr == nil || st.Exists):
		l.t.Errorf("vm %d: record err %v, domain %+v; want neither", vmID, verr, st)
	}
	// The VM's first-boot seed exists exactly while the VM does.
	seeds, _ := filepath.Glob(filepath.Join(l.dir, "seeds", "*"))
	wantSeed := filepath.Join(l.dir, "seeds", fmt.Sprintf("xa-seed-%d.iso", vmID))
	if wantVM && (len(seeds) != 1 || seeds[0] != wantSeed) || !wantVM && len(seeds) != 0 {
		l.t.Errorf("seeds %v (want VM: %v)", seeds, wantVM)
	}
	// Every interface and IP is accounted for.
	ifaces := l.must("hosting.iface.list", map[string]any{}).([]any)
	ips := l.must("hosting.ip.list", map[string]any{}).([]any)
	if wantVM && (len(ifaces) != 1 || len(ips) != 1) || !wantVM && (len(ifaces) != 0 || len(ips) != 0) {
		l.t.Errorf("ifaces %v ips %v (want VM: %v)", ifaces, ips, wantVM)
	}
	// Its iface (created with the id of the VM) is wired while it runs,
	// and nothing of it is left once it is gone.
	if wantVM {
		l.checkWiring(map[int64]float64{vmID: 102400})
	} else {
		l.checkWiring(nil)
	}
}

// checkDisks asserts, after recovery, that every operation finished DONE
// and that volumes and disk records match one to one.
func (l *lab) checkDisks() []any {
	l.t.Helper()
	for _, o := range l.settle() {
		if o["step"] != "DONE" {
			l.t.Errorf("operation %v %v ended %v: %v", o["id"], o["type"], o["step"], o["last_error"])
		}
	}
	return l.checkVolumes()
}

// checkVolumes asserts that every volume belongs to a disk record (or an
// image) and every disk record has its volume, and returns the disks.
func (l *lab) checkVolumes() []any {
	l.t.Helper()
	disks := l.must("hosting.disk.list", map[string]any{}).([]any)
	want := map[string]bool{}
	for _, d := range disks {
		want[fmt.Sprintf("xa-disk-%d.img", d.(map[string]any)["id"])] = true
	}
	for _, im := range l.must("hosting.image.list", map[string]any{}).([]any) {
		want[fmt.Sprintf("xa-disk-%d.img", im.(map[string]any)["disk_id"])] = true
	}
	entries, _ := os.ReadDir(filepath.Join(l.dir, "disks"))
	have := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".xenagent-") {
			continue // the instance's lease, not a volume
		}
		have[e.Name()] = true
		if !want[e.Name()] {
			l.t.Errorf("orphan volume %s", e.Name())
		}
	}
	for name := range want {
		if !have[name] {
			l.t.Errorf("disk record without volume: %s", name)
		}
	}
	// A live move's memory files (saved here, or received) go with their
	// operation: a settled agent keeps none.
	if mem, _ := os.ReadDir(filepath.Join(l.dir, "memory")); len(mem) > 0 {
		var names []string
		for _, e := range mem {
			names = append(names, e.Name())
		}
		l.t.Errorf("orphan memory files %v", names)
	}
	return disks
}

func (l *lab) createFrom(vmID int64) {
	l.t.Helper()
	images := l.must("hosting.image.list", map[string]any{}).([]any)
	src := images[0].(map[string]any)["disk_id"]
	l.create("hosting.vm.create_from",
		map[string]any{"datacenter_id": int64(1), "hostname": "crash", "memory": int64(256), "password": "first-boot-pass"},
		map[string]any{"name": "sys"}, src,
		map[string]any{"vm_id": vmID, "iface_id": vmID, "idempotency_key": fmt.Sprint(vmID)})
}

var createBoundaries = []string{
	"disk_create:begin:create_volume", "disk_create:done:create_volume", "disk_create:begin:finish", "disk_create:done:finish",
	"iface_create:begin:finish", "iface_create:done:finish",
	"vm_create:begin:seed", "vm_create:done:seed", "vm_create:begin:define", "vm_create:done:define", "vm_create:begin:start", "vm_create:done:start",
	"vm_create:begin:wire", "vm_create:done:wire", "vm_create:begin:finish", "vm_create:done:finish",
}

var deleteBoundaries = []string{
	"vm_delete:begin:destroy", "vm_delete:done:destroy", "vm_delete:begin:unwire", "vm_delete:done:unwire",
	"vm_delete:begin:undefine", "vm_delete:done:undefine",
	"vm_delete:begin:delete_volume", "vm_delete:done:delete_volume", "vm_delete:begin:forget", "vm_delete:done:forget",
}

func TestCrashDuringCreateFrom(t *testing.T) {
	for _, fp := range createBoundaries {
		t.Run(fp, func(t *testing.T) {
			l := newLab(t, "")
			vmID := 920000 + rand.Int63n(70000)
			t.Cleanup(func() { undefine(vmID) })
			l.start(fp)
			l.createFrom(vmID)
			l.waitKilled()
			l.start("")
			// A client retrying its call after the crash gets the same operations.
			l.createFrom(vmID)
			l.checkWhole(vmID, true)
			l.stop()
		})
	}
}

func TestCrashDuringDelete(t *testing.T) {
	for _, fp := range deleteBoundaries {
		t.Run(fp, func(t *testing.T) {
			l := newLab(t, "")
			vmID := 920000 + rand.Int63n(70000)
			t.Cleanup(func() { undefine(vmID) })
			l.start(fp)
			l.createFrom(vmID)
			l.checkWhole(vmID, true)
			// The fail point may kill the agent before it answers.
			l.call("hosting.vm.delete", vmID)
			l.waitKilled()
			l.start("")
			l.checkWhole(vmID, false)
			l.stop()
		})
	}
}

// The stop deadline is journalled: an agent killed while a stubborn
// guest ignores its stop messages powers it off at the original deadline
// after it restarts, not a full timeout later.
func TestStopDeadlineSurvivesRestart(t *testing.T) {
	l := newLab(t, "[timeouts]\nstop = \"12s\"\nstop_messages = 2\nreboot = \"2m\"\n")
	vmID := 920000 + rand.Int63n(70000)
	t.Cleanup(func() { undefine(vmID) })
	l.start("")
	l.createFrom(vmID)
	l.checkWhole(vmID, true)
	start := time.Now()
	op := l.must("hosting.vm.stop", vmID).(map[string]any)
	time.Sleep(3 * time.Second)
	l.agent.cmd.Process.Kill()
	l.agent.wait()
	l.agent = nil
	l.start("")
	for {
		info := l.must("operation.info", op["id"]).(map[string]any)
		if info["step"] == "DONE" {
			break
		}
		if info["step"] != "RUN" && info["step"] != "WAIT" {
			t.Fatalf("stop ended %v: %v", info["step"], info["last_error"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("stop with a kill -9 at 3s: DONE %v after submit (deadline 12s)", took)
	if took < 12*time.Second || took > 17*time.Second {
		t.Fatalf("stop took %v; the journalled deadline was 12s", took)
	}
	if got := l.must("hosting.vm.info", vmID).(map[string]any)["state"]; got != "halted" {
		t.Fatalf("state = %v", got)
	}
}

// undefine removes a test's domain, and the filter and IFB its agent
// wired for the iface of the same id.
func undefine(vmID int64) {
	exec.Command("virsh", "-c", "qemu:///system", "destroy", fmt.Sprintf("xa-vm-%d", vmID)).Run()
	exec.Command("virsh", "-c", "qemu:///system", "undefine", fmt.Sprintf("xa-vm-%d", vmID)).Run()
	if h, err := netlink.NewHandle(); err == nil {
		defer h.Close()
		if f, err := antispoof.New(); err == nil {
			wire.New(h, f).Unwire(context.Background(), vmID, "")
		}
	}
}

// A host crash can lose a domain definition libvirt had acknowledged (the
// lab lost libxl's file in a reset): the resumed create defines it again.
func TestCreateResumesAfterLostDefinition(t *testing.T) {
	l := newLab(t, "")
	vmID := 920000 + rand.Int63n(70000)
	t.Cleanup(func() { undefine(vmID) })
	l.start("vm_create:done:define")
	l.createFrom(vmID)
	l.waitKilled()
	undefine(vmID)
	l.start("")
	l.createFrom(vmID)
	l.checkWhole(vmID, true)
	l.stop()
}
