package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Rows are shown in id order, as numbers: 10 after 9, not after 1;
// operations the newest first.
func TestSortByIDAsNumbers(t *testing.T) {
	rows := func() []any {
		return []any{map[string]any{"id": int64(10)}, map[string]any{"id": int64(9)}, map[string]any{"id": int64(1)}}
	}
	for _, tc := range []struct {
		newest bool
		want   string
	}{{false, "ID 1 9 10"}, {true, "ID 10 9 1"}} {
		var b strings.Builder
		r := rows()
		sortByID(r, tc.newest)
		if err := table(&b, r, []string{"id"}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(strings.Fields(b.String()), " "); got != tc.want {
			t.Errorf("newest %v: table = %q, want %q", tc.newest, got, tc.want)
		}
	}
}

// The URL and key come from the flags, then XENAGENT_URL and
// XENAGENT_KEY, then the agent's configuration: its listen address, and
// operator.key or the demo key file in its state_dir; never the current
// directory.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	conf := filepath.Join(dir, "xenagent.toml")
	os.WriteFile(conf, []byte("listen = \"0.0.0.0:9443\"\nstate_dir = \"state\"\n[libvirt]\nuri = \"test:///default\"\n"), 0o644)
	os.WriteFile(filepath.Join(state, "apikey"), []byte("demo-key\n"), 0o600)
	keyFile := filepath.Join(dir, "k")
	os.WriteFile(keyFile, []byte(" file-key \n"), 0o600)
	// A key in the current directory is never taken.
	t.Chdir(dir)
	os.MkdirAll("var", 0o700)
	os.WriteFile("var/apikey", []byte("cwd-key"), 0o600)
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	missing := filepath.Join(dir, "none.toml")
	for _, tc := range []struct {
		name     string
		o        options
		env      func(string) string
		url, key string
		err      string
	}{
		{"flags win", options{url: "http://a/", key: "flag-key", config: conf}, env("XENAGENT_URL", "http://b/", "XENAGENT_KEY", "env-key"), "http://a/", "flag-key", ""},
		{"environment", options{config: conf}, env("XENAGENT_URL", "http://b/", "XENAGENT_KEY", "env-key"), "http://b/", "env-key", ""},
		{"key file", options{keyFile: keyFile, config: missing}, env(), "http://127.0.0.1:8080/xmlrpc/", "file-key", ""},
		{"from the config: demo key", options{config: conf}, env(), "http://127.0.0.1:9443/xmlrpc/", "demo-key", ""},
		{"no config, no key", options{config: missing}, env(), "", "", "none.toml: no such file"},
		{"missing key file", options{keyFile: filepath.Join(dir, "nokey"), config: conf}, env(), "", "", "-key-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolve(tc.o, tc.env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("resolve = %+v, %v; want an error saying %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got.url != tc.url || got.key != tc.key {
				t.Errorf("resolve = %+v, %v; want %s %s", got, err, tc.url, tc.key)
			}
		})
	}
	// operator.key, when the operator put one there, comes before the demo key.
	os.WriteFile(filepath.Join(state, operatorKeyFile), []byte("op-key\n"), 0o600)
	if got, err := resolve(options{config: conf}, env()); err != nil || got.key != "op-key" {
		t.Errorf("with operator.key: %+v, %v; want op-key", got, err)
	}
}

// A table cell: "-" for nothing (nil, "", an empty list), lists joined,
// times in UTC to the second, whole doubles without a fraction.
func TestCell(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, "-"}, {"", "-"}, {[]any{}, "-"}, {[]any{int64(1), int64(10)}, "1,10"}, {"x", "x"},
		{time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600)), "2026-01-02 02:04:05"},
		{float64(12.5), "12.5"}, {float64(3), "3"}, {int64(7), "7"}, {true, "true"},
	} {
		if got := cell(tc.v); got != tc.want {
			t.Errorf("cell(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
