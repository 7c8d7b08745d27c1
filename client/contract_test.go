package client_test

import (
	"testing"

	"github.com/nsalloc/nsalloc/client"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/server"
)

// TestWireConstants holds the client's copies of the wire contract to the
// server's and the proto's, so that neither drifts alone.
func TestWireConstants(t *testing.T) {
	strs := []struct{ name, got, want string }{
		{"ErrorDomain", client.ErrorDomain, server.ErrorDomain},
		{"NamespaceTaken", client.ReasonNamespaceTaken, server.ReasonNamespaceTaken},
		{"NamespaceReserved", client.ReasonNamespaceReserved, server.ReasonNamespaceReserved},
		{"NamespaceRetired", client.ReasonNamespaceRetired, server.ReasonNamespaceRetired},
		{"AppRetired", client.ReasonAppRetired, server.ReasonAppRetired},
		{"AppNotFound", client.ReasonAppNotFound, server.ReasonAppNotFound},
		{"NamespaceNotFound", client.ReasonNamespaceNotFound, server.ReasonNamespaceNotFound},
		{"Unavailable", client.ReasonUnavailable, server.ReasonUnavailable},
		{"Corrupt", client.ReasonCorrupt, server.ReasonCorrupt},
		{"Internal", client.ReasonInternal, server.ReasonInternal},
		{"Overloaded", client.ReasonOverloaded, server.ReasonOverloaded},
		{"RateLimited", client.ReasonRateLimited, server.ReasonRateLimited},
		{"Unauthenticated", client.ReasonUnauthenticated, server.ReasonUnauthenticated},
		{"PermissionDenied", client.ReasonPermissionDenied, server.ReasonPermissionDenied},
	}
	for _, s := range strs {
		if s.got != s.want {
			t.Errorf("%s: got %q, want %q", s.name, s.got, s.want)
		}
	}

	enums := []struct {
		name      string
		got, want int
	}{
		{"StateActive", int(client.StateActive), int(nsallocv1.State_STATE_ACTIVE)},
		{"StateRetired", int(client.StateRetired), int(nsallocv1.State_STATE_RETIRED)},
		{"EventReserved", int(client.EventReserved),
			int(nsallocv1.EventKind_EVENT_KIND_RESERVED)},
		{"EventRetired", int(client.EventRetired), int(nsallocv1.EventKind_EVENT_KIND_RETIRED)},
		{"UnavailabilityNone", int(client.UnavailabilityNone),
			int(nsallocv1.Unavailability_UNAVAILABILITY_UNSPECIFIED)},
		{"UnavailabilityTaken", int(client.UnavailabilityTaken),
			int(nsallocv1.Unavailability_UNAVAILABILITY_TAKEN)},
		{"UnavailabilityReserved", int(client.UnavailabilityReserved),
			int(nsallocv1.Unavailability_UNAVAILABILITY_RESERVED)},
		{"UnavailabilityRetired", int(client.UnavailabilityRetired),
			int(nsallocv1.Unavailability_UNAVAILABILITY_RETIRED)},
		{"UnavailabilityNoUsableCharacters", int(client.UnavailabilityNoUsableCharacters),
			int(nsallocv1.Unavailability_UNAVAILABILITY_NO_USABLE_CHARACTERS)},
	}
	for _, e := range enums {
		if e.got != e.want {
			t.Errorf("%s: got %d, want %d", e.name, e.got, e.want)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{client.StateActive.String(), "active"},
		{client.StateRetired.String(), "retired"},
		{client.State(7).String(), "State(7)"},
		{client.EventReserved.String(), "reserved"},
		{client.EventKind(0).String(), "EventKind(0)"},
		{client.UnavailabilityNoUsableCharacters.String(), "no usable characters"},
		{client.Unavailability(9).String(), "Unavailability(9)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
