// Command xenagent is the per-host control-plane agent.
//
//	xenagent serve --config FILE   run the agent in the foreground
//	xenagent adopt --config FILE --account ID [VOLUME...]
//	                               make disks of volumes the state does not know
//	xenagent new-instance --config FILE
//	                               give a copied state.db a new instance id
//	xenagent check-config [--config FILE]
//	xenagent hash-key KEY          print the stored form of an API key
//	xenagent version
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
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
		if len(os.Args) != 3 {
			usage()
		}
		fmt.Println(service.HashKey(os.Args[2]))
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
  adopt [--config FILE] --account ID [VOLUME...]
                       with the agent stopped: make volumes the state does
                       not know (quarantined, another instance's, unmarked)
                       free disks of an account; without VOLUME, list them
  new-instance [--config FILE]
                       with the agent stopped: give a copied state.db a new
                       instance id (refused while the storage holds volumes
                       marked with the current one)
  check-config [--config FILE]
                       load and check a configuration; exit 0 when usable
  hash-key KEY         print the stored form (SHA-256 hex) of an API key,
                       for key_sha256 in the configuration
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
	"adopt": `usage: xenagent adopt [--config FILE] --account ID [VOLUME...]

Run with the agent stopped. Makes each VOLUME (a volume no disk record
refers to: quarantined, another agent instance's, or from before volume
marks) a free data disk of the account, its size the volume's, and marks
it as this agent's. Without VOLUME, lists the volumes it could adopt.

  --config FILE       configuration (default ` + defaultConfig + `)
  --account ID        id of the account the disks go to
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

Prints the SHA-256 (hex) of KEY: the value for key_sha256 in [operator]
or [[accounts]]. The agent stores and compares only this form.
`,
	"version": `usage: xenagent version

Prints the version this binary was built from.
`,
}

func usage() {
	fmt.Fprint(os.Stderr, help[""])
	os.Exit(2)
}
