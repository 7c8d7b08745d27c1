package server

import (
	"fmt"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// handlingBuckets are the bounds, in seconds, of the handling time
// histogram: a Resolve takes a fraction of a millisecond and a Reserve a
// millisecond or two, far below the default buckets' first 5 ms.
var handlingBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
	5, 10,
}

// Metrics measures a Server for Prometheus: every call, with
// go-grpc-middleware's grpc_server_* metrics and its handling time
// histogram, and how Reserve answered, in nsalloc_reservations_total. It is
// an Observer, to be given to the Service as Options.Observer.
type Metrics struct {
	calls        *grpcprom.ServerMetrics
	reservations map[ReserveOutcome]prometheus.Counter // read-only once made
}

var _ Observer = (*Metrics)(nil)

// NewMetrics makes the metrics and registers them with reg. It fails when
// reg already holds metrics of the same names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	calls := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(handlingBuckets)))
	reservations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nsalloc_reservations_total",
		Help: "Reserve calls answered with a namespace, by outcome: base (a new namespace " +
			"with the app's base name), tagged (a new namespace with a tag from the app id), " +
			"existing (the namespace the app already had).",
	}, []string{"outcome"})
	for _, c := range []prometheus.Collector{calls, reservations} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: register metrics: %w", err)
		}
	}

	// Every series of the service exists from the start, at zero, so that
	// a rate taken across the first calls, or across a restart, is right.
	calls.InitializeMetrics(namespaceServiceInfo{})
	m := &Metrics{calls: calls, reservations: make(map[ReserveOutcome]prometheus.Counter)}
	for _, o := range []ReserveOutcome{OutcomeBase, OutcomeTagged, OutcomeExisting} {
		m.reservations[o] = reservations.WithLabelValues(string(o))
	}
	return m, nil
}

// ServerOptions returns the options that install the call metrics on a
// server built by New.
//
// They set grpc's one unary and one stream interceptor, which grpc runs
// ahead of every chained interceptor, whatever the order of the options:
// the metrics time the whole call and count the code it finally got, after
// New's panic recovery turned a panic into INTERNAL and after the guard and
// the admission limit refused what they refuse. Only calls refused before
// any interceptor runs, such as those the admission limit sheds as their
// stream opens, are not counted.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.UnaryInterceptor(m.calls.UnaryServerInterceptor()),
		grpc.StreamInterceptor(m.calls.StreamServerInterceptor()),
	}
}

// Reserved counts a Reserve answered with outcome.
func (m *Metrics) Reserved(outcome ReserveOutcome) {
	if c, ok := m.reservations[outcome]; ok {
		c.Inc()
	}
}

// namespaceServiceInfo describes NamespaceService the way
// grpc.Server.GetServiceInfo does, so that its series can be made before
// any server is. Health and reflection get theirs at their first call.
type namespaceServiceInfo struct{}

// GetServiceInfo returns the methods of NamespaceService.
func (namespaceServiceInfo) GetServiceInfo() map[string]grpc.ServiceInfo {
	desc := &nsallocv1.NamespaceService_ServiceDesc
	var methods []grpc.MethodInfo
	for _, m := range desc.Methods {
		methods = append(methods, grpc.MethodInfo{Name: m.MethodName})
	}
	for _, s := range desc.Streams {
		methods = append(methods, grpc.MethodInfo{
			Name: s.StreamName, IsClientStream: s.ClientStreams, IsServerStream: s.ServerStreams,
		})
	}
	return map[string]grpc.ServiceInfo{
		desc.ServiceName: {Methods: methods, Metadata: desc.Metadata},
	}
}
