// Command xenagentctl is the operator's client for the agent's API.
//
//	xenagentctl [FLAGS] COMMAND [ARGS] [COMMAND FLAGS]
//	xenagentctl help [COMMAND] | -version
//
// Each command is a verb in the table below (verbs.go holds vm, disk,
// op, host, call and version). A command in a file of its own registers
// itself with one line, from that file:
//
//	func init() { register(consoleVerb) }
//
// and help lists it with its summary and text. Where the key and the URL
// come from is target.go; -wait's progress and ETA, wait.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// verb is one command.
type verb struct {
	name string
	// summary is its lines in the overview (xenagentctl help), each
	// starting with the name; a tab starts a line's description.
	summary string
	// help is its own text (xenagentctl help NAME, NAME --help): a usage
	// line, what it does, its flags and examples.
	help string
	// run runs it; args follow the name. A wrong command line is a
	// *usageError (exit 2, nothing sent).
	run func(ctx context.Context, e *env, args []string) error
	// rawArgs: the arguments are the command's own (call's JSON), so a
	// "help" among them is not a help request.
	rawArgs bool
}

// verbs is the command table, by name.
var verbs = map[string]*verb{}

// register adds a command to the table; a name taken twice is a bug.
func register(v *verb) {
	if _, dup := verbs[v.name]; dup {
		panic("xenagentctl: command " + v.name + " registered twice")
	}
	verbs[v.name] = v
}

// env is what a command runs with.
type env struct {
	c *client
	// out gets the result; status gets -wait's progress (stderr), which
	// rewrites one line when it is a terminal (tty).
	out    io.Writer
	status io.Writer
	tty    bool
	// json: -o json, the result as JSON instead of a table.
	json bool
	// poll is how often -wait asks (250ms; tests shorten it).
	poll time.Duration
	now  func() time.Time
	// label starts each progress line: "target: " while waiting on the
	// other agent of a move.
	label string
}

func main() {
	o := options{}
	flag.StringVar(&o.url, "url", "", "API endpoint")
	flag.StringVar(&o.key, "key", "", "API key")
	flag.StringVar(&o.keyFile, "key-file", "", "file holding the API key")
	flag.StringVar(&o.config, "config", defaultConfig, "the agent's configuration, where the URL and key file are found")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	format := flag.String("o", "table", "output: table or json")
	showVersion := flag.Bool("version", false, "print this client's version and exit")
	// Help is asked for, not an error: stdout, exit 0 (flag exits 0 on -h).
	flag.Usage = func() { fmt.Fprint(os.Stdout, overview()) }
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, overview())
		os.Exit(2)
	}
	if text, ok := wantsHelp(args); ok {
		fmt.Print(text)
		return
	}
	if _, ok := verbs[args[0]]; !ok {
		fmt.Fprintf(os.Stderr, "xenagentctl: unknown command %q (xenagentctl help)\n", args[0])
		os.Exit(2)
	}
	asJSON, err := parseFormat(*format)
	if err != nil {
		fatal(&usageError{err.Error()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	e := &env{c: lazyClient(func() (target, error) { return resolve(o, os.Getenv) }), out: os.Stdout, status: os.Stderr, tty: isTerminal(os.Stderr), json: asJSON,
		poll: 250 * time.Millisecond, now: time.Now}
	if err := run(ctx, e, args); err != nil {
		cancel()
		fatal(err)
	}
}

// run runs the command args name.
func run(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return &usageError{"a command is required (xenagentctl help)"}
	}
	v, ok := verbs[args[0]]
	if !ok {
		return &usageError{fmt.Sprintf("unknown command %q (xenagentctl help)", args[0])}
	}
	if e.poll == 0 {
		e.poll = 250 * time.Millisecond
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.status == nil {
		e.status = io.Discard
	}
	return v.run(ctx, e, args[1:])
}

// usageError is a wrong command line (an unknown or missing subcommand,
// an unknown flag): exit 2, as man xenagentctl says, where a fault or a
// bad id exits 1.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
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

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }

// wantsHelp says whether args ask for help, and which text answers.
// Only the words before call's arguments count: those are the method's.
func wantsHelp(args []string) (string, bool) {
	if isHelp(args[0]) {
		if len(args) > 1 {
			if v, ok := verbs[args[1]]; ok {
				return v.help, true
			}
		}
		return overview(), true
	}
	v, known := verbs[args[0]]
	if !known {
		return "", false
	}
	words := args[1:]
	if v.rawArgs && len(words) > 1 {
		words = words[:1]
	}
	for _, a := range words {
		if isHelp(a) {
			return v.help, true
		}
	}
	return "", false
}

// overview is the summary help: every command, the flags, the
// environment and where the key is found.
func overview() string {
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(`usage: xenagentctl [FLAGS] COMMAND [ARGS] [COMMAND FLAGS]

The operator's client for xenagent's XML-RPC API.

commands:
`)
	// A tab in a summary line starts its description; descriptions are
	// lined up after the longest usage that has one.
	lines := []string{}
	for _, n := range names {
		lines = append(lines, strings.Split(strings.TrimRight(verbs[n].summary, "\n"), "\n")...)
	}
	lines = append(lines, "help [COMMAND]\tthis, or a command's help with examples")
	width := 0
	for _, l := range lines {
		if usage, _, ok := strings.Cut(l, "\t"); ok {
			width = max(width, len(usage))
		}
	}
	for _, l := range lines {
		if usage, desc, ok := strings.Cut(l, "\t"); ok {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, usage, desc)
		} else {
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteString(`
flags (before the command; -o also after it):
  -config FILE    the agent's configuration (default ` + defaultConfig + `):
                  the URL comes from its listen address, the key from
                  operator.key in its state_dir, else its [demo] key_file
  -url URL        API endpoint (default $XENAGENT_URL, else from -config,
                  else http://127.0.0.1:8080/xmlrpc/)
  -key KEY        API key (default $XENAGENT_KEY)
  -key-file FILE  file holding the key, when -key and $XENAGENT_KEY are empty
  -o table|json   output: a table (lists) or JSON (default table)
  -timeout D      give up after this long (default 10m0s)
  -version        print this client's version

environment:
  XENAGENT_URL    the API endpoint, when -url is not given
  XENAGENT_KEY    the API key, when -key is not given

examples:
  xenagentctl vm list --state running --limit 20
  xenagentctl vm stop 12 -wait
  xenagentctl op list --type vm_create --page 2
  xenagentctl -o json host
  XENAGENT_KEY=... xenagentctl -url https://host:8443/xmlrpc/ vm list
`)
	return b.String()
}

func parseFormat(s string) (bool, error) {
	switch s {
	case "table", "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("-o %q: must be table or json", s)
}

// isTerminal reports whether f is a character device (a terminal): the
// progress line is then rewritten in place, else printed once a change.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
