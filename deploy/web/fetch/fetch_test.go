package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// tgz builds an npm-style tarball (files under package/).
func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sri(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// registry serves one tarball and counts the downloads.
type registry struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func newRegistry(t *testing.T, body []byte) *registry {
	r := &registry{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/@xterm/xterm/-/xterm-6.0.0.tgz" {
			http.NotFound(w, req)
			return
		}
		r.hits.Add(1)
		w.Write(body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// project writes package.json and a lock pinning @xterm/xterm to integrity,
// resolved at url ("" leaves it out, as npm's omit-lockfile-registry-resolved does).
func project(t *testing.T, url, integrity string) string {
	t.Helper()
	dir := t.TempDir()
	pkg := `{"name":"t","dependencies":{"@xterm/xterm":"6.0.0"},
	  "xenagentDist":{"@xterm/xterm":{"package/lib/xterm.js":"xterm.js","package/css/xterm.css":"xterm.css"}}}`
	resolved := ""
	if url != "" {
		resolved = fmt.Sprintf(`"resolved":%q,`, url)
	}
	lock := fmt.Sprintf(`{"lockfileVersion":3,"packages":{"":{"name":"t"},
	  "node_modules/@xterm/xterm":{"version":"6.0.0",%s"integrity":%q}}}`, resolved, integrity)
	for name, body := range map[string]string{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuild(t *testing.T) {
	good := tgz(t, map[string]string{"lib/xterm.js": "var Terminal;", "css/xterm.css": ".xterm{}", "README.md": "not wanted"})
	evil := tgz(t, map[string]string{"lib/xterm.js": "steal();", "css/xterm.css": ".xterm{}"})

	tests := []struct {
		name      string
		serve     []byte // what the registry answers
		integrity string // what the lock says
		resolved  bool   // the lock carries the URL (else: registry's standard path)
		wantErr   error
		wantHits  int32
	}{
		{name: "verified", serve: good, integrity: sri(good), resolved: true, wantHits: 1},
		{name: "no resolved URL: registry path", serve: good, integrity: sri(good), wantHits: 1},
		{name: "integrity mismatch refused", serve: evil, integrity: sri(good), resolved: true, wantErr: ErrIntegrity, wantHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(t, tt.serve)
			url := ""
			if tt.resolved {
				url = reg.srv.URL + "/@xterm/xterm/-/xterm-6.0.0.tgz"
			}
			dir := project(t, url, tt.integrity)
			out := filepath.Join(dir, "dist")
			f := &Fetcher{Cache: t.TempDir(), Registry: reg.srv.URL}
			err := f.Build(context.Background(), dir, out)
			if got := reg.hits.Load(); got != tt.wantHits {
				t.Errorf("downloads = %d, want %d", got, tt.wantHits)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Build = %v, want %v", err, tt.wantErr)
				}
				if _, err := os.Stat(filepath.Join(out, "xterm.js")); err == nil {
					t.Error("a refused tarball's file was written to dist")
				}
				if ents, _ := os.ReadDir(f.Cache); len(ents) != 0 {
					t.Errorf("a refused tarball was cached: %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			b, err := os.ReadFile(filepath.Join(out, "xterm.js"))
			if err != nil || string(b) != "var Terminal;" {
				t.Errorf("dist/xterm.js = %q, %v", b, err)
			}
			if _, err := os.Stat(filepath.Join(out, "README.md")); err == nil {
				t.Error("a file xenagentDist does not name was extracted")
			}
		})
	}
}

// TestBuildCache: the second build of the same lock uses the cache, with
// the registry gone; a corrupted cache entry is fetched again.
func TestBuildCache(t *testing.T) {
	good := tgz(t, map[string]string{"lib/xterm.js": "var Terminal;", "css/xterm.css": ".xterm{}"})
	reg := newRegistry(t, good)
	dir := project(t, reg.srv.URL+"/@xterm/xterm/-/xterm-6.0.0.tgz", sri(good))
	f := &Fetcher{Cache: t.TempDir()}
	ctx := context.Background()
	if err := f.Build(ctx, dir, filepath.Join(dir, "dist1")); err != nil {
		t.Fatal(err)
	}

	reg.srv.Close() // offline from now on
	if err := f.Build(ctx, dir, filepath.Join(dir, "dist2")); err != nil {
		t.Fatalf("offline build with a warm cache: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "dist2", "xterm.css")); string(b) != ".xterm{}" {
		t.Errorf("dist2/xterm.css = %q", b)
	}
	if got := reg.hits.Load(); got != 1 {
		t.Errorf("downloads = %d, want 1 (the second build from the cache)", got)
	}

	// A corrupted cache entry is not trusted: with the registry gone the
	// build fails instead of extracting it.
	ents, _ := os.ReadDir(f.Cache)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "sha512-") {
		t.Fatalf("cache = %v, want one sha512-<hex>.tgz", ents)
	}
	if err := os.WriteFile(filepath.Join(f.Cache, ents[0].Name()), evilBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Build(ctx, dir, filepath.Join(dir, "dist3")); err == nil {
		t.Fatal("a corrupted cache entry was used")
	}
}

var evilBytes = []byte("not the tarball")

func TestSHA512Of(t *testing.T) {
	d := sha512.Sum512([]byte("x"))
	b64 := base64.StdEncoding.EncodeToString(d[:])
	tests := []struct {
		sri string
		ok  bool
	}{
		{"sha512-" + b64, true},
		{"sha1-abc sha512-" + b64, true},
		{"sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=", false},
		{"sha512-AAAA", false},
		{"", false},
	}
	for _, tt := range tests {
		got, err := sha512Of(tt.sri)
		if (err == nil) != tt.ok {
			t.Errorf("sha512Of(%q) err = %v, want ok=%v", tt.sri, err, tt.ok)
		}
		if tt.ok && !bytes.Equal(got, d[:]) {
			t.Errorf("sha512Of(%q) = %x", tt.sri, got)
		}
	}
}
