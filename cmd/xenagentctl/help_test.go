package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

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

// A wrong command line exits 2, as man xenagentctl says for an unknown
// command, before anything is sent: a verb the noun does not take, or
// none. A bad id is a wrong argument, exit 1.
func TestCommandLineMisuse(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	c := &client{url: srv.URL, key: "k", hc: srv.Client()}
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
		{[]string{"vm", "stop", "x"}, 1, `"x" is not an id`},
		{[]string{"vm", "stop"}, 1, "an id is required"},
	} {
		err := run(context.Background(), c, tc.args, &bytes.Buffer{})
		if err == nil || exitCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("xenagentctl %q: %v (exit %d); want exit %d and %q", tc.args, err, exitCode(err), tc.code, tc.msg)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d requests were sent for wrong command lines", n)
	}
}

// vm stop -wait prints the queued operation and its end, each line
// without a trailing space when there is no last_error, and the error
// when there is one.
func TestStopWaitOutput(t *testing.T) {
	lastError := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, err := xmlrpc.DecodeCall(r.Body)
		if err != nil {
			t.Errorf("decoding the call: %v", err)
			return
		}
		var v any
		switch call.Method {
		case "hosting.vm.stop":
			v = map[string]any{"id": int64(7), "type": "vm_stop", "step": "WAIT", "last_error": ""}
		case "operation.info":
			step := "DONE"
			if lastError != "" {
				step = "ERROR"
			}
			v = map[string]any{"id": int64(7), "type": "vm_stop", "step": step, "last_error": lastError}
		default:
			t.Errorf("unexpected call %s", call.Method)
		}
		b, _ := xmlrpc.EncodeResponse(v)
		w.Write(b)
	}))
	defer srv.Close()
	c := &client{url: srv.URL, key: "k", hc: srv.Client()}
	var out bytes.Buffer
	if err := run(context.Background(), c, []string{"vm", "stop", "1", "-wait"}, &out); err != nil {
		t.Fatal(err)
	}
	if want := "operation 7 vm_stop WAIT\noperation 7 vm_stop DONE\n"; out.String() != want {
		t.Errorf("vm stop 1 -wait printed %q, want %q", out.String(), want)
	}
	lastError = "domain refused to stop"
	out.Reset()
	err := run(context.Background(), c, []string{"vm", "stop", "1", "-wait"}, &out)
	if want := "operation 7 vm_stop WAIT\noperation 7 vm_stop ERROR domain refused to stop\n"; err == nil || exitCode(err) != 1 || out.String() != want {
		t.Errorf("vm stop 1 -wait ending in ERROR: %v, printed %q, want exit 1 and %q", err, out.String(), want)
	}
}
