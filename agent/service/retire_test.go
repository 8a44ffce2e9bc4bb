package service

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/store"
)

// TestRetireAccounts: an account gone from [[accounts]] is disabled at
// start: its key, its v1 logins and its open sessions are refused with
// the fault of a wrong key or password, logged at WARN with its id; its
// VM stays, seen and managed by the operator; back in the file, it
// works again.
func TestRetireAccounts(t *testing.T) {
	s := bareService(t)
	var logs bytes.Buffer
	s.log = slog.New(slog.NewTextHandler(&logs, nil))
	const aliceKey, bobKey = "alice-key-0123456789abcd", "bob-key-0123456789abcdef"
	alice, _ := s.EnsureAccount("ALICE", "Alice", HashKey(aliceKey), 0)
	bob, _ := s.EnsureAccount("BOB", "Bob", HashKey(bobKey), 0)
	hash, _ := passwd.HashRounds("alice-password", passwd.AccountRounds)
	if err := s.SetAccountPassword("ALICE", hash); err != nil {
		t.Fatal(err)
	}
	_, stamp, err := s.Login("ALICE", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	s.st.Update(func(tx *store.Tx) error {
		tx.PutVM(store.VM{ID: 10, AccountID: alice, DatacenterID: 1, Hostname: "vm10", State: store.VMRunning})
		return nil
	})

	// A start whose file has only BOB.
	if err := s.RetireAccounts([]string{"BOB"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"account disabled") || !strings.Contains(logs.String(), "account_id="+itoa(alice)) {
		t.Errorf("no WARN naming account %d: %s", alice, logs.String())
	}
	logs.Reset()
	if _, err := s.Authenticate(aliceKey, ""); !errors.Is(err, ErrBadKey) {
		t.Errorf("disabled account's key: %v, want ErrBadKey", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "account_id="+itoa(alice)) {
		t.Errorf("refused key not logged at WARN with the account: %s", logs.String())
	}
	if _, _, err := s.Login("ALICE", "alice-password"); !errors.Is(err, ErrBadLogin) {
		t.Errorf("disabled account's v1 login: %v, want ErrBadLogin", err)
	}
	if _, err := s.CallerOf(alice, stamp); !errors.Is(err, ErrBadLogin) {
		t.Errorf("disabled account's open session: %v, want ErrBadLogin", err)
	}
	if c, err := s.Authenticate(bobKey, ""); err != nil || c.AccountID != bob {
		t.Errorf("BOB, still configured: %+v, %v", c, err)
	}
	// The operator still sees and manages what the account owns.
	op := &Caller{Operator: true, Handle: "OPERATOR"}
	vms, err := s.VMs(op, VMFilter{}, Page{})
	if err != nil || len(vms) != 1 || vms[0].ID != 10 {
		t.Fatalf("operator's list: %v, %v; want vm 10", vms, err)
	}
	if _, err := s.StopVM(context.Background(), op, 10, CallOptions{}); err != nil {
		t.Errorf("operator stopping the disabled account's VM: %v", err)
	}
	// The next start: EnsureAccount does not enable it by itself.
	s.EnsureAccount("BOB", "Bob", HashKey(bobKey), 0)
	if err := s.RetireAccounts([]string{"BOB"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(aliceKey, ""); !errors.Is(err, ErrBadKey) {
		t.Errorf("second start without ALICE: %v, want ErrBadKey", err)
	}

	// Back in the file.
	s.EnsureAccount("ALICE", "Alice", HashKey(aliceKey), 0)
	if err := s.RetireAccounts([]string{"ALICE", "BOB"}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Authenticate(aliceKey, ""); err != nil || c.AccountID != alice {
		t.Errorf("ALICE back in the file: %+v, %v", c, err)
	}
	if c, _, err := s.Login("ALICE", "alice-password"); err != nil || c.AccountID != alice {
		t.Errorf("ALICE's v1 login back: %+v, %v", c, err)
	}
}

// A key given since to a configured account works even while a disabled
// account still has it.
func TestDisabledKeyReused(t *testing.T) {
	s := bareService(t)
	const key = "shared-key-0123456789abc"
	s.EnsureAccount("OLD", "Old", HashKey(key), 0)
	if err := s.RetireAccounts(nil); err != nil {
		t.Fatal(err)
	}
	id, _ := s.EnsureAccount("NEW", "New", HashKey(key), 0)
	if err := s.RetireAccounts([]string{"NEW"}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Authenticate(key, ""); err != nil || c.AccountID != id {
		t.Errorf("the key: %+v, %v; want account %d", c, err, id)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
