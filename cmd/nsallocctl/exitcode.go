package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/nsalloc/nsalloc/client"
)

// Exit codes, the contract that scripts rely on.
const (
	exitOK          = 0 // the command did what it was asked
	exitError       = 1 // any other failure
	exitUsage       = 2 // bad flags or arguments
	exitNotFound    = 3 // the app or namespace is unknown
	exitRefused     = 4 // the server refused the request
	exitUnreachable = 5 // the server could not be reached in time
)

// usageError is a mistake in the command line.
type usageError struct {
	msg string
	// printed is set when the flag package has already written the error
	// and the usage.
	printed bool
}

// Error returns what is wrong with the command line.
func (e usageError) Error() string { return e.msg }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}

// codedError is a failure that ends the program with a code of its own,
// after the command has written its output.
type codedError struct {
	code int
	err  error
}

// Error returns the failure's message.
func (e codedError) Error() string { return e.err.Error() }

// Unwrap returns the failure.
func (e codedError) Unwrap() error { return e.err }

// exitCode returns the exit code that err stands for.
func exitCode(err error) int {
	var usage usageError
	var coded codedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &coded):
		return coded.code
	case errors.As(err, &usage):
		return exitUsage
	case errors.Is(err, client.ErrNotFound):
		return exitNotFound
	case isRefusal(err):
		return exitRefused
	case isUnreachable(err):
		return exitUnreachable
	}
	return exitError
}

// isRefusal reports whether the server refused the request itself, so
// that trying again unchanged would fail the same way.
func isRefusal(err error) bool {
	return errors.Is(err, client.ErrTaken) ||
		errors.Is(err, client.ErrRetired) ||
		errors.Is(err, client.ErrInvalid) ||
		errors.Is(err, client.ErrPermissionDenied) ||
		errors.Is(err, client.ErrUnauthenticated)
}

// isUnreachable reports whether the call failed for want of a server that
// answers in time.
func isUnreachable(err error) bool {
	return errors.Is(err, client.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
