package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/graph"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/stats"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/token"
	"github.com/xenagent/xenagent/agent/workflow"
)

// newStats opens the collector over state_dir/stats, lets the service
// answer series and graph links under baseURL, and returns the graph
// handler (/graph/). The caller runs the collector.
func newStats(cfg config.Config, baseURL string, tokens *token.Issuer, st *store.Store, src host.Stats, vols host.Volumes, svc *service.Service,
	log *slog.Logger) (*stats.Collector, http.Handler, error) {
	col, err := stats.Open(stats.Config{Dir: filepath.Join(cfg.StateDir, "stats"), Every: cfg.Stats.Every.Duration,
		DiskPath: func(id int64) string { return vols.Path(workflow.VolumeName(id)) }}, src, st, log)
	if err != nil {
		return nil, nil, err
	}
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

// baseURL is where clients reach the agent, for the links it hands out
// (consoles, graphs): public_url when set (a proxy or NAT in the way),
// else the address actually bound, the host's name where it listens on
// all addresses.
func baseURL(cfg config.Config, scheme string, addr net.Addr) string {
	if cfg.PublicURL != "" {
		return strings.TrimRight(cfg.PublicURL, "/")
	}
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

// vmCounterMetrics is /metrics' per-VM cpu, memory and disk counters
// from the collector's latest round, labelled like the store's iface
// series (vm_id, account) so that they join.
func vmCounterMetrics(col *stats.Collector, st *store.Store) metrics.Collector {
	return func(w *metrics.Writer) {
		var account func(int64) string
		st.View(func(tx *store.Tx) { account = store.AccountLabel(tx) })
		for _, c := range col.Latest() {
			vm, acct := strconv.FormatInt(c.VMID, 10), account(c.AccountID)
			w.Counter("xenagent_vm_cpu_seconds_total", "CPU time a VM's vCPUs used, all of them, since the domain started.", c.CPUSeconds, "vm_id", vm, "account", acct)
			w.Gauge("xenagent_vm_memory_bytes", "A VM's balloon: the memory it has now.", float64(c.BalloonKiB)*1024, "vm_id", vm, "account", acct)
			w.Gauge("xenagent_vm_memory_max_bytes", "A VM's balloon maximum.", float64(c.BalloonMaxKiB)*1024, "vm_id", vm, "account", acct)
			for _, d := range c.Disks {
				disk := strconv.FormatInt(d.DiskID, 10)
				for _, s := range []struct {
					name, help, op string
					v              uint64
				}{
					{"xenagent_vm_disk_bytes_total", "Bytes a VM read from or wrote to a disk since the domain started.", "read", d.ReadBytes},
					{"xenagent_vm_disk_bytes_total", "Bytes a VM read from or wrote to a disk since the domain started.", "write", d.WriteBytes},
					{"xenagent_vm_disk_requests_total", "Read or write requests a VM made to a disk since the domain started.", "read", d.ReadReqs},
					{"xenagent_vm_disk_requests_total", "Read or write requests a VM made to a disk since the domain started.", "write", d.WriteReqs},
				} {
					w.Counter(s.name, s.help, float64(s.v), "vm_id", vm, "account", acct, "disk_id", disk, "op", s.op)
				}
			}
		}
	}
}
