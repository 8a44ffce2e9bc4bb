package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/graph"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/stats"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/token"
	"github.com/xenagent/xenagent/agent/workflow"
)

// newStats opens the collector over state_dir/stats, lets the service
// answer series and graph links under baseURL, and returns the graph
// handler (/graph/). The caller runs the collector.
func newStats(cfg config.Config, baseURL string, st *store.Store, src host.Stats, vols host.Volumes, svc *service.Service,
	log *slog.Logger) (*stats.Collector, http.Handler, error) {
	col, err := stats.Open(stats.Config{Dir: filepath.Join(cfg.StateDir, "stats"), Every: cfg.Stats.Every.Duration,
		DiskPath: func(id int64) string { return vols.Path(workflow.VolumeName(id)) }}, src, st, log)
	if err != nil {
		return nil, nil, err
	}
	tokens := token.NewIssuer(token.Limits{})
	if err := svc.SetStats(col, tokens, baseURL); err != nil {
		return nil, nil, err
	}
	log.Info("graphs served", "url", baseURL+"/graph/", "every", cfg.Stats.Every.Duration)
	return col, graph.Handler(tokens, col, svc.GraphDevice, log), nil
}

// withGraphs serves /graph/ and hands everything else to api.
func withGraphs(api, graphs http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/graph/", graphs)
	mux.Handle("/", api)
	return mux
}

// baseURL is where clients reach the agent, for the links it hands out:
// the listen address, the host's name where it listens on all addresses.
// (public_url, where a proxy or NAT is in the way, takes its place once
// the console's configuration is merged.)
func baseURL(scheme string, addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return fmt.Sprintf("%s://%s", scheme, addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(host, port))
}
