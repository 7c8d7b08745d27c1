package client

import (
	"testing"
	"time"
)

func TestRetryWait(t *testing.T) {
	tests := []struct {
		name    string
		base    time.Duration
		attempt int
		want    time.Duration // the wait drawn is in [want/2, want]
	}{
		{name: "first", base: 100 * time.Millisecond, attempt: 1, want: 100 * time.Millisecond},
		{name: "doubles", base: 100 * time.Millisecond, attempt: 3, want: 400 * time.Millisecond},
		{name: "capped", base: 100 * time.Millisecond, attempt: 10, want: maxBackoff},
		{name: "far past the cap", base: 100 * time.Millisecond, attempt: 1000, want: maxBackoff},
		{name: "base above the cap", base: time.Minute, attempt: 4, want: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := retryPolicy{attempts: 5, base: tt.base}
			for range 100 {
				got := p.wait(tt.attempt)
				if got < tt.want/2 || got > tt.want {
					t.Fatalf("got %v, want between %v and %v", got, tt.want/2, tt.want)
				}
			}
		})
	}
}
