package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
)

// Defaults of the options of Dial.
const (
	// DefaultTimeout is the deadline a call other than Backup gets when its
	// context has none.
	DefaultTimeout = 10 * time.Second
	// DefaultBackupTimeout is the deadline a Backup gets when its context
	// has none: the time to copy a large database over a slow link, as
	// the server allows a Backup by default.
	DefaultBackupTimeout = 10 * time.Minute
	// DefaultRetryAttempts is how many times a call is tried at most while
	// the server is unavailable.
	DefaultRetryAttempts = 4
	// DefaultRetryBackoff is the wait before the first retry.
	DefaultRetryBackoff = 100 * time.Millisecond

	// maxBackoff caps the wait between two attempts, unless the base
	// back-off is longer.
	maxBackoff = 5 * time.Second
)

// Option configures Dial.
type Option func(*config)

// config is what the options of one Dial set.
type config struct {
	token    string
	tls      *tls.Config
	tlsSet   bool
	insecure bool
	timeout  time.Duration
	attempts int
	backoff  time.Duration
	extra    []grpc.DialOption
	errs     []error // options given wrong values
}

// WithToken sends token with every call, as the metadata
// "authorization: Bearer <token>".
//
// A bearer token is as good as a password to whoever reads it, so it is
// sent only over TLS: with WithInsecure, Dial refuses (ErrPlaintextToken)
// unless the address is loopback (127.0.0.0/8, ::1, localhost) or a Unix
// socket, where the bytes never leave the machine. The credentials also ask
// gRPC to refuse plaintext transports, so that a transport set through
// WithDialOptions cannot leak the token either.
//
// The token must be printable ASCII without spaces; it never appears in
// the errors of Dial.
func WithToken(token string) Option {
	return func(c *config) {
		if err := checkToken(token); err != nil {
			c.errs = append(c.errs, err)
			return
		}
		c.token = token
	}
}

// WithTLS connects over TLS configured by cfg, for a private certificate
// authority or a client certificate. Dial uses TLS with the system's roots
// even without this option; nil means that default. Dial refuses WithTLS
// together with WithInsecure.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) {
		c.tlsSet = true
		if cfg != nil {
			c.tls = cfg.Clone()
		}
	}
}

// WithInsecure connects in plaintext, for a server on loopback or on a
// network the caller trusts. See WithToken for what it allows with a token.
func WithInsecure() Option {
	return func(c *config) { c.insecure = true }
}

// WithTimeout sets the deadline of a call whose context has none; it covers
// every attempt of the call. The default is DefaultTimeout; d must be
// positive. It does not apply to Backup, which copies the whole database
// and gets DefaultBackupTimeout. A context's own deadline always wins,
// longer or shorter.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("WithTimeout(%v): want a positive duration", d))
			return
		}
		c.timeout = d
	}
}

// WithRetry sets how many times a call is tried at most while the server
// answers UNAVAILABLE (attempts ≥ 1; 1 means never retry), and the wait
// before the first retry. Each further wait doubles, up to 5 seconds or
// backoff if that is longer, and is drawn at random from its upper half so
// that clients cut off together do not come back together. No wait runs
// past the call's deadline: when the next one would, the call returns the
// last error at once. The defaults are DefaultRetryAttempts and
// DefaultRetryBackoff. Reconnections to the server follow the same back-off.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(c *config) {
		if attempts < 1 {
			c.errs = append(c.errs, fmt.Errorf("WithRetry(%d, %v): want at least 1 attempt",
				attempts, backoff))
			return
		}
		if backoff <= 0 {
			c.errs = append(c.errs, fmt.Errorf("WithRetry(%d, %v): want a positive back-off",
				attempts, backoff))
			return
		}
		c.attempts, c.backoff = attempts, backoff
	}
}

// WithDialOptions passes options to grpc.NewClient after those that Dial
// builds, such as interceptors or a custom dialer; a later option overrides
// an earlier one of the same kind.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.extra = append(c.extra, opts...) }
}

// newConfig applies opts over the defaults and checks that they agree with
// each other and with addr.
func newConfig(addr string, opts []Option) (*config, error) {
	c := &config{
		timeout:  DefaultTimeout,
		attempts: DefaultRetryAttempts,
		backoff:  DefaultRetryBackoff,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(c)
		}
	}

	if c.tlsSet && c.insecure {
		c.errs = append(c.errs, errors.New("WithTLS and WithInsecure both given: choose one"))
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, fmt.Errorf("nsalloc: dial %s: %w", addr, err)
	}

	if c.token != "" && c.insecure && !isLoopback(addr) {
		return nil, fmt.Errorf("%w: WithToken and WithInsecure for %q, "+
			"which is not a loopback address; use TLS", ErrPlaintextToken, addr)
	}
	return c, nil
}
