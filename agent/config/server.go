package config

import (
	"fmt"
	"time"
)

// Server bounds what clients can take from the agent, so that no number
// or kind of client can make an operation fail (every operation needs
// file descriptors: volumes, libvirt, bbolt, seeds, netlink).
type Server struct {
	// MaxConnections caps open client connections. The agent lowers it to
	// RLIMIT_NOFILE minus FDReserve at start.
	MaxConnections int `toml:"max_connections"`
	// MaxConnectionsPerSource caps one source's open connections (an IPv4
	// address, an IPv6 /64).
	MaxConnectionsPerSource int `toml:"max_connections_per_source"`
	// FDReserve is the number of file descriptors kept for operations.
	FDReserve int `toml:"fd_reserve"`
	// ReadHeaderTimeout closes a connection that does not send its
	// request headers in time; IdleTimeout one idle between requests.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	IdleTimeout       Duration `toml:"idle_timeout"`
	// ReadTimeout bounds reading a whole request, body included (a body
	// trickled a byte a second holds its connection until then);
	// WriteTimeout bounds answering one.
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// A source may present BadKeyBurst invalid API keys, then one more
	// per BadKeyEvery; beyond that its calls get CAUSE_RATELIMIT, after
	// BadKeyDelay, without their key being checked.
	BadKeyBurst int      `toml:"bad_key_burst"`
	BadKeyEvery Duration `toml:"bad_key_every"`
	BadKeyDelay Duration `toml:"bad_key_delay"`
}

// DefaultServer is the [server] section's defaults.
func DefaultServer() Server {
	return Server{MaxConnections: 4096, MaxConnectionsPerSource: 64, FDReserve: 512,
		ReadHeaderTimeout: Duration{10 * time.Second}, IdleTimeout: Duration{60 * time.Second},
		ReadTimeout: Duration{15 * time.Second}, WriteTimeout: Duration{time.Minute}, MaxHeaderBytes: 16 << 10,
		BadKeyBurst: 10, BadKeyEvery: Duration{time.Second}, BadKeyDelay: Duration{time.Second}}
}

func (s Server) validate() []string {
	var errs []string
	if s.MaxConnections < 1 {
		errs = append(errs, fmt.Sprintf("server.max_connections: must be at least 1, got %d", s.MaxConnections))
	}
	if s.MaxConnectionsPerSource < 1 || s.MaxConnectionsPerSource > s.MaxConnections {
		errs = append(errs, fmt.Sprintf("server.max_connections_per_source: must be from 1 to max_connections (%d), got %d", s.MaxConnections, s.MaxConnectionsPerSource))
	}
	if s.FDReserve < 64 {
		errs = append(errs, fmt.Sprintf("server.fd_reserve: must be at least 64 (operations need file descriptors), got %d", s.FDReserve))
	}
	if s.ReadHeaderTimeout.Duration <= 0 || s.IdleTimeout.Duration <= 0 {
		errs = append(errs, "server.read_header_timeout, server.idle_timeout: must be positive")
	}
	// A 1 MiB body (the largest accepted) at 100 KB/s takes ~10 s.
	if s.ReadTimeout.Duration < time.Second || s.ReadTimeout.Duration > 10*time.Minute {
		errs = append(errs, fmt.Sprintf("server.read_timeout: must be from 1s to 10m, got %s", s.ReadTimeout.Duration))
	}
	if s.WriteTimeout.Duration < time.Second || s.WriteTimeout.Duration > 10*time.Minute {
		errs = append(errs, fmt.Sprintf("server.write_timeout: must be from 1s to 10m, got %s", s.WriteTimeout.Duration))
	}
	if s.ReadHeaderTimeout.Duration > s.ReadTimeout.Duration {
		errs = append(errs, fmt.Sprintf("server.read_header_timeout: must be at most read_timeout (%s), got %s", s.ReadTimeout.Duration, s.ReadHeaderTimeout.Duration))
	}
	if s.MaxHeaderBytes < 1024 {
		errs = append(errs, fmt.Sprintf("server.max_header_bytes: must be at least 1024, got %d", s.MaxHeaderBytes))
	}
	if s.BadKeyBurst < 1 || s.BadKeyEvery.Duration <= 0 || s.BadKeyDelay.Duration < 0 || s.BadKeyDelay.Duration > time.Minute {
		errs = append(errs, "server: bad_key_burst must be at least 1, bad_key_every positive, bad_key_delay from 0 to 1m")
	}
	return errs
}
