package gandi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// wire is v as a client decodes it: encoded and decoded by the XML-RPC
// codec, so the types compared are the wire's.
func wire(t *testing.T, v any) any {
	t.Helper()
	raw, err := xmlrpc.EncodeResponse(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := xmlrpc.DecodeResponse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func recorded(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "recorded", name))
	if err != nil {
		t.Fatal(err)
	}
	v, err := xmlrpc.DecodeResponse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

// kind classes a decoded value: the real API sends the same field as an
// <int> in one struct and a <double> in the next, so both are "number".
func kind(v any) string {
	switch v.(type) {
	case int64, float64:
		return "number"
	case nil:
		return "nil"
	}
	return reflect.TypeOf(v).String()
}

// sameShape reports where got lacks a key of want, or holds a value of
// another kind. A nil in want (the recording) takes any value.
func sameShape(path string, want, got map[string]any) []string {
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, path+k+": missing")
		case w == nil:
		case kind(w) != kind(g):
			diffs = append(diffs, path+k+": "+kind(g)+", recorded "+kind(w))
		default:
			if wm, ok := w.(map[string]any); ok {
				diffs = append(diffs, sameShape(path+k+".", wm, g.(map[string]any))...)
			}
		}
	}
	return diffs
}

var resourceKeys = []string{"shares", "servers", "slots", "cores", "memory", "disk", "bandwidth", "ips"}

// hosting.account.info answers every key the real API's recorded answer
// has, with its type, in both models; and every resource key in granted,
// used, available and expired, whatever the model (a client reading
// available.memory must not get a KeyError).
func TestAccountInfoHasTheRecordedShape(t *testing.T) {
	a := newAgent(t, true)
	a.createVM(a.alice, "shape")
	for _, tt := range []struct {
		model, file string
		rating      bool
	}{
		{service.ModelShares, "account_info.xml", false},
		{service.ModelRating, "account_info_rating.xml", true},
	} {
		t.Run(tt.model, func(t *testing.T) {
			a.mustCall(a.op, "hosting.account.update", a.alice.AccountID, map[string]any{"model": tt.model})
			got := wire(t, a.mustCall(a.alice, "hosting.account.info")).(map[string]any)
			if d := sameShape("", recorded(t, tt.file), got); len(d) > 0 {
				t.Errorf("differs from %s:\n%s", tt.file, strings.Join(d, "\n"))
			}
			if got["rating_enabled"] != tt.rating {
				t.Errorf("rating_enabled = %v", got["rating_enabled"])
			}
			res := got["resources"].(map[string]any)
			for _, part := range []string{"granted", "used", "available", "expired"} {
				m, _ := res[part].(map[string]any)
				for _, k := range resourceKeys {
					if _, ok := m[k]; !ok {
						t.Errorf("resources.%s.%s missing", part, k)
					}
				}
			}
			if tt.rating != (got["share_definition"] == nil) {
				t.Errorf("share_definition = %v in the %s model", got["share_definition"], tt.model)
			}
		})
	}
}

// The numbers add up: used is what the account holds, available what is
// left of granted; shares in the shares model are granted times the
// definition; the operator reads any account by id, an account only its
// own.
func TestAccountInfoNumbers(t *testing.T) {
	a := newAgent(t, true, func(c *agentConfig) {
		c.Quotas = service.Quotas{Share: service.Resources{Servers: 1, Cores: 1, MemoryMB: 1024, DiskMB: 10000, Bandwidth: 1e9, IPs: 2}, Shares: 3}
	})
	a.createVM(a.alice, "numbers")
	info := a.mustCall(a.op, "hosting.account.info", a.alice.AccountID).(map[string]any)
	res := info["resources"].(map[string]any)
	g, u, av := res["granted"].(map[string]any), res["used"].(map[string]any), res["available"].(map[string]any)
	want := map[string]map[string]any{
		"granted":   {"shares": int64(3), "servers": int64(3), "cores": 3.0, "memory": int64(3072), "disk": int64(30000), "ips": int64(6)},
		"used":      {"shares": int64(1), "servers": int64(1), "cores": 1.0, "memory": int64(512), "disk": int64(64), "ips": int64(1)},
		"available": {"shares": int64(2), "servers": int64(2), "cores": 2.0, "memory": int64(2560), "disk": int64(29936), "ips": int64(5)},
	}
	for part, m := range map[string]map[string]any{"granted": g, "used": u, "available": av} {
		for k, w := range want[part] {
			if m[k] != w {
				t.Errorf("%s.%s = %v (%T), want %v", part, k, m[k], m[k], w)
			}
		}
	}
	if g["bandwidth"].(float64)-u["bandwidth"].(float64) != av["bandwidth"].(float64) || g["bandwidth"] != 3e9 {
		t.Errorf("bandwidth: granted %v used %v available %v", g["bandwidth"], u["bandwidth"], av["bandwidth"])
	}
	if sd := info["share_definition"].(map[string]any); sd["memory"] != int64(1024) || sd["servers"] != int64(1) {
		t.Errorf("share_definition = %v", sd)
	}
	if _, f := a.call(a.bob, "hosting.account.info", a.alice.AccountID); f == nil || f.Cause != CauseNotFound {
		t.Errorf("bob read alice's account: %v", f)
	}
	if _, f := a.call(a.op, "hosting.account.info"); f == nil {
		t.Error("the operator key has no account to describe")
	}
}

// Quotas hold on every kind of call that adds to an account, with a
// CAUSE_QUOTA fault naming the resource, and a refused call changes
// nothing; another account is not bound by them; only the operator
// changes them.
func TestQuotaRefusesWhatWouldExceedIt(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "first")
	set := func(spec map[string]any) {
		t.Helper()
		a.mustCall(a.op, "hosting.account.update", a.alice.AccountID, spec)
	}
	refused := func(resource, method string, params ...any) {
		t.Helper()
		before := a.snapshot()
		_, f := a.call(a.alice, method, params...)
		if f == nil || f.Cause != CauseQuota || !strings.Contains(f.Error(), resource+":") {
			t.Fatalf("%s: fault %v, want CAUSE_QUOTA naming %s", method, f, resource)
		}
		if after := a.snapshot(); after != before {
			t.Fatalf("%s: a refused call changed %v into %v", method, before, after)
		}
	}
	set(map[string]any{"servers": int64(1)})
	refused("servers", "hosting.vm.create_from", vmSpec("second"), map[string]any{"name": "sys-second"}, a.image)
	a.createVM(a.bob, "bobs") // bob's grant is his own

	set(map[string]any{"servers": int64(0), "memory": int64(1024)})
	refused("memory", "hosting.vm.create_from", map[string]any{"datacenter_id": int64(1), "hostname": "big", "memory": int64(576),
		"password": "password_to_change"}, map[string]any{"name": "sys-big"}, a.image)
	refused("memory", "hosting.vm.update", vmID, map[string]any{"memory": int64(1088), "vm_max_memory": int64(2048)})
	if _, f := a.call(a.alice, "hosting.vm.update", vmID, map[string]any{"memory": int64(1088), "vm_max_memory": int64(2048)}); !strings.Contains(f.Error(),
		"memory: 576 MB more would exceed the account's memory quota (512 of 1024 MB used)") {
		t.Errorf("fault %v: want the amounts and the unit", f)
	}

	set(map[string]any{"memory": int64(0), "cores": 1.5})
	refused("cores", "hosting.vm.update", vmID, map[string]any{"cores": int64(2)})

	set(map[string]any{"cores": int64(0), "ips": int64(1)})
	refused("ips", "hosting.iface.create", map[string]any{"datacenter_id": int64(1)})

	set(map[string]any{"ips": int64(0), "disk": int64(100)})
	refused("size", "hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": int64(64)})

	set(map[string]any{"disk": int64(0), "bandwidth": 1e5})
	refused("bandwidth", "hosting.iface.create", map[string]any{"datacenter_id": int64(1), "ip_version": int64(4), "bandwidth": 2e5})

	if _, f := a.call(a.alice, "hosting.account.update", a.alice.AccountID, map[string]any{"servers": int64(99)}); f == nil || f.Cause != CauseNoRight {
		t.Fatalf("an account changed its own quota: %v", f)
	}
	if _, f := a.call(a.op, "hosting.account.update", a.alice.AccountID, map[string]any{"servers": "99"}); f == nil || !strings.Contains(f.Error(), "servers") {
		t.Fatalf("a string for servers: %v", f)
	}
	if _, f := a.call(a.op, "hosting.account.update", a.alice.AccountID, map[string]any{"cpus": int64(1)}); f == nil || !strings.Contains(f.Error(), "cpus") {
		t.Fatalf("an unknown key: %v", f)
	}
}

// What the operator set outlives a restart (the start re-reads the
// configured accounts), and 0 gives the configured value back.
func TestAccountUpdateSurvivesRestart(t *testing.T) {
	a := newAgent(t, false)
	a.mustCall(a.op, "hosting.account.update", a.alice.AccountID, map[string]any{"servers": int64(5), "bandwidth": 3e6, "model": "rating"})
	a = a.reopen(false)
	info := a.mustCall(a.alice, "hosting.account.info").(map[string]any)
	g := info["resources"].(map[string]any)["granted"].(map[string]any)
	if info["rating_enabled"] != true || g["servers"] != int64(5) || g["bandwidth"] != 3e6 {
		t.Fatalf("after a restart: %v", info)
	}
	info = a.mustCall(a.op, "hosting.account.update", a.alice.AccountID, map[string]any{"servers": int64(0), "model": ""}).(map[string]any)
	g = info["resources"].(map[string]any)["granted"].(map[string]any)
	if info["rating_enabled"] != false || g["servers"] != int64(1024) || g["bandwidth"] != 3e6 {
		t.Fatalf("after giving servers and model back: %v", info)
	}
}

// Calls racing for the last of a grant: the check is in the submitting
// transaction, so exactly one wins, whatever the interleaving.
func TestQuotaHoldsUnderConcurrentCalls(t *testing.T) {
	a := newAgent(t, true)
	a.mustCall(a.op, "hosting.account.update", a.alice.AccountID, map[string]any{"servers": int64(1)})
	const n = 6
	errs := make(chan *Fault, n)
	for i := range n {
		go func() {
			_, err := a.api.Call(context.Background(), a.alice, "hosting.vm.create_from",
				[]any{vmSpec(fmt.Sprintf("race%d", i)), map[string]any{"name": fmt.Sprintf("sys-race%d", i)}, a.image})
			var f *Fault
			if err != nil && !errors.As(err, &f) {
				f = &Fault{Cause: -1}
			}
			errs <- f
		}()
	}
	won := 0
	for range n {
		if f := <-errs; f == nil {
			won++
		} else if f.Cause != CauseQuota {
			t.Errorf("a racing create failed with %v, not CAUSE_QUOTA", f)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d racing creates passed a grant of 1 server", won, n)
	}
}
