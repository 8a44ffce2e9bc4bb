package main

import (
	"strings"
	"testing"
)

// Every command answers --help (and its spellings) with its own text,
// before any key is needed; a call's JSON arguments are never taken
// for a help request.
func TestWantsHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // a line of the text expected; "" means no help
	}{
		{[]string{"--help"}, "usage: xenagentctl [FLAGS]"},
		{[]string{"help"}, "usage: xenagentctl [FLAGS]"},
		{[]string{"help", "vm"}, "xenagentctl vm start|stop|reboot|delete ID [-wait]"},
		{[]string{"help", "nonsense"}, "usage: xenagentctl [FLAGS]"},
		{[]string{"vm", "--help"}, "xenagentctl vm start|stop|reboot|delete ID [-wait]"},
		{[]string{"vm", "stop", "-h"}, "xenagentctl vm start|stop|reboot|delete ID [-wait]"},
		{[]string{"disk", "help"}, "xenagentctl disk info ID"},
		{[]string{"op", "-help"}, "xenagentctl op wait ID..."},
		{[]string{"call", "--help"}, "xenagentctl call METHOD"},
		{[]string{"call", "hosting.vm.list", "--help"}, ""},
		{[]string{"call", "hosting.vm.list", "help"}, ""},
		{[]string{"version", "--help"}, "client's"},
		{[]string{"vm", "list"}, ""},
		{[]string{"op", "wait", "1", "2"}, ""},
	} {
		text, ok := wantsHelp(tc.args)
		if ok != (tc.want != "") || !strings.Contains(text, tc.want) {
			t.Errorf("wantsHelp(%q) = %v, %q; want help containing %q", tc.args, ok, text, tc.want)
		}
	}
	for cmd, text := range help {
		if !strings.HasPrefix(text, "usage: xenagentctl") {
			t.Errorf("help[%q] does not start with a usage line", cmd)
		}
	}
}
