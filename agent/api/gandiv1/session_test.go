package gandiv1

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/service"
)

func TestSessions(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSessions(func() time.Time { return clock })
	alice := &service.Caller{AccountID: 1}
	id, err := s.open(alice, "stamp")
	if err != nil || len(id) != 64 {
		t.Fatalf("open: %q, %v", id, err)
	}
	for _, tc := range []struct {
		name  string
		after time.Duration
		id    string
		ok    bool
	}{
		{"fresh", 0, id, true},
		{"unknown id", 0, "00" + id[2:], false},
		{"empty id", 0, "", false},
		{"just before 12 hours", SessionTTL - time.Second, id, true},
		{"at 12 hours", SessionTTL, id, false},
		{"dropped once expired", 0, id, false},
	} {
		clock = clock.Add(tc.after)
		se, ok := s.lookup(tc.id)
		if ok != tc.ok || ok && (se.accountID != 1 || se.stamp != "stamp") {
			t.Errorf("%s: lookup %+v, %v; want ok %v", tc.name, se, ok, tc.ok)
		}
	}
	if s.count() != 0 {
		t.Errorf("%d sessions left after expiry", s.count())
	}
}

func TestSessionsBounded(t *testing.T) {
	s := newSessions(nil)
	bob := &service.Caller{AccountID: 2}
	first, _ := s.open(bob, "")
	for range MaxPerAccount {
		if _, err := s.open(bob, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.lookup(first); ok {
		t.Error("an account's oldest session outlived its MaxPerAccount newer ones")
	}
	if n := s.count(); n != MaxPerAccount {
		t.Errorf("%d sessions open, want %d", n, MaxPerAccount)
	}
}

// The operator logs in as OPERATOR with its key: its session sees and
// acts on every account's VMs, as the operator key does on the v3 face,
// but has no account of its own (hosting_account_info, vm_create and
// disk_create are refused naming why). A wrong key, or an account's key,
// does not log in as the operator.
func TestOperatorLogin(t *testing.T) {
	a := newAgent(t)
	a.srv.SetOperator(service.HashKey("operator-key"))
	s := a.login(aliceLogin, alicePassword)
	vmID := a.mustCall("vm_create", s, "opvm1", "my_password", a.image, int64(2), int64(1), map[string]any{}).(int64)
	a.mustDone(s, a.lastOp(s, "vm_create"))

	for _, bad := range []string{"wrong-key", "key-" + aliceLogin, ""} {
		if _, f := a.call("login", OperatorLogin, bad); f == nil || f.Code != 500150 {
			t.Errorf("login as the operator with %q: %v, want fault 500150", bad, f)
		}
	}
	op := a.login(OperatorLogin, "operator-key")
	if got := a.mustCall("vm_list", op).([]any); !slices.Contains(got, any(vmID)) {
		t.Fatalf("the operator's vm_list %v lacks alice's VM %d", got, vmID)
	}
	a.mustDone(op, a.mustCall("vm_stop", op, vmID).(int64))
	if st := a.mustCall("vm_info", s, vmID).(map[string]any)["state"]; st != "halted" {
		t.Errorf("alice's VM after the operator's vm_stop: %v", st)
	}
	for _, tc := range []struct {
		method string
		params []any
	}{
		{"hosting_account_info", nil},
		{"vm_create", []any{"opvm2", "my_password", a.image, int64(1), int64(1), map[string]any{}}},
		{"disk_create", []any{map[string]any{"size": int64(64), "name": "d"}}},
	} {
		_, f := a.call(tc.method, append([]any{op}, tc.params...)...)
		if f == nil || f.Code != 501050 || !strings.Contains(f.Message, "the operator's session has no account") {
			t.Errorf("%s as the operator: %v, want fault 501050 naming why", tc.method, f)
		}
	}
}
