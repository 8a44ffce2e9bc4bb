package main

import (
	"log/slog"
	"net/http"

	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/console"
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
}

func newConsoles(cfg config.Config, svc *service.Service, tokens *token.Issuer, cons host.Console, hv host.Hypervisor, page http.Handler, log *slog.Logger) (*consoles, error) {
	if err := svc.SetConsole(tokens, cfg.ConsoleBaseURL()); err != nil {
		return nil, err
	}
	hub := console.NewHub(console.Config{}, cons, hv, workflow.DomainName, log)
	h := &console.Handler{Hub: hub, Tokens: tokens, Authorize: svc.ConsoleRight, Page: page, Log: log}
	log.Info("consoles served", "url", cfg.ConsoleBaseURL()+"/console/")
	return &consoles{hub: hub, handler: h}, nil
}

// wrap serves /console/ and hands everything else to api.
func (c *consoles) wrap(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	c.handler.Routes(mux)
	mux.Handle("/", api)
	return mux
}
