package service

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/store"
)

func TestLogin(t *testing.T) {
	s := lockService(t, filepath.Join(t.TempDir(), "state.db"))
	id, err := s.EnsureAccount("AA1234-GANDI", "Alice", HashKey("alice-key-0123456789abcd"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.EnsureAccount("BB1234-GANDI", "Bob", HashKey("bob-key-0123456789abcdef"), 0) // no password
	weak, _ := passwd.HashRounds("mypassword", 5000)
	if err := s.SetAccountPassword("AA1234-GANDI", weak); err == nil {
		t.Fatal("a hash of 5000 rounds was accepted as an account password")
	}
	hash, _ := passwd.HashRounds("mypassword", passwd.AccountRounds)
	if err := s.SetAccountPassword("AA1234-GANDI", hash); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAccountPassword("NOBODY", hash); err == nil {
		t.Fatal("a password was set on an account that does not exist")
	}
	// EnsureAccount at the next start keeps the password.
	if _, err := s.EnsureAccount("AA1234-GANDI", "Alice B.", HashKey("alice-key-0123456789abcd"), 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, login, password string
		ok                    bool
	}{
		{"right", "AA1234-GANDI", "mypassword", true},
		{"wrong password", "AA1234-GANDI", "mypassword2", false},
		{"no such account", "ZZ-GANDI", "mypassword", false},
		{"account without a password", "BB1234-GANDI", "", false},
		{"handle in another case", "aa1234-gandi", "mypassword", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, stamp, err := s.Login(tc.login, tc.password)
			if !tc.ok {
				if !errors.Is(err, ErrBadLogin) {
					t.Fatalf("err %v, want ErrBadLogin", err)
				}
				return
			}
			if err != nil || c.AccountID != id || c.Operator {
				t.Fatalf("caller %+v, err %v", c, err)
			}
			if c2, err := s.CallerOf(id, stamp); err != nil || c2.AccountID != id {
				t.Fatalf("CallerOf: %+v, %v", c2, err)
			}
		})
	}
	_, stamp, _ := s.Login("AA1234-GANDI", "mypassword")
	hash2, _ := passwd.HashRounds("another one", passwd.AccountRounds)
	s.SetAccountPassword("AA1234-GANDI", hash2)
	if _, err := s.CallerOf(id, stamp); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("a session outlived its password's change: %v", err)
	}
}

func TestDismissOperation(t *testing.T) {
	s := lockService(t, filepath.Join(t.TempDir(), "state.db"))
	s.st.Update(func(tx *store.Tx) error {
		tx.PutAccount(store.Account{ID: 1, Handle: "A"})
		tx.PutAccount(store.Account{ID: 2, Handle: "B"})
		tx.PutOperation(store.Operation{ID: 5, AccountID: 1, Type: "vm_start", Step: store.StepError, LastError: "boom"})
		tx.PutOperation(store.Operation{ID: 6, AccountID: 1, Type: "vm_start", Step: store.StepDone})
		return nil
	})
	a, b := &Caller{AccountID: 1}, &Caller{AccountID: 2}
	if err := s.DismissOperation(context.Background(), b, 5); Classify(err).Kind != KindNotFound {
		t.Fatalf("another account dismissed operation 5: %v", err)
	}
	if err := s.DismissOperation(context.Background(), a, 5); err != nil {
		t.Fatal(err)
	}
	o, _ := s.Operation(a, 5)
	if o.Step != store.StepCancel || o.LastError != "boom" {
		t.Fatalf("dismissed operation: %+v", o)
	}
	if err := s.DismissOperation(context.Background(), a, 6); Classify(err).Kind != KindConflict {
		t.Fatalf("a DONE operation was cancelled: %v", err)
	}
}

// TestCreateDiskFSType: a filesystem is one the host can make, on a disk
// no smaller than its mkfs accepts (refused naming size, before anything
// is recorded); the calls that pass are in agent/api/gandiv1's scenario
// (this service has no workflows to submit to).
func TestCreateDiskFSType(t *testing.T) {
	s := lockService(t, filepath.Join(t.TempDir(), "state.db"))
	s.st.Update(func(tx *store.Tx) error { tx.PutAccount(store.Account{ID: 1, Handle: "A"}); return nil })
	c := &Caller{AccountID: 1}
	s.cfg.FSMinMB = map[string]int64{"ext3": 1, "xfs": 300}
	for _, tc := range []struct {
		name, fstype string
		size         int64
		have         []string
		ok           bool
		msg          string
	}{
		{"no mkfs at all", "ext3", 1024, nil, false, "fstype: this host makes no filesystems"},
		{"not installed", "xfs", 1024, []string{"ext3"}, false, "fstype: must be one of ext3 on this host"},
		{"below the filesystem's minimum", "xfs", 299, []string{"ext3", "xfs"}, false, "size: an xfs filesystem needs a disk of at least 300 MB, got 299"},
		{"no size is the size's own refusal", "xfs", 0, []string{"ext3", "xfs"}, false, "size: must be between 1 and"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.cfg.FSTypes = tc.have
			size := tc.size
			op, err := s.CreateDisk(context.Background(), c, NewDisk{DatacenterID: 1, Name: "d", SizeMB: &size, FSType: tc.fstype})
			if !tc.ok {
				if e := Classify(err); e.Kind != KindInvalid || !strings.HasPrefix(e.Msg, tc.msg) {
					t.Fatalf("err %v, want %q", err, tc.msg)
				}
				return
			}
			if err != nil || op.Params["fstype"] != tc.fstype && tc.fstype != "" {
				t.Fatalf("op %+v, err %v", op, err)
			}
		})
	}
}

// TestLoginLongPassword: SHA-512 crypt hashes the password again in
// every one of its 100000 rounds, so a password of a request body's size
// would hold a core for minutes per login. One past MaxPasswordBytes is
// refused as any wrong password is, without hashing.
func TestLoginLongPassword(t *testing.T) {
	s := lockService(t, filepath.Join(t.TempDir(), "state.db"))
	s.EnsureAccount("AA1234-GANDI", "Alice", HashKey("alice-key-0123456789abcd"), 0)
	long := strings.Repeat("x", MaxPasswordBytes)
	hash, _ := passwd.HashRounds(long, passwd.AccountRounds)
	if err := s.SetAccountPassword("AA1234-GANDI", hash); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Login("AA1234-GANDI", long); err != nil {
		t.Fatalf("a password of MaxPasswordBytes: %v", err)
	}
	for _, login := range []string{"AA1234-GANDI", "ZZ-GANDI"} {
		start := time.Now()
		_, _, err := s.Login(login, long+strings.Repeat("x", 64<<10))
		if !errors.Is(err, ErrBadLogin) {
			t.Errorf("%s with a 64 KiB password: %v, want ErrBadLogin", login, err)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("%s with a 64 KiB password took %v: it was hashed", login, d)
		}
	}
}
