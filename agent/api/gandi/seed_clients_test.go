package gandi

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/testenv"
)

// The overview document (testdata/seed_001_overview.txt, a verbatim copy
// of the seed) opens with one version.info call per client library. The
// test below runs each one whose library Debian (or npm, for Node)
// provides, changing only the URL (host, port, path for Node) and the key.

// seedKey is the document's placeholder for the caller's key.
const seedKey = "my 24-character API key"

// seedExamples cuts the document's client examples out by language: each
// starts at its first line and ends at the "Note" under it, the next
// example, or (PHP) its closing tag. The interactive prompts of the Python
// and Node examples (">>> ", "> ", "... ") are what the reader does not
// type, so they go.
func seedExamples(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("testdata/seed_001_overview.txt")
	if err != nil {
		t.Fatal(err)
	}
	starts := map[string]string{
		">>> import xmlrpclib":    "python",
		"<?php":                   "php",
		"> var xmlrpc = require(": "node",
		"use XML::RPC;":           "perl",
		"require 'xmlrpc/client'": "ruby",
		"#include <stdio.h>":      "c",
	}
	prompt := regexp.MustCompile(`^(>>> ?|> ?|\.\.\. ?)`)
	out := map[string]string{}
	lang := ""
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimRight(line, "\r")
		for prefix, l := range starts {
			if strings.HasPrefix(line, prefix) {
				lang = l
			}
		}
		if lang == "" {
			continue
		}
		if line == "Note" {
			lang = ""
			continue
		}
		if lang == "python" || lang == "node" {
			line = prompt.ReplaceAllString(line, "")
		}
		out[lang] += line + "\n"
		if lang == "php" && line == "?>" {
			lang = ""
		}
	}
	for _, l := range starts {
		if !strings.Contains(out[l], seedKey) {
			t.Fatalf("the %s example (or its key) is not in the document:\n%s", l, out[l])
		}
	}
	return out
}

// seedCall is what the server saw of one call.
type seedCall struct{ method, agent string }

// seedServer is the face over HTTPS with a certificate from a throwaway CA
// (caFile, PEM; the examples' clients verify the server, and OpenSSL's
// SSL_CERT_FILE or Node's NODE_EXTRA_CA_CERTS make them trust it) and over
// plain HTTP (for C: Debian's libcurl reads only the system's CA bundle),
// recording each call's method and User-Agent: the C example prints nothing
// when it works.
type seedServer struct {
	url, tlsURL, caFile string
	api                 any // the version the face answers with, as text
	mu                  sync.Mutex
	calls               []seedCall
}

func (s *seedServer) saw() []seedCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seedCall(nil), s.calls...)
}

func newSeedServer(t *testing.T) *seedServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, eng, _, _ := testService(t, log)
	svc.EnsureAccount("ALICE", "Alice", service.HashKey(aliceKey), 0)
	ctx, cancel := context.WithCancel(context.Background())
	eng.Start(ctx)
	s := &seedServer{api: svc.Version().API}
	name := regexp.MustCompile(`<methodName>([^<]*)</methodName>`)
	face := New(svc, "", 4096, log).Handler()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if m := name.FindSubmatch(body); m != nil {
			s.mu.Lock()
			s.calls = append(s.calls, seedCall{string(m[1]), r.UserAgent()})
			s.mu.Unlock()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		face.ServeHTTP(w, r)
	})
	plain := httptest.NewServer(h)
	secure := httptest.NewUnstartedServer(h)
	caPEM, cert := throwawayCert(t)
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	secure.StartTLS()
	t.Cleanup(func() { plain.Close(); secure.Close(); cancel(); eng.Wait() })
	s.url, s.tlsURL = plain.URL, secure.URL
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(s.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// throwawayCert makes a CA and a certificate it signs for 127.0.0.1.
func throwawayCert(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "xenagent test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
}

// withURLAndKey is the only change made to an example: Gandi's URL for
// the test server's, and the placeholder key for Alice's.
func withURLAndKey(code, url string) string {
	return strings.NewReplacer("https://rpc.gandi.net/xmlrpc/", url+"/xmlrpc/", seedKey, aliceKey).Replace(code)
}

// TestSeedClientExamples runs the overview's client examples against the
// face. Each is followed by one line of the test's own that prints the
// answer's api_version (the examples keep the answer in a variable), but
// Node's, which prints the answer itself, and C's, which prints nothing:
// the server checks that it got version.info with the example's
// User-Agent. PHP's PEAR XML_RPC2 and Perl's CPAN XML::RPC are in no
// Debian package (php-xml-rpc2, libxml-rpc-perl do not exist) and CPAN is
// not reachable from the test machines, so those two do not run.
func TestSeedClientExamples(t *testing.T) {
	ex := seedExamples(t)
	s := newSeedServer(t)
	want := fmt.Sprint(s.api)
	t.Log("not run: the PHP example (PEAR XML_RPC2) and the Perl example (CPAN XML::RPC): no Debian package provides them")

	// run runs cmd, which runs (or builds) the example code.
	run := func(t *testing.T, cmd *exec.Cmd, code string) string {
		t.Helper()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s\n--- the example as run:\n%s", cmd.Args[0], err, out, code)
		}
		return string(out)
	}
	printPy := "\nimport sys; sys.stdout.write(str(version['api_version']) + '\\n')\n"

	t.Run("python2 xmlrpclib as written", func(t *testing.T) {
		// Debian 12 has no Python 2; pyenv's shim picks the 2.7 this
		// machine has. Without one this is a skip even under make test.
		py, err := exec.LookPath("python2")
		env := append(os.Environ(), "PYENV_VERSION=2.7.18", "SSL_CERT_FILE="+s.caFile)
		if err == nil {
			err = (&exec.Cmd{Path: py, Args: []string{"python2", "-c", "import xmlrpclib"}, Env: env}).Run()
		}
		if err != nil {
			t.Skipf("needs python2 with xmlrpclib: %v", err)
		}
		code := withURLAndKey(ex["python"], s.tlsURL) + printPy
		out := run(t, &exec.Cmd{Path: py, Args: []string{"python2", "-c", code}, Env: env}, code)
		if strings.TrimSpace(out) != want {
			t.Fatalf("printed %q, want api_version %q", out, want)
		}
	})
	t.Run("python3 xmlrpc.client", func(t *testing.T) {
		testenv.Tool(t, "python3", "python3")
		// The mechanical Python 3 form: xmlrpclib became xmlrpc.client.
		code := strings.Replace(ex["python"], "import xmlrpclib\n", "import xmlrpc.client as xmlrpclib\n", 1)
		code = withURLAndKey(code, s.tlsURL) + printPy
		cmd := exec.Command("python3", "-c", code)
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+s.caFile)
		out := run(t, cmd, code)
		if strings.TrimSpace(out) != want {
			t.Fatalf("printed %q, want api_version %q", out, want)
		}
	})
	t.Run("ruby xmlrpc/client", func(t *testing.T) {
		testenv.Tool(t, "ruby", "ruby")
		if out, err := exec.Command("ruby", "-e", `require "xmlrpc/client"`).CombinedOutput(); err != nil {
			testenv.Missing(t, fmt.Sprintf("needs Ruby's xmlrpc/client (ruby-xmlrpc): %v: %s", err, out))
		}
		code := withURLAndKey(ex["ruby"], s.tlsURL) + "\nputs version[\"api_version\"]\n"
		cmd := exec.Command("ruby", "-e", code)
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+s.caFile)
		out := run(t, cmd, code)
		if strings.TrimSpace(out) != want {
			t.Fatalf("printed %q, want api_version %q", out, want)
		}
	})
	t.Run("c xmlrpc-c", func(t *testing.T) {
		testenv.Tool(t, "gcc", "gcc")
		testenv.Tool(t, "xmlrpc-c-config", "libxmlrpc-core-c3-dev")
		flags, err := exec.Command("xmlrpc-c-config", "client", "--cflags", "--libs").Output()
		if err != nil {
			t.Fatalf("xmlrpc-c-config client: %v", err)
		}
		dir := t.TempDir()
		src, bin := filepath.Join(dir, "client.c"), filepath.Join(dir, "client")
		// The document's one bug: xmlrpc-c's curl parameters are
		// no_ssl_verifypeer and no_ssl_verifyhost (false: verify), not
		// ssl_verifypeer = 1 and ssl_verifyhost = 2, which do not compile.
		// The meaning, verify the peer and its name, is kept (and moot:
		// the URL is plain HTTP here, see seedServer).
		code := strings.NewReplacer("curlp.ssl_verifypeer = 1;", "curlp.no_ssl_verifypeer = 0;",
			"curlp.ssl_verifyhost = 2;", "curlp.no_ssl_verifyhost = 0;").Replace(withURLAndKey(ex["c"], s.url))
		os.WriteFile(src, []byte(code), 0o600)
		args := append([]string{"-o", bin, src}, strings.Fields(string(flags))...)
		run(t, exec.Command("gcc", args...), code)
		before := len(s.saw())
		if out := run(t, exec.Command(bin), code); out != "" {
			t.Fatalf("printed %q, want nothing", out)
		}
		calls := s.saw()[before:]
		if len(calls) != 1 || calls[0].method != "version.info" || !strings.HasPrefix(calls[0].agent, "Documentation Client/0.1") {
			t.Fatalf("the server saw %+v, want one version.info from Documentation Client/0.1", calls)
		}
	})
	t.Run("node xmlrpc over https", func(t *testing.T) {
		testenv.Tool(t, "node", "nodejs")
		modules := nodeModules(t)
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.tlsURL, "https://"))
		code := strings.NewReplacer("host: 'rpc.gandi.net'", "host: '127.0.0.1'", "port: 443", "port: "+port,
			seedKey, aliceKey).Replace(ex["node"])
		cmd := exec.Command("node", "-e", code)
		cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "NODE_EXTRA_CA_CERTS="+s.caFile)
		out := run(t, cmd, code)
		if !strings.Contains(out, fmt.Sprintf("api_version: '%s'", want)) {
			t.Fatalf("printed %q, want the answer with api_version %q", out, want)
		}
	})
}

// nodeModules installs the packages testdata/seednode/package-lock.json
// pins (npm's xmlrpc and its dependencies) as node_modules in a cache dir
// ($XENAGENT_NODE_CACHE, or xenagent-seednode in the user's cache), the
// way deploy/web/fetch gets xterm.js: each tarball from the npm registry,
// refused unless its sha512 is the lock's, so neither npm nor network is
// needed once the cache holds them. It returns the node_modules path.
func nodeModules(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/seednode/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct{ Version, Resolved, Integrity string }
	}
	if err := json.Unmarshal(raw, &lock); err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	cache := os.Getenv("XENAGENT_NODE_CACHE")
	if cache == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		cache = filepath.Join(d, "xenagent-seednode")
	}
	sum := sha512.Sum512(raw)
	modules := filepath.Join(cache, fmt.Sprintf("%x", sum[:8]), "node_modules")
	if _, err := os.Stat(filepath.Join(modules, ".complete")); err == nil {
		return modules
	}
	// Built aside and renamed into place: a copy interrupted half-way is
	// never taken for a whole one.
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(cache, "tmp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for key, p := range lock.Packages {
		name, ok := strings.CutPrefix(key, "node_modules/")
		if !ok {
			continue
		}
		url := p.Resolved
		if url == "" {
			url = "https://registry.npmjs.org/" + name + "/-/" + filepath.Base(name) + "-" + p.Version + ".tgz"
		}
		tgz, err := npmTarball(cache, url, p.Integrity)
		if err != nil {
			testenv.Missing(t, fmt.Sprintf("needs npm package %s@%s (offline, and not in %s?): %v", name, p.Version, cache, err))
		}
		if err := untarPackage(tgz, filepath.Join(tmp, "node_modules", name)); err != nil {
			t.Fatalf("package %s: %v", name, err)
		}
	}
	os.WriteFile(filepath.Join(tmp, "node_modules", ".complete"), nil, 0o644)
	if err := os.Rename(tmp, filepath.Dir(modules)); err != nil {
		if _, serr := os.Stat(filepath.Join(modules, ".complete")); serr != nil { // not another test's copy
			t.Fatal(err)
		}
	}
	return modules
}

// npmTarball is the tarball at url, from the cache when its copy there
// matches integrity (npm's "sha512-<base64>").
func npmTarball(cache, url, integrity string) ([]byte, error) {
	want, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(integrity, "sha512-"))
	if err != nil || !strings.HasPrefix(integrity, "sha512-") || len(want) != sha512.Size {
		return nil, fmt.Errorf("integrity %q: want sha512-<base64 of 64 bytes>", integrity)
	}
	cached := filepath.Join(cache, fmt.Sprintf("sha512-%x.tgz", want))
	if b, err := os.ReadFile(cached); err == nil {
		if got := sha512.Sum512(b); bytes.Equal(got[:], want) {
			return b, nil
		}
	}
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if got := sha512.Sum512(b); !bytes.Equal(got[:], want) {
		return nil, fmt.Errorf("%s: sha512 is not the lock's %s", url, integrity)
	}
	os.WriteFile(cached, b, 0o644) // a cache: a failed write costs a download
	return b, nil
}

// untarPackage extracts an npm tarball's package/ folder into dir.
func untarPackage(tgz []byte, dir string) error {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		_, rel, ok := strings.Cut(h.Name, "/") // the top folder is "package" in most, not all
		if !ok || h.Typeflag != tar.TypeReg || !filepath.IsLocal(rel) {
			continue
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
}
