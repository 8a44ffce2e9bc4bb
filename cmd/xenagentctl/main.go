// Command xenagentctl is the operator's client for the agent's API.
//
//	xenagentctl [-url URL] [-key KEY | -key-file FILE] COMMAND
//	xenagentctl help [COMMAND] | -version
//
//	vm list | vm info ID | vm start|stop|reboot|delete ID [-wait]
//	disk list | disk info ID
//	op list | op info ID | op wait ID... | op cancel ID
//	call METHOD [JSON-ARG...]     any method; the key is added first
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

type client struct {
	url string
	key string
	hc  *http.Client
}

func (c *client) call(ctx context.Context, method string, params ...any) (any, error) {
	body, err := xmlrpc.EncodeCall(method, append([]any{c.key}, params...)...)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return xmlrpc.DecodeResponse(resp.Body)
}

// wait polls operation.info until the operation reaches a final step.
func (c *client) wait(ctx context.Context, id int64) (map[string]any, error) {
	for {
		v, err := c.call(ctx, "operation.info", id)
		if err != nil {
			return nil, err
		}
		op := v.(map[string]any)
		switch op["step"] {
		case "DONE", "ERROR", "CANCEL":
			return op, nil
		}
		select {
		case <-ctx.Done():
			return op, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Where the key is looked for when neither -key nor -key-file is given:
// make run's state dir, then the package's (the demo account's key).
var defaultKeyFiles = []string{"var/apikey", "/var/lib/xenagent/apikey"}

func main() {
	url := flag.String("url", envOr("XENAGENT_URL", "http://127.0.0.1:8080/xmlrpc/"), "API endpoint")
	key := flag.String("key", os.Getenv("XENAGENT_KEY"), "API key")
	keyFile := flag.String("key-file", "", "file holding the API key, when -key is empty")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	showVersion := flag.Bool("version", false, "print this client's version and exit")
	// Help is asked for, not an error: stdout, exit 0 (flag exits 0 on -h).
	flag.Usage = func() { fmt.Fprint(os.Stdout, help[""]) }
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	if len(flag.Args()) == 0 {
		fmt.Fprint(os.Stderr, help[""])
		os.Exit(2)
	}
	if text, ok := wantsHelp(flag.Args()); ok {
		fmt.Print(text)
		return
	}
	if _, ok := help[flag.Arg(0)]; !ok {
		fmt.Fprintf(os.Stderr, "xenagentctl: unknown command %q (xenagentctl help)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *key == "" {
		raw, err := readKey(*keyFile)
		if err != nil {
			fatal(fmt.Errorf("no key: pass -key, -key-file or XENAGENT_KEY (%v)", err))
		}
		*key = strings.TrimSpace(string(raw))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := &client{url: *url, key: *key, hc: &http.Client{Timeout: time.Minute}}
	if err := run(ctx, c, flag.Args(), os.Stdout); err != nil {
		fatal(err)
	}
}

// usageError is a wrong command line (an unknown or missing subcommand):
// exit 2, as man xenagentctl says, where a fault or a bad id exits 1.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

func readKey(path string) ([]byte, error) {
	if path != "" {
		return os.ReadFile(path)
	}
	var err error
	for _, p := range defaultKeyFiles {
		var b []byte
		if b, err = os.ReadFile(p); err == nil {
			return b, nil
		}
	}
	return nil, err
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }

// wantsHelp says whether args ask for help, and which text answers.
// Only the words before call's arguments count: those are the method's.
func wantsHelp(args []string) (string, bool) {
	if isHelp(args[0]) {
		if len(args) > 1 {
			if text, ok := help[args[1]]; ok {
				return text, true
			}
		}
		return help[""], true
	}
	text, known := help[args[0]]
	if !known {
		return "", false
	}
	words := args[1:]
	if args[0] == "call" && len(words) > 1 {
		words = words[:1]
	}
	for _, a := range words {
		if isHelp(a) {
			return text, true
		}
	}
	return "", false
}

// help is each command's text (man xenagentctl says more); "" is the summary.
var help = map[string]string{
	"": `usage: xenagentctl [FLAGS] COMMAND [ARGS]

The operator's client for xenagent's XML-RPC API.

commands:
  vm list | vm info ID | vm start|stop|reboot|delete ID [-wait]
  disk list | disk info ID
  op list | op info ID | op wait ID... | op cancel ID
  call METHOD [JSON-ARG...]   any API method; the key is added first
  version                     the agent's version.info
  help [COMMAND]              this, or a command's help

flags:
  -url URL        API endpoint (default $XENAGENT_URL or
                  http://127.0.0.1:8080/xmlrpc/)
  -key KEY        API key (default $XENAGENT_KEY)
  -key-file FILE  file holding the key, when -key is empty (default
                  var/apikey, then /var/lib/xenagent/apikey)
  -timeout D      give up after this long (default 10m0s)
  -version        print this client's version
`,
	"vm": `usage: xenagentctl vm list
       xenagentctl vm info ID
       xenagentctl vm start|stop|reboot|delete ID [-wait]

list prints a table, info the VM as JSON. start, stop, reboot and delete
print the operation they queued; with -wait, wait until it is DONE (exit 1
if it ends in ERROR or CANCEL).
`,
	"disk": `usage: xenagentctl disk list
       xenagentctl disk info ID

list prints a table, info the disk as JSON.
`,
	"op": `usage: xenagentctl op list
       xenagentctl op info ID
       xenagentctl op wait ID...
       xenagentctl op cancel ID

wait polls each operation until it finishes and exits 1 unless all are DONE.
`,
	"call": `usage: xenagentctl call METHOD [JSON-ARG...]

Calls any API method with the key as first parameter and the arguments,
each a JSON value (whole numbers become integers), and prints the result
as JSON. Example:
  xenagentctl call hosting.vm.list '{"state": "running"}'
`,
	"version": `usage: xenagentctl version

Prints the agent's version.info (xenagentctl -version prints the client's).
`,
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func fatal(err error) {
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		fmt.Fprintf(os.Stderr, "xenagentctl: fault %d: %s\n", f.Code, f.Message)
	} else {
		fmt.Fprintln(os.Stderr, "xenagentctl:", err)
	}
	os.Exit(exitCode(err))
}

func ids(args []string) ([]int64, error) {
	var out []int64
	for _, a := range args {
		if a == "-wait" {
			continue
		}
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an id", a)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("an id is required")
	}
	return out, nil
}

func run(ctx context.Context, c *client, args []string, out io.Writer) error {
	if len(args) == 0 {
		return &usageError{"a command is required (xenagentctl help)"}
	}
	if len(args) < 2 && !(len(args) == 1 && args[0] == "version") {
		what := "a subcommand"
		if args[0] == "call" {
			what = "a METHOD"
		}
		return &usageError{fmt.Sprintf("%s: %s is required (xenagentctl help %s)", args[0], what, args[0])}
	}
	switch args[0] {
	case "console": // console.go
		return runConsole(ctx, c, c.hc, args[1:], os.Stdin, os.Stdout, os.Stderr)
	case "version":
		return show(ctx, c, out, "version.info")
	case "vm", "disk", "op":
		noun := map[string]string{"vm": "hosting.vm", "disk": "hosting.disk", "op": "operation"}[args[0]]
		// Only the verbs help lists: another would be sent to the API
		// as a method name and come back as a fault, exit 1.
		verbs := map[string][]string{"vm": {"list", "info", "start", "stop", "reboot", "delete"},
			"disk": {"list", "info"}, "op": {"list", "info", "wait", "cancel"}}[args[0]]
		if !contains(verbs, args[1]) {
			return &usageError{fmt.Sprintf("unknown command %q: %s takes %s (xenagentctl help %s)",
				strings.Join(args[:2], " "), args[0], strings.Join(verbs, ", "), args[0])}
		}
		switch verb := args[1]; verb {
		case "list":
			// The newest first, as many as a page holds: a host keeps a
			// week of operations, and the oldest 100 are not what an
			// operator looks for. Shown in id order below.
			v, err := c.call(ctx, noun+".list", map[string]any{"items_per_page": int64(500), "sort_by": "-id"})
			if err != nil {
				return err
			}
			return table(out, v.([]any), map[string][]string{
				"vm":   {"id", "hostname", "state", "memory", "cores", "disks_id", "ifaces_id"},
				"disk": {"id", "name", "size", "state", "type", "vms_id"},
				"op":   {"id", "type", "step", "vm_id", "disk_id", "iface_id", "last_error"},
			}[args[0]])
		case "info":
			id, err := ids(args[2:])
			if err != nil {
				return err
			}
			return show(ctx, c, out, noun+".info", id[0])
		case "wait":
			idl, err := ids(args[2:])
			if err != nil {
				return err
			}
			for _, id := range idl {
				op, err := c.wait(ctx, id)
				if err != nil {
					return err
				}
				line := fmt.Sprintf("operation %d %v %v", id, op["type"], op["step"])
				if e, _ := op["last_error"].(string); e != "" {
					line += " " + e
				}
				fmt.Fprintln(out, line)
				if op["step"] != "DONE" {
					return fmt.Errorf("operation %d ended in %s", id, op["step"])
				}
			}
			return nil
		case "cancel":
			id, err := ids(args[2:])
			if err != nil {
				return err
			}
			return show(ctx, c, out, "operation.cancel", id[0])
		case "start", "stop", "reboot", "delete":
			id, err := ids(args[2:])
			if err != nil {
				return err
			}
			v, err := c.call(ctx, noun+"."+verb, id[0])
			if err != nil {
				return err
			}
			op := v.(map[string]any)
			fmt.Fprintf(out, "operation %v %v %v\n", op["id"], op["type"], op["step"])
			if contains(args, "-wait") {
				return run(ctx, c, []string{"op", "wait", fmt.Sprint(op["id"])}, out)
			}
			return nil
		}
	case "call":
		var params []any
		for _, a := range args[2:] {
			var v any
			if err := json.Unmarshal([]byte(a), &v); err != nil {
				return fmt.Errorf("argument %q is not JSON: %w", a, err)
			}
			params = append(params, fromJSON(v))
		}
		return show(ctx, c, out, args[1], params...)
	}
	return &usageError{fmt.Sprintf("unknown command %q (xenagentctl help)", strings.Join(args, " "))}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fromJSON turns JSON numbers into integers where they are whole.
func fromJSON(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	case []any:
		for i := range x {
			x[i] = fromJSON(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = fromJSON(x[k])
		}
	}
	return v
}

func show(ctx context.Context, c *client, out io.Writer, method string, params ...any) error {
	v, err := c.call(ctx, method, params...)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(out, string(b))
	return nil
}

func table(out io.Writer, rows []any, cols []string) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	id := func(r any) int64 { n, _ := r.(map[string]any)["id"].(int64); return n }
	sort.SliceStable(rows, func(i, j int) bool { return id(rows[i]) < id(rows[j]) })
	for _, r := range rows {
		m := r.(map[string]any)
		cells := make([]string, len(cols))
		for i, c := range cols {
			if m[c] == nil {
				cells[i] = "-"
			} else {
				cells[i] = fmt.Sprint(m[c])
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
