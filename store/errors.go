package store

import "errors"

// These errors are the contract's outcomes. A backend returns them, wrapped
// with context where that helps, and callers test them with errors.Is.
var (
	// ErrNotFound is returned when no record matches a look-up.
	ErrNotFound = errors.New("store: not found")

	// ErrNamespaceTaken is returned by Claim when every candidate's key is
	// already held by another record.
	ErrNamespaceTaken = errors.New("store: namespace taken")

	// ErrAppRetired is returned by Claim when the app's namespace was
	// retired: a released app never gets a namespace again.
	ErrAppRetired = errors.New("store: app retired")

	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("store: closed")

	// ErrLocked is returned by Open when another process holds the
	// database.
	ErrLocked = errors.New("store: database locked by another process")

	// ErrCorrupt is returned when stored data cannot be decoded or the
	// indexes disagree.
	ErrCorrupt = errors.New("store: corrupt data")

	// ErrSchema is returned by Open when the database was written by an
	// incompatible version.
	ErrSchema = errors.New("store: unsupported schema version")

	// ErrUnavailable is returned when the backend cannot be reached or
	// cannot reach a quorum; the call may be retried.
	ErrUnavailable = errors.New("store: backend unavailable")
)
