package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// ConsoleBaseURL is where clients reach the agent, the base of the
// console links it hands out: public_url when set, else derived from
// listen and TLS (https when a certificate is configured); a wildcard
// listen address (0.0.0.0, ::, empty host) is replaced by this
// machine's hostname, which clients may or may not resolve: set
// public_url behind NAT or a proxy.
func (c Config) ConsoleBaseURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	scheme := "http"
	if c.TLS.Cert != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return scheme + "://" + c.Listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func (c Config) publicURLErrs() []string {
	if c.PublicURL == "" {
		return nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return []string{fmt.Sprintf("public_url: %q must be http(s)://host[:port] (where clients reach this agent; console links start with it)", c.PublicURL)}
	}
	return nil
}
