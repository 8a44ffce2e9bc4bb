// Package gandi is the Gandi hosting v3 face of the agent: XML-RPC at
// /xmlrpc/ (hosting.*, operation.*, the API key first). It bounds and
// decodes requests, authenticates the key, decodes each method's
// arguments into the service's typed requests, renders the service's
// results in the seed's shapes and maps the service's typed errors to
// Gandi's fault codes, once, here. It knows nothing of libvirt, the
// store or the steps of operations.
package gandi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// Server is the HTTP handler for the API.
type Server struct {
	svc          *service.Service
	operatorHash string
	maxBody      int64
	log          *slog.Logger
	face         *Face
	guard        *keyGuard // bad-key back-off (limits.go); nil: none
	health       func(context.Context) error

	mu      sync.Mutex
	counts  map[string]int64 // "method code" -> requests
	seconds map[string]float64
}

// New returns a server; maxBody bounds request bodies in bytes.
func New(svc *service.Service, operatorHash string, maxBody int64, log *slog.Logger) *Server {
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	return &Server{svc: svc, operatorHash: operatorHash, maxBody: maxBody, log: log, face: NewFace(svc),
		counts: map[string]int64{}, seconds: map[string]float64{}}
}

// Handler routes /xmlrpc/ and /healthz. /metrics is the composition's
// (cmd/xenagent), which registers WriteMetrics among its collectors.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/xmlrpc/", s.serveRPC)
	mux.HandleFunc("/xmlrpc", s.serveRPC)
	mux.HandleFunc("/healthz", s.ServeHealth)
	return mux
}

func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "XML-RPC wants POST", http.StatusMethodNotAllowed)
		return
	}
	start := time.Now()
	r = withWriteDeadline(r, w) // a long poll (hosting.event.from) moves it
	method, result, err := s.call(r, w)
	var body []byte
	code := 0
	if err == nil {
		body, err = s.encode(method, result)
	}
	if err != nil {
		f := AsFault(err)
		code = f.Code()
		body = xmlrpc.EncodeFault(f.XMLRPC())
		if f.Cause == CauseUnknown && f != errInternal { // a panic was logged with its stack
			s.log.Error("call failed", "method", method, "err", err)
		}
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(body)
	s.observe(method, code, time.Since(start))
	s.log.Debug("call", "method", method, "fault", code, "duration", time.Since(start))
}

func (s *Server) handle(ctx context.Context, body io.Reader) (string, any, error) {
	call, err := xmlrpc.DecodeCall(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", nil, &Fault{Object: ObjMethod, Cause: CauseBadParam, Msg: fmt.Sprintf("request: larger than %d bytes", s.maxBody)}
		}
		return "", nil, &Fault{Object: ObjMethod, Cause: CauseBadParam, Msg: "request: " + err.Error()}
	}
	if len(call.Params) == 0 {
		return call.Method, nil, &Fault{Object: ObjAccount, Cause: CauseMissing, Msg: "apikey: missing parameter (the API key is the first argument)"}
	}
	key, ok := call.Params[0].(string)
	if !ok {
		return call.Method, nil, service.ErrBadKey
	}
	caller, err := s.svc.Authenticate(key, s.operatorHash)
	if err != nil {
		return call.Method, nil, err
	}
	if !s.face.Known(call.Method) {
		return call.Method, nil, unknownMethod(call.Method)
	}
	result, err := s.dispatch(ctx, caller, call.Method, call.Params[1:])
	return call.Method, result, err
}

func (s *Server) observe(method string, code int, d time.Duration) {
	if !s.face.Known(method) {
		method = "unknown"
	}
	k := fmt.Sprintf("%s %d", method, code)
	s.mu.Lock()
	s.counts[k]++
	s.seconds[method] += d.Seconds()
	s.mu.Unlock()
}

// WriteMetrics is the face's collector: calls by method and fault code,
// and the time spent serving them.
func (s *Server) WriteMetrics(w *metrics.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, n := range s.counts {
		m, c, _ := strings.Cut(k, " ")
		w.Counter("xenagent_rpc_requests_total", "API calls by method and fault code (0: success).", float64(n), "method", m, "fault", c)
	}
	for m, sec := range s.seconds {
		w.Counter("xenagent_rpc_seconds_total", "Time spent serving API calls by method.", sec, "method", m)
	}
}

// SetHealth sets the check /healthz runs (the reconciler's). Call it
// before serving.
func (s *Server) SetHealth(fn func(context.Context) error) { s.health = fn }

// healthTimeout bounds one health check; a check that overruns is itself
// a failure (a wedged store or libvirtd).
const healthTimeout = 5 * time.Second

// ServeHealth answers 200 "ok" only when the agent works (state writes,
// the operation engine, libvirtd), else 503 with one reason a line.
func (s *Server) ServeHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	health := s.health
	if health == nil {
		health = func(context.Context) error { return errors.New("no health check is set") }
	}
	if err := health(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "unhealthy\n"+err.Error()+"\n")
		return
	}
	io.WriteString(w, "ok\n")
}
