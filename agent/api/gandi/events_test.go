package gandi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// follow calls hosting.event.from until cond holds on everything read,
// and returns what it read and the last cursor.
func (a *agent) follow(c *service.Caller, cursor string, classes []any, cond func([]map[string]any) bool) ([]map[string]any, string) {
	a.t.Helper()
	var all []map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for !cond(all) {
		if time.Now().After(deadline) {
			a.t.Fatalf("events not seen in 60s; got %v", briefGandi(all))
		}
		opts := map[string]any{"cursor": cursor, "timeout": int64(5)}
		if classes != nil {
			opts["classes"] = classes
		}
		r := a.mustCall(c, "hosting.event.from", opts).(map[string]any)
		for _, e := range r["events"].([]any) {
			all = append(all, e.(map[string]any))
		}
		cursor = r["cursor"].(string)
	}
	return all, cursor
}

func briefGandi(evs []map[string]any) []string {
	var out []string
	for _, e := range evs {
		f := e["fields"].(map[string]any)
		s := fmt.Sprintf("%s/%s/%d", e["class"], e["action"], e["id"])
		if v, ok := f["step"]; ok {
			s += ":" + v.(string)
		} else if v, ok := f["state"]; ok {
			s += ":" + v.(string)
		}
		out = append(out, s)
	}
	return out
}

func TestEventFrom(t *testing.T) {
	a := newAgent(t, true)
	start := a.mustCall(a.alice, "hosting.event.from", map[string]any{}).(map[string]any)
	if evs := start["events"].([]any); len(evs) != 0 || start["cursor"] == "" {
		t.Fatalf("empty cursor: %v", start)
	}
	cursor := start["cursor"].(string)
	vm := a.createVM(a.alice, "evs")
	want := fmt.Sprintf("vm/mod/%d:running", vm)
	all, next := a.follow(a.alice, cursor, []any{"operation", "vm"}, func(evs []map[string]any) bool {
		return slices.Contains(briefGandi(evs), want)
	})
	got := briefGandi(all)
	t.Logf("events: %v", got)
	for _, step := range []string{"WAIT", "RUN", "DONE"} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "operation/") && strings.HasSuffix(s, ":"+step) }) {
			t.Errorf("no operation step %s in %v", step, got)
		}
	}
	if !slices.Contains(got, fmt.Sprintf("vm/add/%d:being_created", vm)) {
		t.Errorf("no VM creation in %v", got)
	}
	for _, e := range all {
		if e["class"] != "operation" && e["class"] != "vm" {
			t.Errorf("class filter let through %v", e)
		}
		if e["account_id"] != a.alice.AccountID || e["cursor"] == "" {
			t.Errorf("event %v", e)
		}
	}

	// Bob follows too, and sees none of Alice's; the operator sees them.
	bob := a.mustCall(a.bob, "hosting.event.from", map[string]any{"cursor": cursor}).(map[string]any)
	if evs := bob["events"].([]any); len(evs) != 0 {
		t.Errorf("bob sees alice's events: %v", evs)
	}
	op := a.mustCall(a.op, "hosting.event.from", map[string]any{"cursor": cursor, "limit": int64(1000)}).(map[string]any)
	if evs := op["events"].([]any); len(evs) < len(all) {
		t.Errorf("operator sees %d events, alice %d", len(evs), len(all))
	}

	// Nothing new: a long poll waits its timeout, then answers empty.
	t0 := time.Now()
	r := a.mustCall(a.alice, "hosting.event.from", map[string]any{"cursor": next, "timeout": 0.3, "classes": "vm"}).(map[string]any)
	if d := time.Since(t0); len(r["events"].([]any)) != 0 || d < 300*time.Millisecond {
		t.Errorf("idle poll: %v after %v", r, d)
	}
	// A change during the poll ends it at once.
	go func() {
		time.Sleep(200 * time.Millisecond)
		a.mustCall(a.alice, "hosting.vm.stop", vm)
	}()
	t0 = time.Now()
	r = a.mustCall(a.alice, "hosting.event.from", map[string]any{"cursor": r["cursor"], "timeout": int64(30), "classes": []any{"vm"}}).(map[string]any)
	if d := time.Since(t0); len(r["events"].([]any)) == 0 || d > 10*time.Second {
		t.Errorf("poll during a stop: %v after %v", r, d)
	}
	// Events there: answered at once.
	t0 = time.Now()
	r = a.mustCall(a.alice, "hosting.event.from", map[string]any{"cursor": cursor, "timeout": int64(30)}).(map[string]any)
	if d := time.Since(t0); len(r["events"].([]any)) == 0 || d > time.Second {
		t.Errorf("poll with events there: %d after %v", len(r["events"].([]any)), d)
	}
}

func TestEventFromRefusals(t *testing.T) {
	a := newAgent(t, false)
	cur := a.mustCall(a.alice, "hosting.event.from").(map[string]any)["cursor"].(string)
	for _, tt := range []struct {
		opts   map[string]any
		cause  int
		saying string
	}{
		{map[string]any{"cursor": "0123456789abcdef-3"}, CauseNotFound, "resync"},
		{map[string]any{"cursor": cur + "7"}, CauseNotFound, "resync"},
		{map[string]any{"cursor": "junk"}, CauseBadParam, "cursor: not an event cursor"},
		{map[string]any{"cursor": cur, "timeout": int64(61)}, CauseBadParam, "timeout: must be between 0 and 60 seconds"},
		{map[string]any{"cursor": cur, "timeout": "5"}, CauseBadParam, "timeout: must be a number"},
		{map[string]any{"cursor": cur, "limit": int64(5000)}, CauseBadParam, "limit: must be between 1 and 1000"},
		{map[string]any{"cursor": cur, "classes": []any{"vm", "host"}}, CauseBadParam, `classes: "host" is not a class`},
		{map[string]any{"cursor": cur, "since": int64(1)}, CauseBadParam, "opts.since: unknown parameter"},
	} {
		_, f := a.call(a.alice, "hosting.event.from", tt.opts)
		if f == nil || f.Object != ObjEvent && tt.cause != CauseBadParam || f.Cause != tt.cause || !strings.Contains(f.Msg, tt.saying) {
			t.Errorf("%v: fault %v, want cause %d saying %q", tt.opts, f, tt.cause, tt.saying)
		}
	}
	// Older than the retention: the same resync fault, code 520040.
	a.st.SetEventRetention(3, store.EventsMaxAge)
	for i := range 5 {
		if err := a.st.Update(func(tx *store.Tx) error {
			tx.PutVM(store.VM{ID: 99, AccountID: a.alice.AccountID, Memory: int64(i + 1)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	_, f := a.call(a.alice, "hosting.event.from", map[string]any{"cursor": cur})
	if f == nil || f.Code() != 520040 || !strings.Contains(f.Msg, "older than the events kept") || !strings.Contains(f.Msg, "resync") {
		t.Errorf("cursor older than the retention: %v", f)
	}
	r := a.mustCall(a.alice, "hosting.event.from", map[string]any{}).(map[string]any)
	if r = a.mustCall(a.alice, "hosting.event.from", map[string]any{"cursor": r["cursor"]}).(map[string]any); len(r["events"].([]any)) != 0 {
		t.Errorf("after a resync: %v", r)
	}
}

// Over HTTP, a long poll outlives the server's write timeout (a minute
// on the agent), and its answer is XML-RPC (the fields' id lists too).
func TestEventFromOverHTTP(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, _, st, _ := testService(t, log)
	acct, _ := svc.EnsureAccount("ALICE", "Alice", service.HashKey(aliceKey), 0)
	srv := httptest.NewUnstartedServer(New(svc, "", 4096, log).Handler())
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	cur := st.EventCursor()
	go func() {
		time.Sleep(time.Second)
		st.Update(func(tx *store.Tx) error {
			tx.PutIface(store.Iface{ID: 3, AccountID: acct, State: store.IfaceUsed, IPIDs: []int64{4, 5}})
			return nil
		})
	}()
	v, err := call(t, srv.URL, "hosting.event.from", aliceKey, map[string]any{"cursor": cur, "timeout": int64(10)})
	if err != nil {
		t.Fatal(err)
	}
	evs := v.(map[string]any)["events"].([]any)
	if len(evs) != 1 {
		t.Fatalf("events: %v", v)
	}
	if f := evs[0].(map[string]any)["fields"].(map[string]any); !slices.Equal(f["ip_ids"].([]any), []any{int64(4), int64(5)}) {
		t.Errorf("fields: %v", f)
	}
}
