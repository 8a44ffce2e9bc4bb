package main

import (
	"log/slog"
	"net/http"

	"github.com/xenagent/xenagent/agent/console"
	"github.com/xenagent/xenagent/agent/console/web"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/token"
	"github.com/xenagent/xenagent/agent/workflow"
)

// consoles wires the VM consoles: the service mints links under the
// public URL, the hub shares each VM's console stream, and the handler
// serves /console/ next to the API.
type consoles struct {
	hub     *console.Hub
	handler *console.Handler
	site    *web.Site
}

func newConsoles(base string, svc *service.Service, tokens *token.Issuer, cons host.Console, hv host.Hypervisor, log *slog.Logger) (*consoles, error) {
	if err := svc.SetConsole(tokens, base); err != nil {
		return nil, err
	}
	hub := console.NewHub(console.Config{}, cons, hv, workflow.DomainName, log)
	site := web.Handler(nil, log)
	h := &console.Handler{Hub: hub, Tokens: tokens, Authorize: svc.ConsoleRight, Page: site, Log: log}
	log.Info("consoles served", "url", base+"/console/", "terminal_embedded", web.AssetsBuilt())
	return &consoles{hub: hub, handler: h, site: site}, nil
}

// wrap serves /console/ and hands everything else to api.
func (c *consoles) wrap(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	c.handler.Routes(mux)
	c.site.AssetRoutes(mux)
	mux.Handle("/", api)
	return mux
}
