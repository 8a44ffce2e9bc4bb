package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/passwd"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// The demo account logs in to the v1 face with [demo]'s password_hash
// (and not once it is gone from the file), keeps its key and id across
// starts, and its id is the one after the [[accounts]] entries of the
// first start: demoAccount answers it, and seed prints and logs it.
func TestDemoAccount(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(dir, "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := service.New(service.Config{}, st, nil, nil, log)
	hash, err := passwd.HashRounds("demo-password", passwd.AccountRounds)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir = dir
	cfg.Images, cfg.ISOs = nil, nil
	cfg.Accounts = []config.Account{{Handle: "AA1234-GANDI", Fullname: "A", KeySHA256: strings.Repeat("a", 64)}}
	cfg.Demo = config.Demo{Enabled: true, KeyFile: filepath.Join(dir, "apikey"), PasswordHash: hash}
	if err := seed(context.Background(), cfg, svc, nil, log); err != nil {
		t.Fatal(err)
	}
	id, key, err := demoAccount(cfg.Demo, svc)
	if err != nil {
		t.Fatal(err)
	}
	if id != 2 {
		t.Errorf("demo account_id %d, want 2 (after the one [[accounts]] entry)", id)
	}
	if raw, _ := os.ReadFile(cfg.Demo.KeyFile); strings.TrimSpace(string(raw)) != key {
		t.Errorf("key file %q, want the demo key %q", raw, key)
	}
	c, _, err := svc.Login(demoHandle, "demo-password")
	if err != nil || c.AccountID != id {
		t.Fatalf("v1 login of the demo account: %+v, %v; want account %d", c, err, id)
	}
	if c, err := svc.Authenticate(key, ""); err != nil || c.AccountID != id {
		t.Errorf("the demo key: %+v, %v; want account %d", c, err, id)
	}

	// A later start without the password: same id and key, no v1 login.
	cfg.Demo.PasswordHash = ""
	id2, key2, err := demoAccount(cfg.Demo, svc)
	if err != nil || id2 != id || key2 != key {
		t.Fatalf("second start: id %d key %q (%v), want %d %q", id2, key2, err, id, key)
	}
	if _, _, err := svc.Login(demoHandle, "demo-password"); err == nil {
		t.Error("the demo account still logs in after password_hash was removed")
	}
}
