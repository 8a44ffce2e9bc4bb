package main

import (
	"log/slog"
	"net/http"

	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/api/gigas"
	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/service"
)

// mountGigas serves the Gigas REST face (/account/... and its OpenAPI
// document) beside the Gandi face's /xmlrpc/, on the same listener and
// under the same limits: the same operator key, body bound and bad-key
// back-off (a source guessing keys on one face is slowed on both); its
// requests are counted on /metrics.
func mountGigas(next http.Handler, cfg config.Config, svc *service.Service, api *gandi.Server, reg *metrics.Registry, log *slog.Logger) http.Handler {
	g := gigas.New(svc, gigas.Config{OperatorHash: cfg.Operator.KeySHA256, MaxBodyBytes: cfg.MaxBodyBytes, Guard: api.KeyCheck}, log)
	reg.Register(g.WriteMetrics)
	h := g.Handler()
	mux := http.NewServeMux()
	for _, p := range g.Paths() {
		mux.Handle(p, h)
	}
	mux.Handle("/", next)
	// Named as the v1 face's mount is: the startup log says where each
	// face is, and this one's paths start with an account id the reader
	// must supply (the demo account's is logged too).
	log.Info("gigas REST face served", "paths", gigasPaths, "openapi", gigas.OpenAPIPath)
	return mux
}

// gigasPaths is the face's path pattern as the startup log names it.
const gigasPaths = "/account/{account_id}/..."
