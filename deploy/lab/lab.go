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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

// Config describes one lab run.
type Config struct {
	// Repo is the xenagent checkout (built and carried in).
	Repo string
	// Cache is where build-image.sh keeps its artefacts.
	Cache string
	// RunDir holds the overlays, the 9p share and the QMP socket.
	RunDir string
	// Agent is the agent's configuration (TOML) inside dom0.
	Agent string
	// Log receives progress lines.
	Log func(format string, args ...any)
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

// Prepare builds (or finds) the cached image, builds the agent into the
// share and creates the run's disks. It does not boot.
func Prepare(ctx context.Context, cfg Config) (*Lab, error) {
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	l := &Lab{cfg: cfg}
	start := time.Now()
	out, err := exec.CommandContext(ctx, filepath.Join(cfg.Repo, "deploy/lab/build-image.sh"), cfg.Cache).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("building the lab image: %v\n%s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("building the lab image: %w", err)
	}
	l.Images = strings.TrimSpace(string(out))
	cfg.Log("lab image ready in %v: %s", time.Since(start).Round(time.Second), l.Images)
	share := filepath.Join(cfg.RunDir, "share")
	if err := os.MkdirAll(share, 0o755); err != nil {
		return nil, err
	}
	// The agent goes in as the package a host installs; lab-firstboot
	// installs it with apt in dom0 and starts the package's unit.
	deb, err := buildPackage(ctx, cfg.Repo, filepath.Join(cfg.RunDir, "pkg"))
	if err != nil {
		return nil, err
	}
	if err := os.Rename(deb, filepath.Join(share, "xenagent.deb")); err != nil {
		return nil, err
	}
	cfg.Log("agent package: %s", filepath.Base(deb))
	// The storage conformance suite runs in dom0 against the real thin pool.
	test := exec.CommandContext(ctx, "go", "test", "-c", "-o", filepath.Join(share, "lvm-conformance.test"), "./storage/lvm")
	test.Dir = cfg.Repo
	if b, err := test.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the lvm conformance test: %v\n%s", err, b)
	}
	if err := os.WriteFile(filepath.Join(share, "xenagent.toml"), []byte(cfg.Agent), 0o644); err != nil {
		return nil, err
	}
	src := filepath.Join(l.Images, "guestsrc")
	if err := guesttest.BuildWith(filepath.Join(share, "kernels"), guesttest.Options{Xen: true,
		Kernel: filepath.Join(src, "vmlinuz"), Modules: filepath.Join(src, "modules"), Busybox: filepath.Join(src, "busybox")}); err != nil {
		return nil, fmt.Errorf("building PV guests: %w", err)
	}
	key := filepath.Join(cfg.RunDir, "lab_key")
	if b, err := os.ReadFile(filepath.Join(l.Images, "lab_key")); err != nil {
		return nil, err
	} else if err := os.WriteFile(key, b, 0o600); err != nil {
		return nil, err
	}
	for _, c := range [][]string{
		{"qemu-img", "create", "-q", "-f", "qcow2", "-b", filepath.Join(l.Images, "rootfs.img"), "-F", "raw", filepath.Join(cfg.RunDir, "root.qcow2")},
		{"qemu-img", "create", "-q", "-f", "qcow2", filepath.Join(cfg.RunDir, "lvm.qcow2"), "8G"},
	} {
		if b, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %v\n%s", strings.Join(c, " "), err, b)
		}
	}
	if l.APIPort, err = freePort(); err != nil {
		return nil, err
	}
	if l.SSHPort, err = freePort(); err != nil {
		return nil, err
	}
	return l, nil
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
// and sshd accepts the lab key.
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
	// with other load, man-db's trigger included): 4 minutes measured.
	if err := l.waitFor(ctx, 8*time.Minute, "the agent's /healthz", func() bool {
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
	l.BootTime = time.Since(start)
	l.cfg.Log("lab booted in %v (agent answering, sshd up)", l.BootTime.Round(time.Second))
	return nil
}

// startQEMU starts the outer machine with an accelerator and CPU model
// and waits for its QMP socket.
func (l *Lab) startQEMU(ctx context.Context, accel, cpu string) error {
	sock := filepath.Join(l.cfg.RunDir, "qmp.sock")
	os.Remove(sock)
	args := []string{
		"-machine", "pc,accel=" + accel, "-cpu", cpu, "-m", "3072", "-smp", "2",
		"-display", "none", "-no-reboot",
		"-kernel", filepath.Join(l.Images, "xen"),
		"-append", "console=com1 com1=115200,8n1 dom0_mem=1536M,max:1536M dom0_max_vcpus=2 noreboot",
		// -initrd separates multiboot modules with commas: none in arguments.
		"-initrd", filepath.Join(l.Images, "vmlinuz") + " root=/dev/vda rw console=hvc0 net.ifnames=0," + filepath.Join(l.Images, "initrd.img"),
		"-drive", "file=" + filepath.Join(l.cfg.RunDir, "root.qcow2") + ",if=virtio,format=qcow2",
		"-drive", "file=" + filepath.Join(l.cfg.RunDir, "lvm.qcow2") + ",if=virtio,format=qcow2",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:8080,hostfwd=tcp:127.0.0.1:%d-:22", l.APIPort, l.SSHPort),
		"-device", "virtio-net-pci,netdev=n0",
		"-virtfs", "local,path=" + filepath.Join(l.cfg.RunDir, "share") + ",mount_tag=lab,security_model=none",
		"-qmp", "unix:" + sock + ",server=on,wait=off",
		"-serial", "file:" + filepath.Join(l.cfg.RunDir, "console.log"),
	}
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
