package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/config"
)

// defaultConfig is where the package installs the agent's configuration.
const defaultConfig = "/etc/xenagent/xenagent.toml"

// operatorKeyFile is where, in the agent's state_dir, an operator may keep
// the operator key (mode 0600): the agent stores only its hash, so it is
// the operator's to put there. Looked for before the demo account's key.
const operatorKeyFile = "operator.key"

type options struct {
	url, key, keyFile, config string
	timeout                   time.Duration
}

type target struct{ url, key string }

// resolve finds the endpoint and the key: the flags, then XENAGENT_URL
// and XENAGENT_KEY, then the agent's configuration (-config): its listen
// address, and the key in its state_dir (operator.key, else the demo
// account's key file the agent writes there). Never the current
// directory: a key found there would depend on where one stands.
func resolve(o options, getenv func(string) string) (target, error) {
	t := target{url: o.url, key: o.key}
	if t.url == "" {
		t.url = getenv("XENAGENT_URL")
	}
	if t.key == "" {
		t.key = getenv("XENAGENT_KEY")
	}
	if t.key == "" && o.keyFile != "" {
		b, err := os.ReadFile(o.keyFile)
		if err != nil {
			return t, fmt.Errorf("-key-file: %w", err)
		}
		t.key = strings.TrimSpace(string(b))
	}
	if t.url != "" && t.key != "" {
		return t, nil
	}
	cfg, cerr := loadConfig(o.config)
	if t.url == "" {
		t.url = "http://127.0.0.1:8080/xmlrpc/"
		if cerr == nil {
			t.url = urlOf(cfg)
		}
	}
	if t.key != "" {
		return t, nil
	}
	if cerr != nil {
		return t, fmt.Errorf("no key: pass -key, -key-file or XENAGENT_KEY, or -config with the agent's configuration (%v)", cerr)
	}
	var tried []string
	for _, p := range []string{filepath.Join(cfg.StateDir, operatorKeyFile), cfg.Demo.KeyFile} {
		b, err := os.ReadFile(p)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			t.key = strings.TrimSpace(string(b))
			return t, nil
		}
		if err == nil {
			err = errors.New("empty")
		}
		tried = append(tried, err.Error())
	}
	return t, fmt.Errorf("no key: pass -key, -key-file or XENAGENT_KEY (from %s: %s)", o.config, strings.Join(tried, "; "))
}

// loadConfig reads the agent's configuration, with its defaults and its
// paths made absolute; a missing file says so.
func loadConfig(path string) (config.Config, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return config.Config{}, fmt.Errorf("-config %s: no such file", path)
	}
	return config.Load(path)
}

// urlOf is the API's URL on this machine from the agent's listen address:
// a wildcard address is reached on the loopback, and TLS means https.
func urlOf(c config.Config) string {
	scheme := "http"
	if c.TLS.Cert != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return scheme + "://" + c.Listen + "/xmlrpc/"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/xmlrpc/"
}
