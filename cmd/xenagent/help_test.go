package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Each command's --help is usable: its own text on stdout and exit 0, as
// the man page and the package's install check rely on; a wrong command
// line still exits 2 with the usage on stderr.
func TestHelpAndExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent")
	}
	bin := filepath.Join(t.TempDir(), "xenagent")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=1.2.3-test", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string // contained in stdout
		stderr string // contained in stderr
	}{
		{[]string{"--help"}, 0, "commands:", ""},
		{[]string{"help"}, 0, "check-config [--config FILE]", ""},
		{[]string{"-h"}, 0, "usage: xenagent COMMAND", ""},
		{[]string{"serve", "--help"}, 0, "--listen HOST:PORT", ""},
		{[]string{"adopt", "--help"}, 0, "--account ID", ""},
		{[]string{"check-config", "--help"}, 0, "exits 2", ""},
		{[]string{"new-instance", "--help"}, 0, "re-marks nothing", ""},
		{[]string{"new-instance", "--bogus"}, 2, "", "usage: xenagent new-instance"},
		{[]string{"hash-key", "--help"}, 0, "key_sha256", ""},
		{[]string{"version", "--help"}, 0, "usage: xenagent version", ""},
		{[]string{"version"}, 0, "1.2.3-test", ""},
		{[]string{"--version"}, 0, "1.2.3-test", ""},
		{[]string{"check-config", "--config", "../../deploy/xenagent.example.toml"}, 0, "xenagent.example.toml: ok", ""},
		{[]string{"check-config", "--config", "/nonexistent/x.toml"}, 2, "", "/nonexistent/x.toml"},
		{[]string{}, 2, "", "usage: xenagent COMMAND"},
		{[]string{"bogus"}, 2, "", `unknown command "bogus"`},
		{[]string{"bogus", "--help"}, 2, "", `unknown command "bogus"`},
		{[]string{"serve", "--bogus"}, 2, "", "usage: xenagent serve"},
		// hash-key without a key says how to give one, not every command.
		{[]string{"hash-key"}, 2, "", "usage: xenagent hash-key KEY\n       xenagent hash-key -\n"},
		{[]string{"hash-key", "a", "b"}, 2, "", "usage: xenagent hash-key KEY"},
		{[]string{"hash-key", ""}, 2, "", "KEY: must not be empty"},
		{[]string{"hash-key", "secret-key"}, 0, secretHash, ""},
		// Listing needs no account; adopting does, and lacking it is a
		// wrong command line (exit 2), told before any file is opened.
		{[]string{"adopt", "--help"}, 0, "usage: xenagent adopt [--config FILE]\n       xenagent adopt [--config FILE] --account ID VOLUME...", ""},
		{[]string{"adopt", "--config", "/nonexistent/x.toml", "xa-disk-7"}, 2, "", "--account: the id of the account the disks go to is required"},
	} {
		cmd := exec.Command(bin, tc.args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
			t.Errorf("xenagent %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}

// The SHA-256 of "secret-key".
const secretHash = "85dbe15d75ef9308c7ae0f33c7a324cc6f4bf519a2ed2f3027bd33c140a4f9aa"

// hash-key - reads the key from stdin, one line, its newline not part of
// it: the same hash as the key given as an argument.
func TestHashKeyFromStdin(t *testing.T) {
	for _, tc := range []struct {
		stdin  string
		code   int
		stdout string
		stderr string
	}{
		{"secret-key\n", 0, secretHash + "\n", ""},
		{"secret-key", 0, secretHash + "\n", ""},
		{"secret-key\r\n", 0, secretHash + "\n", ""},
		{"", 2, "", "KEY: must not be empty"},
		{"\n", 2, "", "KEY: must not be empty"},
		{"secret-key\nanother\n", 2, "", "the key must be one line"},
		{strings.Repeat("k", 5000), 2, "", "at most 4096 bytes"},
	} {
		var out, errb bytes.Buffer
		code := hashKey([]string{"-"}, strings.NewReader(tc.stdin), &out, &errb)
		if code != tc.code || out.String() != tc.stdout || !strings.Contains(errb.String(), tc.stderr) {
			t.Errorf("hash-key - with stdin %q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
				tc.stdin, code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
