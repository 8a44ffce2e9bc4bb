package gigas

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/metrics"
)

// requestStats counts the face's requests by route and status, and the time
// spent serving them, for WriteMetrics.
type requestStats struct {
	mu      sync.Mutex
	counts  map[string]int64   // "pattern\x00status" -> requests
	seconds map[string]float64 // pattern -> seconds
}

func (st *requestStats) observe(pattern string, status int, d time.Duration) {
	if pattern == "" {
		pattern = "unknown"
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.counts == nil {
		st.counts, st.seconds = map[string]int64{}, map[string]float64{}
	}
	st.counts[pattern+"\x00"+strconv.Itoa(status)]++
	st.seconds[pattern] += d.Seconds()
}

// WriteMetrics is the face's collector: requests by route and status,
// and the time spent serving them by route.
func (s *Server) WriteMetrics(w *metrics.Writer) {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	for k, n := range s.stats.counts {
		route, status, _ := strings.Cut(k, "\x00")
		w.Counter("xenagent_gigas_requests_total", "Gigas REST requests by route and HTTP status.", float64(n), "route", route, "status", status)
	}
	for route, sec := range s.stats.seconds {
		w.Counter("xenagent_gigas_seconds_total", "Time spent serving Gigas REST requests by route.", sec, "route", route)
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// observed counts and logs every request the mux serves.
func (s *Server) observed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		d := time.Since(start)
		s.stats.observe(r.Pattern, sw.status, d)
		s.log.Debug("gigas request", "method", r.Method, "route", r.Pattern, "status", sw.status, "duration", d)
	})
}
