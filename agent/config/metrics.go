package config

import (
	"fmt"
	"net"
	"strconv"
)

// Metrics says where /metrics is served and to whom.
type Metrics struct {
	// Listen, when set, is a second address serving only /metrics and
	// /healthz, in plain HTTP and without a key: for a Prometheus on a
	// management network. /metrics stays on the API's address too.
	Listen string `toml:"listen"`
	// OperatorOnly makes /metrics on the API's address ask for the
	// operator's key (Authorization: Bearer KEY): the page names every
	// VM, account and operation of the host.
	OperatorOnly bool `toml:"operator_only"`
}

// validate checks [metrics] against the rest of c.
func (m Metrics) validate(c Config) []string {
	var errs []string
	if m.Listen != "" {
		_, port, err := net.SplitHostPort(m.Listen)
		switch n, perr := strconv.ParseUint(port, 10, 16); {
		case err != nil:
			errs = append(errs, fmt.Sprintf("metrics.listen: %q is not host:port: %v", m.Listen, err))
		case perr != nil || (n == 0 && port != "0"):
			errs = append(errs, fmt.Sprintf("metrics.listen: port %q is not a number from 0 to 65535", port))
		case m.Listen == c.Listen && n != 0:
			errs = append(errs, fmt.Sprintf("metrics.listen: %s is the API's address (listen), where /metrics is served already; give another address or leave it empty", m.Listen))
		}
	}
	if m.OperatorOnly && c.Operator.KeySHA256 == "" {
		errs = append(errs, "metrics.operator_only: needs operator.key_sha256 (the key /metrics then asks for); without it no one could read /metrics on the API's address")
	}
	return errs
}
