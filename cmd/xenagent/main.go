// Command xenagent is the per-host control-plane agent.
//
//	xenagent serve --config FILE   run the agent in the foreground
//	xenagent adopt [--config FILE]  list volumes the state does not know
//	xenagent adopt [--config FILE] --account ID VOLUME...
//	                               make disks of them
//	xenagent new-instance --config FILE
//	                               give a copied state.db a new instance id
//	xenagent check-config [--config FILE]
//	xenagent hash-key KEY|-        print the stored form of an API key
//	xenagent version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/service"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	// Help is asked for, not an error: it goes to stdout and exits 0.
	if text, ok := help[os.Args[1]]; ok && len(os.Args) == 3 && isHelp(os.Args[2]) {
		fmt.Print(text)
		os.Exit(0)
	}
	switch os.Args[1] {
	case "-h", "-help", "--help", "help":
		fmt.Print(help[""])
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		path := fs.String("config", defaultConfig, "configuration file")
		listen := fs.String("listen", "", "override the listen address")
		allowForeign := fs.Bool("allow-foreign-volumes", false, "start even though the state knows no disk and the storage holds volumes of other xenagent instances (they are left untouched)")
		fs.Usage = func() { fmt.Fprint(fs.Output(), help["serve"]) }
		fs.Parse(os.Args[2:])
		cfg, err := config.Load(*path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "xenagent:", err)
			os.Exit(2)
		}
		configFile = *path
		if *listen != "" {
			cfg.Listen = *listen
		}
		cfg.AllowForeignVolumes = *allowForeign
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		if err := serve(ctx, cfg, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "xenagent:", err)
			os.Exit(1)
		}
	case "adopt":
		os.Exit(adopt(os.Args[2:], os.Stdout))
	case "new-instance":
		os.Exit(newInstance(os.Args[2:], os.Stdout))
	case "check-config":
		fs := flag.NewFlagSet("check-config", flag.ExitOnError)
		path := fs.String("config", defaultConfig, "configuration file")
		fs.Usage = func() { fmt.Fprint(fs.Output(), help["check-config"]) }
		fs.Parse(os.Args[2:])
		if fs.NArg() > 0 {
			usage()
		}
		if _, err := config.Load(*path); err != nil {
			fmt.Fprintln(os.Stderr, "xenagent:", err)
			os.Exit(2)
		}
		fmt.Printf("%s: ok\n", *path)
	case "hash-key":
		os.Exit(hashKey(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	case "version", "-version", "--version":
		fmt.Println(version)
	default:
		fmt.Fprintf(os.Stderr, "xenagent: unknown command %q\n", os.Args[1])
		usage()
	}
}

const defaultConfig = "/etc/xenagent/xenagent.toml"

// configFile is the configuration serve was given, for messages.
var configFile = defaultConfig

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }

// help is each command's text (man xenagent says more); "" is the summary.
var help = map[string]string{
	"": `usage: xenagent COMMAND [ARGS]

The per-host control-plane agent for Xen: serves the XML-RPC API and runs
the operations it accepts against libvirt, storage and the network.

commands:
  serve [--config FILE] [--listen HOST:PORT] [--allow-foreign-volumes]
                       run the agent in the foreground (the systemd unit
                       xenagent.service runs this)
  adopt [--config FILE]
                       with the agent stopped: list the volumes the state
                       does not know (quarantined, another instance's,
                       unmarked)
  adopt [--config FILE] --account ID VOLUME...
                       with the agent stopped: make them free disks of an
                       account
  new-instance [--config FILE]
                       with the agent stopped: give a copied state.db a new
                       instance id (refused while the storage holds volumes
                       marked with the current one)
  check-config [--config FILE]
                       load and check a configuration; exit 0 when usable
  hash-key KEY|-       print the stored form (SHA-256 hex) of an API key,
                       for key_sha256 in the configuration; - reads the
                       key from stdin
  version              print the version
  help                 print this; COMMAND --help prints a command's help

The configuration defaults to ` + defaultConfig + `; the state (state.db and,
with the file backend, the disks) lives in its state_dir, /var/lib/xenagent
in the packaged example.
`,
	"serve": `usage: xenagent serve [--config FILE] [--listen HOST:PORT] [--allow-foreign-volumes]

Runs the agent in the foreground until SIGTERM or SIGINT: resumes the
journalled operations, reconciles with libvirt, then serves the API.
Under systemd (Type=notify) it reports READY and pings the watchdog.

  --config FILE       configuration (default ` + defaultConfig + `)
  --listen HOST:PORT  listen here instead of the configuration's listen
  --allow-foreign-volumes
                      start although the state knows no disk and the storage
                      holds volumes of other xenagent instances (a new or
                      mistyped state_dir refuses to start otherwise); those
                      volumes are left untouched, never quarantined
`,
	"adopt": `usage: xenagent adopt [--config FILE]
       xenagent adopt [--config FILE] --account ID VOLUME...

Run with the agent stopped. The first form lists the volumes no disk
record refers to (quarantined, another agent instance's, or from before
volume marks), with their size and mark. The second makes each VOLUME a
free data disk of the account, its size the volume's, and marks it as
this agent's.

  --config FILE       configuration (default ` + defaultConfig + `)
  --account ID        id of the account the disks go to (required with VOLUME)
`,
	"new-instance": `usage: xenagent new-instance [--config FILE]

Run with the agent stopped. Gives the state.db a new random instance id:
for a copy of another agent's state (a cloned dom0 image, a backup
restored beside the original), which serve refuses to run while the
original runs ("instance X is already run by another xenagent").

It re-marks nothing, and refuses, changing nothing, while the storage
holds any volume marked with the current id: those are the original
agent's (or copies of them), and the copy's disk records would keep
pointing at them. Run the copy over its own storage, or drop the copy.

  --config FILE       configuration (default ` + defaultConfig + `)
`,
	"check-config": `usage: xenagent check-config [--config FILE]

Loads the configuration and checks it as serve would, without starting
anything. Prints "FILE: ok" and exits 0, or names the field and exits 2.

  --config FILE       configuration (default ` + defaultConfig + `)
`,
	"hash-key": `usage: xenagent hash-key KEY
       xenagent hash-key -

Prints the SHA-256 (hex) of KEY: the value for key_sha256 in [operator]
or [[accounts]]. The agent stores and compares only this form. With -,
the key is read from stdin (one line; its trailing newline is not part
of the key), which keeps it out of the shell history and ps:

  read -rs KEY && printf '%s\n' "$KEY" | xenagent hash-key -
  xenagent hash-key - < keyfile
`,
	"version": `usage: xenagent version

Prints the version this binary was built from.
`,
}

// hashKey is `xenagent hash-key KEY|-`. An empty key, or more than one
// line on stdin, is refused: its hash would never be what a client sends.
func hashKey(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, help["hash-key"])
		return 2
	}
	key := args[0]
	if key == "-" {
		const max = 4 << 10
		raw, err := io.ReadAll(io.LimitReader(stdin, max+1))
		if err != nil {
			fmt.Fprintln(stderr, "xenagent hash-key: reading the key from stdin:", err)
			return 1
		}
		if len(raw) > max {
			fmt.Fprintf(stderr, "xenagent hash-key: stdin: the key must be one line of at most %d bytes\n", max)
			return 2
		}
		key = strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		if strings.ContainsAny(key, "\r\n") {
			fmt.Fprintln(stderr, "xenagent hash-key: stdin: the key must be one line")
			return 2
		}
	}
	if key == "" {
		fmt.Fprintln(stderr, "xenagent hash-key: KEY: must not be empty")
		return 2
	}
	fmt.Fprintln(stdout, service.HashKey(key))
	return 0
}

func usage() {
	fmt.Fprint(os.Stderr, help[""])
	os.Exit(2)
}
