package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DiskPath is the ServeMux pattern a Receiver is mounted on (behind the
// ticket check); the disk's id is its {id}.
const DiskPath = "/migration/v1/disk/{id}"

// HTTPTarget is a Receiver across the network: URL is the disk's
// "https://host:port/migration/v1/disk/{id}", Header carries the
// "Authorization: Ticket <secret>", Client the TLS (and client
// certificate) the migration configures; no Client.Timeout, which would
// cut every stream longer than it (the caller's context bounds a pass,
// the receiver's idle timeout a silent sender).
type HTTPTarget struct {
	Client *http.Client
	URL    string
	Header http.Header
}

// NewHTTPTarget is the HTTPTarget of disk id on the agent at base
// ("https://host:port"), with the transfer's ticket. The ticket travels
// in a header only: errors quote the URL, never it.
func NewHTTPTarget(client *http.Client, base, id, ticket string) *HTTPTarget {
	return &HTTPTarget{Client: client,
		URL:    strings.TrimSuffix(base, "/") + strings.Replace(DiskPath, "{id}", url.PathEscape(id), 1),
		Header: http.Header{"Authorization": {"Ticket " + ticket}}}
}

// Have asks the receiver what it holds.
func (t *HTTPTarget) Have(ctx context.Context) (Have, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		return Have{}, err
	}
	return t.do(req)
}

// Put sends one stream.
func (t *HTTPTarget) Put(ctx context.Context, body io.Reader) (Have, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, t.URL, body)
	if err != nil {
		return Have{}, err
	}
	req.Header.Set("Content-Type", ContentType)
	return t.do(req)
}

func (t *HTTPTarget) do(req *http.Request) (Have, error) {
	for k, v := range t.Header {
		req.Header[k] = v
	}
	c := t.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return Have{}, err
	}
	defer resp.Body.Close()
	// An answer is a small JSON object; more is not a receiver's.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Have{}, fmt.Errorf("reading the receiver's answer: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		var h Have
		if err := json.Unmarshal(b, &h); err != nil {
			return Have{}, fmt.Errorf("the receiver's answer: %w", err)
		}
		return h, nil
	}
	re := &RemoteError{Status: resp.StatusCode}
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
		Have  Have   `json:"have"`
	}
	if json.Unmarshal(b, &body) == nil && body.Code != "" {
		re.Code, re.Msg, re.Have = body.Code, body.Error, body.Have
	} else {
		re.Code, re.Msg = "http", fmt.Sprintf("%.200s", b)
	}
	return re.Have, re
}
