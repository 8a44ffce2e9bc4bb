// Command fetch builds the console page's terminal assets without Node:
// it reads agent/console/web/package-lock.json, downloads each package's
// tarball from the npm registry (the lock's "resolved" URL), refuses one
// whose sha512 does not match the lock's "integrity", and extracts only
// the files package.json's "xenagentDist" names into agent/console/web/dist,
// which the agent embeds. Tarballs are cached by their integrity hash, so
// a second build needs no network and a changed lock fetches only what
// changed.
//
// make build runs it before go build:
//
//	go run ./deploy/web/fetch [-dir agent/console/web] [-cache DIR] [-registry URL]
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "agent/console/web", "folder holding package.json and package-lock.json; the assets go to its dist/")
	cache := flag.String("cache", defaultCache(), "folder caching tarballs by integrity hash ($XENAGENT_WEB_CACHE overrides the default)")
	registry := flag.String("registry", defaultRegistry, "npm registry for packages the lock gives no URL for, and in place of registry.npmjs.org in the lock's URLs (a mirror)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	f := &Fetcher{Cache: *cache, Registry: *registry, Log: log}
	if err := f.Build(ctx, *dir, filepath.Join(*dir, "dist")); err != nil {
		log.Error("console assets not built", "err", err)
		os.Exit(1)
	}
}

// defaultCache is shared by every checkout on the machine: the tarballs
// do not depend on the checkout, only on their hash.
func defaultCache() string {
	if d := os.Getenv("XENAGENT_WEB_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "xenagent-web")
	}
	return filepath.Join(os.TempDir(), "xenagent-web")
}
