package gigas

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

func TestAsError(t *testing.T) {
	rename := map[string]string{"cores": "cpus", "": "virtual_machine_id"}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"bad key", service.ErrBadKey, http.StatusUnauthorized, CodeUnauthorized, "Authorization: invalid API key"},
		{"renamed field", service.Invalid(service.ObjVM, "cores", "must be between 1 and 16"), 400, CodeInvalid, "cpus: must be between 1 and 16"},
		{"field kept", service.Missing(service.ObjVM, "memory"), 400, CodeMissing, "memory: missing parameter"},
		{"no field", service.Errorf(service.ObjVM, service.KindNotFound, "vm 3 does not exist"), 404, CodeNotFound, "virtual_machine_id: vm 3 does not exist"},
		{"busy", service.Errorf(service.ObjVM, service.KindBusy, "vm_id: busy"), 409, CodeBusy, "vm_id: busy"},
		{"conflict", service.Errorf(service.ObjVM, service.KindConflict, "vm_id: locked"), 409, CodeConflict, "vm_id: locked"},
		{"quota", service.Errorf(service.ObjDisk, service.KindQuota, "size: over"), 403, CodeQuota, "size: over"},
		{"rate", service.Errorf(service.ObjAccount, service.KindRateLimit, "slow down"), 429, CodeRateLimited, "virtual_machine_id: slow down"},
		{"unavailable", service.Errorf(service.ObjUnknown, service.KindUnavailable, "state: disk full"), 503, CodeUnavailable, "state: disk full"},
		{"internal", errors.New("boom"), 500, CodeInternal, "virtual_machine_id: internal error: boom"},
		{"the face's own", invalid("port", "bad"), 400, CodeInvalid, "port: bad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := asError(tc.err, rename)
			if e.Status != tc.status || e.Code != tc.code || e.Msg != tc.msg {
				t.Fatalf("got %d %s %q, want %d %s %q", e.Status, e.Code, e.Msg, tc.status, tc.code, tc.msg)
			}
		})
	}
}

// TestGuard: the bad-key back-off the composition passes in (the Gandi
// face's) refuses with 429 and Retry-After; its bad key stays 401.
func TestGuard(t *testing.T) {
	a := newAgent(t)
	for _, tc := range []struct {
		name   string
		guard  func(r *http.Request, check func() error) error
		status int
		code   string
	}{
		{"refused", func(*http.Request, func() error) error { return errors.New("too many invalid API keys") }, 429, CodeRateLimited},
		{"checked, bad key", func(_ *http.Request, check func() error) error { return check() }, 401, CodeUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(New(a.svc, Config{OperatorHash: service.HashKey(operatorKey), Guard: tc.guard}, slog.New(slog.NewTextHandler(io.Discard, nil))).Handler())
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+acctPath(a.alice)+"/virtual_machines", nil)
			req.Header.Set("Authorization", "wrong")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e apiError
			json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.status || e.Code != tc.code || (tc.status == 429 && resp.Header.Get("Retry-After") == "") {
				t.Fatalf("%d %+v %v", resp.StatusCode, e, resp.Header)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	a := newAgent(t)
	s := New(a.svc, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, key := range []string{"", aliceKey} {
		req, _ := http.NewRequest("GET", srv.URL+acctPath(a.alice)+"/virtual_machines", nil)
		req.Header.Set("Authorization", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	route := "GET /account/{account_id}/virtual_machines"
	if s.stats.counts[route+"\x00401"] != 1 || s.stats.counts[route+"\x00200"] != 1 {
		t.Fatalf("counts: %v", s.stats.counts)
	}
}
