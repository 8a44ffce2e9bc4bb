package metrics

import (
	"bytes"
	"io"
	"net/http"
	"sync"
)

// Collector writes its samples at scrape time.
type Collector func(w *Writer)

// Registry is the list of collectors one /metrics page shows.
type Registry struct {
	mu         sync.Mutex
	collectors []Collector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds a collector; safe at any time.
func (r *Registry) Register(c Collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, c)
}

// Write runs every collector and writes the page. The error names the
// samples dropped (the rest is written, valid) or the writer's failure.
func (r *Registry) Write(out io.Writer) error {
	r.mu.Lock()
	cs := append([]Collector(nil), r.collectors...)
	r.mu.Unlock()
	w := newWriter()
	for _, c := range cs {
		c(w)
	}
	if err := w.write(out); err != nil {
		return err
	}
	return w.err()
}

// ContentType is the text format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the page. A dropped sample is not the scraper's
// problem: it gets the rest; errLog, when set, hears of it.
func (r *Registry) Handler(errLog func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "/metrics wants GET", http.StatusMethodNotAllowed)
			return
		}
		var b bytes.Buffer
		if err := r.Write(&b); err != nil && errLog != nil {
			errLog(err)
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		if req.Method == http.MethodGet {
			w.Write(b.Bytes())
		}
	})
}
