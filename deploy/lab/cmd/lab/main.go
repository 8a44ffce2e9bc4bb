// Command lab boots the nested Xen lab for a person to use (`make lab`):
// it builds or reuses the cached image, boots it, and waits until Ctrl-C,
// then powers the machine down cleanly.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/xenagent/xenagent/deploy/lab"
)

func main() {
	repo := flag.String("repo", ".", "xenagent checkout")
	cache := flag.String("cache", "/var/cache/xenagent-lab", "artefact cache")
	run := flag.String("run", "", "run directory (default: a new one under /tmp)")
	flag.Parse()
	if why := lab.Available(); why != "" {
		fmt.Fprintln(os.Stderr, "lab:", why)
		os.Exit(2)
	}
	dir := *run
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "xenagent-lab-"); err != nil {
			fatal(err)
		}
	}
	abs, _ := filepath.Abs(*repo)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) }
	l, err := lab.Prepare(ctx, lab.Config{Repo: abs, Cache: *cache, RunDir: dir, Log: logf,
		Agent: lab.AgentConfig(lab.Timeouts{Stop: "5m", Reboot: "2m"})})
	if err != nil {
		fatal(err)
	}
	if err := l.Boot(ctx); err != nil {
		l.Kill()
		fatal(err)
	}
	key, _ := l.Exec(ctx, "cat /var/lib/xenagent/apikey")
	fmt.Printf(`
The lab is up (booted in %v). Run directory: %s
  API:     %s   (key: %s)
  ssh:     ssh -i %s/lab_key -p %d root@127.0.0.1   (console password: root / lab)
  console: %s/console.log
  client:  ./bin/xenagentctl -url %s -key %s vm list
Ctrl-C powers it down.
`, l.BootTime.Round(time.Second), dir, l.URL(), trim(key), dir, l.SSHPort, dir, l.URL(), trim(key))
	<-ctx.Done()
	fmt.Println("lab: powering down")
	if err := l.PowerDown(context.Background(), 2*time.Minute); err != nil {
		l.Kill()
	}
}

func trim(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "lab:", err)
	os.Exit(1)
}
