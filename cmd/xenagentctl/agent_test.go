package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/agenttest"
	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/api/migration"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

const (
	opKey    = "operator-key-0123456789ab"
	aliceKey = "alice-key-0123456789abcd"
	bobKey   = "bob-key-0123456789abcdef" // a second account, on agents serving moves
)

// inProcessAgent serves the whole agent (agenttest's rig: store, engine,
// libvirt's test driver, the file backend) over HTTP, as cmd/xenagent wires it, and
// returns its URL and the disk id of its image.
func inProcessAgent(t *testing.T) (string, int64) {
	t.Helper()
	return serveAgent(t, false)
}

// serveAgent is inProcessAgent; withMoves also serves the migration
// endpoints (/migration/v1/) on the same listener and gives the
// workflows the client that reaches other agents, as cmd/xenagent does,
// and adds the account BOB (bobKey) after ALICE: two such agents give
// each the same id.
func serveAgent(t *testing.T, withMoves bool) (string, int64) {
	t.Helper()
	accounts := []agenttest.Account{{Handle: "ALICE", Name: "Alice", Key: aliceKey}}
	if withMoves {
		accounts = append(accounts, agenttest.Account{Handle: "BOB", Name: "Bob", Key: bobKey})
	}
	o := agenttest.Options{NoStart: true, Accounts: accounts,
		Configure: []func(*agenttest.Config){func(c *agenttest.Config) {
			c.Version = "ctl-test"
			c.Datacenter = service.Datacenter{ID: 1, Name: "T", Code: "FR-T1"}
			c.Limits = service.Limits{MaxMemoryMB: 4096, MaxCores: 4, MaxDiskMB: 100000, MaxBandwidth: 1e9, DefaultQuotaMB: 100000}
			c.Network.V6 = nil
			if withMoves {
				m := migration.NewClient(nil)
				c.Peer, c.Sender = m, m
			}
		}}}
	r := agenttest.New(t, o)
	svc := r.Service
	svc.SetHostSources(service.HostSources{Node: r.Hypervisor, Pool: r.Volumes, Health: r.Reconciler.Healthy})
	// An ISO for iso list and vm iso attach, found with iso list.
	iso := make([]byte, 64<<10)
	copy(iso[0x8001:], "CD001") // the ISO 9660 mark, all the registration checks
	os.WriteFile(filepath.Join(r.Dir, "rescue.iso"), iso, 0o644)
	if err := r.Workflows.EnsureISO(context.Background(), workflow.ISOSpec{Label: "rescue", File: filepath.Join(r.Dir, "rescue.iso")}); err != nil {
		t.Fatal(err)
	}
	r.Start()
	var h http.Handler = gandi.New(svc, service.HashKey(opKey), 1<<20, r.Log).Handler()
	if withMoves {
		moves, err := migration.New(svc, migration.Config{}, r.Log)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle(migration.Prefix, moves)
		mux.Handle("/", h)
		h = mux
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // before the rig closes
	return srv.URL + "/xmlrpc/", r.Image.DiskID
}

// The commands against a whole agent: a VM created and followed with
// call -wait, listed, stopped with -wait (ETA from the stops done), operations newest first, and host with the operator key
// and refused with an account's.
func TestAgainstAgent(t *testing.T) {
	url, image := inProcessAgent(t)
	ctl := func(key string, args ...string) (string, string, error) {
		var out, status bytes.Buffer
		e := &env{c: newClient(url, key), out: &out, status: &status, poll: 10 * time.Millisecond, now: time.Now}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := run(ctx, e, args)
		return out.String(), status.String(), err
	}
	must := func(key string, args ...string) string {
		t.Helper()
		out, _, err := ctl(key, args...)
		if err != nil {
			t.Fatalf("xenagentctl %q: %v\n%s", args, err, out)
		}
		return out
	}

	out := must(aliceKey, "call", "hosting.vm.create_from", `{"datacenter_id": 1, "hostname": "web1", "memory": 256}`, `{}`, strconv.FormatInt(image, 10), "-wait")
	if !strings.Contains(out, `"type": "vm_create"`) || !strings.HasSuffix(out, "vm_create DONE\n") {
		t.Errorf("call create_from -wait printed:\n%s", out)
	}
	out = must(aliceKey, "vm", "list", "--state", "running")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "web1") || !strings.Contains(lines[1], "running") {
		t.Errorf("vm list --state running:\n%s", out)
	}
	if out := must(aliceKey, "vm", "list", "--state", "halted"); strings.Contains(out, "web1") {
		t.Errorf("vm list --state halted lists a running VM:\n%s", out)
	}
	out = must(aliceKey, "vm", "stop", "1", "-wait")
	if !strings.HasSuffix(out, "vm_stop DONE\n") {
		t.Errorf("vm stop 1 -wait printed %q", out)
	}
	must(aliceKey, "vm", "start", "1", "-wait")
	// The test driver stops at once: the progress shows only when a poll
	// sees the operation before it ends, and then with an ETA.
	_, status, err := ctl(aliceKey, "vm", "stop", "1", "-wait")
	if err != nil || status != "" && !strings.Contains(status, "(average of ") {
		t.Errorf("the second stop: %v, showed %q; want an ETA from the stops done", err, status)
	}

	out = must(aliceKey, "op", "list", "--limit", "3")
	var got []int64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		id, _ := strconv.ParseInt(strings.Fields(line)[0], 10, 64)
		got = append(got, id)
	}
	if len(got) != 3 || got[0] < got[1] || got[1] < got[2] {
		t.Errorf("op list --limit 3 = ids %v, want 3, newest first:\n%s", got, out)
	}
	out = must(aliceKey, "op", "list", "--type", "vm_stop", "-o", "json")
	if strings.Count(out, `"type": "vm_stop"`) != 2 || strings.Contains(out, "vm_start") {
		t.Errorf("op list --type vm_stop -o json:\n%s", out)
	}

	out = must(opKey, "host")
	for _, want := range []string{"memory_total_mb:", "cpus:", "storage.kind:", "file", "vms.halted:", "healthy:", "agent_version:", "ctl-test"} {
		if !strings.Contains(out, want) {
			t.Errorf("host does not show %q:\n%s", want, out)
		}
	}
	if out := must(opKey, "host", "-o", "json"); !strings.Contains(out, `"memory_free_mb"`) {
		t.Errorf("host -o json:\n%s", out)
	}
	_, _, err = ctl(aliceKey, "host")
	var f *xmlrpc.Fault
	if !errors.As(err, &f) || f.Code != 518030 {
		t.Errorf("host with an account's key: %v, want fault 518030", err)
	}
}
