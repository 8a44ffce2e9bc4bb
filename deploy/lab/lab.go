// Package lab boots the nested Xen lab: a QEMU machine running the Xen
// hypervisor with a Debian dom0 in which the agent runs for real, installed
// from its Debian package and run by the package's systemd unit as on a
// host, with its API forwarded to a loopback port here. The harness drives the outer machine through QMP (go-qemu):
// clean power-down, or reset to simulate a host crash. It waits on health
// checks (the agent's /healthz, sshd), never on fixed sleeps.
//
// Artefacts come from build-image.sh, cached by content key. Each run has
// its own qcow2 overlays over the cached root image, so the cache stays
// clean and a run's disks survive a simulated crash and a second boot.
package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// Config describes one lab host.
type Config struct {
	// Repo is the xenagent checkout (built and carried in).
	Repo string
	// Cache is where build-image.sh keeps its artefacts.
	Cache string
	// RunDir holds the host's overlays, 9p share and QMP socket.
	RunDir string
	// Agent is the agent's configuration (TOML) inside dom0.
	Agent string
	// Log receives progress lines.
	Log func(format string, args ...any)
	// Host sizes the outer machine and places dom0 on the guests'
	// network; the zero value is HostA, the lab's first host.
	Host Host
	// Link, when set, is a second NIC joined to the guests' bridge in
	// dom0 at every boot: the network the lab's hosts share (hosts.go).
	Link *Link
}

// Lab is a booted (or bootable) lab machine.
type Lab struct {
	cfg      Config
	Images   string
	APIPort  int
	SSHPort  int
	qemu     *exec.Cmd
	exited   chan error
	mon      *qmp.SocketMonitor
	BootTime time.Duration
}

// Artefacts are what every host of a run boots from and carries in,
// built once per run: the cached image, the agent's package, the lvm
// conformance test and the PV test guests.
type Artefacts struct {
	// Images is build-image.sh's cached directory.
	Images string
	// share holds the files every host's 9p share carries.
	share string
}

// Build builds (or finds) the cached image and builds the agent's
// package, its conformance test and the PV guests into dir.
func Build(ctx context.Context, repo, cache, dir string, log func(string, ...any)) (*Artefacts, error) {
	if log == nil {
		log = func(string, ...any) {}
	}
	a := &Artefacts{share: filepath.Join(dir, "share")}
	start := time.Now()
	out, err := exec.CommandContext(ctx, filepath.Join(repo, "deploy/lab/build-image.sh"), cache).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("building the lab image: %v\n%s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("building the lab image: %w", err)
	}
	a.Images = strings.TrimSpace(string(out))
	log("lab image ready in %v: %s", time.Since(start).Round(time.Second), a.Images)
	if err := os.MkdirAll(a.share, 0o755); err != nil {
		return nil, err
	}
	// The agent goes in as the package a host installs; lab-firstboot
	// installs it with apt in dom0 and starts the package's unit.
	deb, err := buildPackage(ctx, repo, filepath.Join(dir, "pkg"))
	if err != nil {
		return nil, err
	}
	if err := os.Rename(deb, filepath.Join(a.share, "xenagent.deb")); err != nil {
		return nil, err
	}
	log("agent package: %s", filepath.Base(deb))
	// The storage conformance suite runs in dom0 against the real thin pool.
	test := exec.CommandContext(ctx, "go", "test", "-c", "-o", filepath.Join(a.share, "lvm-conformance.test"), "./storage/lvm")
	test.Dir = repo
	if b, err := test.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the lvm conformance test: %v\n%s", err, b)
	}
	src := filepath.Join(a.Images, "guestsrc")
	if err := guesttest.BuildWith(filepath.Join(a.share, "kernels"), guesttest.Options{Xen: true,
		Kernel: filepath.Join(src, "vmlinuz"), Modules: filepath.Join(src, "modules"), Busybox: filepath.Join(src, "busybox")}); err != nil {
		return nil, fmt.Errorf("building PV guests: %w", err)
	}
	return a, nil
}

// NewHost makes one host's run directory from the artefacts: its share
// (the artefacts linked in, its own agent configuration), its disks
// (qcow2 overlays over the cached root image, a fresh LVM disk) and its
// forwarded ports. It does not boot.
func (a *Artefacts) NewHost(ctx context.Context, cfg Config) (*Lab, error) {
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	if cfg.Host.Name == "" {
		cfg.Host = HostA
	}
	if log := cfg.Log; cfg.Link != nil {
		// Two machines boot at once: say whose line it is.
		cfg.Log = func(format string, args ...any) { log("host "+cfg.Host.Name+": "+format, args...) }
	}
	l := &Lab{cfg: cfg, Images: a.Images}
	share := filepath.Join(cfg.RunDir, "share")
	if err := linkTree(a.share, share); err != nil {
		return nil, fmt.Errorf("filling the 9p share: %w", err)
	}
	if err := os.WriteFile(filepath.Join(share, "xenagent.toml"), []byte(cfg.Agent), 0o644); err != nil {
		return nil, err
	}
	key := filepath.Join(cfg.RunDir, "lab_key")
	if b, err := os.ReadFile(filepath.Join(a.Images, "lab_key")); err != nil {
		return nil, err
	} else if err := os.WriteFile(key, b, 0o600); err != nil {
		return nil, err
	}
	for _, c := range [][]string{
		{"qemu-img", "create", "-q", "-f", "qcow2", "-b", filepath.Join(a.Images, "rootfs.img"), "-F", "raw", filepath.Join(cfg.RunDir, "root.qcow2")},
		{"qemu-img", "create", "-q", "-f", "qcow2", filepath.Join(cfg.RunDir, "lvm.qcow2"), "8G"},
	} {
		if b, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %v\n%s", strings.Join(c, " "), err, b)
		}
	}
	var err error
	if l.APIPort, err = freePort(); err != nil {
		return nil, err
	}
	if l.SSHPort, err = freePort(); err != nil {
		return nil, err
	}
	return l, nil
}

// Prepare builds the artefacts into cfg.RunDir and makes the one host
// of a single-host lab there. It does not boot.
func Prepare(ctx context.Context, cfg Config) (*Lab, error) {
	a, err := Build(ctx, cfg.Repo, cfg.Cache, filepath.Join(cfg.RunDir, "build"), cfg.Log)
	if err != nil {
		return nil, err
	}
	return a.NewHost(ctx, cfg)
}

// linkTree recreates the tree src at dst with hard links (a copy where
// the two are on different filesystems): each host's share is its own
// directory, the large files are not duplicated.
func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if err := os.Link(p, to); err == nil || !errors.Is(err, syscall.EXDEV) {
			return err
		}
		return copyFile(p, to)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// buildPackage builds both commands and the Debian package from repo
// into dir, as make deb does, and returns the package's path.
func buildPackage(ctx context.Context, repo, dir string) (string, error) {
	version := "lab"
	if b, err := exec.CommandContext(ctx, "git", "-C", repo, "describe", "--always", "--dirty").Output(); err == nil {
		version = strings.TrimSpace(string(b))
	}
	for _, c := range []string{"xenagent", "xenagentctl"} {
		build := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version="+version, "-o", filepath.Join(dir, c), "./cmd/"+c)
		build.Dir = repo
		if b, err := build.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", c, err, b)
		}
	}
	var stderr bytes.Buffer
	pkg := exec.CommandContext(ctx, filepath.Join(repo, "deploy/deb/build-deb.sh"), dir, version)
	pkg.Stderr = &stderr
	out, err := pkg.Output()
	if err != nil {
		return "", fmt.Errorf("building the package: %v\n%s", err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out)), nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// URL is the agent's API, forwarded to loopback.
func (l *Lab) URL() string { return fmt.Sprintf("http://127.0.0.1:%d/xmlrpc/", l.APIPort) }

// Boot starts the outer machine and waits until the agent in dom0 answers
// and sshd accepts the lab key; a host with a Link then joins the shared
// segment (hosts.go).
func (l *Lab) Boot(ctx context.Context) error {
	start := time.Now()
	// -cpu max crashes dom0 under TCG (LAB-NOTES). A /dev/kvm that is
	// there does not prove KVM works: nested, QEMU may abort setting the
	// first MSRs; the lab then boots under TCG as where there is no KVM.
	err := errors.New("no /dev/kvm")
	if _, statErr := os.Stat("/dev/kvm"); statErr == nil {
		if err = l.startQEMU(ctx, "kvm", "host"); err == nil {
			l.cfg.Log("outer machine under KVM")
		}
	}
	if err != nil {
		l.cfg.Log("outer machine under TCG: %v", err)
		if err := l.startQEMU(ctx, "tcg", "Nehalem"); err != nil {
			return err
		}
	}
	// The first boot installs the agent's package (~90 s of it under TCG
	// with other load, man-db's trigger included): 4 minutes measured
	// for one host alone; two booting at once share the cores.
	if err := l.waitFor(ctx, 12*time.Minute, "the agent's /healthz", func() bool {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", l.APIPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return err
	}
	if err := l.waitFor(ctx, time.Minute, "sshd", func() bool {
		_, err := l.Exec(ctx, "true")
		return err == nil
	}); err != nil {
		return err
	}
	if l.cfg.Link != nil {
		// Every boot: the bridge and its port are not in the image.
		if out, err := l.Exec(ctx, joinScript(l.cfg.Host)); err != nil {
			return fmt.Errorf("joining the shared network: %v\n%s", err, out)
		}
	}
	l.BootTime = time.Since(start)
	l.cfg.Log("lab booted in %v (agent answering, sshd up)", l.BootTime.Round(time.Second))
	return nil
}

// startQEMU starts the outer machine with an accelerator and CPU model
// and waits for its QMP socket.
func (l *Lab) startQEMU(ctx context.Context, accel, cpu string) error {
	sock := filepath.Join(l.cfg.RunDir, "qmp.sock")
	os.Remove(sock)
	args := qemuArgs(l.cfg, l.Images, accel, cpu, l.APIPort, l.SSHPort)
	l.qemu = exec.Command("qemu-system-x86_64", args...)
	qlog, err := os.Create(filepath.Join(l.cfg.RunDir, "qemu.log"))
	if err != nil {
		return err
	}
	l.qemu.Stdout, l.qemu.Stderr = qlog, qlog
	if err := l.qemu.Start(); err != nil {
		qlog.Close()
		return fmt.Errorf("starting qemu: %w", err)
	}
	l.exited = make(chan error, 1)
	go func() { l.exited <- l.qemu.Wait(); qlog.Close() }()
	return l.waitFor(ctx, 10*time.Second, "the QMP socket", func() bool {
		mon, err := qmp.NewSocketMonitor("unix", sock, 2*time.Second)
		if err != nil || mon.Connect() != nil {
			return false
		}
		l.mon = mon
		return true
	})
}

// qemuArgs is the outer machine's command line: Xen with dom0's kernel
// and initrd as multiboot modules, the root overlay and the LVM disk,
// user networking forwarding the API and sshd to loopback, the 9p share,
// QMP, the serial console to a file; and, for a host of a lab of
// several, a second NIC on the network they share.
func qemuArgs(cfg Config, images, accel, cpu string, apiPort, sshPort int) []string {
	h := cfg.Host
	if h.Name == "" {
		h = HostA
	}
	run := cfg.RunDir
	args := []string{
		"-machine", "pc,accel=" + accel, "-cpu", cpu, "-m", fmt.Sprint(h.MemoryMB), "-smp", fmt.Sprint(h.CPUs),
		"-display", "none", "-no-reboot",
		"-kernel", filepath.Join(images, "xen"),
		"-append", fmt.Sprintf("console=com1 com1=115200,8n1 dom0_mem=%[1]dM,max:%[1]dM dom0_max_vcpus=%d noreboot", h.Dom0MemoryMB, h.CPUs),
		// -initrd separates multiboot modules with commas: none in arguments.
		"-initrd", filepath.Join(images, "vmlinuz") + " root=/dev/vda rw console=hvc0 net.ifnames=0," + filepath.Join(images, "initrd.img"),
		"-drive", "file=" + filepath.Join(run, "root.qcow2") + ",if=virtio,format=qcow2",
		"-drive", "file=" + filepath.Join(run, "lvm.qcow2") + ",if=virtio,format=qcow2",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:8080,hostfwd=tcp:127.0.0.1:%d-:22", apiPort, sshPort),
		"-device", "virtio-net-pci,netdev=n0",
	}
	if k := cfg.Link; k != nil {
		args = append(args,
			"-netdev", fmt.Sprintf("dgram,id=n1,local.type=inet,local.host=127.0.0.1,local.port=%d,remote.type=inet,remote.host=127.0.0.1,remote.port=%d", k.Local, k.Remote),
			"-device", "virtio-net-pci,netdev=n1,mac="+h.LinkMAC)
	}
	return append(args,
		"-virtfs", "local,path="+filepath.Join(run, "share")+",mount_tag=lab,security_model=none",
		"-qmp", "unix:"+filepath.Join(run, "qmp.sock")+",server=on,wait=off",
		"-serial", "file:"+filepath.Join(run, "console.log"),
	)
}

// waitFor retries check at a short interval until it holds, the machine
// exits, or the timeout passes.
func (l *Lab) waitFor(ctx context.Context, timeout time.Duration, what string, check func() bool) error {
	deadline := time.Now().Add(timeout)
	for !check() {
		select {
		case err := <-l.exited:
			l.exited <- err
			qlog, _ := os.ReadFile(filepath.Join(l.cfg.RunDir, "qemu.log"))
			return fmt.Errorf("the lab machine exited (%v) while waiting for %s; qemu said:\n%s\nconsole:\n%s", err, what, qlog, l.ConsoleTail(40))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v; console:\n%s", what, timeout, l.ConsoleTail(40))
		}
	}
	return nil
}

// ConsoleTail returns the last n lines of the outer machine's serial console.
func (l *Lab) ConsoleTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(l.cfg.RunDir, "console.log"))
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Exec runs a shell command in dom0 over ssh and returns its output.
func (l *Lab) Exec(ctx context.Context, command string) (string, error) {
	return l.ExecWithin(ctx, 2*time.Minute, command)
}

// ExecWithin is Exec for a command that may take longer (a test suite
// run in dom0, under TCG).
func (l *Lab) ExecWithin(ctx context.Context, d time.Duration, command string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-q", "-i", filepath.Join(l.cfg.RunDir, "lab_key"),
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
		"-o", "BatchMode=yes", "-p", fmt.Sprint(l.SSHPort), "root@127.0.0.1", command)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("dom0 %q: %v: %s", command, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (l *Lab) qmp(command string) error {
	if l.mon == nil {
		return errors.New("no QMP connection")
	}
	b, _ := json.Marshal(map[string]string{"execute": command})
	_, err := l.mon.Run(b)
	return err
}

// PowerDown shuts dom0 down cleanly (ACPI) and waits for QEMU to exit.
func (l *Lab) PowerDown(ctx context.Context, timeout time.Duration) error {
	if err := l.qmp("system_powerdown"); err != nil {
		return err
	}
	return l.waitExit(ctx, timeout)
}

// Crash resets the outer machine: with -no-reboot QEMU exits at once,
// which is a host losing power. The run's disks stay for the next Boot.
func (l *Lab) Crash(ctx context.Context) error {
	if err := l.qmp("system_reset"); err != nil {
		return err
	}
	return l.waitExit(ctx, 30*time.Second)
}

func (l *Lab) waitExit(ctx context.Context, timeout time.Duration) error {
	select {
	case <-l.exited:
		if l.mon != nil {
			l.mon.Disconnect()
			l.mon = nil
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("the lab machine did not stop in %v", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill stops QEMU whatever its state (cleanup).
func (l *Lab) Kill() {
	if l.qemu != nil && l.qemu.Process != nil {
		l.qemu.Process.Kill()
		select {
		case <-l.exited:
		case <-time.After(10 * time.Second):
		}
	}
	if l.mon != nil {
		l.mon.Disconnect()
		l.mon = nil
	}
}

// Available says why the lab cannot run here, or "".
func Available() string {
	switch {
	case runtime.GOOS != "linux":
		return "the lab runs on Linux"
	case os.Geteuid() != 0:
		return "the image build needs root (debootstrap, chroot)"
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "debootstrap", "mkfs.ext4", "ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "missing " + tool
		}
	}
	return ""
}
