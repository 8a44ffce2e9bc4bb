package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// An account removed from [[accounts]] stops working at the next start:
// its key is refused as an unknown one, while its record (and so what
// it owns) stays; the demo account stays while [demo] is on; put back in
// the file, the account works again with the same id.
func TestRemovedAccountRestart(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const aliceKey, bobKey = "alice-key-0123456789abcd", "bob-key-0123456789abcdef"
	both := []config.Account{
		{Handle: "AA1234-GANDI", Fullname: "Alice", KeySHA256: service.HashKey(aliceKey)},
		{Handle: "BB1234-GANDI", Fullname: "Bob", KeySHA256: service.HashKey(bobKey)},
	}
	// start runs seed as serve does, over the state left by the last
	// start, and hands the service to check.
	start := func(accounts []config.Account, check func(svc *service.Service, st *store.Store)) {
		t.Helper()
		st, err := store.Open(filepath.Join(dir, "state.db"), log)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		svc := service.New(service.Config{}, st, nil, nil, log)
		cfg := config.Default()
		cfg.StateDir = dir
		cfg.Images, cfg.ISOs = nil, nil
		cfg.Accounts = accounts
		cfg.Demo = config.Demo{Enabled: true, KeyFile: filepath.Join(dir, "apikey")}
		if err := seed(context.Background(), cfg, svc, nil, log); err != nil {
			t.Fatal(err)
		}
		if err := setPasswords(cfg, svc); err != nil {
			t.Fatal(err)
		}
		check(svc, st)
	}
	var alice int64
	start(both, func(svc *service.Service, _ *store.Store) {
		c, err := svc.Authenticate(aliceKey, "")
		if err != nil {
			t.Fatal(err)
		}
		alice = c.AccountID
	})
	start(both[1:], func(svc *service.Service, st *store.Store) {
		if _, err := svc.Authenticate(aliceKey, ""); !errors.Is(err, service.ErrBadKey) {
			t.Errorf("the removed account's key: %v, want the unknown key's fault", err)
		}
		if _, err := svc.Authenticate(bobKey, ""); err != nil {
			t.Errorf("the kept account's key: %v", err)
		}
		_, key, err := demoAccount(config.Demo{Enabled: true, KeyFile: filepath.Join(dir, "apikey")}, svc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(key, ""); err != nil {
			t.Errorf("the demo account, not in [[accounts]]: %v", err)
		}
		st.View(func(tx *store.Tx) {
			if a, ok := tx.Account(alice); !ok || !a.Disabled {
				t.Errorf("the removed account's record: %+v, %v; want kept, disabled", a, ok)
			}
		})
	})
	start(both, func(svc *service.Service, _ *store.Store) {
		if c, err := svc.Authenticate(aliceKey, ""); err != nil || c.AccountID != alice {
			t.Errorf("back in the file: %+v, %v; want account %d", c, err, alice)
		}
	})
}
