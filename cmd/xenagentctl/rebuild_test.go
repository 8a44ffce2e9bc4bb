package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// ctlAgent runs xenagentctl against url with key; it returns stdout,
// stderr and the error.
func ctlAgent(url, key string, args ...string) (string, string, error) {
	var out, status bytes.Buffer
	e := &env{c: newClient(url, key), out: &out, status: &status, poll: 10 * time.Millisecond, now: time.Now}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, e, args)
	return out.String(), status.String(), err
}

// mustCtl is ctlAgent failing the test on an error.
func mustCtl(t *testing.T, url, key string, args ...string) string {
	t.Helper()
	out, _, err := ctlAgent(url, key, args...)
	if err != nil {
		t.Fatalf("xenagentctl %q: %v\n%s", args, err, out)
	}
	return out
}

// vmInfo is vm info ID decoded.
func vmInfo(t *testing.T, url string, id string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(mustCtl(t, url, aliceKey, "vm", "info", id)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func systemDiskID(t *testing.T, info map[string]any) float64 {
	t.Helper()
	disks, _ := info["disks"].([]any)
	if len(disks) == 0 {
		t.Fatalf("vm info has no disks: %v", info)
	}
	return disks[0].(map[string]any)["id"].(float64)
}

// vm rebuild against an agent: from an image, the chain of operations
// printed and followed, the VM running on a new system disk; with
// -no-start it stays halted; -o json prints the operations as JSON.
func TestVMRebuild(t *testing.T) {
	url, image := inProcessAgent(t)
	mustCtl(t, url, aliceKey, "call", "hosting.vm.create_from", `{"datacenter_id": 1, "hostname": "web1", "memory": 256}`, `{}`, strconv.FormatInt(image, 10), "-wait")
	var images []map[string]any
	json.Unmarshal([]byte(mustCtl(t, url, aliceKey, "call", "hosting.image.list")), &images)
	if len(images) != 1 {
		t.Fatalf("image.list = %v", images)
	}
	imageID := strconv.FormatFloat(images[0]["id"].(float64), 'f', -1, 64)
	before := systemDiskID(t, vmInfo(t, url, "1"))
	var f *xmlrpc.Fault
	if _, _, err := ctlAgent(url, aliceKey, "vm", "rebuild", "1", "-disk", "999"); !errors.As(err, &f) || !strings.Contains(f.Message, "disk_id") {
		t.Errorf("vm rebuild -disk 999: %v; want a fault naming disk_id (what -disk sends)", err)
	}

	out := mustCtl(t, url, aliceKey, "vm", "rebuild", "1", "-image", imageID, "-wait")
	for _, want := range []string{" vm_stop WAIT\n", " disk_detach WAIT\n", " vm_rebuild WAIT\n", " disk_attach WAIT\n", " vm_start WAIT\n", "vm_rebuild DONE\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("vm rebuild -wait does not print %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "vm_start DONE\n") {
		t.Errorf("vm rebuild -wait does not end with the start:\n%s", out)
	}
	info := vmInfo(t, url, "1")
	after := systemDiskID(t, info)
	if after == before || info["state"] != "running" {
		t.Errorf("after the rebuild: system disk %v (was %v), state %v; want a new disk, running", after, before, info["state"])
	}

	out = mustCtl(t, url, aliceKey, "vm", "rebuild", "-no-start", "1", "-image", imageID, "-wait", "-o", "json")
	if strings.Contains(out, `"vm_start"`) || !strings.Contains(out, `"type": "vm_rebuild"`) || !strings.Contains(out, `"step": "DONE"`) {
		t.Errorf("vm rebuild -no-start -o json:\n%s", out)
	}
	if info := vmInfo(t, url, "1"); info["state"] != "halted" || systemDiskID(t, info) == after {
		t.Errorf("after the rebuild -no-start: state %v, system disk %v; want halted on a new disk", info["state"], systemDiskID(t, info))
	}
}

// vm reset-password against an agent: the operation, then the password on
// its own line, printed before the wait; stderr says it is shown once;
// nothing else shows it again.
func TestVMResetPassword(t *testing.T) {
	url, image := inProcessAgent(t)
	mustCtl(t, url, aliceKey, "call", "hosting.vm.create_from", `{"datacenter_id": 1, "hostname": "web1", "memory": 256, "password": "Old-password-1"}`, `{}`, strconv.FormatInt(image, 10), "-wait")
	out, status, err := ctlAgent(url, aliceKey, "vm", "reset-password", "1", "-wait")
	if err != nil {
		t.Fatalf("vm reset-password 1 -wait: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`^operation (\d+) vm_update WAIT\npassword: ([A-Za-z0-9_-]{16})\noperation \d+ vm_update DONE\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("vm reset-password -wait printed:\n%s", out)
	}
	if !strings.Contains(status, "shown this once") || !strings.Contains(status, "next boot") {
		t.Errorf("vm reset-password said on stderr %q; want that it is shown once, for the next boot", status)
	}
	pw := m[2]
	for _, args := range [][]string{{"op", "info", m[1]}, {"op", "list", "-o", "json"}, {"vm", "info", "1"}} {
		if out := mustCtl(t, url, aliceKey, args...); strings.Contains(out, pw) {
			t.Errorf("%q shows the password again:\n%s", args, out)
		}
	}
	if info := vmInfo(t, url, "1"); info["restart_pending"] != true {
		t.Errorf("after reset-password, restart_pending = %v, want true (the running guest applies it at its next boot)", info["restart_pending"])
	}
	out = mustCtl(t, url, aliceKey, "vm", "reset-password", "1", "-o", "json")
	var op map[string]any
	if err := json.Unmarshal([]byte(out), &op); err != nil || len(op["password"].(string)) != 16 || op["password"] == pw {
		t.Fatalf("vm reset-password -o json printed %s (%v); want the operation with a new password", out, err)
	}
	// Not left running when the agent stops with the test.
	mustCtl(t, url, aliceKey, "op", "wait", strconv.FormatFloat(op["id"].(float64), 'f', -1, 64))
}

// The password is printed before -wait waits: an operation that ends in
// ERROR (or a wait that times out) does not lose it.
func TestResetPasswordShownBeforeWait(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, err := xmlrpc.DecodeCall(r.Body)
		if err != nil {
			t.Errorf("decoding the call: %v", err)
			return
		}
		var v any
		switch call.Method {
		case "hosting.vm.reset_password":
			v = map[string]any{"id": int64(9), "type": "vm_update", "step": "WAIT", "password": "Abcdefgh-_123456"}
		case "operation.info":
			v = map[string]any{"id": int64(9), "type": "vm_update", "step": "ERROR", "last_error": "seed: disk full"}
		default:
			v = []any{}
		}
		b, _ := xmlrpc.EncodeResponse(v)
		w.Write(b)
	}))
	defer srv.Close()
	var out bytes.Buffer
	e := &env{c: &client{url: srv.URL, key: "k", hc: srv.Client()}, out: &out, poll: time.Millisecond}
	err := run(context.Background(), e, []string{"vm", "reset-password", "3", "-wait"})
	want := "operation 9 vm_update WAIT\npassword: Abcdefgh-_123456\noperation 9 vm_update ERROR seed: disk full\n"
	if err == nil || out.String() != want {
		t.Errorf("vm reset-password -wait ending in ERROR: %v, printed %q; want an error and %q", err, out.String(), want)
	}
}
