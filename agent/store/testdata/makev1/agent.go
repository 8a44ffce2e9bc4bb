package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// Keys of the fixture's callers: the operator (the central tier, who may
// choose ids), the configured account, and the demo account (its key file
// is written before the first start, so the agent takes it rather than
// making a random one). Fixed, so that a later test can call as each.
const (
	operatorKey = "fixture-operator-key-0123456789"
	corpKey     = "fixture-corp-key-0123456789abc"
	demoKey     = "FixtureDemoKey0123456789"
)

// agent is one xenagent process on libvirt's test driver with the file
// disk backend, all of it under dir: no root, QEMU or libvirtd.
type agent struct {
	bin, dir, conf string
	port           int
	cmd            *exec.Cmd
	log            *bytes.Buffer
	exited         chan struct{}
	demoKey        string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// newAgent writes the configuration. Snapshot profiles are checked every
// second so that the automatic snapshot comes at once; stop and reboot
// timeouts are short, as in the crash tests.
func newAgent(bin, dir, hashOperator, hashCorp string) (*agent, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	a := &agent{bin: bin, dir: dir, port: port, conf: filepath.Join(dir, "agent.toml")}
	conf := fmt.Sprintf(`listen = "127.0.0.1:%d"
state_dir = %q
log_level = "debug"
[libvirt]
uri = "test:///default"
[storage]
backend = "file"
dir = %q
[network]
bridge = "xabr0"
wire = false
sweep = false
reverse_domain = "fixture.example"
[network.ipv4]
prefix = "10.77.0.0/24"
gateway = "10.77.0.1"
[network.ipv6]
prefix = "2001:db8:77::/64"
gateway = "2001:db8:77::1"
[timeouts]
stop = "20s"
stop_messages = 2
reboot = "2s"
[snapshots]
check_every = "1s"
[operator]
key_sha256 = %q
[[accounts]]
handle = "FIXTURE-CORP"
fullname = "Fixture Corp"
key_sha256 = %q
disk_quota_mb = 4096
[demo]
enabled = true
[[images]]
label = "plain"
os_arch = "x86-64"
size_mb = 8
`, port, dir, filepath.Join(dir, "disks"), hashOperator, hashCorp)
	if err := os.MkdirAll(filepath.Join(dir, "disks"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "apikey"), []byte(demoKey+"\n"), 0o600); err != nil {
		return nil, err
	}
	return a, os.WriteFile(a.conf, []byte(conf), 0o644)
}

func (a *agent) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", a.port, path) }

// start runs the agent with a fail point (XENAGENT_FAILPOINT, see
// cmd/xenagent/serve.go) and waits until it answers.
func (a *agent) start(failpoint string) error {
	a.cmd = exec.Command(a.bin, "serve", "--config", a.conf)
	a.cmd.Env = append(os.Environ(), "XENAGENT_FAILPOINT="+failpoint, "XENAGENT_LOCK_DIR="+filepath.Join(a.dir, "locks"))
	a.log = &bytes.Buffer{}
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		return err
	}
	a.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(a.cmd, a.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(a.url("/healthz")); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-a.exited:
			return fmt.Errorf("agent exited at start: %v\n%s", a.cmd.ProcessState, a.log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agent did not come up:\n%s", a.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	raw, err := os.ReadFile(filepath.Join(a.dir, "apikey"))
	if err != nil {
		return err
	}
	if a.demoKey = strings.TrimSpace(string(raw)); a.demoKey != demoKey {
		return fmt.Errorf("the agent made its own demo key %q instead of taking %q", a.demoKey, demoKey)
	}
	return nil
}

// waitKilled waits for the fail point to kill the agent with SIGKILL.
func (a *agent) waitKilled() error {
	select {
	case <-a.exited:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("fail point never fired:\n%s", a.log)
	}
	ws, _ := a.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("agent exited with %v, not SIGKILL:\n%s", a.cmd.ProcessState, a.log)
	}
	return nil
}

// kill ends a running agent (cleanup after a failure).
func (a *agent) kill() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	select {
	case <-a.exited:
	default:
		a.cmd.Process.Kill()
		<-a.exited
	}
}

// call makes an XML-RPC call with key as the first parameter.
func (a *agent) call(key, method string, params ...any) (any, error) {
	body, err := xmlrpc.EncodeCall(method, append([]any{key}, params...)...)
	if err != nil {
		return nil, err
	}
	resp, err := http.Post(a.url("/xmlrpc/"), "text/xml", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	v, err := xmlrpc.DecodeResponse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return v, nil
}

// opIDs reads the operation ids of a call's answer (one operation or a list).
func opIDs(v any) []int64 {
	var ids []int64
	switch x := v.(type) {
	case []any:
		for _, o := range x {
			ids = append(ids, o.(map[string]any)["id"].(int64))
		}
	case map[string]any:
		ids = append(ids, x["id"].(int64))
	}
	return ids
}

// waitOp waits until an operation leaves WAIT and RUN, or reaches want
// (a step) when want is WAIT or RUN, and returns it as operation.info shows it.
func (a *agent) waitOp(key string, id int64, want string) (map[string]any, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, err := a.call(key, "operation.info", id)
		if err != nil {
			return nil, err
		}
		info := v.(map[string]any)
		step := info["step"].(string)
		switch {
		case step == want:
			return info, nil
		case want != "WAIT" && want != "RUN" && step != "WAIT" && step != "RUN":
			return info, fmt.Errorf("operation %d (%v) ended %s, want %s: %v", id, info["type"], step, want, info["last_error"])
		}
		if time.Now().After(deadline) {
			return info, fmt.Errorf("operation %d (%v) still %s, want %s", id, info["type"], step, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// done makes a call and waits for every operation it answered to end DONE.
func (a *agent) done(key, method string, params ...any) ([]map[string]any, error) {
	v, err := a.call(key, method, params...)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, id := range opIDs(v) {
		info, err := a.waitOp(key, id, "DONE")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		out = append(out, info)
	}
	if len(out) == 0 {
		return nil, errors.New(method + ": answered no operation")
	}
	return out, nil
}
