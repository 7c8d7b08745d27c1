package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// streamWorkers is how many goroutines serve calls and are kept between
// them; a call that finds them all busy gets a goroutine of its own. Enough
// for every client of a busy server, and cheap when idle.
const streamWorkers = 64

// Server is a gRPC server that carries the namespace service, grpc.health.v1
// and server reflection, with logging and panic recovery on every call.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
}

// New builds a Server around svc. Health reports SERVING at once: the store
// is open by the time a Service exists. logger may be nil to discard logs.
// The interceptors of Metrics.ServerOptions, given in extra, run ahead of
// all those chained here, New's own included.
func New(
	svc nsallocv1.NamespaceServiceServer, logger *slog.Logger, extra ...grpc.ServerOption,
) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	calls := callLogger{log: logger}
	recoverOpt := recovery.WithRecoveryHandlerContext(panicHandler(logger))

	// Logging is outermost, so that it records the INTERNAL a panic became;
	// only the interceptors that identify the caller (see Guard) come before
	// it, so that its line names the caller.
	// Stream workers keep a few goroutines, whose stacks have grown to fit a
	// call, for the calls that follow, instead of growing a new one each time.
	outerUnary, outerStream, extra := splitOuter(extra)
	opts := append([]grpc.ServerOption{
		grpc.NumStreamWorkers(streamWorkers),
		grpc.ChainUnaryInterceptor(append(outerUnary,
			calls.unary, recovery.UnaryServerInterceptor(recoverOpt))...),
		grpc.ChainStreamInterceptor(append(outerStream,
			calls.stream, recovery.StreamServerInterceptor(recoverOpt))...),
	}, extra...)
	g := grpc.NewServer(opts...)

	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus(nsallocv1.NamespaceService_ServiceDesc.ServiceName,
		healthpb.HealthCheckResponse_SERVING)

	nsallocv1.RegisterNamespaceServiceServer(g, svc)
	healthpb.RegisterHealthServer(g, h)
	registerReflection(g, logger)
	return &Server{grpc: g, health: h}
}

// registerReflection serves reflection (v1 and v1alpha, which grpcurl still
// asks for) from the documented descriptors, so that clients see comments.
func registerReflection(g *grpc.Server, logger *slog.Logger) {
	opts := reflection.ServerOptions{Services: g}
	if documented, err := nsallocv1.DocumentedFiles(); err == nil {
		opts.DescriptorResolver = layeredResolver{documented, protoregistry.GlobalFiles}
	} else {
		logger.Warn("reflection serves descriptors without comments", "error", err)
	}

	reflectionv1.RegisterServerReflectionServer(g, reflection.NewServerV1(opts))
	reflectionv1alpha.RegisterServerReflectionServer(g, reflection.NewServer(opts))
}

// layeredResolver looks a descriptor up in first, then in second.
type layeredResolver struct {
	first, second *protoregistry.Files
}

// FindFileByPath finds a file by its path, such as "nsalloc/v1/nsalloc.proto".
func (r layeredResolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := r.first.FindFileByPath(path); err == nil {
		return fd, nil
	}
	return r.second.FindFileByPath(path)
}

// FindDescriptorByName finds a service, message, field or enum by full name.
func (r layeredResolver) FindDescriptorByName(
	name protoreflect.FullName,
) (protoreflect.Descriptor, error) {
	if d, err := r.first.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return r.second.FindDescriptorByName(name)
}

// Serve accepts connections on lis until Shutdown. It returns nil after a
// Shutdown, and the listener's error otherwise.
func (s *Server) Serve(lis net.Listener) error {
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Shutdown marks the server NOT_SERVING, stops taking calls, and waits for
// the calls in flight to finish until ctx ends; then it cuts the rest off.
// It reports whether every call finished in time.
func (s *Server) Shutdown(ctx context.Context) bool {
	s.health.Shutdown()

	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()

	select {
	case <-done:
		return true
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		return false
	}
}

// panicHandler logs a panic with its stack and answers INTERNAL, so that one
// bad call never takes the server down.
func panicHandler(logger *slog.Logger) recovery.RecoveryHandlerFuncContext {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic in handler",
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return toStatus(errPanic)
	}
}
