// Package testenv is how tests say what they need from the machine
// (root, a tool): they skip and say why, and under make test, which sets
// XENAGENT_REQUIRE_ROOT=1 and installs everything, they fail instead.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Root needs the test to run as root, for what (a loop device, a namespace).
func Root(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "needs root "+what)
	}
}

// Tool needs a program on PATH, installed by make deps from pkg.
func Tool(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		missing(t, "needs "+name+" ("+pkg+"; make deps installs it)")
	}
}

// Missing skips the test for why (something the machine lacks), or fails
// it under make test, as Root and Tool do.
func Missing(t testing.TB, why string) {
	t.Helper()
	missing(t, why)
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("XENAGENT_REQUIRE_ROOT") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}
