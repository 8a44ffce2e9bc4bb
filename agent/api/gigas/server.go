package gigas

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/service"
)

// Config is what the face needs beside the service.
type Config struct {
	// OperatorHash is the stored hash of the operator's key.
	OperatorHash string
	// MaxBodyBytes bounds request bodies (413 beyond); default 1 MiB.
	MaxBodyBytes int64
	// Guard, if set, runs the key's check under the Gandi face's bad-key
	// back-off (gandi.Server.KeyCheck), so guessing keys here is no faster
	// than there; an error other than service.ErrBadKey is its refusal
	// (429).
	Guard func(r *http.Request, check func() error) error
}

// Server serves the Gigas REST face. Create it with New.
type Server struct {
	svc    *service.Service
	cfg    Config
	log    *slog.Logger
	routes []route
	stats  requestStats
}

// New makes the face over svc.
func New(svc *service.Service, cfg Config, log *slog.Logger) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	s := &Server{svc: svc, cfg: cfg, log: log}
	s.routes = s.table()
	return s
}

// call is one authenticated request: c acts for the account of the path
// (an account's key is that account; the operator's key acts as the
// account it names), op is the key's own caller (the operator's, for
// operator-only calls).
type call struct {
	r       *http.Request
	w       http.ResponseWriter
	c       *service.Caller
	op      *service.Caller
	account int64
	s       *Server
	// raw is the request's body, read once (413 past the bound).
	raw []byte
	// idem is the Idempotency-Key; method and digest say what the call
	// is to the service (idem.go).
	idem, method, digest string
	// steps is how many service calls the call makes (plan), 0 or 1 one.
	steps int
}

// handler answers a call: the success status and the body to encode.
type handler func(ctx context.Context, k *call) (int, any, error)

// route is one endpoint: the table is what the mux serves, what the
// OpenAPI check walks and what the README lists.
type route struct {
	method, path string
	h            handler
	// noAccount: the path has no account id (the OpenAPI document).
	noAccount bool
	raw       http.HandlerFunc
}

// OpenAPIPath is where the face serves its OpenAPI 3 document.
const OpenAPIPath = "/gigas/openapi.json"

// Handler routes the face's paths (Go 1.22 patterns, methods included):
// /account/{account_id}/... and OpenAPIPath. A path served with another
// method is 405 with Allow; an unknown path under /account/ is 404, in
// JSON.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		pattern := rt.method + " " + rt.path
		if rt.raw != nil {
			mux.HandleFunc(pattern, rt.raw)
			continue
		}
		mux.Handle(pattern, s.serve(rt.h))
	}
	// The catch-all wins over a pattern of another method, so it tells a
	// path served with other methods (405, Allow) from an unknown one.
	mux.HandleFunc("/account/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := mux.Handler(probe); p != "/account/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Code: CodeMethod,
				Msg: "method: " + r.Method + " is not served at " + r.URL.Path + " (Allow: " + strings.Join(allow, ", ") + ")"})
			return
		}
		writeError(w, notFound("path", r.URL.Path+" is not an endpoint of this API (see "+OpenAPIPath+")"))
	})
	return s.observed(jsonMethodErrors(mux))
}

// Paths lists the patterns the face serves, for the composition (which
// mounts them beside /xmlrpc/).
func (s *Server) Paths() []string { return []string{"/account/", OpenAPIPath} }

func (s *Server) serve(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := s.authenticate(w, r)
		if err == nil && r.Method != http.MethodGet {
			k.raw, err = readRaw(w, r, s.cfg.MaxBodyBytes)
		}
		if err == nil {
			err = k.readIdem()
		}
		if err == nil {
			if status, out, ok := s.replay(r.Context(), k); ok {
				writeJSON(w, status, out)
				return
			}
			var status int
			var out any
			status, out, err = h(r.Context(), k)
			if err == nil {
				writeJSON(w, status, out)
				return
			}
		}
		e := asError(err, nil)
		if e.Status == http.StatusInternalServerError {
			s.log.Error("gigas call failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(w, e)
	})
}

// authenticate resolves the key and the account of the path.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*call, error) {
	key := strings.TrimSpace(r.Header.Get("Authorization"))
	if k, ok := strings.CutPrefix(key, "Bearer "); ok {
		key = strings.TrimSpace(k)
	}
	if key == "" {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Msg: "Authorization: missing header (the API key)"}
	}
	var caller *service.Caller
	check := func() (err error) {
		caller, err = s.svc.Authenticate(key, s.cfg.OperatorHash)
		return err
	}
	var err error
	if s.cfg.Guard != nil {
		err = s.cfg.Guard(r, check)
	} else {
		err = check()
	}
	switch {
	case errors.Is(err, service.ErrBadKey):
		return nil, err
	case err != nil:
		w.Header().Set("Retry-After", "10")
		return nil, &apiError{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Msg: "Authorization: " + err.Error()}
	}
	acct, err := pathID(r, "account_id")
	if err != nil {
		return nil, err
	}
	k := &call{r: r, w: w, c: caller, op: caller, account: acct, s: s}
	if !caller.Operator {
		if caller.AccountID != acct {
			return nil, forbidden("account_id", "the key is another account's")
		}
		return k, nil
	}
	// The operator acts as the account: the service then scopes every
	// read and write to it, as for the account's own key.
	a, err := s.svc.Account(&service.Caller{AccountID: acct})
	if err != nil {
		return nil, err
	}
	if a.ID != acct {
		return nil, notFound("account_id", "account "+strconv.FormatInt(acct, 10)+" does not exist")
	}
	k.c = &service.Caller{AccountID: acct, Handle: a.Handle}
	return k, nil
}

// pathID reads a positive id from the path, in its one canonical
// spelling: "+1" and "0001" would give one object many paths, which a
// proxy's rule on /account/1/ or an idempotency digest would tell apart.
func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != v {
		return 0, invalid(name, "must be a positive integer, got "+strconv.Quote(v))
	}
	return n, nil
}

func (k *call) id(name string) (int64, error) { return pathID(k.r, name) }

// body decodes the request's JSON object.
func (k *call) body() (*body, error) { return parseBody(k.raw) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.Status, e) }

// jsonMethodErrors turns the mux's plain-text 405 into the face's JSON
// error, keeping its Allow header.
func jsonMethodErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&methodWriter{ResponseWriter: w, r: r}, r)
	})
}

type methodWriter struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool
}

func (m *methodWriter) WriteHeader(code int) {
	if code == http.StatusMethodNotAllowed && m.Header().Get("Content-Type") != "application/json" {
		m.swallow = true
		m.Header().Del("X-Content-Type-Options")
		writeError(m.ResponseWriter, &apiError{Status: code, Code: CodeMethod,
			Msg: "method: " + m.r.Method + " is not served at " + m.r.URL.Path + " (Allow: " + m.Header().Get("Allow") + ")"})
		return
	}
	m.ResponseWriter.WriteHeader(code)
}

func (m *methodWriter) Write(b []byte) (int, error) {
	if m.swallow {
		return len(b), nil
	}
	return m.ResponseWriter.Write(b)
}
