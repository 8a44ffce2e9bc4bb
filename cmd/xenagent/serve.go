package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/api/stream"
	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/token"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/network/antispoof"
	"github.com/xenagent/xenagent/network/shaper"
	"github.com/xenagent/xenagent/network/wire"
	"github.com/xenagent/xenagent/storage/file"
	"github.com/xenagent/xenagent/storage/lvm"
	"github.com/xenagent/xenagent/storage/nocloud"
	"github.com/xenagent/xenagent/storage/runner"
)

// backends is the storage registry: a backend name to its constructor.
var backends = map[string]func(ctx context.Context, cfg config.Config, log *slog.Logger) (host.Volumes, error){
	"file": func(_ context.Context, cfg config.Config, log *slog.Logger) (host.Volumes, error) {
		return file.New(cfg.Storage.Dir, log)
	},
	"lvm": func(ctx context.Context, cfg config.Config, log *slog.Logger) (host.Volumes, error) {
		run := &runner.Exec{Timeout: cfg.Storage.CommandTimeout.Duration, Attempts: 5, Transient: lvm.Transient, Log: log}
		return lvm.New(ctx, lvm.Config{VG: cfg.Storage.VG, Pool: cfg.Storage.ThinPool}, run)
	},
}

// storageWhere names the storage for messages.
func storageWhere(cfg config.Config) string {
	if cfg.Storage.Backend == "lvm" {
		return fmt.Sprintf("volume group %s (thin pool %s)", cfg.Storage.VG, cfg.Storage.ThinPool)
	}
	return "disks dir " + cfg.Storage.Dir
}

func newLogger(level string, out io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: l}))
}

// failpoint returns the crash-test hook: XENAGENT_FAILPOINT="vm_create:begin:start"
// kills the process with SIGKILL when that operation reaches that boundary.
func failpoint(log *slog.Logger) func(op store.Operation, boundary string) {
	spec := os.Getenv("XENAGENT_FAILPOINT")
	if spec == "" {
		return nil
	}
	log.Warn("fail point armed", "at", spec)
	return func(op store.Operation, boundary string) {
		if op.Type+":"+boundary == spec {
			log.Warn("fail point reached; killing the process", "at", spec, "op_id", op.ID)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}

// coreConfigs are the service's, the workflows' and the reconciler's
// configurations; wiring, when set, is the host's network port.
func coreConfigs(cfg config.Config, wiring host.Wiring) (service.Config, workflow.Config, reconcile.Config, error) {
	sc, err := serviceConfig(cfg)
	if err != nil {
		return sc, workflow.Config{}, reconcile.Config{}, err
	}
	sc.Network.Wiring = wiring
	wc := workflow.Config{
		DatacenterID: cfg.Datacenter.ID,
		Timeouts: workflow.Timeouts{Stop: cfg.Timeouts.Stop.Duration, StopMessages: cfg.Timeouts.StopMessages,
			Reboot: cfg.Timeouts.Reboot.Duration},
		Network:    sc.Network,
		KernelsDir: cfg.Storage.KernelsDir,
		Seeds:      nocloud.New(filepath.Join(cfg.StateDir, "seeds")),
		// A live move's memory files: a guest's memory, in the state dir
		// (the agent's own, not the storage pool's volumes).
		MemoryDir: filepath.Join(cfg.StateDir, "memory"),
	}
	rc := reconcile.Config{Network: sc.Network, QuarantineFor: cfg.Storage.QuarantineFor.Duration}
	return sc, wc, rc, nil
}

func serviceConfig(cfg config.Config) (service.Config, error) {
	sc := service.Config{
		Version:    version,
		Datacenter: service.Datacenter(cfg.Datacenter),
		Limits:     service.Limits(cfg.Limits),
		Network: workflow.Network{Bridge: cfg.Network.Bridge, ReverseDomain: cfg.Network.ReverseDomain, Sweep: cfg.Network.Sweep,
			DefaultBandwidth: cfg.Network.DefaultBandwidth, MinBandwidth: cfg.Network.MinBandwidth, CountEvery: cfg.Network.CountEvery.Duration},
		KernelsDir: cfg.Storage.KernelsDir,
		Quotas:     quotasOf(cfg.Quotas), // quota.go
	}
	sc.SnapshotProfiles = service.DefaultSnapshotProfiles
	if len(cfg.Snapshots.Profiles) > 0 {
		sc.SnapshotProfiles = nil
		for _, p := range cfg.Snapshots.Profiles {
			sc.SnapshotProfiles = append(sc.SnapshotProfiles, service.SnapshotProfile{ID: p.ID, Name: p.Name, Every: p.Every.Duration,
				KeptTotal: p.KeptTotal, QuotaFactor: p.QuotaFactor})
		}
	}
	for _, p := range []struct {
		src *config.Pool
		dst **ipam.Pool
	}{{cfg.Network.IPv4, &sc.Network.V4}, {cfg.Network.IPv6, &sc.Network.V6}} {
		if p.src == nil {
			continue
		}
		pool, err := ipam.Parse(p.src.Prefix, p.src.Gateway, p.src.First, p.src.Last)
		if err != nil {
			return sc, fmt.Errorf("network: %w", err)
		}
		*p.dst = &pool
	}
	return sc, nil
}

// serve runs the agent until ctx ends.
func serve(ctx context.Context, cfg config.Config, logOut io.Writer) error {
	log := newLogger(cfg.LogLevel, logOut)
	// Bind first: a busy port or a bad certificate stops the start before
	// anything changes (state file, reconciliation, resumed operations).
	// Clients connecting meanwhile wait in the listen backlog.
	ln, tc, scheme, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	mln, err := listenMetrics(cfg)
	if err != nil {
		return err
	}
	if mln != nil {
		defer mln.Close()
	}
	if err := cfg.EnsureDirs(); err != nil {
		return err
	}
	st, err := workflow.OpenState(filepath.Join(cfg.StateDir, "state.db"), log)
	if err != nil {
		return err
	}
	defer st.Close()
	newVols, ok := backends[cfg.Storage.Backend]
	if !ok {
		return fmt.Errorf("storage backend %q is not available in this build", cfg.Storage.Backend)
	}
	vols, err := newVols(ctx, cfg, log)
	if err != nil {
		return err
	}
	// Before anything is read or made: a copy of this state.db run by
	// another live agent would share every id with this one.
	lease, err := takeLease(cfg, configFile, st.Instance(), log)
	if err != nil {
		return err
	}
	defer lease.Release()
	hv, err := hypervisor.Open(ctx, hypervisor.Config{URI: cfg.Libvirt.URI, CommandTimeout: cfg.Libvirt.CommandTimeout.Duration,
		HVM: cfg.Libvirt.HVM, KVM: cfg.Libvirt.KVM}, log)
	if err != nil {
		return err
	}
	defer hv.Close()
	var wiring host.Wiring
	if cfg.Network.Wire {
		w, err := hostWiring(cfg.Network.Bridge)
		if err != nil {
			return err
		}
		wiring = w
		// Runs after the engine stopped: no IFB is left half-deleted.
		defer func() {
			if err := w.Settle(); err != nil {
				log.Warn("deleting IFBs at shutdown", "err", err)
			}
		}()
	}
	eng := ops.New(st, log, ops.Config{RetryFor: cfg.Timeouts.StepRetry.Duration, OnBoundary: failpoint(log)})
	opm := ops.NewMetrics(eng) // observes every end, resumed ones included
	sc, wc, rc, err := coreConfigs(cfg, wiring)
	if err != nil {
		return err
	}
	sc.NoCDROM = hv.Flavor() == hypervisor.FlavorXenPV // a PV domain has no CD-ROM (service/iso.go)
	// Disks created with a filesystem (gandiv1.go).
	withFormatter(&sc, &wc, log)
	if err := withMigrationClient(cfg, &wc, log); err != nil { // migration.go
		return err
	}
	wf := workflow.New(wc, st, eng, hv, vols, log)
	rec := reconcile.New(rc, st, eng, hv, vols, wf, log)
	svc := service.New(sc, st, eng, wf, log)
	pool, _ := vols.(host.PoolCapacity) // a backend that cannot tell is reported as unknown
	svc.SetHostSources(service.HostSources{Node: hv, Pool: pool, Health: rec.Healthy})
	// Before anything is made: an empty state over other agents' volumes is refused.
	if err := rec.GuardVolumes(ctx, storageWhere(cfg), cfg.AllowForeignVolumes); err != nil {
		return err
	}
	if err := seed(ctx, cfg, svc, wf, log); err != nil {
		return err
	}
	if err := setPasswords(cfg, svc); err != nil { // gandiv1.go
		return err
	}
	if err := rec.Reconcile(ctx); err != nil {
		return fmt.Errorf("reconciling at start: %w", err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	eng.Start(runCtx)
	go rec.WatchDomains(runCtx)
	go svc.RunSnapshotScheduler(runCtx, cfg.Snapshots.CheckEvery.Duration)
	go eng.RunPruner(runCtx, cfg.Operations.KeepFinished.Duration)
	go rec.ExpireQuarantine(runCtx, time.Hour)
	go rec.RunNetwork(runCtx, func(ctx context.Context, fn func(host.LinkEvent)) error { return wire.WatchLinks(ctx, nil, fn) })

	// Connection limits count TCP connections, so they wrap the raw
	// listener and TLS wraps them.
	api := gandi.New(svc, cfg.Operator.KeySHA256, cfg.MaxBodyBytes, log)
	api.SetHealth(rec.Healthy)
	reg := metricsPage(st, opm, hv, rec, api)
	page := metricsHandler(reg, log)
	srv, ln, err := limitedServer(ln, api, reg, cfg.Server, log)
	if err != nil {
		return err
	}
	srv.Handler = withMetrics(srv.Handler, page, cfg.Metrics, cfg.Operator.KeySHA256)
	srv.Handler = mountGandiV1(srv.Handler, svc, cfg.MaxBodyBytes, cfg.Operator.KeySHA256, api.LoginCheck, reg, log) // gandiv1.go
	srv.Handler = mountEvents(srv.Handler, stream.New(svc, stream.Config{OperatorHash: cfg.Operator.KeySHA256, Guard: api.KeyCheck}, log))
	srv.Handler = mountGigas(srv.Handler, cfg, svc, api, reg, log)
	if srv.Handler, err = mountMigration(srv.Handler, cfg, svc, api, log); err != nil { // migration.go
		return err
	}
	srv.RegisterOnShutdown(st.EndEventWaits) // long polls and streams end at once, not at their timeout
	// One issuer for every link handed out (consoles, graphs): one bound
	// on the tokens a client can make the agent keep.
	tokens := token.NewIssuer(token.Limits{})
	base := baseURL(cfg, scheme, ln.Addr())
	cons, err := newConsoles(base, svc, tokens, hv, hv, log)
	if err != nil {
		return err
	}
	defer cons.hub.Shutdown()
	srv.Handler = cons.wrap(srv.Handler)
	col, graphs, err := newStats(cfg, base, tokens, st, hv, vols, svc, log)
	if err != nil {
		return err
	}
	go col.Run(runCtx)
	reg.Register(vmCounterMetrics(col, st))
	srv.Handler = withGraphs(srv.Handler, graphs)
	if tc != nil {
		srv.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
	}
	log.Info("xenagent serving", "url", fmt.Sprintf("%s://%s/xmlrpc/", scheme, ln.Addr()), "libvirt", cfg.Libvirt.URI, "state", cfg.StateDir)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var msrv *http.Server
	if mln != nil {
		msrv = metricsServer(page, api.ServeHealth)
		log.Info("metrics serving", "url", fmt.Sprintf("http://%s/metrics", mln.Addr()))
		go func() { errc <- fmt.Errorf("metrics.listen: %w", msrv.Serve(mln)) }()
	}
	notifyReady(log)
	go watchdog(runCtx, log, rec.Live)
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	log.Info("shutting down")
	notifyStopping()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if msrv != nil {
		_ = msrv.Shutdown(shutCtx)
	}
	stopRun()
	eng.Wait()
	return nil
}

// listen binds the API's address and loads its TLS certificate.
func listen(cfg config.Config) (net.Listener, *tls.Config, string, error) {
	var tc *tls.Config
	if cfg.TLS.Cert != "" {
		var err error
		if tc, err = tlsConfig(cfg.TLS); err != nil {
			return nil, nil, "", err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, "", fmt.Errorf("listen: %s is already in use (another xenagent, or another program?); nothing was started: %w", cfg.Listen, err)
		}
		return nil, nil, "", fmt.Errorf("listen: %w", err)
	}
	if tc != nil {
		return ln, tc, "https", nil
	}
	return ln, nil, "http", nil
}

func tlsConfig(t config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCA != "" {
		pem, err := os.ReadFile(t.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls.client_ca: no certificate found")
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// seed creates configured accounts, the demo account with its key file,
// disables the accounts no longer configured, and creates the configured
// images.
func seed(ctx context.Context, cfg config.Config, svc *service.Service, wf *workflow.Workflows, log *slog.Logger) error {
	for _, a := range cfg.Accounts {
		if _, err := svc.EnsureAccount(a.Handle, a.Fullname, a.KeySHA256, a.DiskQuotaMB); err != nil {
			return err
		}
	}
	if err := configureQuotas(cfg, svc); err != nil { // quota.go
		return err
	}
	if cfg.Demo.Enabled {
		id, key, err := demoAccount(cfg.Demo, svc)
		if err != nil {
			return err
		}
		// The id is whatever the account got: the [[accounts]] entries
		// of a first start come before it, and the Gigas face's paths
		// (/account/<account_id>/...) need it.
		fmt.Printf("demo account %s, API key %s (also in %s), account_id %d\n", demoHandle, key, cfg.Demo.KeyFile, id)
		log.Info("demo account", "handle", demoHandle, "account_id", id, "key_file", cfg.Demo.KeyFile, "v1_login", cfg.Demo.PasswordHash != "")
	}
	// An account gone from the file stops working (its key and logins
	// are refused) but keeps what it owns; one back in it works again.
	// The demo account is configured while [demo] is on.
	keep := make([]string, 0, len(cfg.Accounts)+1)
	for _, a := range cfg.Accounts {
		keep = append(keep, a.Handle)
	}
	if cfg.Demo.Enabled {
		keep = append(keep, demoHandle)
	}
	if err := svc.RetireAccounts(keep); err != nil {
		return err
	}
	for _, im := range cfg.Images {
		if err := wf.EnsureImage(ctx, workflow.ImageSpec{Label: im.Label, OSArch: im.OSArch, SizeMB: im.SizeMB,
			KernelVersion: im.KernelVersion, Cmdline: im.Cmdline, SourceFile: im.SourceFile}); err != nil {
			return fmt.Errorf("image %q: %w", im.Label, err)
		}
	}
	for _, iso := range cfg.ISOs {
		if err := wf.EnsureISO(ctx, workflow.ISOSpec{Label: iso.Label, File: iso.File}); err != nil {
			return err
		}
	}
	return nil
}

// demoHandle is the demo account's handle.
const demoHandle = "DEMO-XENAGENT"

// demoAccount makes the demo account, with the key in its key file (a
// new one written there when the file has none) and its v1 login
// password (password_hash; "" none). It answers the account's id and
// key.
func demoAccount(d config.Demo, svc *service.Service) (int64, string, error) {
	raw, err := os.ReadFile(d.KeyFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// Unreadable is not missing: a new key would replace the one
		// the operator has.
		return 0, "", fmt.Errorf("reading demo key: %w", err)
	}
	key := strings.TrimSpace(string(raw))
	if len(key) != keyLen {
		if key, err = newKey(rand.Reader); err != nil {
			return 0, "", fmt.Errorf("generating demo key: %w", err)
		}
		if err := os.WriteFile(d.KeyFile, []byte(key+"\n"), 0o600); err != nil {
			return 0, "", fmt.Errorf("writing demo key: %w", err)
		}
	}
	id, err := svc.EnsureAccount(demoHandle, "Demo account", service.HashKey(key), 0)
	if err != nil {
		return 0, "", err
	}
	if err := svc.SetAccountPassword(demoHandle, d.PasswordHash); err != nil {
		return 0, "", fmt.Errorf("demo.password_hash: %w", err)
	}
	return id, key, nil
}

// hostWiring wires interfaces in the agent's own network namespace, where
// the hypervisor puts the VMs' backend devices.
func hostWiring(bridge string) (*wire.Wirer, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	f, err := antispoof.New()
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	reaper, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	w := wire.New(h, f, shaper.WithReaper(reaper))
	if bridge != "" {
		if err := w.EnsureBridge(bridge); err != nil {
			return nil, fmt.Errorf("network.bridge: %w", err)
		}
	}
	return w, nil
}
