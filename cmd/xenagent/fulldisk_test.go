package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
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

	"github.com/xenagent/xenagent/agent/testenv"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// These tests run the real agent with libvirt's test driver (no QEMU):
// a state disk that fills up, and a listen port that is taken.

// newTestDriverLab is a lab on test:///default whose state lives in
// stateDir; volumes go elsewhere.
func newTestDriverLab(t *testing.T, stateDir string) *lab {
	bin := buildPlain(t)
	disks := filepath.Join(t.TempDir(), "disks")
	l := &lab{t: t, dir: stateDir, port: freePort(t), bin: bin, conf: filepath.Join(t.TempDir(), "agent.toml")}
	conf := fmt.Sprintf(`listen = "127.0.0.1:%d"
state_dir = %q
log_level = "debug"
[libvirt]
uri = "test:///default"
[storage]
backend = "file"
dir = %q
[network]
wire = false
[network.ipv4]
prefix = "10.78.0.0/24"
[demo]
enabled = true
[[images]]
label = "tiny"
size_mb = 8
`, l.port, stateDir, disks)
	if err := os.WriteFile(l.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
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

func healthz(t *testing.T, port int) (int, string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// slack is what the full-disk test leaves free on the state disk.
var slack = int64(64 << 10)

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// fill writes dir/filler until the filesystem has no byte left.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 64 << 10, 4 << 10, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	return path
}

// The state disk fills up: every call that cannot be recorded gets a
// temporary fault and leaves nothing (no VM, no operation, no key), a
// retry with the same idempotency key is refused too until there is room,
// /healthz says why, operations already acknowledged wait and then run to
// DONE, and after a kill -9 and a restart nothing acknowledged is missing.
func TestFullStateDisk(t *testing.T) {
	testenv.Root(t, "to mount a small tmpfs as the state disk")
	stateDir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "xenagent-fulldisk", stateDir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", stateDir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	l := newTestDriverLab(t, stateDir)
	l.start("")
	image := l.imageDisk()

	var mu sync.Mutex
	acked := map[int64]bool{} // operation ids the agent acknowledged
	vms := map[int64]bool{}
	create := func(key string) error {
		v, err := l.call("hosting.vm.create_from",
			map[string]any{"datacenter_id": int64(1), "hostname": "full-" + key, "memory": int64(256)},
			map[string]any{"name": "sys-" + key}, image, map[string]any{"idempotency_key": key})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, o := range v.([]any) {
			m := o.(map[string]any)
			acked[m["id"].(int64)] = true
			if id, ok := m["params"].(map[string]any)["vm_id"].(int64); ok {
				vms[id] = true
			}
		}
		return nil
	}
	if err := create("before"); err != nil {
		t.Fatal(err)
	}
	l.settle()

	filler := fill(t, stateDir)
	// Leave a little room: the first calls are acknowledged and their
	// operations start, then the disk refuses a submission or one of
	// their journal writes, whichever comes first.
	if err := os.Truncate(filler, fileSize(t, filler)-slack); err != nil {
		t.Fatal(err)
	}
	// Calls (and the operations they start) write until the file needs
	// room the disk no longer has; the first one refused must say so.
	// Calls go in rounds of six at once, so that operations are running
	// when the disk says no.
	var refused *xmlrpc.Fault
	key := ""
	for round := 0; round < 50 && refused == nil; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = create(fmt.Sprintf("full-%d-%d", round, i))
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			var f *xmlrpc.Fault
			if err != nil && !errors.As(err, &f) {
				t.Fatalf("call: %v", err)
			}
			if f != nil && refused == nil {
				refused, key = f, fmt.Sprintf("full-%d-%d", round, i)
			}
		}
	}
	if refused == nil {
		t.Fatal("300 calls accepted on a full disk")
	}
	t.Logf("refused %s after %d acknowledged operations: %s", key, len(acked), refused.Message)
	t.Logf("operations that waited for the state disk: %d", strings.Count(l.agent.out.String(), "operation waits for the state disk"))
	checkRefusal := func(f *xmlrpc.Fault) {
		t.Helper()
		if f.Code != 500095 || !strings.Contains(f.Message, "CAUSE_UNAVAILABLE") ||
			!strings.Contains(f.Message, "no space left on device") || !strings.Contains(f.Message, "nothing was recorded, retry later") {
			t.Errorf("refusal = %d %q, want a temporary fault (500095) naming the full disk", f.Code, f.Message)
		}
	}
	checkRefusal(refused)

	// Nothing of the refused call is visible: every VM and operation is
	// one that was acknowledged.
	noPhantom := func() {
		t.Helper()
		for _, o := range l.must("operation.list", map[string]any{"items_per_page": int64(500)}).([]any) {
			if id := o.(map[string]any)["id"].(int64); !acked[id] {
				t.Errorf("operation %d was never acknowledged: %v", id, o)
			}
		}
		for _, v := range l.must("hosting.vm.list", map[string]any{"items_per_page": int64(500)}).([]any) {
			if id := v.(map[string]any)["id"].(int64); !vms[id] {
				t.Errorf("vm %d was never acknowledged: %v", id, v)
			}
		}
	}
	noPhantom()
	// A retry with the same key is refused too, not answered with
	// operations that were never recorded.
	err := create(key)
	var again *xmlrpc.Fault
	if !errors.As(err, &again) {
		t.Fatalf("retry on a full disk: %v, want the refusal", err)
	}
	checkRefusal(again)
	noPhantom()
	if code, body := healthz(t, l.port); code != http.StatusServiceUnavailable || !strings.Contains(body, "no space left on device") {
		t.Fatalf("/healthz on a full disk: %d %q", code, body)
	}

	// Room again: health comes back without any call (the probe), and the
	// retry is accepted and runs, as do the operations that waited.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body := healthz(t, l.port)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz after freeing space: %d %q", code, body)
		}
	}
	if err := create(key); err != nil {
		t.Fatalf("retry with room: %v", err)
	}
	checkDone := func() {
		t.Helper()
		seen := map[int64]bool{}
		for _, o := range l.settle() {
			id := o["id"].(int64)
			seen[id] = true
			if !acked[id] {
				t.Errorf("operation %d was never acknowledged: %v", id, o)
			}
			if o["step"] != "DONE" {
				t.Errorf("operation %d %v ended %v: %v", id, o["type"], o["step"], o["last_error"])
			}
		}
		for id := range acked {
			if !seen[id] {
				t.Errorf("acknowledged operation %d is missing", id)
			}
		}
		for id := range vms {
			if _, err := l.call("hosting.vm.info", id); err != nil {
				t.Errorf("acknowledged vm %d: %v", id, err)
			}
		}
	}
	checkDone()

	l.agent.cmd.Process.Kill()
	l.agent.wait()
	l.agent = nil
	l.start("")
	checkDone()
	l.stop()
}

// A taken listen port stops the start at once, before the state file is
// opened: no operation is resumed, the file is unchanged, and the error
// names the address.
func TestBusyPortFailsBeforeAnythingChanges(t *testing.T) {
	stateDir := t.TempDir()
	l := newTestDriverLab(t, stateDir)
	// An unfinished operation in the state: the agent kills itself before
	// the VM's last step.
	l.start("vm_create:begin:finish")
	image := l.imageDisk()
	l.call("hosting.vm.create_from", map[string]any{"datacenter_id": int64(1), "hostname": "busy", "memory": int64(256)},
		map[string]any{"name": "sys-busy"}, image, map[string]any{"idempotency_key": "busy"})
	l.waitKilled()
	sum := func() [32]byte {
		b, err := os.ReadFile(filepath.Join(stateDir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()

	taken, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", l.port))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(l.bin, "serve", "--config", l.conf)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("agent still running with its port taken:\n%s", out.String())
	}
	taken.Close()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("agent exit = %v, want a failure:\n%s", err, out.String())
	}
	if want := fmt.Sprintf("127.0.0.1:%d is already in use", l.port); !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	if strings.Contains(out.String(), "resuming unfinished operations") {
		t.Errorf("operations were resumed before the port was found taken:\n%s", out.String())
	}
	if sum() != before {
		t.Error("state.db changed by a start that could not listen")
	}

	// With the port free the operation resumes and finishes.
	l.start("")
	for _, o := range l.settle() {
		if o["step"] != "DONE" {
			t.Errorf("operation %v %v ended %v: %v", o["id"], o["type"], o["step"], o["last_error"])
		}
	}
	l.stop()
}
