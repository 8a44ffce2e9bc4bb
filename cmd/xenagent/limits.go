package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"golang.org/x/sys/unix"

	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/connlimit"
	"github.com/xenagent/xenagent/agent/metrics"
)

// minConnections is the fewest client connections the agent starts with.
const minConnections = 16

// raiseNoFile raises RLIMIT_NOFILE's soft limit to the hard one and
// returns it: the soft default (1024) is far below what a busy host
// needs, and only the hard limit is the operator's choice.
func raiseNoFile() (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("reading RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("raising RLIMIT_NOFILE to %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

// maxConnections keeps server.fd_reserve descriptors for operations
// (volumes, libvirt, bbolt, seeds, netlink, commands' pipes): clients may
// have the rest, up to server.max_connections.
func maxConnections(nofile uint64, s config.Server) (int, error) {
	avail := int64(min(nofile, 1<<40)) - int64(s.FDReserve) // RLIM_INFINITY is all ones
	if avail < minConnections {
		return 0, fmt.Errorf("server: RLIMIT_NOFILE is %d; keeping server.fd_reserve = %d for operations leaves %d client connections, fewer than %d: raise the limit (LimitNOFILE= in the unit) or lower fd_reserve",
			nofile, s.FDReserve, max(avail, 0), minConnections)
	}
	return int(min(int64(s.MaxConnections), avail)), nil
}

// limitedServer wraps ln in the connection limits and builds the HTTP
// server with the timeouts and the bad-key back-off of [server]; reg
// gets the limits' counters.
func limitedServer(ln net.Listener, api *gandi.Server, reg *metrics.Registry, s config.Server, log *slog.Logger) (*http.Server, net.Listener, error) {
	nofile, err := raiseNoFile()
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	maxConns, err := maxConnections(nofile, s)
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	cl := connlimit.New(ln, connlimit.Config{Max: maxConns, PerSource: min(s.MaxConnectionsPerSource, maxConns), Log: log})
	log.Info("client limits", "nofile", nofile, "fd_reserve", s.FDReserve, "max_connections", maxConns,
		"max_connections_per_source", min(s.MaxConnectionsPerSource, maxConns), "bad_key_burst", s.BadKeyBurst, "bad_key_every", s.BadKeyEvery.Duration)
	reg.Register(func(w *metrics.Writer) {
		st := cl.Stats()
		w.Gauge("xenagent_connections", "Client connections open now.", float64(st.Open))
		const closed = "Client connections the limits closed, by reason."
		w.Counter("xenagent_connections_closed_total", closed, float64(st.RefusedPerSource), "reason", "per_source")
		w.Counter("xenagent_connections_closed_total", closed, float64(st.RefusedFull), "reason", "full")
		w.Counter("xenagent_connections_closed_total", closed, float64(st.Reclaimed), "reason", "reclaimed_idle")
		w.Counter("xenagent_connections_closed_total", closed, float64(st.ReclaimedSlow), "reason", "reclaimed_slow")
	})
	api.WithKeyLimits(gandi.KeyLimits{Burst: s.BadKeyBurst, Every: s.BadKeyEvery.Duration, Delay: s.BadKeyDelay.Duration})
	srv := &http.Server{Handler: api.Handler(), ConnState: cl.ConnState, ConnContext: cl.ConnContext,
		ReadHeaderTimeout: s.ReadHeaderTimeout.Duration, IdleTimeout: s.IdleTimeout.Duration, MaxHeaderBytes: s.MaxHeaderBytes,
		ReadTimeout: s.ReadTimeout.Duration, WriteTimeout: s.WriteTimeout.Duration}
	return srv, cl, nil
}
