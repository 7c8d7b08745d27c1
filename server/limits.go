package server

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Defaults of Limits, sized for a small server: room for every request the
// API defines and for the loads it is measured at, and a bound on what one
// client can take from the others.
const (
	// DefaultMaxRequestBytes is the largest request message accepted. The
	// largest valid request, a Reserve, is well under a kibibyte.
	DefaultMaxRequestBytes = 64 << 10
	// DefaultMaxStreams is how many calls one connection may have open.
	DefaultMaxStreams = 100
	// DefaultKeepaliveMinTime is the least time a client must leave between
	// its keepalive pings; a client that pings more often is disconnected.
	DefaultKeepaliveMinTime = 30 * time.Second
	// DefaultKeepaliveTime is how long a connection may go quiet before the
	// server pings it to learn whether the client is still there.
	DefaultKeepaliveTime = time.Minute
	// DefaultMaxConnectionIdle is how long a connection may go without a
	// call before the server closes it; clients reconnect when they need to.
	DefaultMaxConnectionIdle = 5 * time.Minute
	// DefaultCallTimeout is the deadline of a unary call that carries none.
	DefaultCallTimeout = 5 * time.Second
	// DefaultStreamTimeout is the deadline of a streaming call, a Backup,
	// that carries none: long enough to copy a large store over a slow link.
	DefaultStreamTimeout = 10 * time.Minute
	// DefaultRate is how many calls a second each caller may make.
	DefaultRate = 100
	// DefaultBurst is how many calls a caller may make at once before
	// DefaultRate holds it back.
	DefaultBurst = 200

	// keepaliveTimeout is how long the server waits for the answer to a
	// keepalive ping before it closes the connection.
	keepaliveTimeout = 20 * time.Second
)

// Limits bounds what clients may ask of a server. The zero value of each
// field means its default.
type Limits struct {
	// MaxRequestBytes is the largest request message accepted; a larger one
	// is refused with RESOURCE_EXHAUSTED before it is decoded.
	MaxRequestBytes int
	// MaxStreams is how many calls one connection may have open at once;
	// a client queues the calls beyond it.
	MaxStreams uint32
	// KeepaliveMinTime is the least time a client must leave between its
	// keepalive pings.
	KeepaliveMinTime time.Duration
	// KeepaliveTime is how long a connection may go quiet before the
	// server pings it.
	KeepaliveTime time.Duration
	// MaxConnectionIdle is how long a connection may go without a call
	// before the server closes it.
	MaxConnectionIdle time.Duration
	// CallTimeout is the deadline given to a unary call of the service that
	// carries none.
	CallTimeout time.Duration
	// StreamTimeout is the deadline given to a streaming call of the
	// service (Backup) that carries none.
	StreamTimeout time.Duration
	// Rate is how many calls a second each caller may make; rate.Inf turns
	// the limit off.
	Rate rate.Limit
	// Burst is how many calls a caller may make at once.
	Burst int
}

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	set := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if l.MaxStreams == 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	set(&l.KeepaliveMinTime, DefaultKeepaliveMinTime)
	set(&l.KeepaliveTime, DefaultKeepaliveTime)
	set(&l.MaxConnectionIdle, DefaultMaxConnectionIdle)
	set(&l.CallTimeout, DefaultCallTimeout)
	set(&l.StreamTimeout, DefaultStreamTimeout)
	if l.Rate <= 0 {
		l.Rate = DefaultRate
	}
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	return l
}

// transportOptions returns the options that bound connections and
// messages.
func (l Limits) transportOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(l.MaxRequestBytes),
		grpc.MaxConcurrentStreams(l.MaxStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: l.KeepaliveMinTime,
			// Clients that keep idle connections alive through proxies
			// ping without calls in flight; that is allowed at MinTime.
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: l.MaxConnectionIdle,
			Time:              l.KeepaliveTime,
			Timeout:           keepaliveTimeout,
		}),
	}
}

// withDefaultDeadline returns ctx with a deadline timeout from now when it
// has none, and a function that releases it.
func withDefaultDeadline(
	ctx context.Context, timeout time.Duration,
) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}

// rateLimits keeps one token bucket per caller name. Names come from the
// tokens file, plus AnonymousCaller, so the map stays as small as that file.
type rateLimits struct {
	limit   rate.Limit
	burst   int
	refusal map[string]string // ErrorInfo metadata of every refusal
	buckets sync.Map          // caller name → *rate.Limiter
}

// newRateLimits allows each caller limit calls a second, burst at once.
func newRateLimits(limit rate.Limit, burst int) *rateLimits {
	return &rateLimits{
		limit: limit,
		burst: burst,
		refusal: map[string]string{
			"rate": formatRate(limit), "burst": strconv.Itoa(burst),
		},
	}
}

// allow takes a call from caller's bucket, or refuses it.
func (r *rateLimits) allow(caller string) error {
	if r.limit == rate.Inf {
		return nil
	}
	bucket, ok := r.buckets.Load(caller)
	if !ok {
		bucket, _ = r.buckets.LoadOrStore(caller, rate.NewLimiter(r.limit, r.burst))
	}
	if bucket.(*rate.Limiter).Allow() {
		return nil
	}

	meta := map[string]string{"caller": caller}
	for k, v := range r.refusal {
		meta[k] = v
	}
	return toStatus(&refusal{
		cause: errRateLimited, reason: ReasonRateLimited,
		msg: fmt.Sprintf("caller %q is past its rate limit of %s calls a second"+
			" (burst %d); retry with back-off", caller, formatRate(r.limit), r.burst),
		meta: meta,
	})
}

// formatRate writes a rate without needless decimals.
func formatRate(l rate.Limit) string {
	return strconv.FormatFloat(float64(l), 'f', -1, 64)
}
