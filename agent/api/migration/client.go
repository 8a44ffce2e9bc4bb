package migration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Client calls a target agent's endpoints: it is the source's
// workflow.Peer, and its plain full-copy workflow.DiskSender (room
// "transfer" brings the extent stream).
type Client struct {
	hc *http.Client
	// Segment is how many bytes one PUT carries: the unit a cut
	// connection resumes from.
	Segment int
}

// NewClient makes a client; tlsConfig (nil: the system's roots) is how
// the source checks the target, with its own certificate for mTLS.
func NewClient(tlsConfig *tls.Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.ResponseHeaderTimeout = 2 * time.Minute
	return &Client{hc: &http.Client{Transport: tr}, Segment: 16 << 20}
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

// Send implements workflow.DiskSender: the whole volume at path, from
// byte from on, in segments each checked by its SHA-256 and recorded by
// the target once written; a segment cut short is sent again whole. A
// segment that is all zeros is still sent (this plain copy has no marker
// for it): room "transfer" sends only extents.
func (c *Client) Send(ctx context.Context, t workflow.Target, p workflow.DiskPass, progress func(sent int64)) error {
	diskID, pass, path, from := p.DiskID, p.Pass, p.Path, p.From
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	seg := int64(max(c.Segment, 1<<20))
	if from%seg != 0 || from > size {
		from = 0 // not a boundary this sender made: the pass again
	}
	buf := make([]byte, seg)
	for off := from; off < size || (off == 0 && size == 0); off += seg {
		n, err := f.ReadAt(buf[:min(seg, size-off)], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading %s at %d: %w", path, off, err)
		}
		sum := sha256.Sum256(buf[:n])
		hdr := http.Header{}
		hdr.Set(HeaderSHA256, hex.EncodeToString(sum[:]))
		hdr.Set("Content-Type", "application/octet-stream")
		q := fmt.Sprintf("disk/%d?pass=%s&offset=%s", diskID, url.QueryEscape(pass), strconv.FormatInt(off, 10))
		if _, err := c.call(ctx, t, http.MethodPut, q, bytes.NewReader(buf[:n]), hdr); err != nil {
			return err
		}
		if progress != nil {
			progress(off + int64(n))
		}
		if size == 0 {
			break
		}
	}
	return nil
}
