// Package store defines what nsalloc needs from a storage backend: one small
// interface, the record it keeps, and the errors it returns.
//
// A backend keeps three indexes over the same records and changes them
// together, in one transaction:
//
//   - by namespace name, which holds the record itself;
//   - by app id, so that an app has at most one namespace;
//   - by uniqueness key (the name without dashes), so that two namespaces
//     whose keys match can never both exist.
//
// A record is never deleted: retiring it keeps all three index entries, so a
// retired name is never handed out again.
//
// The naming rules live in package naming; a backend only checks keys and
// writes what it is told. The conformance suite in package storetest checks
// any backend against this contract.
package store

import (
	"context"
	"io"
	"time"
)

// State is the life-cycle state of a namespace record.
type State uint8

const (
	// StateActive marks a namespace whose app exists.
	StateActive State = 1
	// StateRetired marks a namespace whose app was released.
	StateRetired State = 2
)

// String returns "active" or "retired".
func (s State) String() string {
	switch s {
	case StateActive:
		return "active"
	case StateRetired:
		return "retired"
	default:
		return "unknown"
	}
}

// Record is one app's namespace.
type Record struct {
	// Name is the namespace, a valid label.
	Name string
	// AppID is the app's id, a canonical lower-case UUID.
	AppID string
	// AppName is the app's name as given on the first claim.
	AppName string
	// State says whether the namespace is active or retired.
	State State
	// CreateTime is when the namespace was claimed.
	CreateTime time.Time
	// RetireTime is when the namespace was retired; zero while active.
	RetireTime time.Time
	// CreatedBy and RetiredBy name the callers that claimed and retired
	// the namespace; empty when unknown, as for records stored before
	// callers were kept. A record changes twice at most, so these times
	// and callers are the namespace's whole history.
	CreatedBy, RetiredBy string
}

// Claim asks a backend to give an app the first free namespace of a list.
type Claim struct {
	// AppID is the app's canonical id.
	AppID string
	// AppName is stored with the record.
	AppName string
	// Candidates are the namespaces the app may get, best first. A
	// candidate is free when no record holds its key. Every candidate
	// must be a valid namespace; the list may be empty, in which case
	// only an existing record can be returned.
	Candidates []string
	// Time is stored as the record's CreateTime.
	Time time.Time
	// Caller names who asked; it is stored as the record's CreatedBy.
	Caller string
}

// ListQuery selects one page of records in name order.
type ListQuery struct {
	// Prefix keeps only names that start with it; empty keeps all.
	Prefix string
	// After keeps only names greater than it; empty starts at the first.
	After string
	// Limit is the most records to return; it must be positive.
	Limit int
}

// Store keeps the mapping between apps and namespaces.
//
// Every method is safe for concurrent use. A write returns only after it is
// durable.
type Store interface {
	// Claim gives c.AppID a namespace. When the app already has a record,
	// Claim returns it with created false (or ErrAppRetired when it is
	// retired) and ignores the candidates. Otherwise it stores a record
	// under the first candidate whose key is free and returns it with
	// created true; ErrNamespaceTaken when no candidate is free.
	Claim(ctx context.Context, c Claim) (rec Record, created bool, err error)

	// ByApp returns the record of an app; ErrNotFound when it has none.
	ByApp(ctx context.Context, appID string) (Record, error)

	// ByName returns the record of a namespace; ErrNotFound when there
	// is none.
	ByName(ctx context.Context, name string) (Record, error)

	// ByKey returns the record holding a uniqueness key; ErrNotFound when
	// the key is free.
	ByKey(ctx context.Context, key string) (Record, error)

	// Retire marks an app's namespace retired at time t, on behalf of
	// caller, and returns it. Retiring a retired record returns it
	// unchanged. ErrNotFound when the app has no record.
	Retire(ctx context.Context, appID string, t time.Time, caller string) (Record, error)

	// List returns up to q.Limit records in name order, and whether more
	// records match after the last one returned.
	List(ctx context.Context, q ListQuery) (recs []Record, more bool, err error)

	// Backup writes a consistent snapshot of the whole store to w while
	// other calls go on, and returns how many bytes it wrote. The snapshot
	// is a bbolt file in the layout of package store/bolt, whatever the
	// backend, so that any backup can be served by a daemon on bbolt.
	Backup(ctx context.Context, w io.Writer) (int64, error)
	// Secret returns random bytes created with the store and kept with it,
	// the same for every process that opens it. The server signs page
	// tokens with it so that they survive a restart.
	Secret(ctx context.Context) ([]byte, error)

	// Close releases the store. Calls after Close fail with ErrClosed.
	Close() error
}
