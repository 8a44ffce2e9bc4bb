// Command lab boots the nested Xen lab for a person to use (`make lab`):
// it builds or reuses the cached image, boots it, and waits until Ctrl-C,
// then powers the machine down cleanly. With -hosts 2 it boots the
// two-host lab (hosts A and B on one guests' segment, deploy/lab/hosts.go)
// in parallel.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/xenagent/xenagent/deploy/lab"
)

func main() {
	repo := flag.String("repo", ".", "xenagent checkout")
	cache := flag.String("cache", "/var/cache/xenagent-lab", "artefact cache")
	run := flag.String("run", "", "run directory (default: a new one under /tmp)")
	hosts := flag.Int("hosts", 1, "Xen hosts to boot: 1, or 2 on one guests' segment")
	flag.Parse()
	if *hosts != 1 && *hosts != 2 {
		fmt.Fprintln(os.Stderr, "lab: -hosts: must be 1 or 2")
		os.Exit(2)
	}
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
	timeouts := lab.Timeouts{Stop: "5m", Reboot: "2m"}
	keys := map[string]string{}
	agent := func(h lab.Host) string {
		keys[h.Name] = newKey()
		return lab.AgentConfig(lab.Agent{Timeouts: timeouts, Host: h, OperatorKey: keys[h.Name]})
	}
	var labs []*lab.Lab
	if *hosts == 1 {
		l, err := lab.Prepare(ctx, lab.Config{Repo: abs, Cache: *cache, RunDir: dir, Log: logf, Agent: agent(lab.HostA)})
		if err != nil {
			fatal(err)
		}
		labs = append(labs, l)
	} else {
		a, b, err := lab.NewPair(ctx, abs, *cache, dir, logf, agent)
		if err != nil {
			fatal(err)
		}
		labs = append(labs, a, b)
	}
	start := time.Now()
	if err := lab.BootAll(ctx, labs...); err != nil {
		for _, l := range labs {
			l.Kill()
		}
		fatal(err)
	}
	fmt.Printf("\nThe lab is up (%v). Run directory: %s\n", time.Since(start).Round(time.Second), dir)
	for _, l := range labs {
		h := l.Host()
		key, _ := l.Exec(ctx, "cat /var/lib/xenagent/apikey")
		fmt.Printf(`
Host %s (dom0 lab-%s, %s on the guests' segment, booted in %v):
  API:      %s   (key: %s, operator key: %s)
  ssh:      ssh -i %s/lab_key -p %d root@127.0.0.1   (console password: root / lab)
  console:  %s/console.log
  client:   ./bin/xenagentctl -url %s -key %s vm list
`, h.Name, h.Name, h.IP(), l.BootTime.Round(time.Second), l.URL(), trim(key), keys[h.Name],
			l.RunDir(), l.SSHPort, l.RunDir(), l.URL(), trim(key))
	}
	fmt.Println("Ctrl-C powers it down.")
	<-ctx.Done()
	fmt.Println("lab: powering down")
	var wg sync.WaitGroup
	for _, l := range labs {
		wg.Add(1)
		go func(l *lab.Lab) {
			defer wg.Done()
			if err := l.PowerDown(context.Background(), 2*time.Minute); err != nil {
				l.Kill()
			}
		}(l)
	}
	wg.Wait()
}

// newKey is an operator key for one run's agent.
func newKey() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		fatal(err)
	}
	return hex.EncodeToString(b)
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
