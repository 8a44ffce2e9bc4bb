package migration

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/transfer"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Client calls a target agent's endpoints: it is the source's
// workflow.Peer and workflow.DiskSender.
type Client struct {
	hc *http.Client
	// Limiter caps what the disk streams put on the wire: one per agent,
	// shared by every pass of every move (nil: no cap).
	Limiter *transfer.Limiter
	// Log gets a warning per stream sent again (nil: none).
	Log *slog.Logger
}

// NewClient makes a client; tlsConfig (nil: the system's roots) is how
// the source checks the target, with its own certificate for mTLS.
func NewClient(tlsConfig *tls.Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.ResponseHeaderTimeout = 2 * time.Minute
	return &Client{hc: &http.Client{Transport: tr}}
}

// transient is an error worth retrying: no answer, or a 5xx.
type transient struct{ err error }

func (t transient) Error() string   { return t.err.Error() }
func (t transient) Unwrap() error   { return t.err }
func (t transient) Transient() bool { return true }

// call does one request and decodes the state it answers.
func (c *Client) call(ctx context.Context, t workflow.Target, method, path string, body io.Reader, hdr http.Header) (workflow.PeerState, error) {
	var st workflow.PeerState
	u, err := url.JoinPath(t.URL, Prefix, path)
	if err != nil {
		return st, fmt.Errorf("target %q: %w", t.URL, err)
	}
	if i := strings.IndexByte(path, '?'); i >= 0 { // JoinPath escapes a query
		u, _ = url.JoinPath(t.URL, Prefix, path[:i])
		u += path[i:]
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return st, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Ticket "+t.Ticket)
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return st, transient{err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return st, transient{err}
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &st); err != nil {
			return st, fmt.Errorf("%s %s: answer: %w", method, path, err)
		}
		return st, nil
	}
	var e errorBody
	_ = json.Unmarshal(raw, &e)
	if e.Error == "" {
		e.Error = strings.TrimSpace(string(raw))
	}
	err = fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
	switch {
	case resp.StatusCode == http.StatusConflict && e.Phase == store.TicketAborted:
		return st, fmt.Errorf("%w: %v", workflow.ErrPeerAborted, err)
	case resp.StatusCode == http.StatusConflict && e.Phase == store.TicketCommitted:
		return st, fmt.Errorf("%w: %v", workflow.ErrPeerCommitted, err)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return st, transient{err}
	}
	return st, fmt.Errorf("%w: %v", workflow.ErrPeerRefused, err)
}

func jsonBody(v any) io.Reader {
	raw, _ := json.Marshal(v)
	return bytes.NewReader(raw)
}

// Begin implements workflow.Peer.
func (c *Client) Begin(ctx context.Context, t workflow.Target, b workflow.Bundle) (workflow.PeerState, error) {
	return c.call(ctx, t, http.MethodPost, "begin", jsonBody(b), nil)
}

// State implements workflow.Peer.
func (c *Client) State(ctx context.Context, t workflow.Target) (workflow.PeerState, error) {
	return c.call(ctx, t, http.MethodGet, "state", nil, nil)
}

// Prepare implements workflow.Peer.
func (c *Client) Prepare(ctx context.Context, t workflow.Target) (workflow.PeerState, error) {
	return c.call(ctx, t, http.MethodPost, "prepare", nil, nil)
}

// Commit implements workflow.Peer.
func (c *Client) Commit(ctx context.Context, t workflow.Target, start bool) (workflow.PeerState, error) {
	return c.call(ctx, t, http.MethodPost, "commit", jsonBody(map[string]bool{"start": start}), nil)
}

// Abort implements workflow.Peer.
func (c *Client) Abort(ctx context.Context, t workflow.Target, why string) (workflow.PeerState, error) {
	return c.call(ctx, t, http.MethodPost, "abort", jsonBody(map[string]string{"why": why}), nil)
}

// Send implements workflow.DiskSender with agent/transfer's chunk
// stream: the pass's extents, read from its path, to the target's disk
// endpoint, resumed where the target stands, throttled by the agent's
// Limiter. A target unreachable for longer than the stream's retries is
// transient (the step is tried again, resuming); a refusal is
// workflow.ErrPeerRefused, or ErrPeerAborted when the target aborted.
func (c *Client) Send(ctx context.Context, t workflow.Target, p workflow.DiskPass, progress func(workflow.PassProgress)) error {
	f, err := os.Open(p.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	ext := make([]transfer.Extent, len(p.Extents))
	for i, e := range p.Extents {
		ext[i] = transfer.Extent{Off: e.Off, Len: e.Len}
	}
	item := strconv.FormatInt(p.DiskID, 10)
	if p.Pass == workflow.PassMemory {
		item = workflow.MemoryItem
	}
	dst := transfer.NewHTTPTarget(c.hc, t.URL, item, t.Ticket)
	_, err = transfer.Send(ctx, f, ext, dst, transfer.Options{Pass: p.Pass, Base: p.Base, Size: p.Size,
		Limiter: c.Limiter, Log: c.Log, Progress: func(tp transfer.Progress) {
			if progress != nil {
				progress(workflow.PassProgress{Done: tp.Done, Total: tp.Total, Rate: tp.Rate, ETA: tp.ETA})
			}
		}})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return err
	}
	if st, serr := c.State(ctx, t); serr == nil && st.Phase == store.TicketAborted {
		return fmt.Errorf("%w: %v", workflow.ErrPeerAborted, err)
	}
	// The stream sent again what sending again could mend; what is left
	// is a refusal, or a target gone for longer than its retries.
	var re *transfer.RemoteError
	switch {
	case errors.As(err, &re) && re.Status < 500 && re.Status != http.StatusRequestTimeout &&
		re.Status != http.StatusTooManyRequests && !errors.Is(err, transfer.ErrBusy):
		return fmt.Errorf("%w: %v", workflow.ErrPeerRefused, err)
	case errors.Is(err, transfer.ErrSource), errors.Is(err, transfer.ErrDigest), errors.Is(err, transfer.ErrConflict):
		return err
	}
	return transient{err}
}
