package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/api/migration"
	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/connlimit"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/transfer"
	"github.com/xenagent/xenagent/agent/workflow"
)

// mountMigration serves the target's /migration/v1/ endpoints beside the
// API, on the same listener (its TLS, mTLS where tls.client_ca is set),
// under the same body bound and bad-key back-off: a source guessing
// tickets is slowed as one guessing keys. A disk stream, once its ticket
// is checked, is a long request the connection limits leave alone.
func mountMigration(next http.Handler, cfg config.Config, svc *service.Service, api *gandi.Server, log *slog.Logger) (http.Handler, error) {
	h, err := migration.New(svc, migration.Config{MaxBodyBytes: cfg.MaxBodyBytes, Guard: api.KeyCheck, Long: connlimit.Long}, log)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(migration.Prefix, h)
	mux.Handle("/", next)
	return mux, nil
}

// withMigrationClient gives the workflows the client that reaches other
// agents: it trusts the system's roots and tls.client_ca (the agents of
// one fleet share a CA), and presents this agent's certificate, which a
// target with mTLS asks for. What it sends of disks is capped by
// [migration] rate_mbps, every move together.
func withMigrationClient(cfg config.Config, wc *workflow.Config, log *slog.Logger) error {
	var tc *tls.Config
	if cfg.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if cfg.TLS.ClientCA != "" {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			pem, err := os.ReadFile(cfg.TLS.ClientCA)
			if err != nil {
				return fmt.Errorf("tls.client_ca: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return errors.New("tls.client_ca: no certificate found")
			}
			tc.RootCAs = pool
		}
	}
	c := migration.NewClient(tc)
	c.Limiter, c.Log = transfer.NewLimiter(cfg.Migration.RateMbps*1e6/8), log
	wc.Peer, wc.Sender = c, c
	return nil
}
