package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store"
)

// TestAdmissionSheds fills every slot of a small admission limit with calls
// held in the store, then checks what the calls beyond it get: a wait and
// RESOURCE_EXHAUSTED while the queue has room, an immediate refusal once it
// is full, answers from health all along, and service again once the held
// calls end.
func TestAdmissionSheds(t *testing.T) {
	const limit = 4
	const queue = 1 // calls that may wait for a slot: limit/16, one at least
	const wait = 300 * time.Millisecond
	gate := gateStore{entered: make(chan struct{}, 16), gate: make(chan struct{})}
	admission := server.NewAdmission(limit, wait, nil)
	ts := startLoggedServer(t, func(s store.Store) store.Store {
		gate.Store = s
		return gate
	}, nil, admission.ServerOptions()...)
	ctx := testCtx(t)

	// Hold `limit` Reserves in the store.
	var held sync.WaitGroup
	heldErrs := make(chan error, limit)
	for i := range limit {
		held.Go(func() {
			_, err := ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{
				AppId: fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i+1), AppName: "held",
			})
			heldErrs <- err
		})
		<-gate.entered
	}

	// Calls beyond the limit wait for a slot, then are refused; while they
	// wait, the queue is full and one more is refused at once.
	var waiting sync.WaitGroup
	waitErrs := make(chan error, queue)
	for range queue {
		waiting.Go(func() {
			_, err := ts.client.Resolve(ctx, &nsallocv1.ResolveRequest{
				Key: &nsallocv1.ResolveRequest_Namespace{Namespace: "math"},
			})
			waitErrs <- err
		})
	}
	time.Sleep(wait / 3) // let the waiting calls reach the queue

	start := time.Now()
	_, err := ts.client.Resolve(ctx, &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_Namespace{Namespace: "math"},
	})
	checkError(t, err, wantError{code: codes.ResourceExhausted, reason: "OVERLOADED",
		words: []string{"server overloaded", "4 calls in flight", "retry"}})
	if took := time.Since(start); took > wait/2 {
		t.Errorf("the call past a full queue took %s, want an immediate refusal", took)
	}

	// Health answers while the service sheds.
	resp, err := ts.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health during overload = %v, %v; want SERVING", resp, err)
	}

	waiting.Wait()
	close(waitErrs)
	for err := range waitErrs {
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("waiting call ended with %v, want RESOURCE_EXHAUSTED", err)
		}
	}

	// Once the held calls end, the service answers again.
	close(gate.gate)
	held.Wait()
	close(heldErrs)
	for err := range heldErrs {
		if err != nil {
			t.Errorf("held Reserve: %v", err)
		}
	}
	if got := admission.InFlight(); got != 0 {
		t.Errorf("InFlight after the calls = %d, want 0", got)
	}
	_, err = ts.client.Resolve(ctx, &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_Namespace{Namespace: "held"},
	})
	if err != nil {
		t.Errorf("Resolve after the overload: %v", err)
	}
}

// TestAdmissionWaitsForASlot checks that a call past the limit gets the slot
// a finishing call frees within the wait.
func TestAdmissionWaitsForASlot(t *testing.T) {
	gate := gateStore{entered: make(chan struct{}, 4), gate: make(chan struct{})}
	admission := server.NewAdmission(1, 5*time.Second, nil)
	ts := startLoggedServer(t, func(s store.Store) store.Store {
		gate.Store = s
		return gate
	}, nil, admission.ServerOptions()...)
	ctx := testCtx(t)

	held := make(chan error, 1)
	go func() {
		_, err := ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{AppId: appMath, AppName: "math"})
		held <- err
	}()
	<-gate.entered
	time.AfterFunc(100*time.Millisecond, func() { close(gate.gate) })

	resp, err := ts.client.Resolve(ctx, &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_AppId{AppId: appMath},
	})
	if err != nil || resp.GetNamespace().GetName() != "math" {
		t.Errorf("Resolve that waited = %v, %v; want math", resp, err)
	}
	if err := <-held; err != nil {
		t.Errorf("held Reserve: %v", err)
	}
}
