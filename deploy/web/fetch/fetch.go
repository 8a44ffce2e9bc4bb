package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const defaultRegistry = "https://registry.npmjs.org/"

// maxTarball bounds a download: xterm's tarball is ~1.5 MB, a registry
// that streams forever must not fill the disk.
const maxTarball = 64 << 20

// ErrIntegrity is returned when a tarball's hash is not the lock's.
var ErrIntegrity = errors.New("integrity mismatch")

// Fetcher downloads, verifies and extracts locked npm packages.
type Fetcher struct {
	Cache    string       // folder of verified tarballs named by hash
	Registry string       // base URL, with a trailing slash
	Client   *http.Client // nil: a client with a 2-minute timeout
	Log      *slog.Logger
}

// lockEntry is one "node_modules/<name>" entry of package-lock.json (v2/v3).
type lockEntry struct {
	Version   string `json:"version"`
	Resolved  string `json:"resolved"`
	Integrity string `json:"integrity"`
}

// Build extracts into out the files dir/package.json's xenagentDist names,
// from the package versions dir/package-lock.json pins.
func (f *Fetcher) Build(ctx context.Context, dir, out string) error {
	var manifest struct {
		Dist map[string]map[string]string `json:"xenagentDist"`
	}
	if err := readJSON(filepath.Join(dir, "package.json"), &manifest); err != nil {
		return err
	}
	if len(manifest.Dist) == 0 {
		return fmt.Errorf("%s: xenagentDist is empty: it must name the files to extract from each package", filepath.Join(dir, "package.json"))
	}
	var lock struct {
		LockfileVersion int                  `json:"lockfileVersion"`
		Packages        map[string]lockEntry `json:"packages"`
	}
	lockPath := filepath.Join(dir, "package-lock.json")
	if err := readJSON(lockPath, &lock); err != nil {
		return err
	}
	if lock.LockfileVersion < 2 {
		return fmt.Errorf("%s: lockfileVersion %d: need 2 or 3 (npm 7 or newer), which list packages by path", lockPath, lock.LockfileVersion)
	}

	names := make([]string, 0, len(manifest.Dist))
	for name := range manifest.Dist {
		names = append(names, name)
	}
	sort.Strings(names)
	files := map[string][]byte{}
	for _, name := range names {
		e, ok := lock.Packages["node_modules/"+name]
		if !ok {
			return fmt.Errorf("%s: package %s is not locked (run npm install --package-lock-only in %s)", lockPath, name, dir)
		}
		tgz, err := f.tarball(ctx, name, e)
		if err != nil {
			return err
		}
		got, err := extract(tgz, manifest.Dist[name])
		if err != nil {
			return fmt.Errorf("package %s@%s: %w", name, e.Version, err)
		}
		for dst, b := range got {
			if _, dup := files[dst]; dup {
				return fmt.Errorf("xenagentDist: two packages write %s", dst)
			}
			files[dst] = b
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for dst, b := range files {
		if err := writeAtomic(filepath.Join(out, dst), b); err != nil {
			return err
		}
	}
	f.log().Info("console assets built", "dir", out, "files", len(files), "cache", f.Cache)
	return nil
}

// tarball returns the package's verified tarball, from the cache or the
// registry (then cached).
func (f *Fetcher) tarball(ctx context.Context, name string, e lockEntry) ([]byte, error) {
	digest, err := sha512Of(e.Integrity)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", name, err)
	}
	cached := filepath.Join(f.Cache, "sha512-"+hex.EncodeToString(digest)+".tgz")
	if b, err := os.ReadFile(cached); err == nil {
		if sum := sha512.Sum512(b); bytes.Equal(sum[:], digest) {
			f.log().Debug("tarball from cache", "package", name, "path", cached)
			return b, nil
		}
		// A torn or tampered file: fetch it again rather than trust it.
		f.log().Warn("cached tarball does not match its hash: fetching it again", "path", cached)
	}

	url := f.url(name, e)
	f.log().Info("downloading", "package", name, "version", e.Version, "url", url)
	b, err := f.download(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("package %s@%s: %w", name, e.Version, err)
	}
	if sum := sha512.Sum512(b); !bytes.Equal(sum[:], digest) {
		return nil, fmt.Errorf("package %s@%s from %s: %w: got sha512-%s, the lock says %s",
			name, e.Version, url, ErrIntegrity, base64.StdEncoding.EncodeToString(sum[:]), e.Integrity)
	}
	if err := os.MkdirAll(f.Cache, 0o755); err != nil {
		f.log().Warn("tarball not cached", "err", err)
	} else if err := writeAtomic(cached, b); err != nil {
		f.log().Warn("tarball not cached", "err", err)
	}
	return b, nil
}

// url is the lock's resolved URL (on the configured registry when it is
// not the public one), or the registry's standard tarball path when npm
// left it out (omit-lockfile-registry-resolved).
func (f *Fetcher) url(name string, e lockEntry) string {
	reg := f.Registry
	if reg == "" {
		reg = defaultRegistry
	}
	if !strings.HasSuffix(reg, "/") {
		reg += "/"
	}
	if e.Resolved != "" {
		if reg != defaultRegistry && strings.HasPrefix(e.Resolved, defaultRegistry) {
			return reg + strings.TrimPrefix(e.Resolved, defaultRegistry)
		}
		return e.Resolved
	}
	return reg + name + "/-/" + path.Base(name) + "-" + e.Version + ".tgz"
}

func (f *Fetcher) download(ctx context.Context, url string) ([]byte, error) {
	c := f.Client
	if c == nil {
		c = &http.Client{Timeout: 2 * time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("downloading (offline? the cache %s has no copy): %w", f.Cache, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("downloading %s: HTTP %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTarball+1))
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", url, err)
	}
	if len(b) > maxTarball {
		return nil, fmt.Errorf("downloading %s: larger than %d bytes", url, maxTarball)
	}
	return b, nil
}

func (f *Fetcher) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

// sha512Of decodes the sha512 digest of an SRI string ("sha512-<base64>",
// possibly among other hashes separated by spaces). Older algorithms
// (sha1 in very old locks) are refused: they do not protect the build.
func sha512Of(sri string) ([]byte, error) {
	for _, h := range strings.Fields(sri) {
		b64, ok := strings.CutPrefix(h, "sha512-")
		if !ok {
			continue
		}
		b64, _, _ = strings.Cut(b64, "?") // SRI options
		d, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(d) != sha512.Size {
			return nil, fmt.Errorf("integrity %q: not a sha512 SRI hash (base64 of 64 bytes)", sri)
		}
		return d, nil
	}
	return nil, fmt.Errorf("integrity %q: no sha512 hash (regenerate the lock with npm 7 or newer)", sri)
}

// extract returns want's files (tar path → dist name) from a .tgz.
func extract(tgz []byte, want map[string]string) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("tarball: %w", err)
	}
	tr := tar.NewReader(zr)
	got := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("tarball: %w", err)
		}
		dst, ok := want[path.Clean(h.Name)]
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		if dst != filepath.Base(dst) || dst == "." || dst == ".." {
			return nil, fmt.Errorf("xenagentDist: %q must be a plain file name", dst)
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxTarball))
		if err != nil {
			return nil, fmt.Errorf("tarball %s: %w", h.Name, err)
		}
		got[dst] = b
	}
	var missing []string
	for src := range want {
		if _, ok := got[want[src]]; !ok {
			missing = append(missing, src)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("tarball has no %s (fix xenagentDist in package.json)", strings.Join(missing, ", "))
	}
	return got, nil
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// writeAtomic writes through a temporary file and a rename, so a build
// interrupted half-way never leaves a truncated asset or cache entry.
func writeAtomic(p string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
