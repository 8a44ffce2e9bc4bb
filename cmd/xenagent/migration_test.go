package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/api/migration"
	"github.com/xenagent/xenagent/agent/config"
	"github.com/xenagent/xenagent/agent/workflow"
)

// pki is a CA and a certificate it signed for each agent, on files as
// the configuration names them.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fleet CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), ca: ca, caKey: key}
	p.caFile = filepath.Join(p.dir, "ca.pem")
	os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return p
}

// issue writes a certificate for 127.0.0.1, for servers and clients
// both (an agent is each), and its key; it returns the TLS section.
func (p *pki) issue(t *testing.T, name string, serial int64) config.TLS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	c := config.TLS{Cert: filepath.Join(p.dir, name+".pem"), Key: filepath.Join(p.dir, name+".key"), ClientCA: p.caFile}
	os.WriteFile(c.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(c.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return c
}

// An agent's migration client reaches another agent's endpoints over
// TLS with mTLS as the listener is configured (tls.client_ca): it trusts
// the fleet's CA and presents its own certificate; a client without one
// is refused by the listener, before any ticket is read.
func TestMigrationClientMTLS(t *testing.T) {
	p := newPKI(t)
	target, source := p.issue(t, "target", 2), p.issue(t, "source", 3)
	tc, err := tlsConfig(target)
	if err != nil {
		t.Fatal(err)
	}
	// The target's listener (its TLS, as serve makes it), answering a
	// state to the source's certificate only.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "source" {
			http.Error(w, "no client certificate", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"phase":"receiving","op_id":7}`))
	}))
	srv.TLS = tc
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()

	var wc workflow.Config
	if err := withMigrationClient(config.Config{TLS: source}, &wc, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	st, err := wc.Peer.State(context.Background(), workflow.Target{URL: srv.URL, Ticket: "t"})
	if err != nil || st.Phase != "receiving" || st.OpID != 7 {
		t.Fatalf("state over mTLS: %+v, %v", st, err)
	}

	// A client trusting the fleet's CA but presenting no certificate is
	// refused at the handshake: the listener asks for one.
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	bare := migration.NewClient(&tls.Config{RootCAs: pool})
	_, err = bare.State(context.Background(), workflow.Target{URL: srv.URL, Ticket: "t"})
	var tr interface{ Transient() bool }
	if err == nil || !errors.As(err, &tr) {
		t.Fatalf("state without a client certificate: %v; want a refused handshake", err)
	}
}
