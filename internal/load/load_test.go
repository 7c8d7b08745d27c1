package load

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of a hundred", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of a hundred", ms(hundred...), 50, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(p%d) = %s, want %s", tt.p, got, tt.want)
			}
		})
	}
}

// TestClosedCountsOutcomes runs a closed loop whose every third call fails
// and checks the counts and the latency it reports.
func TestClosedCountsOutcomes(t *testing.T) {
	const pause = 2 * time.Millisecond
	op := func(ctx context.Context, worker, seq int) error {
		time.Sleep(pause)
		if seq%3 == 2 {
			return status.Error(codes.ResourceExhausted, "busy")
		}
		return nil
	}

	res := Closed(context.Background(), 4, 300*time.Millisecond, op)
	if res.Clients != 4 || res.OK == 0 {
		t.Fatalf("got %+v, want 4 clients and some successes", res)
	}
	shed := res.Failed[codes.ResourceExhausted.String()]
	if ratio := float64(shed) / float64(res.OK); ratio < 0.4 || ratio > 0.6 {
		t.Errorf("got %d failed for %d ok, want about one for two", shed, res.OK)
	}
	if res.P50 < pause || res.P99 < res.P50 {
		t.Errorf("got p50 %s and p99 %s, want p50 ≥ %s ≤ p99", res.P50, res.P99, pause)
	}
	if got := res.FailedTotal(); got != shed {
		t.Errorf("FailedTotal = %d, want %d", got, shed)
	}
}

// TestOpenKeepsItsRateAndBound sends at a fixed rate to an op slower than
// the bound allows, and checks that arrivals past the bound are dropped.
func TestOpenKeepsItsRateAndBound(t *testing.T) {
	release := make(chan struct{})
	op := func(ctx context.Context, worker, seq int) error {
		<-release
		return errors.New("plain errors count as Unknown")
	}
	time.AfterFunc(300*time.Millisecond, func() { close(release) })

	res := Open(context.Background(), 200, 200*time.Millisecond, 5, op)
	if res.Dropped < 25 {
		t.Errorf("dropped %d of about 40 arrivals, want at least 25 past the bound of 5",
			res.Dropped)
	}
	if got := res.Failed[codes.Unknown.String()]; got != 5 {
		t.Errorf("got %d Unknown failures, want the 5 calls that were sent", got)
	}
	if res.Elapsed < 300*time.Millisecond {
		t.Errorf("Open returned after %s, before its calls ended", res.Elapsed)
	}
}
