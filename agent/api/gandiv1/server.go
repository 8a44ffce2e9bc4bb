package gandiv1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// Path is where the agent serves this face, beside the v3 face's
// /xmlrpc/ (cmd/xenagent routes the longer prefix here).
const Path = "/xmlrpc/v1/"

// method is one API method after the session: it decodes its arguments
// into the service's typed request, calls the service and renders the
// result in the v1 document's shape.
type method func(ctx context.Context, c *service.Caller, a args) (any, error)

// Server is the HTTP handler of the face.
type Server struct {
	svc      *service.Service
	sessions *sessions
	maxBody  int64
	log      *slog.Logger
	methods  map[string]method
	// logins bounds the slow password checks running at once, so a flood
	// of logins cannot take every core; a login that waits longer than
	// loginWait is refused as rate limited.
	logins chan struct{}
	// guard, when set, runs each password check under the v3 face's
	// bad-key back-off (SetGuard).
	guard func(r *http.Request, check func() error) error
	// operatorHash is the operator key's hash (SetOperator): "" lets no
	// operator log in.
	operatorHash string
	stats        callStats // metrics.go
}

// needsAccount are the methods that act on the session's own account:
// an operator's session has none, and v1 has no argument to name one.
var needsAccount = map[string]bool{"hosting_account_info": true, "vm_create": true, "disk_create": true}

// OperatorLogin is the login of the operator: login(OperatorLogin,
// operator key). Its session acts as the operator key does on the v3
// face: every account's VMs, disks and operations, but no account of
// its own (hosting_account_info is refused) and none to create for
// (vm_create and disk_create are refused: v1 has no way to name one).
const OperatorLogin = "OPERATOR"

// SetOperator lets the operator log in with its key (hash as
// [operator] key_sha256). Call it before serving.
func (s *Server) SetOperator(hash string) { s.operatorHash = hash }

// SetGuard runs every login's password check through guard: the v3
// face's bad-key back-off (gandi.Server.LoginCheck), so a source that
// guesses passwords here, or keys there, is slowed down in both. guard
// counts a failure when check returns service.ErrBadKey and refuses the
// call with another error when the source is backing off. Call it
// before serving.
func (s *Server) SetGuard(guard func(r *http.Request, check func() error) error) { s.guard = guard }

// MaxConcurrentLogins is how many password checks run at once.
const MaxConcurrentLogins = 2

const loginWait = 5 * time.Second

// New makes the face over svc; maxBody bounds request bodies in bytes.
func New(svc *service.Service, maxBody int64, log *slog.Logger) *Server {
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	s := &Server{svc: svc, sessions: newSessions(nil), maxBody: maxBody, log: log,
		logins: make(chan struct{}, MaxConcurrentLogins)}
	s.methods = s.table()
	return s
}

// ServeHTTP answers one XML-RPC call (POST only).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "XML-RPC wants POST", http.StatusMethodNotAllowed)
		return
	}
	start := time.Now()
	name, result, err := s.handle(r, http.MaxBytesReader(w, r.Body, s.maxBody))
	var body []byte
	if err == nil {
		if body, err = xmlrpc.EncodeResponse(result); err != nil {
			err = fmt.Errorf("encoding the response of %s: %w", name, err)
		}
	}
	f := 0
	if err != nil {
		fault := AsFault(err)
		if fault == errInternal {
			s.log.Error("v1 call failed", "method", name, "err", err)
		}
		f = fault.Code()
		body = xmlrpc.EncodeFault(fault.XMLRPC())
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(body)
	s.observe(name, f, time.Since(start))
	s.log.Debug("v1 call", "method", name, "fault", f, "duration", time.Since(start))
}

// handle decodes the call, opens or checks the session and dispatches.
func (s *Server) handle(r *http.Request, body io.Reader) (name string, result any, err error) {
	ctx := r.Context()
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("v1 handler panicked", "method", name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			result, err = nil, errInternal
		}
	}()
	call, err := xmlrpc.DecodeCall(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", nil, dataFault(ObjMethod, CauseValue, "", "request: larger than %d bytes", s.maxBody)
		}
		return "", nil, dataFault(ObjMethod, CauseValue, "", "request: %v", err)
	}
	name = call.Method
	if len(name) > 64 {
		name = name[:64] + "..."
	}
	if call.Method == "login" {
		v, err := s.login(r, args{method: "login", vals: call.Params, obj: ObjSession})
		return name, v, err
	}
	if len(call.Params) == 0 {
		return name, nil, dataFault(ObjSession, CauseMissing, "session", "session: missing parameter (the session id, from login, is the first argument)")
	}
	id, ok := call.Params[0].(string)
	if !ok {
		return name, nil, errBadSession
	}
	se, ok := s.sessions.lookup(id)
	if !ok {
		return name, nil, errBadSession
	}
	c := &service.Caller{Operator: true, Handle: OperatorLogin}
	if !se.operator {
		if c, err = s.svc.CallerOf(se.accountID, se.stamp); err != nil {
			return name, nil, errBadSession
		}
	}
	m, ok := s.methods[call.Method]
	if !ok {
		return name, nil, dataFault(ObjMethod, CauseNotFound, "", "method %q does not exist", name)
	}
	if c.Operator && needsAccount[call.Method] {
		return name, nil, dataFault(ObjAccount, CauseNoRight, "session", "%s: the operator's session has no account of its own; log in as the account", call.Method)
	}
	result, err = m(ctx, c, args{method: call.Method, vals: call.Params[1:], obj: ObjMethod})
	return name, result, err
}

// login is login(login, password[, safe]): a session id valid 12 hours.
// The operator logs in as OperatorLogin with its key (SetOperator).
// safe is accepted and changes nothing: one host has no rights above an
// account's own to step down from (the document's su is a domain API
// method, not a hosting one).
func (s *Server) login(r *http.Request, a args) (any, error) {
	if err := a.count(2, 3); err != nil {
		return nil, err
	}
	handle, err := a.str(0, "login")
	if err != nil {
		return nil, err
	}
	password, err := a.secret(1, "password")
	if err != nil {
		return nil, err
	}
	if len(a.vals) == 3 {
		if _, ok := a.vals[2].(bool); !ok {
			if n, err := toInt(ObjSession, "safe", a.vals[2]); err != nil || n != 0 && n != 1 {
				f := dataFault(ObjSession, CauseType, "safe", "safe: must be a boolean")
				f.Value, f.ShowValue = shown(a.vals[2]), true
				return nil, f
			}
		}
	}
	var c *service.Caller
	var stamp string
	busy := false
	// check holds a login slot only while it hashes: a source the guard
	// delays holds none.
	check := func() error {
		wait, cancel := context.WithTimeout(r.Context(), loginWait)
		defer cancel()
		select {
		case s.logins <- struct{}{}:
		case <-wait.Done():
			busy = true
			return nil
		}
		defer func() { <-s.logins }()
		var err error
		if handle == OperatorLogin && s.operatorHash != "" {
			// The operator's key: as strong as a key, so one SHA-256
			// checks it, as on the v3 face.
			if c, err = s.svc.Authenticate(password, s.operatorHash); err != nil || !c.Operator {
				return service.ErrBadKey
			}
			return nil
		}
		if c, stamp, err = s.svc.Login(handle, password); err != nil {
			return service.ErrBadKey // what the guard counts
		}
		return nil
	}
	if s.guard != nil {
		err = s.guard(r, check)
	} else {
		err = check()
	}
	if busy {
		return nil, dataFault(ObjSession, CauseRateLimit, "", "login: too many logins at once; retry later")
	}
	switch {
	case errors.Is(err, service.ErrBadKey):
		return nil, dataFault(ObjSession, CauseNoRight, "", "login: invalid login or password")
	case err != nil:
		return nil, dataFault(ObjSession, CauseRateLimit, "", "login: too many failed logins or keys from this address; retry later")
	}
	id, err := s.sessions.open(c, stamp)
	if err != nil {
		return nil, err
	}
	s.log.Info("v1 login", "handle", c.Handle)
	return id, nil
}
