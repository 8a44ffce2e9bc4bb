// Command xenagent is the per-host control-plane agent.
//
//	xenagent serve --config FILE   run the agent in the foreground
//	xenagent adopt --config FILE --account ID [VOLUME...]
//	                               make disks of volumes the state does not know
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
	switch os.Args[1] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		path := fs.String("config", "/etc/xenagent/xenagent.toml", "configuration file")
		listen := fs.String("listen", "", "override the listen address")
		allowForeign := fs.Bool("allow-foreign-volumes", false, "start even though the state knows no disk and the storage holds volumes of other xenagent instances (they are left untouched)")
		fs.Parse(os.Args[2:])
		cfg, err := config.Load(*path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "xenagent:", err)
			os.Exit(2)
		}
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
	case "hash-key":
		if len(os.Args) != 3 {
			usage()
		}
		fmt.Println(service.HashKey(os.Args[2]))
	case "version":
		fmt.Println(version)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: xenagent serve --config FILE [--listen host:port] [--allow-foreign-volumes] | adopt --config FILE --account ID [VOLUME...] | hash-key KEY | version")
	os.Exit(2)
}
