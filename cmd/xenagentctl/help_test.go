package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/xmlrpc"
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
		{[]string{"host", "--help"}, "hosting.host.info"},
		{[]string{"call", "--help"}, "xenagentctl call METHOD"},
		{[]string{"call", "hosting.vm.list", "--help"}, ""},
		{[]string{"call", "hosting.vm.list", "help"}, ""},
		{[]string{"version", "--help"}, "client's"},
		{[]string{"vm", "rebuild", "--help"}, "xenagentctl vm rebuild ID (-image N | -disk N) [-no-start] [-wait]"},
		{[]string{"help", "iso"}, "xenagentctl iso list [--label LABEL]"},
		{[]string{"iface", "firewall", "-h"}, "xenagentctl iface firewall ID -policy drop|accept [-rule RULE]... [-wait]"},
		{[]string{"vm", "migrate", "--help"}, "xenagentctl vm migrate ID -to URL -to-key-file FILE"},
		{[]string{"host", "empty", "-h"}, "xenagentctl host empty -to URL -to-key-file FILE [-parallel N]"},
		{[]string{"call", "hosting.vm.boot_type", "1", "cdrom"}, ""},
		{[]string{"vm", "list"}, ""},
		{[]string{"op", "wait", "1", "2"}, ""},
	} {
		text, ok := wantsHelp(tc.args)
		if ok != (tc.want != "") || !strings.Contains(text, tc.want) {
			t.Errorf("wantsHelp(%q) = %v, %q; want help containing %q", tc.args, ok, text, tc.want)
		}
	}
}

// Every command is in the overview, and its own help starts with its
// usage and gives examples; the overview documents the environment and
// the configuration the key is found from.
func TestEveryVerbDocumented(t *testing.T) {
	all := overview()
	for _, want := range []string{"XENAGENT_URL", "XENAGENT_KEY", "-config FILE", defaultConfig, "operator.key", "-o table|json", "examples:"} {
		if !strings.Contains(all, want) {
			t.Errorf("the overview does not mention %q", want)
		}
	}
	if strings.Contains(all, `\t`) {
		t.Errorf("a summary has a backslash-t where a tab was meant:\n%s", all)
	}
	for name, v := range verbs {
		if !strings.HasPrefix(v.help, "usage: xenagentctl "+name) {
			t.Errorf("help of %s does not start with its usage line", name)
		}
		if !strings.Contains(v.help, "\nexamples:\n  xenagentctl ") {
			t.Errorf("help of %s gives no examples", name)
		}
		if !strings.Contains(all, "\n  "+name) {
			t.Errorf("the overview does not list %s", name)
		}
	}
}

// A wrong command line exits 2, as man xenagentctl says for an unknown
// command, before anything is sent: a verb the noun does not take, or
// none, an unknown flag, a page out of range. A bad id is a wrong
// argument, exit 1.
func TestCommandLineMisuse(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	e := &env{c: &client{url: srv.URL, key: "k", hc: srv.Client()}, out: &bytes.Buffer{}}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"vm", "frob"}, 2, `unknown command "vm frob": vm takes list, info, start, stop, reboot, delete`},
		{[]string{"vm"}, 2, "vm: a subcommand is required (xenagentctl help vm)"},
		{[]string{"disk"}, 2, "disk: a subcommand is required"},
		{[]string{"disk", "start", "1"}, 2, `unknown command "disk start"`},
		{[]string{"op", "reboot", "1"}, 2, `unknown command "op reboot"`},
		{[]string{"call"}, 2, "call: a METHOD is required"},
		{[]string{"call", "-wait"}, 2, "call: a METHOD is required"},
		{[]string{"vm", "list", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"vm", "list", "--limit", "0"}, 2, "--limit 0: must be between 1 and 500"},
		{[]string{"op", "list", "--page", "0"}, 2, "pages count from 1"},
		{[]string{"op", "list", "--vm", "x"}, 2, `--vm: "x" is not an id`},
		{[]string{"vm", "list", "running"}, 2, `unexpected "running"`},
		{[]string{"vm", "rebuild", "1"}, 2, "vm rebuild: -image N or -disk N is required"},
		{[]string{"vm", "rebuild", "1", "-image", "3", "-disk", "4"}, 2, "vm rebuild: -image and -disk: give one, not both"},
		{[]string{"vm", "rebuild", "1", "-image", "0"}, 2, "vm rebuild: -image 0: not an id"},
		{[]string{"vm", "rebuild", "1", "-disk", "web"}, 2, `invalid value "web" for flag -disk`},
		{[]string{"vm", "rebuild", "-image", "3"}, 1, "an id is required"},
		{[]string{"vm", "reset-password", "1", "2"}, 1, "one id is expected"},
		{[]string{"vm", "boot-type", "1", "floppy"}, 2, `vm boot-type: "floppy": the boot type is default (the system disk) or cdrom`},
		{[]string{"vm", "boot-type", "1"}, 2, "vm boot-type: an ID and default or cdrom are required"},
		{[]string{"vm", "iso"}, 2, "vm iso: a subcommand is required"},
		{[]string{"vm", "iso", "eject", "1"}, 2, `unknown command "vm iso eject": vm iso takes attach, detach`},
		{[]string{"vm", "iso", "attach", "1"}, 2, "vm iso attach: a VM ID and an ISO_ID are required"},
		{[]string{"vm", "iso", "attach", "1", "rescue"}, 1, `"rescue" is not an id`},
		{[]string{"iso", "list", "rescue"}, 2, `iso list: unexpected "rescue"`},
		{[]string{"iface"}, 2, "iface: a subcommand is required"},
		{[]string{"iface", "firewall", "7", "-policy", "reject"}, 2, `iface firewall: -policy "reject": must be drop or accept`},
		{[]string{"iface", "firewall", "7", "-rule", "tcp 22 accept"}, 2, "iface firewall: -rule needs -policy drop|accept"},
		{[]string{"iface", "firewall", "7", "-policy", "drop", "-rule", "tcp 22 allow"}, 2, `invalid value "tcp 22 allow" for flag -rule: "tcp 22 allow": action "allow"`},
		{[]string{"iface", "firewall", "7", "-clear", "-policy", "drop"}, 2, "-clear removes the firewall: give it alone"},
		{[]string{"iface", "firewall", "7", "-wait"}, 2, "-wait follows a change"},
		{[]string{"iface", "firewall", "-policy", "drop"}, 1, "an id is required"},
		{[]string{"disk", "list", "--can-snapshot", "yes"}, 2, `disk list: --can-snapshot: "yes": must be true or false`},
		{[]string{"disk", "list", "-date-created", "12/03/2026"}, 2, `disk list: --date-created: "12/03/2026": must be a day, YYYY-MM-DD`},
		{[]string{"vm", "list", "-o", "yaml"}, 2, "must be table or json"},
		{[]string{"host", "1"}, 2, `host: unexpected "1"`},
		{[]string{"vm", "migrate", "1"}, 2, "vm migrate: -to URL is required: the target agent"},
		{[]string{"vm", "migrate", "1", "-to", "https://h2"}, 2, "vm migrate: -to-key-file FILE is required: the target's operator key"},
		{[]string{"vm", "migrate", "1", "-to", "h2:8443", "-to-key-file", "k"}, 2, `vm migrate: -to "h2:8443": must be the target agent's URL`},
		{[]string{"vm", "migrate", "1", "-to", "https://h2", "-to-key-file", "k", "-same-network", "maybe"}, 2, `-same-network "maybe": must be auto, yes or no`},
		{[]string{"vm", "migrate", "1", "-to", "https://h2", "-to-key-file", "k", "-account", "-1"}, 2, "vm migrate: -account -1: not an id"},
		{[]string{"vm", "migrate", "1", "-to", "https://h2", "-to-key-file", "k", "-cold", "-live"}, 2, "vm migrate: -cold and -live: a move is one or the other"},
		{[]string{"vm", "migrate", "-to", "https://h2", "-to-key-file", "k"}, 1, "an id is required"},
		{[]string{"disk", "migrate", "4", "-to", "https://h2", "-to-key-file", "/nonexistent/k"}, 1, "-to-key-file: open /nonexistent/k"},
		{[]string{"iface", "migrate", "7"}, 2, "iface migrate: -to URL is required"},
		{[]string{"host", "empty"}, 2, "host empty: -to URL is required"},
		{[]string{"host", "empty", "now"}, 2, `host empty: unexpected "now"`},
		{[]string{"host", "empty", "-to", "https://h2", "-to-key-file", "k", "-parallel", "0"}, 2, "host empty: -parallel 0: must be from 1 to 16"},
		{[]string{"nonsense"}, 2, `unknown command "nonsense"`},
		{[]string{"vm", "stop", "x"}, 1, `"x" is not an id`},
		{[]string{"vm", "stop"}, 1, "an id is required"},
		{[]string{"vm", "stop", "1", "2"}, 1, "one id is expected"},
		{[]string{"call", "hosting.vm.update", "1", `{"memory": 1024`}, 1, `argument "{\"memory\": 1024" is not JSON`},
	} {
		err := run(context.Background(), e, tc.args)
		if err == nil || exitCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("xenagentctl %q: %v (exit %d); want exit %d and %q", tc.args, err, exitCode(err), tc.code, tc.msg)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d requests were sent for wrong command lines", n)
	}
}

// vm stop -wait prints the queued operation and its end on stdout, each
// line without a trailing space when there is no last_error, and the
// error when there is one; the progress goes to stderr, one line per
// step when it is not a terminal, with the ETA from the latest finished
// operations of the type.
func TestStopWaitOutput(t *testing.T) {
	lastError := ""
	infos := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, err := xmlrpc.DecodeCall(r.Body)
		if err != nil {
			t.Errorf("decoding the call: %v", err)
			return
		}
		start := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
		var v any
		switch call.Method {
		case "hosting.vm.stop":
			infos = 0
			v = map[string]any{"id": int64(7), "type": "vm_stop", "step": "WAIT", "last_error": ""}
		case "operation.list":
			v = []any{
				map[string]any{"id": int64(5), "type": "vm_stop", "step": "DONE", "date_start": start, "date_updated": start.Add(10 * time.Second)},
				map[string]any{"id": int64(3), "type": "vm_stop", "step": "DONE", "date_start": start, "date_updated": start.Add(20 * time.Second)},
			}
		case "operation.info":
			infos++
			step := "RUN"
			if infos > 2 {
				step = "DONE"
				if lastError != "" {
					step = "ERROR"
				}
			}
			v = map[string]any{"id": int64(7), "type": "vm_stop", "step": step, "last_error": lastError, "date_start": start}
		default:
			t.Errorf("unexpected call %s", call.Method)
		}
		b, _ := xmlrpc.EncodeResponse(v)
		w.Write(b)
	}))
	defer srv.Close()
	var out, status bytes.Buffer
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := &env{c: &client{url: srv.URL, key: "k", hc: srv.Client()}, out: &out, status: &status, poll: time.Millisecond,
		now: func() time.Time { return clock }}
	if err := run(context.Background(), e, []string{"vm", "stop", "1", "-wait"}); err != nil {
		t.Fatal(err)
	}
	if want := "operation 7 vm_stop WAIT\noperation 7 vm_stop DONE\n"; out.String() != want {
		t.Errorf("vm stop 1 -wait printed %q, want %q", out.String(), want)
	}
	if want := "operation 7 vm_stop RUN, 5s elapsed, ETA 10s (average of 2 vm_stop)\n"; status.String() != want {
		t.Errorf("vm stop 1 -wait showed %q on stderr, want %q", status.String(), want)
	}
	lastError = "domain refused to stop"
	out.Reset()
	err := run(context.Background(), e, []string{"vm", "stop", "-wait", "1"})
	if want := "operation 7 vm_stop WAIT\noperation 7 vm_stop ERROR domain refused to stop\n"; err == nil || exitCode(err) != 1 || out.String() != want {
		t.Errorf("vm stop -wait 1 ending in ERROR: %v, printed %q, want exit 1 and %q", err, out.String(), want)
	}
}
