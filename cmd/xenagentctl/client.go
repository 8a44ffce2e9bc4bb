package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// client calls the API with the key first, as every method takes it.
type client struct {
	url string
	key string
	hc  *http.Client
}

func newClient(url, key string) *client {
	return &client{url: url, key: key, hc: &http.Client{Timeout: time.Minute}}
}

func (c *client) call(ctx context.Context, method string, params ...any) (any, error) {
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
