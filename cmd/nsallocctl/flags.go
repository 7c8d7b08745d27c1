package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/nsalloc/nsalloc/client"
)

// defaultAddr is the address nsallocd listens on by default.
const defaultAddr = "127.0.0.1:50051"

// Output formats of -o.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// globals are the flags that every subcommand takes, before or after its
// name.
type globals struct {
	addr     string
	token    secret
	insecure bool
	tls      bool
	tlsCA    string
	tlsCert  string
	tlsKey   string
	timeout  time.Duration
	output   string
}

// defaultGlobals returns the globals before any flag is read: the defaults,
// and the address of NSALLOC_ADDR.
func defaultGlobals(getenv func(string) string) globals {
	g := globals{addr: defaultAddr, timeout: client.DefaultTimeout, output: formatTable}
	if addr := getenv("NSALLOC_ADDR"); addr != "" {
		g.addr = addr
	}
	return g
}

// register adds the global flags to fs, each defaulting to its current
// value, so that a flag given before the subcommand carries over.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.addr, "addr", g.addr, "`address` of nsallocd (env NSALLOC_ADDR)")
	fs.Var(&g.token, "token", "bearer `token` sent with every call (env NSALLOC_TOKEN)")
	fs.BoolVar(&g.insecure, "insecure", g.insecure,
		"connect in plaintext (the default for a loopback address without TLS flags)")
	fs.BoolVar(&g.tls, "tls", g.tls, "connect over TLS with the system's roots, even on loopback")
	fs.StringVar(&g.tlsCA, "tls-ca", g.tlsCA, "PEM `file` of the CAs to trust for the server")
	fs.StringVar(&g.tlsCert, "tls-cert", g.tlsCert, "PEM client certificate `file`, for mTLS")
	fs.StringVar(&g.tlsKey, "tls-key", g.tlsKey, "PEM `file` of the key of --tls-cert")
	fs.DurationVar(&g.timeout, "timeout", g.timeout,
		"deadline of each call, retries included (backup: 10m)")
	fs.StringVar(&g.output, "o", g.output, "output `format`: table or json")
}

// check refuses globals that cannot work, and fills in the token from
// NSALLOC_TOKEN when no flag gave one.
func (g *globals) check(getenv func(string) string) error {
	if g.token == "" {
		g.token = secret(getenv("NSALLOC_TOKEN"))
	}
	if g.output != formatTable && g.output != formatJSON {
		return usagef("-o %q: want table or json", g.output)
	}
	if g.timeout <= 0 {
		return usagef("--timeout %v: want a positive duration", g.timeout)
	}
	if (g.tlsCert == "") != (g.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if g.insecure && g.wantsTLS() {
		return usagef("--insecure and TLS flags both given: choose one")
	}
	return nil
}

// wantsTLS reports whether a TLS flag was given.
func (g *globals) wantsTLS() bool {
	return g.tls || g.tlsCA != "" || g.tlsCert != ""
}

// dial returns a client for the server the globals name. The connection
// is plaintext with --insecure, and for a loopback address without TLS
// flags; TLS otherwise.
func (g *globals) dial() (*client.Client, error) {
	opts := []client.Option{client.WithTimeout(g.timeout)}
	if g.token != "" {
		opts = append(opts, client.WithToken(string(g.token)))
	}
	if g.insecure || !g.wantsTLS() && isLoopback(g.addr) {
		opts = append(opts, client.WithInsecure())
	} else {
		cfg, err := g.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithTLS(cfg))
	}

	c, err := client.Dial(g.addr, opts...)
	if err != nil {
		return nil, usageError{msg: err.Error()}
	}
	return c, nil
}

// tlsConfig builds the TLS configuration of the TLS flags.
func (g *globals) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if g.tlsCA != "" {
		pem, err := os.ReadFile(g.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate", g.tlsCA)
		}
	}
	if g.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(g.tlsCert, g.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", g.tlsCert, g.tlsKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// isLoopback reports whether addr reaches this machine only: a loopback
// IP address or localhost, with a port, or a Unix socket.
func isLoopback(addr string) bool {
	if strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "unix-abstract:") {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// secret is a flag value that never shows in the usage text.
type secret string

// String returns nothing, so that the usage text shows no default.
func (s *secret) String() string { return "" }

// Set keeps the value.
func (s *secret) Set(v string) error {
	*s = secret(v)
	return nil
}

// parseArgs parses fs's flags wherever they stand among args and returns
// the other arguments in order; "--" ends the flags. It checks that there
// are between minArgs and maxArgs of them.
func parseArgs(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{msg: err.Error(), printed: true}
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" || len(rest) == 0 {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}

	switch {
	case len(positional) < minArgs:
		return nil, usagef("%s: missing arguments; usage: %s", fs.Name(), usageLine(fs))
	case len(positional) > maxArgs:
		return nil, usagef("%s: unexpected argument %q; usage: %s", fs.Name(),
			positional[maxArgs], usageLine(fs))
	}
	return positional, nil
}
