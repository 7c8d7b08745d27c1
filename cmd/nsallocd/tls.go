package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
)

// errNoPEM is returned for a CA file without a certificate.
var errNoPEM = errors.New("no PEM certificate found")

// certReloader holds the server's TLS settings, the certificate and, for
// mTLS, the CAs that client certificates must chain to, as last read from
// their files. Each handshake takes the settings current at its start, so
// a reload changes what new connections see and leaves open ones alone.
type certReloader struct {
	certFile, keyFile, clientCAFile string

	current atomic.Pointer[tlsState] // never nil once newCertReloader returns
}

// tlsState is one reading of the files.
type tlsState struct {
	config *tls.Config       // what handshakes use
	leaf   *x509.Certificate // the server's certificate, to log
}

// newCertReloader reads the certificate and key, and the client CAs when
// clientCAFile is not empty.
func newCertReloader(certFile, keyFile, clientCAFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, clientCAFile: clientCAFile}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// reload reads the files again and, when they are all good, serves them to
// new connections. On an error the previous ones stay in use.
func (r *certReloader) reload() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", r.certFile, r.keyFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("--tls-cert %s: %w", r.certFile, err)
	}
	config := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}

	if r.clientCAFile != "" {
		pem, err := os.ReadFile(r.clientCAFile)
		if err != nil {
			return fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--tls-client-ca %s: %w", r.clientCAFile, errNoPEM)
		}
		config.ClientCAs = pool
		config.ClientAuth = tls.RequireAndVerifyClientCert
	}

	r.current.Store(&tlsState{config: config, leaf: leaf})
	return nil
}

// config returns the settings the server's TLS credentials are built from:
// each handshake asks for the current ones.
func (r *certReloader) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.current.Load().config, nil
		},
	}
}

// leaf returns the certificate new connections are served.
func (r *certReloader) leaf() *x509.Certificate { return r.current.Load().leaf }

// logCertificate writes msg with what identifies cert and when it expires.
func logCertificate(logger *slog.Logger, msg string, cert *x509.Certificate) {
	logger.Info(msg, "subject", cert.Subject.String(), "serial", cert.SerialNumber.String(),
		"not_after", cert.NotAfter)
}
