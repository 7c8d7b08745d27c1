package server

import (
	"context"
	"strings"

	"google.golang.org/grpc"
)

// Guard checks who calls NamespaceService and holds every caller to the
// server's limits: request size, streams and keepalive per connection, a
// default deadline, and a rate per caller. Health checks and reflection
// pass unchecked, so that probes need no token and the schema, which is no
// secret, stays browsable.
type Guard struct {
	callers *Callers // nil: every caller is anonymous and may call anything
	limits  Limits
	rates   *rateLimits
}

// NewGuard returns a Guard that lets through the calls of known callers
// within their roles, or every call, as AnonymousCaller, when callers is
// nil. Anonymous callers share one rate limit.
func NewGuard(callers *Callers, limits Limits) *Guard {
	limits = limits.withDefaults()
	return &Guard{
		callers: callers,
		limits:  limits,
		rates:   newRateLimits(limits.Rate, limits.Burst),
	}
}

// ServerOptions returns the options that install the guard on a server
// built by New. Its interceptors run in this order, on calls of
// NamespaceService only:
//
//  1. identify, ahead of New's call log so that its line names the caller:
//     the token's SHA-256 is looked up, and nothing is refused yet;
//  2. New's call log and panic recovery;
//  3. authorize: UNAUTHENTICATED or PERMISSION_DENIED, before anything that
//     costs more than a hash, so that a flood of calls without a valid
//     token is cheap to refuse and spends no caller's rate;
//  4. the caller's rate limit: RESOURCE_EXHAUSTED;
//  5. the default deadline, for calls that carry none;
//
// and then the interceptors of options given to New after these, such as
// the admission limit, so that a call refused above never takes a slot.
func (g *Guard) ServerOptions() []grpc.ServerOption {
	opts := g.limits.transportOptions()
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	if g.callers != nil {
		opts = append(opts, outerInterceptors{unary: g.identify, stream: g.identifyStream})
		unary = append(unary, g.authorize)
		stream = append(stream, g.authorizeStream)
	}
	unary = append(unary, g.limit)
	stream = append(stream, g.limitStream)
	return append(opts,
		grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))
}

// guarded tells whether fullMethod is one the guard checks.
func guarded(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, servicePrefix)
}

// identify puts the caller of a unary call in its context.
func (g *Guard) identify(
	ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler,
) (any, error) {
	if guarded(info.FullMethod) {
		ctx = g.callers.identify(ctx)
	}
	return handler(ctx, req)
}

// identifyStream puts the caller of a streaming call in its context.
func (g *Guard) identifyStream(
	srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler,
) error {
	if guarded(info.FullMethod) {
		ss = streamWithContext{ss, g.callers.identify(ss.Context())}
	}
	return handler(srv, ss)
}

// authorize refuses a unary call its caller may not make.
func (g *Guard) authorize(
	ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler,
) (any, error) {
	if guarded(info.FullMethod) {
		if err := authorize(ctx, info.FullMethod); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// authorizeStream refuses a streaming call its caller may not make.
func (g *Guard) authorizeStream(
	srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler,
) error {
	if guarded(info.FullMethod) {
		if err := authorize(ss.Context(), info.FullMethod); err != nil {
			return err
		}
	}
	return handler(srv, ss)
}

// limit holds a unary call to its caller's rate and gives it the default
// deadline when it carries none.
func (g *Guard) limit(
	ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler,
) (any, error) {
	if !guarded(info.FullMethod) {
		return handler(ctx, req)
	}
	if err := g.rates.allow(CallerFrom(ctx)); err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultDeadline(ctx, g.limits.CallTimeout)
	defer cancel()
	return handler(ctx, req)
}

// limitStream holds a streaming call to its caller's rate and gives it the
// streams' default deadline, which is longer than that of unary calls: a
// Backup sends the whole store.
func (g *Guard) limitStream(
	srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler,
) error {
	if !guarded(info.FullMethod) {
		return handler(srv, ss)
	}
	if err := g.rates.allow(CallerFrom(ss.Context())); err != nil {
		return err
	}
	ctx, cancel := withDefaultDeadline(ss.Context(), g.limits.StreamTimeout)
	defer cancel()
	return handler(srv, streamWithContext{ss, ctx})
}

// streamWithContext is a server stream whose handler sees ctx.
type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the stream's context.
func (s streamWithContext) Context() context.Context { return s.ctx }

// outerInterceptors is a server option that New installs ahead of its call
// log, for interceptors whose work the call log should see. grpc itself
// ignores it: a server built without New identifies nobody, and authorize
// refuses every call of the service there.
type outerInterceptors struct {
	grpc.EmptyServerOption
	unary  grpc.UnaryServerInterceptor
	stream grpc.StreamServerInterceptor
}

// splitOuter takes the interceptors of every outerInterceptors out of opts
// and returns them with the other options.
func splitOuter(opts []grpc.ServerOption) (
	unary []grpc.UnaryServerInterceptor, stream []grpc.StreamServerInterceptor,
	rest []grpc.ServerOption,
) {
	for _, o := range opts {
		outer, ok := o.(outerInterceptors)
		if !ok {
			rest = append(rest, o)
			continue
		}
		unary = append(unary, outer.unary)
		stream = append(stream, outer.stream)
	}
	return unary, stream, rest
}
