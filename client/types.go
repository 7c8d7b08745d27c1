package client

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// Namespace is the mapping between one app and its namespace.
type Namespace struct {
	// Name is the namespace, such as "math" or "math-x9423dfaa".
	Name string
	// AppID is the app's id, a lower-case UUID.
	AppID string
	// AppName is the app's name as given on its first Reserve.
	AppName string
	// State says whether the namespace is active or retired.
	State State
	// CreateTime is when the namespace was reserved.
	CreateTime time.Time
	// RetireTime is when the namespace was retired; zero while it is
	// active.
	RetireTime time.Time
}

// State is the life-cycle state of a namespace. Its values are those of the
// proto's nsalloc.v1.State.
type State int

const (
	// StateActive marks a namespace whose app exists.
	StateActive State = 1
	// StateRetired marks a namespace whose app was released. The name is
	// never handed out again, since packages may still be published under
	// it.
	StateRetired State = 2
)

// String returns "active", "retired", or the number of a state this client
// does not know.
func (s State) String() string {
	switch s {
	case StateActive:
		return "active"
	case StateRetired:
		return "retired"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

// Event is one change of a namespace.
type Event struct {
	// Kind says what the change did.
	Kind EventKind
	// Namespace is the namespace changed.
	Namespace string
	// AppID is the app the namespace belongs to.
	AppID string
	// Time is when the change was committed.
	Time time.Time
	// Caller names who made the change: the name of its token,
	// "anonymous" on a server without tokens, or "unknown" for changes
	// made before the server kept callers.
	Caller string
}

// EventKind says what a change did. Its values are those of the proto's
// nsalloc.v1.EventKind.
type EventKind int

const (
	// EventReserved is the namespace's reservation for its app.
	EventReserved EventKind = 1
	// EventRetired is the namespace's retirement when its app was released.
	EventRetired EventKind = 2
)

// String returns "reserved", "retired", or the number of a kind this client
// does not know.
func (k EventKind) String() string {
	switch k {
	case EventReserved:
		return "reserved"
	case EventRetired:
		return "retired"
	default:
		return fmt.Sprintf("EventKind(%d)", int(k))
	}
}

// Preview is what Reserve would answer now for an app name and, optionally,
// an app id.
type Preview struct {
	// BaseName is the namespace derived from the app name; empty when the
	// name has no usable characters.
	BaseName string
	// BaseFree is true when the base name could be reserved now.
	BaseFree bool
	// Unavailability says why the base name is not free.
	Unavailability Unavailability
	// ConflictingNamespace is the namespace holding the base name's key,
	// when another app holds it.
	ConflictingNamespace string
	// Namespace is what Reserve would give the app id now: its existing
	// namespace if it has an active one, else the first free candidate.
	// Empty without an app id, for a released app, or when every
	// candidate is taken.
	Namespace string
	// Existing is the app's namespace, active or retired, when it has one;
	// otherwise the zero Namespace.
	Existing Namespace
}

// Unavailability says why a base name cannot be handed out as it is. Its
// values are those of the proto's nsalloc.v1.Unavailability.
type Unavailability int

const (
	// UnavailabilityNone means the base name is free.
	UnavailabilityNone Unavailability = 0
	// UnavailabilityTaken means an active namespace has the same key.
	UnavailabilityTaken Unavailability = 1
	// UnavailabilityReserved means the base name is on the reserved list.
	UnavailabilityReserved Unavailability = 2
	// UnavailabilityRetired means a retired namespace has the same key.
	UnavailabilityRetired Unavailability = 3
	// UnavailabilityNoUsableCharacters means nothing of the app name
	// survives the naming rules, so there is no base name.
	UnavailabilityNoUsableCharacters Unavailability = 4
)

// String returns a word for u, or its number if this client does not know
// it.
func (u Unavailability) String() string {
	switch u {
	case UnavailabilityNone:
		return "none"
	case UnavailabilityTaken:
		return "taken"
	case UnavailabilityReserved:
		return "reserved"
	case UnavailabilityRetired:
		return "retired"
	case UnavailabilityNoUsableCharacters:
		return "no usable characters"
	default:
		return fmt.Sprintf("Unavailability(%d)", int(u))
	}
}

// Page is one page of namespaces, from ListPage.
type Page struct {
	// Namespaces are the page's namespaces, ordered by name.
	Namespaces []Namespace
	// NextPageToken asks ListPage for the next page; empty on the last.
	NextPageToken string
}

// namespaceOf converts a namespace of the wire; nil gives the zero value.
func namespaceOf(p *nsallocv1.Namespace) Namespace {
	if p == nil {
		return Namespace{}
	}
	return Namespace{
		Name:       p.GetName(),
		AppID:      p.GetAppId(),
		AppName:    p.GetAppName(),
		State:      State(p.GetState()),
		CreateTime: timeOf(p.GetCreateTime()),
		RetireTime: timeOf(p.GetRetireTime()),
	}
}

// eventOf converts an event of the wire.
func eventOf(p *nsallocv1.Event) Event {
	return Event{
		Kind:      EventKind(p.GetKind()),
		Namespace: p.GetNamespace(),
		AppID:     p.GetAppId(),
		Time:      timeOf(p.GetTime()),
		Caller:    p.GetCaller(),
	}
}

// previewOf converts a preview of the wire.
func previewOf(p *nsallocv1.PreviewResponse) Preview {
	return Preview{
		BaseName:             p.GetBaseName(),
		BaseFree:             p.GetBaseFree(),
		Unavailability:       Unavailability(p.GetUnavailability()),
		ConflictingNamespace: p.GetConflictingNamespace(),
		Namespace:            p.GetNamespace(),
		Existing:             namespaceOf(p.GetExisting()),
	}
}

// timeOf converts a timestamp; an unset one is the zero time.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
