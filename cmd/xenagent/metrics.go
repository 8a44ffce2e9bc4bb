package main

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/hypervisor"
)

// metricsPage is /metrics: one collector from each room that knows its
// values. more are other rooms' collectors: per-VM counters (cpu, disks:
// agent/stats) go there, labelled vm_id and account as
// store.AccountLabel says, so that they join the iface series.
func metricsPage(st *store.Store, opm *ops.Metrics, hv *hypervisor.Driver, rec *reconcile.Reconciler, api *gandi.Server, more ...metrics.Collector) *metrics.Registry {
	reg := metrics.NewRegistry()
	reg.Register(func(w *metrics.Writer) {
		w.Gauge("xenagent_build_info", "The agent's version.", 1, "version", version)
	})
	reg.Register(metrics.GoRuntime)
	reg.Register(st.WriteMetrics)
	reg.Register(st.WriteRecordMetrics)
	reg.Register(opm.Write)
	reg.Register(hv.WriteMetrics)
	reg.Register(rec.WriteVolumeMetrics)
	reg.Register(api.WriteMetrics)
	for _, c := range more {
		reg.Register(c)
	}
	return reg
}

// metricsHandler serves the page, logging what a collector got wrong
// (the scraper gets the rest).
func metricsHandler(reg *metrics.Registry, log *slog.Logger) http.Handler {
	return reg.Handler(func(err error) { log.Warn("metrics dropped", "err", err) })
}

// withMetrics adds /metrics to the API's routes; with operatorOnly, it
// asks for the operator's key.
func withMetrics(api, page http.Handler, m config.Metrics, operatorHash string) http.Handler {
	if m.OperatorOnly {
		page = requireOperator(page, operatorHash)
	}
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.Handle("/metrics", page)
	return mux
}

// requireOperator passes requests carrying the operator's key as
// "Authorization: Bearer KEY" (RFC 6750), and answers others 401. The key
// is compared as the API compares it: by its SHA-256, in constant time.
func requireOperator(h http.Handler, operatorHash string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, key, _ := strings.Cut(auth, " ")
		key = strings.TrimSpace(key)
		if !strings.EqualFold(scheme, "Bearer") || key == "" || operatorHash == "" ||
			subtle.ConstantTimeCompare([]byte(service.HashKey(key)), []byte(operatorHash)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="xenagent metrics"`)
			http.Error(w, "/metrics asks for the operator key: Authorization: Bearer KEY ([metrics] operator_only)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// listenMetrics binds [metrics] listen, if set, with the API's address:
// a busy port stops the start before anything changes.
func listenMetrics(cfg config.Config) (net.Listener, error) {
	if cfg.Metrics.Listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("metrics.listen: %s is already in use; nothing was started: %w", cfg.Metrics.Listen, err)
		}
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	return ln, nil
}

// metricsServer serves only /metrics and /healthz, in plain HTTP and
// without a key, on the management address: scrapers there are few and
// quick, so tight timeouts.
func metricsServer(page http.Handler, health http.HandlerFunc) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", page)
	mux.HandleFunc("/healthz", health)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
}
