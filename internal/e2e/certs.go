// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCA is a certificate authority made by a test. Its certificates and keys
// live in memory and in files under the test's temporary directory (for
// collector configs: ca_file, cert_file, key_file), never in the repository.
type TestCA struct {
	t    testing.TB
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	// CAFile is the CA certificate as a PEM file.
	CAFile string

	mu     sync.Mutex
	serial int64
}

// CertFiles is a certificate issued by a TestCA.
type CertFiles struct {
	// CertFile and KeyFile are PEM files (the key is PKCS#8, mode 0600).
	CertFile, KeyFile string
	// Cert is the certificate with its key, for Go servers and clients.
	Cert tls.Certificate
}

// NewTestCA creates a CA valid for an hour.
func NewTestCA(t testing.TB) *TestCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otelcol-edge test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ca := &TestCA{t: t, dir: t.TempDir(), cert: cert, key: key, pool: pool, serial: 1}
	ca.CAFile = ca.write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return ca
}

// Pool returns a pool holding the CA certificate.
func (ca *TestCA) Pool() *x509.CertPool { return ca.pool }

// Server issues a server certificate for names (DNS names or IP addresses).
func (ca *TestCA) Server(names ...string) CertFiles {
	ca.t.Helper()
	return ca.issue(x509.ExtKeyUsageServerAuth, names[0], names)
}

// Client issues a client certificate with common name cn.
func (ca *TestCA) Client(cn string) CertFiles {
	ca.t.Helper()
	return ca.issue(x509.ExtKeyUsageClientAuth, cn, nil)
}

// ServerTLS returns a server TLS config with the certificate cf that, when
// requireClientCert, accepts only clients with a certificate of this CA.
func (ca *TestCA) ServerTLS(cf CertFiles, requireClientCert bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{cf.Cert}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		c.ClientCAs = ca.pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}

func (ca *TestCA) issue(usage x509.ExtKeyUsage, cn string, names []string) CertFiles {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	ca.mu.Lock()
	ca.serial++
	serial := ca.serial
	ca.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		ca.t.Fatal(err)
	}
	base := cn + "-" + big.NewInt(serial).String()
	return CertFiles{CertFile: ca.write(base+".crt", certPEM), KeyFile: ca.write(base+".key", keyPEM), Cert: cert}
}

func (ca *TestCA) write(name string, data []byte) string {
	ca.t.Helper()
	p := filepath.Join(ca.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return p
}
