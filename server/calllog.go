package server

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// callLogger writes one line for each finished call, at the level its code
// calls for (see levelFor). A call whose line the logger would drop costs a
// single Enabled check, which keeps the fast calls fast at the default level.
type callLogger struct {
	log *slog.Logger
}

// unary logs unary calls.
func (l callLogger) unary(
	ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler,
) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	l.finished(ctx, info.FullMethod, start, err)
	return resp, err
}

// stream logs streaming calls when their stream ends.
func (l callLogger) stream(
	srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler,
) error {
	start := time.Now()
	err := handler(srv, ss)
	l.finished(ss.Context(), info.FullMethod, start, err)
	return err
}

// finished writes the line of a call that began at start and ended with err.
func (l callLogger) finished(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	level := levelFor(code)
	if !l.log.Enabled(ctx, level) {
		return
	}

	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("duration", time.Since(start)),
		slog.String("caller", CallerFrom(ctx)),
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", status.Convert(err).Message()))
	}
	l.log.LogAttrs(ctx, level, "call finished", attrs...)
}

// levelFor logs calls refused for the caller's reasons at debug level, and
// those that point at a problem of the server at warn or error. Calls shed
// under overload are logged at debug level one by one: Admission sums them
// up in a warning instead.
func levelFor(code codes.Code) slog.Level {
	switch code {
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		return slog.LevelError
	case codes.Unavailable, codes.DeadlineExceeded:
		return slog.LevelWarn
	default:
		return slog.LevelDebug
	}
}
