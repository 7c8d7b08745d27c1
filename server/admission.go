package server

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

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
// that finds every slot taken waits up to its wait for one, and is refused
// with RESOURCE_EXHAUSTED after that, so that an overloaded server sheds
// what it cannot serve instead of letting every caller's latency grow.
// Health checks and reflection are not limited: probes must answer while the
// server sheds.
type Admission struct {
	slots chan struct{}
	wait  time.Duration
	log   *slog.Logger

	mu         sync.Mutex // guards the fields below
	shed       int        // calls refused since the last log line
	lastLogged time.Time  // when the last log line about shed calls was written
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
	return &Admission{slots: make(chan struct{}, maxInFlight), wait: wait, log: logger}
}

// UnaryServerInterceptor applies the limit to the service's unary calls.
func (a *Admission) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	prefix := "/" + nsallocv1.NamespaceService_ServiceDesc.ServiceName + "/"
	return func(
		ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler,
	) (any, error) {
		if !strings.HasPrefix(info.FullMethod, prefix) {
			return handler(ctx, req)
		}
		if err := a.acquire(ctx); err != nil {
			return nil, err
		}
		defer a.release()
		return handler(ctx, req)
	}
}

// acquire takes a slot, waiting up to a.wait; it fails with the status the
// caller should see.
func (a *Admission) acquire(ctx context.Context) error {
	select {
	case a.slots <- struct{}{}:
		return nil
	default:
	}

	timer := time.NewTimer(a.wait)
	defer timer.Stop()
	select {
	case a.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return toStatus(ctx.Err())
	case <-timer.C:
		a.noteShed()
		limit := strconv.Itoa(cap(a.slots))
		return toStatus(&refusal{
			cause:  errOverloaded,
			reason: ReasonOverloaded,
			msg: fmt.Sprintf("server overloaded: %s calls in flight and none ended within %s;"+
				" retry with back-off", limit, a.wait),
			meta: map[string]string{"max_in_flight": limit, "wait": a.wait.String()},
		})
	}
}

// noteShed counts a refused call and logs the count now and then.
func (a *Admission) noteShed() {
	a.mu.Lock()
	defer a.mu.Unlock()

	a.shed++
	if time.Since(a.lastLogged) < shedLogInterval {
		return
	}
	a.log.Warn("shedding calls: the server is at its admission limit",
		"shed", a.shed, "max_in_flight", cap(a.slots), "wait", a.wait)
	a.shed = 0
	a.lastLogged = time.Now()
}

// release frees the slot acquire took.
func (a *Admission) release() { <-a.slots }

// InFlight returns how many calls hold a slot now.
func (a *Admission) InFlight() int { return len(a.slots) }
