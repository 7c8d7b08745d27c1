package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/bolt"
	"github.com/nsalloc/nsalloc/store/etcd"
)

// The backends --store selects.
const (
	backendBolt = "bolt"
	backendEtcd = "etcd"
)

// etcdDialTimeout bounds the first connection to the etcd cluster.
const etcdDialTimeout = 5 * time.Second

// backendFlags are the raw values of the flags that choose and reach the
// store, before they are checked.
type backendFlags struct {
	kind, endpoints, prefix, timeout string
	caFile, certFile, keyFile        string
	user, password                   string
}

// backendConfig is where the namespaces are kept.
type backendConfig struct {
	kind string // backendBolt or backendEtcd

	// For etcd: the cluster's client URLs, the key prefix, the deadline of
	// each call, TLS files and the user.
	endpoints                 []string
	prefix                    string
	timeout                   time.Duration
	caFile, certFile, keyFile string
	user, password            string
}

// addBackendFlags declares the flags of the store backend on fs.
func addBackendFlags(fs *flag.FlagSet, env func(name, fallback string) string) *backendFlags {
	f := &backendFlags{}
	str := func(p *string, name, variable, fallback, usage string) {
		fs.StringVar(p, name, env(variable, fallback), usage+" (env "+variable+")")
	}
	str(&f.kind, "store", "NSALLOC_STORE", backendBolt,
		"where namespaces are kept: bolt (the --db file) or etcd (--etcd-endpoints)")
	str(&f.endpoints, "etcd-endpoints", "NSALLOC_ETCD_ENDPOINTS", "",
		"comma-separated client URLs of the etcd cluster, such as http://10.0.0.1:2379")
	str(&f.prefix, "etcd-prefix", "NSALLOC_ETCD_PREFIX", etcd.DefaultPrefix,
		"prefix of every key nsalloc keeps in etcd")
	str(&f.timeout, "etcd-timeout", "NSALLOC_ETCD_TIMEOUT", etcd.DefaultTimeout.String(),
		"deadline of each etcd call; past it the caller gets UNAVAILABLE")
	str(&f.caFile, "etcd-ca", "NSALLOC_ETCD_CA", "",
		"PEM CA that signed the etcd servers' certificates; turns TLS on")
	str(&f.certFile, "etcd-cert", "NSALLOC_ETCD_CERT", "",
		"PEM client certificate for etcd; needs --etcd-key")
	str(&f.keyFile, "etcd-key", "NSALLOC_ETCD_KEY", "", "PEM private key of --etcd-cert")
	str(&f.user, "etcd-user", "NSALLOC_ETCD_USER", "",
		"etcd user name; its password comes from NSALLOC_ETCD_PASSWORD only")
	f.password = env("NSALLOC_ETCD_PASSWORD", "")
	return f
}

// parse checks the backend flags, adding every problem to errs.
func (f *backendFlags) parse(errs []error) (backendConfig, []error) {
	c := backendConfig{kind: f.kind, prefix: f.prefix, caFile: f.caFile,
		certFile: f.certFile, keyFile: f.keyFile, user: f.user, password: f.password}
	c.timeout, errs = parseDuration("--etcd-timeout", f.timeout, errs)

	for _, e := range strings.Split(f.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.endpoints = append(c.endpoints, e)
		}
	}

	switch f.kind {
	case backendBolt:
		return c, errs
	case backendEtcd:
	default:
		return c, append(errs, fmt.Errorf("--store %q: want bolt or etcd", f.kind))
	}
	if len(c.endpoints) == 0 {
		errs = append(errs, errors.New("--store etcd needs --etcd-endpoints"))
	}
	if !strings.HasSuffix(c.prefix, "/") {
		errs = append(errs, fmt.Errorf("--etcd-prefix %q: want a prefix ending in /", c.prefix))
	}
	if (c.certFile == "") != (c.keyFile == "") {
		errs = append(errs, errors.New("--etcd-cert and --etcd-key go together"))
	}
	if c.password != "" && c.user == "" {
		errs = append(errs, errors.New("NSALLOC_ETCD_PASSWORD is set without --etcd-user"))
	}
	return c, errs
}

// openedStore is the store the daemon serves, with what is particular to
// its backend.
type openedStore struct {
	store.Store
	bolt  *bolt.DB     // the bbolt file; nil on etcd
	close func() error // closes the store and what it holds open
	attrs []any        // what the "store opened" line says of it
}

// openStore opens the backend cfg selects.
func openStore(
	ctx context.Context, cfg config, logger *slog.Logger, onCommit func(int, time.Duration),
) (*openedStore, error) {
	if cfg.backend.kind == backendEtcd {
		return openEtcd(ctx, cfg.backend)
	}

	db, err := bolt.Open(cfg.db, &bolt.Options{
		LockTimeout: cfg.lockTimeout, Logger: logger, OnCommit: onCommit,
	})
	if err != nil {
		return nil, err
	}
	size, err := db.Size()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &openedStore{Store: db, bolt: db, close: db.Close,
		attrs: []any{"store", backendBolt, "path", cfg.db, "bytes", size}}, nil
}

// openEtcd connects to the etcd cluster and opens the store on it.
func openEtcd(ctx context.Context, c backendConfig) (*openedStore, error) {
	tlsConfig, err := etcdTLS(c)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: c.endpoints, DialTimeout: etcdDialTimeout, TLS: tlsConfig,
		Username: c.user, Password: c.password, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w", c.endpoints, err)
	}

	s, err := etcd.Open(ctx, cli, &etcd.Options{Prefix: c.prefix, Timeout: c.timeout})
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("etcd %v: %w", c.endpoints, err)
	}
	closeAll := func() error { return errors.Join(s.Close(), cli.Close()) }
	return &openedStore{Store: s, close: closeAll, attrs: []any{"store", backendEtcd,
		"endpoints", strings.Join(c.endpoints, ","), "prefix", c.prefix}}, nil
}

// etcdTLS builds the TLS configuration of the etcd client; nil without
// TLS files.
func etcdTLS(c backendConfig) (*tls.Config, error) {
	if c.caFile == "" && c.certFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("--etcd-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd-ca %s: no PEM certificate in it", c.caFile)
		}
		cfg.RootCAs = pool
	}
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert, --etcd-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
