package server_test

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nsalloc/nsalloc/internal/metricstest"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store"
)

// measuredServer is a real server with metrics, and an HTTP endpoint that
// serves them as a daemon would.
type measuredServer struct {
	client  nsallocv1.NamespaceServiceClient
	metrics string // the URL of the metrics
}

// startMeasuredServer serves a fresh database on 127.0.0.1:0 with metrics
// in a registry of its own. wrap, when not nil, stands between the service
// and the database; extra options go to server.New after the metrics'.
func startMeasuredServer(
	t testing.TB, wrap func(store.Store) store.Store, extra ...grpc.ServerOption,
) *measuredServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := server.NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	ts := startServerWith(t, serverSetup{wrap: wrap, observer: m,
		options: append(m.ServerOptions(), extra...)})

	web := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(web.Close)
	return &measuredServer{client: ts.client, metrics: web.URL}
}

// wantSample is the value one sum of series must have.
type wantSample struct {
	name   string
	labels []string
	want   float64
}

// checkSamples compares each sum with its wanted value.
func checkSamples(t *testing.T, families map[string]*dto.MetricFamily, wants []wantSample) {
	t.Helper()
	for _, w := range wants {
		t.Run(fmt.Sprint(w.name, w.labels), func(t *testing.T) {
			got, ok := metricstest.Sum(families, w.name, w.labels...)
			if !ok {
				t.Fatalf("no series of %s with %v", w.name, w.labels)
			}
			if got != w.want {
				t.Errorf("got %v, want %v", got, w.want)
			}
		})
	}
}

func TestMetricsCountCallsAndOutcomes(t *testing.T) {
	ms := startMeasuredServer(t, nil)
	ctx := testCtx(t)
	reserve := func(appID, name string, exact bool) func() error {
		return func() error {
			_, err := ms.client.Reserve(ctx, &nsallocv1.ReserveRequest{
				AppId: appID, AppName: name, Exact: exact,
			})
			return err
		}
	}

	// Before any call, every outcome and every code of the service is
	// there at zero.
	checkSamples(t, metricstest.Scrape(testCtx(t), t, ms.metrics), []wantSample{
		{"nsalloc_reservations_total", []string{"outcome", "base"}, 0},
		{"nsalloc_reservations_total", []string{"outcome", "tagged"}, 0},
		{"nsalloc_reservations_total", []string{"outcome", "existing"}, 0},
		{"grpc_server_handled_total",
			[]string{"grpc_method", "Release", "grpc_code", "NotFound"}, 0},
		{"grpc_server_handled_total",
			[]string{"grpc_method", "Backup", "grpc_type", "server_stream"}, 0},
	})

	calls := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"base", reserve(appMath, "Math", false), codes.OK},
		{"tagged: the base is taken", reserve(appMath2, "math", false), codes.OK},
		{"tagged: the base is reserved", reserve(appOther, "wasi", false), codes.OK},
		{"tagged: no base", reserve(appUnknown, "日本語", false), codes.OK},
		{"existing", reserve(appMath, "Physics", false), codes.OK},
		{"exact on a taken name", reserve("cc000000-0000-4000-8000-000000000003", "math", true),
			codes.AlreadyExists},
		{"bad app id", reserve("nope", "math", false), codes.InvalidArgument},
		{"release", func() error {
			_, err := ms.client.Release(ctx, &nsallocv1.ReleaseRequest{AppId: appMath})
			return err
		}, codes.OK},
		{"released app", reserve(appMath, "Math", false), codes.FailedPrecondition},
		{"resolve", func() error {
			_, err := ms.client.Resolve(ctx, &nsallocv1.ResolveRequest{
				Key: &nsallocv1.ResolveRequest_AppId{AppId: appMath2},
			})
			return err
		}, codes.OK},
	}
	for _, c := range calls {
		if err := c.call(); status.Code(err) != c.want {
			t.Fatalf("%s: error = %v, want code %s", c.name, err, c.want)
		}
	}

	reserveOK := []string{"grpc_method", "Reserve", "grpc_code", "OK"}
	checkSamples(t, metricstest.Scrape(testCtx(t), t, ms.metrics), []wantSample{
		{"nsalloc_reservations_total", []string{"outcome", "base"}, 1},
		{"nsalloc_reservations_total", []string{"outcome", "tagged"}, 3},
		{"nsalloc_reservations_total", []string{"outcome", "existing"}, 1},
		{"grpc_server_started_total", []string{"grpc_method", "Reserve"}, 8},
		{"grpc_server_handled_total", reserveOK, 5},
		{"grpc_server_handled_total",
			[]string{"grpc_method", "Reserve", "grpc_code", "AlreadyExists"}, 1},
		{"grpc_server_handled_total",
			[]string{"grpc_method", "Reserve", "grpc_code", "InvalidArgument"}, 1},
		{"grpc_server_handled_total",
			[]string{"grpc_method", "Reserve", "grpc_code", "FailedPrecondition"}, 1},
		{"grpc_server_handled_total",
			[]string{"grpc_method", "Release", "grpc_code", "OK"}, 1},
		{"grpc_server_handled_total",
			[]string{"grpc_method", "Resolve", "grpc_code", "OK"}, 1},
		{"grpc_server_handling_seconds", []string{"grpc_method", "Reserve"}, 8},
		{"grpc_server_handling_seconds",
			[]string{"grpc_service", "nsalloc.v1.NamespaceService"}, 10},
	})
}

// TestMetricsSeeTheFinalCode checks that the call metrics stand outside
// every other interceptor: a panic is counted as the INTERNAL it became,
// and a call the admission limit refused as RESOURCE_EXHAUSTED.
func TestMetricsSeeTheFinalCode(t *testing.T) {
	gate := gateStore{entered: make(chan struct{}, 4), gate: make(chan struct{})}
	admission := server.NewAdmission(1, 10*time.Millisecond, nil)
	ms := startMeasuredServer(t, func(s store.Store) store.Store {
		gate.Store = panicStore{s}
		return gate
	}, admission.ServerOptions()...)
	ctx := testCtx(t)

	_, err := ms.client.Resolve(ctx, &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_Namespace{Namespace: "boom"},
	})
	if status.Code(err) != codes.Internal {
		t.Fatalf("Resolve of boom: error = %v, want INTERNAL", err)
	}

	// Hold the one slot with a Reserve, so that a Resolve is refused.
	var held sync.WaitGroup
	held.Go(func() {
		_, err := ms.client.Reserve(ctx, &nsallocv1.ReserveRequest{
			AppId: appMath, AppName: "held",
		})
		if err != nil {
			t.Errorf("held Reserve: %v", err)
		}
	})
	<-gate.entered
	_, err = ms.client.Resolve(ctx, &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_AppId{AppId: appMath},
	})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("Resolve past the limit: error = %v, want RESOURCE_EXHAUSTED", err)
	}
	close(gate.gate)
	held.Wait()

	checkSamples(t, metricstest.Scrape(testCtx(t), t, ms.metrics), []wantSample{
		{"grpc_server_handled_total",
			[]string{"grpc_method", "Resolve", "grpc_code", "Internal"}, 1},
		{"grpc_server_handled_total",
			[]string{"grpc_method", "Resolve", "grpc_code", "ResourceExhausted"}, 1},
		{"grpc_server_handled_total", []string{"grpc_method", "Reserve", "grpc_code", "OK"}, 1},
		{"grpc_server_handling_seconds", []string{"grpc_method", "Resolve"}, 2},
		{"nsalloc_reservations_total", []string{"outcome", "base"}, 1},
	})
}

// BenchmarkReserveMeasured is BenchmarkReserve with the metrics installed,
// to show what they cost a call.
func BenchmarkReserveMeasured(b *testing.B) {
	for _, clients := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			ms := startMeasuredServer(b, nil)
			ctx := b.Context()
			runClients(b, clients, func(i int) error {
				_, err := ms.client.Reserve(ctx, &nsallocv1.ReserveRequest{
					AppId: benchAppID(i), AppName: fmt.Sprintf("bench app %d", i),
				})
				return err
			})
		})
	}
}
