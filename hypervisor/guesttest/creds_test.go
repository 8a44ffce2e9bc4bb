package guesttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/storage/nocloud"
)

// The guest's shell (busybox, as in the initramfs) and CredsDigest agree
// on a seed's user-data, and the digest moves with the password or a key.
func TestCredsDigest(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox: install busybox-static")
	}
	hash := "$6$abc$ytzHHKmN/RzrR1kwstQ87XMZQX9EjV4YuC.Syw1WU1aA6a9eEXr.n7.G3L/LLJmNu.OWd1amMvwlpwfSEB7o1."
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJemSO4cJYnMqTYNq8aP104yPPUl0HGk3+1VQ69OpS5 test@x"
	seen := map[string]string{}
	for _, tc := range []struct {
		name   string
		spec   host.SeedSpec
		hashes []string
		keys   []string
	}{
		{"nothing", host.SeedSpec{InstanceID: "i", Hostname: "h"}, nil, nil},
		{"password", host.SeedSpec{InstanceID: "i", Hostname: "h", PasswordHash: hash}, []string{hash}, nil},
		{"password and login", host.SeedSpec{InstanceID: "i", Hostname: "h", Login: "alice", PasswordHash: hash, Again: true}, []string{hash}, nil},
		{"key", host.SeedSpec{InstanceID: "i", Hostname: "h", AuthorizedKeys: []string{key}}, nil, []string{key}},
		{"both", host.SeedSpec{InstanceID: "i", Hostname: "h", PasswordHash: hash, AuthorizedKeys: []string{key, "ecdsa-sha2-nistp256 AAAAE2 b"}, Again: true},
			[]string{hash}, []string{"ecdsa-sha2-nistp256 AAAAE2 b", key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := nocloud.Files(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "user-data")
			os.WriteFile(path, files["user-data"], 0o644)
			out, err := exec.Command(bb, "sh", "-c", "creds() { "+CredsScript+"; }; creds "+path).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			got, want := strings.TrimSpace(string(out)), CredsDigest(tc.hashes, tc.keys)
			if got != want {
				t.Errorf("guest digest %s, CredsDigest %s; user-data:\n%s", got, want, files["user-data"])
			}
			seen[want] = tc.name
		})
	}
	if len(seen) != 4 { // "password and login" gives what "password" does
		t.Errorf("digests do not tell the credentials apart: %v", seen)
	}
}
