package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// AssetPrefix is where Handler serves the page's scripts and styles.
const AssetPrefix = "/console/assets/"

// CSP is the page's Content-Security-Policy: no inline script, nothing
// from another origin; the WebSocket goes back to the agent. xterm.js's
// DOM renderer writes its theme into a <style> element and element
// styles, hence 'unsafe-inline' for styles only.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed all:dist
var dist embed.FS

//go:embed index.html console.js console.css
var static embed.FS

// Checker says whether token may open the console page, without
// consuming it (token.Issuer.Peek: the WebSocket redeems it). Its error
// is shown to the person, with HTTP 403, so it must say why in their
// words ("this console link expired: ask for a new one").
type Checker func(ctx context.Context, token string) error

// Handler serves the console page at /console/{token} and its assets
// under AssetPrefix; anything else under /console/ is 404. Either mount
// it on "GET /console/" next to the WebSocket handler on
// "GET /console/{token}/ws" (the more specific pattern wins):
//
//	peek := func(_ context.Context, tok string) error {
//		_, err := iss.Peek("console", tok)
//		return err // shown as is: word it for people
//	}
//	mux.Handle("GET /console/", web.Handler(peek, log))
//	mux.Handle("GET /console/{token}/ws", consoleWS)
//
// or, when another handler owns "GET /console/{token}" and checks the
// token itself, give it the Site as the page (check nil) and add only
// the assets' routes:
//
//	site := web.Handler(nil, log)
//	site.AssetRoutes(mux)        // GET /console/assets/<name>, exact patterns
//	consoleHandler.Page = site   // serves the page for r.URL.Path /console/{token}
func Handler(check Checker, log *slog.Logger) *Site {
	h, err := newHandler(dist, static, check, log)
	if err != nil {
		panic(err) // the embedded files are part of the binary: a test catches it
	}
	return h
}

// AssetRoutes adds one exact pattern per asset ("GET /console/assets/xterm.js"...)
// to mux. Exact, because a prefix pattern "/console/assets/" would
// overlap "/console/{token}/ws" (on /console/assets/ws) and ServeMux
// panics on overlapping patterns neither of which is more specific.
func (h *Site) AssetRoutes(mux *http.ServeMux) {
	names := make([]string, 0, len(h.assets))
	for name := range h.assets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		mux.Handle("GET "+AssetPrefix+name, h)
	}
}

// AssetsBuilt reports whether the binary embeds the terminal (make build
// ran deploy/web/fetch before go build). Without it the page only says
// so: log it at start, and tests that need the terminal skip or fail.
func AssetsBuilt() bool {
	_, err := fs.Stat(dist, "dist/xterm.js")
	return err == nil
}

// asset is one file served under AssetPrefix, hashed once for its ETag.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Site is the console page and its assets (an http.Handler).
type Site struct {
	assets map[string]asset
	built  bool // xterm.js and its addon are there
	page   *template.Template
	check  Checker
	log    *slog.Logger
}

func newHandler(distFS, staticFS fs.FS, check Checker, log *slog.Logger) (*Site, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Site{assets: map[string]asset{}, check: check, log: log}
	add := func(fsys fs.FS, name string) error {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "text/plain; charset=utf-8"
		}
		h.assets[path.Base(name)] = asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	}
	for _, name := range []string{"console.js", "console.css"} {
		if err := add(staticFS, name); err != nil {
			return nil, err
		}
	}
	h.built = true
	for _, name := range []string{"dist/xterm.js", "dist/xterm.css", "dist/addon-fit.js"} {
		if err := add(distFS, name); err != nil {
			h.built = false
		}
	}
	// Licenses travel with the code they cover.
	for _, name := range []string{"dist/xterm.LICENSE", "dist/addon-fit.LICENSE"} {
		_ = add(distFS, name)
	}
	page, err := template.ParseFS(staticFS, "index.html")
	if err != nil {
		return nil, err
	}
	h.page = page
	return h, nil
}

// pageData fills index.html.
type pageData struct {
	Token   string // "" on a refused page
	Built   bool
	Refusal string // why the page cannot open a console
}

func (h *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/console/")
	switch {
	case !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead):
		http.NotFound(w, r)
	case strings.HasPrefix(r.URL.Path, AssetPrefix):
		h.serveAsset(w, r, strings.TrimPrefix(r.URL.Path, AssetPrefix))
	case rest == "" || strings.Contains(rest, "/"):
		http.NotFound(w, r)
	default:
		h.servePage(w, r, rest)
	}
}

func (h *Site) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	// Revalidate each time: the names do not change with the version, the
	// ETag does, and a 304 costs nothing.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

func (h *Site) servePage(w http.ResponseWriter, r *http.Request, token string) {
	h.setPageHeaders(w)
	data := pageData{Token: token, Built: h.built}
	status := http.StatusOK
	if h.check != nil {
		if err := h.check(r.Context(), token); err != nil {
			data = pageData{Refusal: err.Error()}
			status = http.StatusForbidden
		}
	}
	h.render(w, status, data)
}

// Refuse answers HTTP 403 with the console page saying why (reason, in
// a person's words) and no script, for a handler that checks tokens
// itself and uses the Site as its page.
func (h *Site) Refuse(w http.ResponseWriter, r *http.Request, reason string) {
	h.setPageHeaders(w)
	h.render(w, http.StatusForbidden, pageData{Refusal: reason})
}

// setPageHeaders: the strict CSP; the token is in the URL, so never send
// it on as a Referer and never cache the page.
func (h *Site) setPageHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
}

func (h *Site) render(w http.ResponseWriter, status int, data pageData) {
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, data); err != nil {
		h.log.Error("console page", "err", err)
		http.Error(w, "console page: internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
