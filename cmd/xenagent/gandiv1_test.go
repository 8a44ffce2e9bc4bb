package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMountGandiV1: /xmlrpc/v1/ is the v1 face's, everything else the
// handler it wraps (the v3 face's /xmlrpc/ among them).
func TestMountGandiV1(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v3 "+r.URL.Path) })
	h := mountGandiV1(next, nil, 0, "", nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	call := `<?xml version="1.0"?><methodCall><methodName>vm_list</methodName><params><param><value>nosuchsession</value></param></params></methodCall>`
	for _, tc := range []struct{ path, want string }{
		{"/xmlrpc/v1/", "<int>500150</int>"},
		{"/xmlrpc/v1", "<int>500150</int>"},
		{"/xmlrpc/", "v3 /xmlrpc/"},
		{"/xmlrpc/v2/", "v3 /xmlrpc/v2/"},
		{"/healthz", "v3 /healthz"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(call)))
		if body := rec.Body.String(); !strings.Contains(body, tc.want) {
			t.Errorf("POST %s: %q, want %q in it", tc.path, body, tc.want)
		}
	}
}
