package gandiv1

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/metrics"
)

// callStats counts calls by method and fault code, and the time spent
// serving them. A method the face does not serve counts as "unknown", so
// a client cannot grow the page with made-up names.
type callStats struct {
	mu      sync.Mutex
	counts  map[string]int64 // "method code" -> calls
	seconds map[string]float64
}

func (s *Server) observe(method string, code int, d time.Duration) {
	if _, ok := s.methods[method]; !ok && method != "login" {
		method = "unknown"
	}
	k := fmt.Sprintf("%s %d", method, code)
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	if s.stats.counts == nil {
		s.stats.counts, s.stats.seconds = map[string]int64{}, map[string]float64{}
	}
	s.stats.counts[k]++
	s.stats.seconds[method] += d.Seconds()
}

// WriteMetrics is the face's collector: v1 calls by method and fault code
// (0: success), and the time spent serving them.
func (s *Server) WriteMetrics(w *metrics.Writer) {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	for k, n := range s.stats.counts {
		m, c, _ := strings.Cut(k, " ")
		w.Counter("xenagent_v1_requests_total", "Gandi v1 calls by method and fault code (0: success).", float64(n), "method", m, "fault", c)
	}
	for m, sec := range s.stats.seconds {
		w.Counter("xenagent_v1_seconds_total", "Time spent serving Gandi v1 calls by method.", sec, "method", m)
	}
	w.Gauge("xenagent_v1_sessions", "Gandi v1 sessions open (expired ones not yet dropped included).", float64(s.sessions.count()))
}
