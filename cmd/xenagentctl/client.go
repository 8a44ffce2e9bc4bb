package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// client calls the API with the key first, as every method takes it.
type client struct {
	url string
	key string
	hc  *http.Client
	// find, when set, finds the URL and key at the first call: a wrong
	// command line is told (exit 2) before a missing key is.
	find    func() (target, error)
	findErr error
	once    sync.Once
}

func newClient(url, key string) *client {
	return &client{url: url, key: key, hc: &http.Client{Timeout: time.Minute}}
}

// lazyClient finds its URL and key with find at its first call.
func lazyClient(find func() (target, error)) *client {
	return &client{hc: &http.Client{Timeout: time.Minute}, find: find}
}

func (c *client) call(ctx context.Context, method string, params ...any) (any, error) {
	if _, err := c.endpoint(); err != nil {
		return nil, err
	}
	body, err := xmlrpc.EncodeCall(method, append([]any{c.key}, params...)...)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return xmlrpc.DecodeResponse(resp.Body)
}

// endpoint is the API's URL and the key, found at the first use: for
// commands that speak to the agent other than by XML-RPC (a console's
// WebSocket, an event stream) on the same URL and key.
func (c *client) endpoint() (target, error) {
	if c.find != nil {
		c.once.Do(func() {
			var t target
			if t, c.findErr = c.find(); c.findErr == nil {
				c.url, c.key = t.url, t.key
			}
		})
		if c.findErr != nil {
			return target{}, c.findErr
		}
	}
	return target{url: c.url, key: c.key}, nil
}
