package main

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/xenagent/xenagent/agent/api/gandiv1"
	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/storage/mkfs"
)

// withFormatter lets disks be created formatted (the v1 face's
// disk_create fstype) with the mkfs tools the host has.
func withFormatter(sc *service.Config, wc *workflow.Config, log *slog.Logger) {
	f := mkfs.New(nil, nil, log)
	sc.FSTypes, sc.FSMinMB, wc.Formatter = f.FSTypes(), f.MinSizesMB(), f
}

// setPasswords gives configured accounts their v1 login password (and
// takes it from those whose password_hash is gone from the file).
func setPasswords(cfg config.Config, svc *service.Service) error {
	for _, a := range cfg.Accounts {
		if err := svc.SetAccountPassword(a.Handle, a.PasswordHash); err != nil {
			return err
		}
	}
	return nil
}

// mountGandiV1 serves the legacy Gandi v1 face at gandiv1.Path
// (/xmlrpc/v1/), ahead of the v3 face's /xmlrpc/ which gets the rest.
// The operator logs in with its key (operatorHash, "" none). Its logins
// share the v3 face's bad-key back-off (guard); its metrics
// join reg (nil: none).
func mountGandiV1(next http.Handler, svc *service.Service, maxBody int64, operatorHash string, guard func(*http.Request, func() error) error,
	reg *metrics.Registry, log *slog.Logger) http.Handler {
	v1 := gandiv1.New(svc, maxBody, log)
	v1.SetGuard(guard)
	v1.SetOperator(operatorHash)
	if reg != nil {
		reg.Register(v1.WriteMetrics)
	}
	mux := http.NewServeMux()
	mux.Handle(gandiv1.Path, v1)
	mux.Handle(strings.TrimSuffix(gandiv1.Path, "/"), v1) // not a redirect, which an XML-RPC client would not follow
	mux.Handle("/", next)
	log.Info("gandi v1 face served", "path", gandiv1.Path)
	return mux
}
