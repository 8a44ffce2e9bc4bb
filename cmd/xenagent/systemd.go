package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notifyReady tells systemd (Type=notify) the agent serves. Outside
// systemd it does nothing.
func notifyReady(log *slog.Logger) {
	if ok, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify READY", "err", err)
	} else if ok {
		log.Info("told systemd we are ready")
	}
}

// notifyStopping tells systemd the agent is stopping.
func notifyStopping() { daemon.SdNotify(false, daemon.SdNotifyStopping) }

// watchdog pings systemd's watchdog at half its interval for as long as
// healthy answers (the agent's own liveness: state writes, the engine;
// not libvirtd, which a restart of the agent cannot mend); an unhealthy
// agent stops pinging, says why in its unit's
// status, and after WatchdogSec systemd aborts it (SIGABRT) and, with
// Restart=on-failure, starts it again. Nothing acknowledged is lost by
// that: the state file holds every acknowledged write.
func watchdog(ctx context.Context, log *slog.Logger, healthy func(ctx context.Context) error) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	unhealthy := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, interval/4)
			err := healthy(hctx)
			cancel()
			if err != nil {
				log.Error("health check failed; not pinging the watchdog", "err", err)
				daemon.SdNotify(false, "STATUS=unhealthy: "+strings.ReplaceAll(err.Error(), "\n", "; "))
				unhealthy = true
				continue
			}
			if unhealthy {
				daemon.SdNotify(false, "STATUS=serving")
				unhealthy = false
			}
			daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		}
	}
}
