package server

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/tap"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// Defaults of the admission limit. They are sized so that the limit never
// bites at the loads the service is measured at (256 clients), while a flood
// still cannot pile up calls without bound.
const (
	// DefaultMaxInFlight is how many service calls run at once.
	DefaultMaxInFlight = 1024
	// DefaultAdmissionWait is how long a call waits for a free slot before
	// it is refused.
	DefaultAdmissionWait = 20 * time.Millisecond

	// shedLogInterval is the least time between two log lines about shed
	// calls, so that an overload does not also flood the log.
	shedLogInterval = 10 * time.Second
)

// Admission bounds the calls of NamespaceService that run at once. A call
// that finds every slot taken waits up to the admission wait for one, and is
// refused with RESOURCE_EXHAUSTED after that, so that an overloaded server
// sheds what it cannot serve instead of letting every caller's latency grow.
// At most a sixteenth as many calls wait as may run (one at least), since a
// waiting call costs the server while it sheds; once that queue is full too,
// new calls are refused as their stream opens, before a goroutine is started
// or the request is read, so that refusing stays cheap under a flood.
// Health checks and reflection are not limited: probes must answer while the
// server sheds.
type Admission struct {
	slots      chan struct{}
	waiting    atomic.Int64 // calls waiting for a slot
	maxWaiting int64
	wait       time.Duration
	refusal    error // the status every refused call gets
	prefix     string
	log        *slog.Logger

	shed       atomic.Int64 // calls refused since the last log line
	lastLogged atomic.Int64 // when that line was written, in Unix nanoseconds
}

// NewAdmission admits maxInFlight calls at once, each waiting up to wait
// for a slot. Zero values take the defaults; logger may be nil to discard
// the line written, at most every ten seconds, while calls are shed.
func NewAdmission(maxInFlight int, wait time.Duration, logger *slog.Logger) *Admission {
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	if wait <= 0 {
		wait = DefaultAdmissionWait
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	limit := strconv.Itoa(maxInFlight)
	refusal := toStatus(&refusal{
		cause:  errOverloaded,
		reason: ReasonOverloaded,
		msg: fmt.Sprintf("server overloaded: %s calls in flight and none ended within %s;"+
			" retry with back-off", limit, wait),
		meta: map[string]string{"max_in_flight": limit, "wait": wait.String()},
	})
	return &Admission{
		slots:      make(chan struct{}, maxInFlight),
		maxWaiting: int64(max(maxInFlight/16, 1)),
		wait:       wait,
		refusal:    refusal,
		prefix:     "/" + nsallocv1.NamespaceService_ServiceDesc.ServiceName + "/",
		log:        logger,
	}
}

// ServerOptions returns the options that install the limit on a server.
func (a *Admission) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InTapHandle(a.tap),
		grpc.ChainUnaryInterceptor(a.unary),
	}
}

// tap refuses a call as its stream opens when every slot is taken and the
// queue of waiting calls is full.
func (a *Admission) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !strings.HasPrefix(info.FullMethodName, a.prefix) {
		return ctx, nil
	}
	if len(a.slots) == cap(a.slots) && a.waiting.Load() >= a.maxWaiting {
		a.noteShed()
		return ctx, a.refusal
	}
	return ctx, nil
}

// unary holds a slot for the length of each of the service's calls.
func (a *Admission) unary(
	ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler,
) (any, error) {
	if !strings.HasPrefix(info.FullMethod, a.prefix) {
		return handler(ctx, req)
	}
	if err := a.acquire(ctx); err != nil {
		return nil, err
	}
	defer a.release()
	return handler(ctx, req)
}

// acquire takes a slot, waiting up to a.wait; it fails with the status the
// caller should see.
func (a *Admission) acquire(ctx context.Context) error {
	select {
	case a.slots <- struct{}{}:
		return nil
	default:
	}

	if a.waiting.Add(1) > a.maxWaiting {
		a.waiting.Add(-1)
		a.noteShed()
		return a.refusal
	}
	defer a.waiting.Add(-1)

	timer := time.NewTimer(a.wait)
	defer timer.Stop()
	select {
	case a.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return toStatus(ctx.Err())
	case <-timer.C:
		a.noteShed()
		return a.refusal
	}
}

// noteShed counts a refused call and logs the count now and then. It takes
// no lock: it runs for every call refused under a flood.
func (a *Admission) noteShed() {
	a.shed.Add(1)
	now := time.Now().UnixNano()
	last := a.lastLogged.Load()
	if now-last < int64(shedLogInterval) || !a.lastLogged.CompareAndSwap(last, now) {
		return
	}
	a.log.Warn("shedding calls: the server is at its admission limit",
		"shed", a.shed.Swap(0), "max_in_flight", cap(a.slots), "wait", a.wait)
}

// release frees the slot acquire took.
func (a *Admission) release() { <-a.slots }

// InFlight returns how many calls hold a slot now.
func (a *Admission) InFlight() int { return len(a.slots) }
