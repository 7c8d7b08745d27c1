package server

import "context"

// Caller names used when no token names the caller.
const (
	// AnonymousCaller is the caller of a server that checks no tokens.
	AnonymousCaller = "anonymous"
	// UnknownCaller is shown in the history of changes made before
	// callers were kept.
	UnknownCaller = "unknown"
)

// callerKey is the context key of the caller's name.
type callerKey struct{}

// WithCaller returns a copy of ctx that carries the name of the caller that
// authenticated. The service stores it with every change it makes.
func WithCaller(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, callerKey{}, name)
}

// CallerFrom returns the name WithCaller put in ctx, or AnonymousCaller.
func CallerFrom(ctx context.Context) string {
	if name, ok := ctx.Value(callerKey{}).(string); ok && name != "" {
		return name
	}
	return AnonymousCaller
}
