package main

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/nsalloc/nsalloc/server"
)

// securityConfig is what the daemon reads from its flags of callers, TLS
// and limits.
type securityConfig struct {
	tokens      string // tokens file; empty: every caller is anonymous
	tlsCert     string
	tlsKey      string
	tlsClientCA string // CA bundle of client certificates; empty: no mTLS
	limits      server.Limits
}

// securityFlags holds the text of those flags until they are checked.
type securityFlags struct {
	tokens, tlsCert, tlsKey, tlsClientCA string

	maxRequestBytes, maxStreams                          string
	keepaliveMinTime, keepaliveTime, maxConnectionIdle   string
	callTimeout, streamTimeout, rateLimit, rateBurstSize string
}

// addSecurityFlags defines the flags of callers, TLS and limits on fs, with
// their environment fall-backs read through env.
func addSecurityFlags(fs *flag.FlagSet, env func(name, fallback string) string) *securityFlags {
	f := &securityFlags{}
	str := func(p *string, name, variable, fallback, usage string) {
		fs.StringVar(p, name, env(variable, fallback), usage+" (env "+variable+")")
	}
	itoa := strconv.Itoa

	str(&f.tokens, "tokens", "NSALLOC_TOKENS", "",
		"file of callers, one \"ROLE NAME SHA256HEX\" a line (see nsallocd token);"+
			" empty: every caller is anonymous and --listen must be loopback")
	str(&f.tlsCert, "tls-cert", "NSALLOC_TLS_CERT", "",
		"PEM certificate chain to serve TLS with; needs --tls-key")
	str(&f.tlsKey, "tls-key", "NSALLOC_TLS_KEY", "", "PEM private key of --tls-cert")
	str(&f.tlsClientCA, "tls-client-ca", "NSALLOC_TLS_CLIENT_CA", "",
		"PEM CA certificates that client certificates must chain to (mTLS)")

	str(&f.maxRequestBytes, "max-request-bytes", "NSALLOC_MAX_REQUEST_BYTES",
		itoa(server.DefaultMaxRequestBytes), "largest request message accepted, in bytes")
	str(&f.maxStreams, "max-streams", "NSALLOC_MAX_STREAMS",
		itoa(server.DefaultMaxStreams), "most calls open at once on one connection")
	str(&f.keepaliveMinTime, "keepalive-min-time", "NSALLOC_KEEPALIVE_MIN_TIME",
		server.DefaultKeepaliveMinTime.String(),
		"least time between a client's keepalive pings; faster pingers are disconnected")
	str(&f.keepaliveTime, "keepalive-time", "NSALLOC_KEEPALIVE_TIME",
		server.DefaultKeepaliveTime.String(),
		"quiet time after which the server pings a connection")
	str(&f.maxConnectionIdle, "max-connection-idle", "NSALLOC_MAX_CONNECTION_IDLE",
		server.DefaultMaxConnectionIdle.String(),
		"time without calls after which a connection is closed")
	str(&f.callTimeout, "call-timeout", "NSALLOC_CALL_TIMEOUT",
		server.DefaultCallTimeout.String(), "deadline of a unary call that carries none")
	str(&f.streamTimeout, "stream-timeout", "NSALLOC_STREAM_TIMEOUT",
		server.DefaultStreamTimeout.String(), "deadline of a Backup that carries none")
	str(&f.rateLimit, "rate-limit", "NSALLOC_RATE_LIMIT", itoa(server.DefaultRate),
		"calls a second each caller may make; 0 turns the limit off")
	str(&f.rateBurstSize, "rate-burst", "NSALLOC_RATE_BURST", itoa(server.DefaultBurst),
		"calls a caller may make at once above --rate-limit")
	return f
}

// parse checks the flags, adding a problem to errs for each bad one. listen
// is the address the daemon will serve on.
func (f *securityFlags) parse(listen string, errs []error) (securityConfig, []error) {
	c := securityConfig{
		tokens: f.tokens, tlsCert: f.tlsCert, tlsKey: f.tlsKey, tlsClientCA: f.tlsClientCA,
	}

	// Limits.
	l := &c.limits
	l.MaxRequestBytes, errs = parseCount("--max-request-bytes", f.maxRequestBytes,
		math.MaxInt32, errs)
	var streams int
	streams, errs = parseCount("--max-streams", f.maxStreams, math.MaxUint32, errs)
	l.MaxStreams = uint32(streams)
	l.KeepaliveMinTime, errs = parseDuration("--keepalive-min-time", f.keepaliveMinTime, errs)
	l.KeepaliveTime, errs = parseDuration("--keepalive-time", f.keepaliveTime, errs)
	l.MaxConnectionIdle, errs = parseDuration("--max-connection-idle", f.maxConnectionIdle,
		errs)
	l.CallTimeout, errs = parseDuration("--call-timeout", f.callTimeout, errs)
	l.StreamTimeout, errs = parseDuration("--stream-timeout", f.streamTimeout, errs)
	l.Burst, errs = parseCount("--rate-burst", f.rateBurstSize, math.MaxInt32, errs)
	switch r, err := strconv.ParseFloat(f.rateLimit, 64); {
	case err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r):
		errs = append(errs, fmt.Errorf("--rate-limit %q: want calls a second, such as 100,"+
			" or 0 for no limit", f.rateLimit))
	case r == 0:
		l.Rate = rate.Inf
	default:
		l.Rate = rate.Limit(r)
	}

	// TLS files come in pairs, and mTLS needs TLS.
	if (c.tlsCert == "") != (c.tlsKey == "") {
		errs = append(errs, fmt.Errorf("--tls-cert %q and --tls-key %q: give both or neither",
			c.tlsCert, c.tlsKey))
	}
	if c.tlsClientCA != "" && (c.tlsCert == "" || c.tlsKey == "") {
		errs = append(errs, fmt.Errorf("--tls-client-ca %q needs --tls-cert and --tls-key",
			c.tlsClientCA))
	}

	// Without tokens, anyone who reaches the port is trusted: keep it local.
	if c.tokens == "" && listen != "" && !isLoopback(listen) {
		errs = append(errs, fmt.Errorf("--listen %q is not a loopback address and --tokens"+
			" is not set: anyone who can reach the port could reserve and release names;"+
			" pass --tokens FILE (make its lines with nsallocd token), or listen on"+
			" 127.0.0.1", listen))
	}
	return c, errs
}

// parseCount reads a whole number from 1 to most, adding a problem to errs.
func parseCount(flagName, value string, most int, errs []error) (int, []error) {
	n, err := strconv.Atoi(value)
	if err != nil || n <= 0 || n > most {
		return 0, append(errs, fmt.Errorf("%s %q: want a whole number from 1 to %d",
			flagName, value, most))
	}
	return n, errs
}

// isLoopback tells whether the host of the listen address addr is
// localhost or a loopback IP (127.0.0.0/8, ::1). An empty host, 0.0.0.0 and
// :: listen on every interface, and are not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// security is what the daemon loaded for its flags of callers and TLS.
type security struct {
	cfg     securityConfig
	callers *server.Callers // nil without --tokens
	certs   *certReloader   // nil without --tls-cert
}

// loadSecurity reads the tokens file and the TLS files.
func loadSecurity(cfg securityConfig, logger *slog.Logger) (*security, error) {
	s := &security{cfg: cfg}
	if cfg.tokens != "" {
		callers, err := server.LoadCallers(cfg.tokens)
		if err != nil {
			return nil, fmt.Errorf("--tokens: %w", err)
		}
		s.callers = callers
	}
	if cfg.tlsCert != "" {
		certs, err := newCertReloader(cfg.tlsCert, cfg.tlsKey, cfg.tlsClientCA)
		if err != nil {
			return nil, err
		}
		logCertificate(logger, "certificates loaded", certs.leaf())
		s.certs = certs
	}
	return s, nil
}

// serverOptions returns the server's credentials and its guard's options.
func (s *security) serverOptions() []grpc.ServerOption {
	opts := server.NewGuard(s.callers, s.cfg.limits).ServerOptions()
	if s.certs != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.certs.config())))
	}
	return opts
}

// logAttrs describes, for the "serving" line, how callers are checked.
func (s *security) logAttrs() []any {
	attrs := []any{"auth", "none"}
	if s.callers != nil {
		attrs = []any{"auth", "tokens", "callers", s.callers.Len()}
	}
	switch {
	case s.cfg.tlsClientCA != "":
		return append(attrs, "transport", "mtls")
	case s.certs != nil:
		return append(attrs, "transport", "tls")
	}
	return append(attrs, "transport", "plaintext")
}

// reloadOnHangup reads the certificates again on every SIGHUP until the
// returned function is called. A reload that fails is logged, and the
// certificates read before stay in use.
func (s *security) reloadOnHangup(logger *slog.Logger) (stop func()) {
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hangups:
				s.reload(logger)
			}
		}
	}()
	return func() {
		signal.Stop(hangups)
		close(done)
		<-finished
	}
}

// reload reads the certificates again, for SIGHUP.
func (s *security) reload(logger *slog.Logger) {
	if s.certs == nil {
		logger.Info("SIGHUP: no certificates to reload")
		return
	}
	if err := s.certs.reload(); err != nil {
		logger.Error("certificate reload failed; the previous certificates stay in use",
			"error", err)
		return
	}
	logCertificate(logger, "certificates reloaded", s.certs.leaf())
}
