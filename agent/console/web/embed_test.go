package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// builtDist stands for dist/ after make build.
var builtDist = fstest.MapFS{
	"dist/xterm.js":     {Data: []byte("var Terminal;")},
	"dist/xterm.css":    {Data: []byte(".xterm{}")},
	"dist/addon-fit.js": {Data: []byte("var FitAddon;")},
}

// emptyDist is dist/ in a fresh checkout: the placeholder only.
var emptyDist = fstest.MapFS{"dist/README.txt": {Data: []byte("run make build")}}

func TestHandler(t *testing.T) {
	check := func(_ context.Context, tok string) error {
		if tok == "expired" {
			return errors.New("token expired")
		}
		return nil
	}
	tests := []struct {
		name       string
		dist       fstest.MapFS
		method     string
		path       string
		wantStatus int
		wantType   string
		want       []string // in the body
		wantNot    []string
	}{
		{name: "page", dist: builtDist, path: "/console/tok1", wantStatus: 200, wantType: "text/html",
			want:    []string{`data-token="tok1"`, `src="/console/assets/xterm.js"`, `src="/console/assets/console.js"`, "connecting"},
			wantNot: []string{"<script>", "not built"}},
		{name: "token escaped", dist: builtDist, path: `/console/a"b`, wantStatus: 200,
			want: []string{`data-token="a&#34;b"`}},
		{name: "refused token", dist: builtDist, path: "/console/expired", wantStatus: 403,
			want:    []string{"This console cannot be opened.", `<p id="reason">token expired</p>`, "refused"},
			wantNot: []string{"<script", "data-token=\"expired\""}},
		{name: "assets not built", dist: emptyDist, path: "/console/tok1", wantStatus: 200,
			want: []string{"terminal assets not built: run make build"}, wantNot: []string{"<script"}},
		{name: "xterm.js", dist: builtDist, path: "/console/assets/xterm.js", wantStatus: 200,
			wantType: "text/javascript", want: []string{"var Terminal;"}},
		{name: "console.js", dist: builtDist, path: "/console/assets/console.js", wantStatus: 200,
			wantType: "text/javascript", want: []string{"xenagentTerm"}},
		{name: "css", dist: builtDist, path: "/console/assets/console.css", wantStatus: 200, wantType: "text/css"},
		{name: "unbuilt asset", dist: emptyDist, path: "/console/assets/xterm.js", wantStatus: 404},
		{name: "no traversal", dist: builtDist, path: "/console/assets/../embed.go", wantStatus: 404},
		{name: "unknown asset", dist: builtDist, path: "/console/assets/index.html", wantStatus: 404},
		{name: "deeper path", dist: builtDist, path: "/console/tok1/other", wantStatus: 404},
		{name: "no token", dist: builtDist, path: "/console/", wantStatus: 404},
		{name: "post", dist: builtDist, method: "POST", path: "/console/tok1", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := newHandler(tt.dist, static, check, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := tt.method
			if m == "" {
				m = "GET"
			}
			req := httptest.NewRequest(m, "http://agent"+tt.path, nil)
			req.URL.Path = tt.path // keep ".." as a client could send it
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, body)
			}
			if ct := rec.Header().Get("Content-Type"); tt.wantType != "" && !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type = %q, want %s", ct, tt.wantType)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(string(body), w) {
					t.Errorf("body has %q:\n%s", w, body)
				}
			}
			if strings.HasPrefix(tt.path, "/console/assets/") || rec.Code == 404 {
				return
			}
			for k, v := range map[string]string{"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestRefuse(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(nil, nil).Refuse(rec, httptest.NewRequest("GET", "/console/x", nil), "this console link expired")
	body := rec.Body.String()
	if rec.Code != 403 || !strings.Contains(body, `<p id="reason">this console link expired</p>`) || strings.Contains(body, "<script") {
		t.Errorf("Refuse = %d %s", rec.Code, body)
	}
	if rec.Header().Get("Content-Security-Policy") != CSP {
		t.Errorf("Refuse without the CSP: %v", rec.Header())
	}
}

// TestMount: the mounting the doc comment shows does not make ServeMux
// panic on overlapping patterns, and sends each path where it belongs.
func TestMount(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /console/", Handler(nil, nil))
	mux.HandleFunc("GET /console/{token}/ws", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ws "+r.PathValue("token"))
	})
	for path, want := range map[string]string{
		"/console/tok/ws":            "ws tok",
		"/console/assets/ws":         "ws assets", // a token named assets: the WebSocket's
		"/console/tok":               "<!doctype html>",
		"/console/assets/console.js": "xenagentTerm",
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s = %d %.80q, want %q", path, rec.Code, rec.Body.String(), want)
		}
	}
}

// TestAssetRoutes: beside a console handler that owns the page and the
// WebSocket routes (agent/console's Routes), the assets' exact routes
// do not overlap them.
func TestAssetRoutes(t *testing.T) {
	site := Handler(nil, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/{token}", func(w http.ResponseWriter, r *http.Request) {
		site.ServeHTTP(w, r) // the owner checked the token
	})
	mux.HandleFunc("GET /console/{token}/ws", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ws "+r.PathValue("token"))
	})
	site.AssetRoutes(mux)
	for path, want := range map[string]string{
		"/console/tok/ws":             "ws tok",
		"/console/assets/ws":          "ws assets",
		"/console/tok":                `data-token="tok"`,
		"/console/assets/console.js":  "xenagentTerm",
		"/console/assets/console.css": "#bar",
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s = %d %.80q, want %q", path, rec.Code, rec.Body.String(), want)
		}
	}
}
