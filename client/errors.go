package client

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors of the service and of Dial. A method's error is an *Error that
// errors.Is matches against the sentinel its code (and, where said, its
// reason) stands for; the *Error carries the details.
var (
	// ErrNotFound is returned when the app or namespace that a look-up,
	// Release or History names has no record (NOT_FOUND: APP_NOT_FOUND,
	// NAMESPACE_NOT_FOUND).
	ErrNotFound = errors.New("nsalloc: not found")

	// ErrTaken is returned when Reserve with Exact cannot have the base
	// name: another app holds its key, a retired namespace holds it for
	// ever, or it is reserved (ALREADY_EXISTS: NAMESPACE_TAKEN,
	// NAMESPACE_RETIRED, NAMESPACE_RESERVED); and, without Exact, when the
	// base name and every form tagged with the app id are taken.
	ErrTaken = errors.New("nsalloc: namespace taken")

	// ErrRetired is returned when Reserve is called for an app that was
	// released (APP_RETIRED), and when a look-up finds a retired namespace
	// without IncludeRetired (NAMESPACE_RETIRED); both FAILED_PRECONDITION.
	ErrRetired = errors.New("nsalloc: retired")

	// ErrInvalid is returned when the server refuses a request's arguments
	// (INVALID_ARGUMENT; the *Error's Fields say which and why), and when
	// PackageRef refuses one of its parts.
	ErrInvalid = errors.New("nsalloc: invalid argument")

	// ErrUnauthenticated is returned when the server wants a token and got
	// none it accepts (UNAUTHENTICATED): WithToken was not given, or the
	// server does not know the token.
	ErrUnauthenticated = errors.New("nsalloc: unauthenticated")

	// ErrPermissionDenied is returned when the server knows the token but
	// the caller's role does not allow the call (PERMISSION_DENIED).
	ErrPermissionDenied = errors.New("nsalloc: permission denied")

	// ErrUnavailable is returned when the server could not be reached, or
	// was shutting down, on every attempt the retry policy allowed
	// (UNAVAILABLE).
	ErrUnavailable = errors.New("nsalloc: unavailable")

	// ErrOverloaded is returned when the server sheds the call because it
	// has as many calls in flight as it admits (RESOURCE_EXHAUSTED:
	// OVERLOADED). The client does not retry it; a caller may, after a
	// back-off of its own.
	ErrOverloaded = errors.New("nsalloc: server overloaded")

	// ErrRateLimited is returned when the caller made more calls than its
	// rate limit allows (RESOURCE_EXHAUSTED: RATE_LIMITED). The client does
	// not retry it; a caller may, after a back-off of its own.
	ErrRateLimited = errors.New("nsalloc: rate limited")

	// ErrPlaintextToken is returned by Dial when WithToken and WithInsecure
	// are given for an address that is not loopback, where the token would
	// cross the network in plaintext.
	ErrPlaintextToken = errors.New("nsalloc: token would be sent in plaintext")
)

// ErrorDomain is the domain of the google.rpc.ErrorInfo details that the
// service sends; details of other domains are ignored.
const ErrorDomain = "nsalloc"

// Reasons of google.rpc.ErrorInfo, found in Error.Reason. They are the
// service's wire contract, documented in the README.
const (
	// ReasonNamespaceTaken is sent when another app holds the key of the
	// namespace asked for (ALREADY_EXISTS).
	ReasonNamespaceTaken = "NAMESPACE_TAKEN"
	// ReasonNamespaceReserved is sent when the namespace asked for is
	// reserved (ALREADY_EXISTS).
	ReasonNamespaceReserved = "NAMESPACE_RESERVED"
	// ReasonNamespaceRetired is sent when the namespace is retired: with
	// Reserve, its key can never be had (ALREADY_EXISTS); with a look-up,
	// the caller did not ask for retired namespaces (FAILED_PRECONDITION).
	ReasonNamespaceRetired = "NAMESPACE_RETIRED"
	// ReasonAppRetired is sent when the app was released and so never gets a
	// namespace again (FAILED_PRECONDITION).
	ReasonAppRetired = "APP_RETIRED"
	// ReasonAppNotFound is sent when the app has no namespace (NOT_FOUND).
	ReasonAppNotFound = "APP_NOT_FOUND"
	// ReasonNamespaceNotFound is sent when no namespace has the name asked
	// for (NOT_FOUND).
	ReasonNamespaceNotFound = "NAMESPACE_NOT_FOUND"
	// ReasonUnavailable is sent when the server is shutting down
	// (UNAVAILABLE).
	ReasonUnavailable = "STORE_UNAVAILABLE"
	// ReasonCorrupt is sent when the server's database is damaged
	// (DATA_LOSS).
	ReasonCorrupt = "STORE_CORRUPT"
	// ReasonInternal is sent for a fault of the server (INTERNAL).
	ReasonInternal = "INTERNAL"
	// ReasonOverloaded is sent when the server admits no more calls for now
	// (RESOURCE_EXHAUSTED).
	ReasonOverloaded = "OVERLOADED"
	// ReasonRateLimited is sent when the caller is past its rate limit
	// (RESOURCE_EXHAUSTED).
	ReasonRateLimited = "RATE_LIMITED"
	// ReasonUnauthenticated is sent when the call carries no bearer token,
	// or one the server does not know (UNAUTHENTICATED).
	ReasonUnauthenticated = "UNAUTHENTICATED"
	// ReasonPermissionDenied is sent when the caller's role does not allow
	// the method (PERMISSION_DENIED).
	ReasonPermissionDenied = "PERMISSION_DENIED"
)

// Error is a call's failure: the server's refusal, or the transport's
// failure to reach it. errors.Is matches it against the sentinel of its
// code, and against context.DeadlineExceeded and context.Canceled when the
// call's context ended. errors.Unwrap returns the gRPC status error, and
// status.Code and status.FromError read the code and details as they came.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Reason is the ErrorInfo reason, one of the Reason constants; empty
	// when the status carries none, as for INVALID_ARGUMENT and for
	// failures of the transport.
	Reason string
	// Message is the status message: what is wrong, in the server's words.
	Message string
	// Metadata is the ErrorInfo metadata, such as "namespace" and
	// "app_id"; nil when there is none.
	Metadata map[string]string
	// Fields lists each field refused and why, for INVALID_ARGUMENT.
	Fields []FieldViolation

	status error
}

// FieldViolation is one refused field of a request.
type FieldViolation struct {
	// Field is the field's name in the proto, such as "app_id".
	Field string
	// Description says what is wrong with it, starting with its name.
	Description string
}

// Error returns the code and the message.
func (e *Error) Error() string {
	return fmt.Sprintf("nsalloc: %s: %s", e.Code, e.Message)
}

// Unwrap returns the gRPC status error.
func (e *Error) Unwrap() error { return e.status }

// GRPCStatus returns the status as it came, so that status.FromError and
// status.Code read it without the prefix of Error.
func (e *Error) GRPCStatus() *status.Status {
	if e.status == nil {
		return status.New(e.Code, e.Message)
	}
	return status.Convert(e.status)
}

// Is reports whether e stands for target: one of the sentinels of this
// package, context.DeadlineExceeded or context.Canceled.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == codes.NotFound
	case ErrTaken:
		return e.Code == codes.AlreadyExists
	case ErrRetired:
		return e.Code == codes.FailedPrecondition &&
			(e.Reason == ReasonAppRetired || e.Reason == ReasonNamespaceRetired)
	case ErrInvalid:
		return e.Code == codes.InvalidArgument
	case ErrUnauthenticated:
		return e.Code == codes.Unauthenticated
	case ErrPermissionDenied:
		return e.Code == codes.PermissionDenied
	case ErrUnavailable:
		return e.Code == codes.Unavailable
	case ErrOverloaded:
		return e.Code == codes.ResourceExhausted && e.Reason == ReasonOverloaded
	case ErrRateLimited:
		return e.Code == codes.ResourceExhausted && e.Reason == ReasonRateLimited
	case context.DeadlineExceeded:
		return e.Code == codes.DeadlineExceeded
	case context.Canceled:
		return e.Code == codes.Canceled
	}
	return false
}

// fromStatus turns a gRPC status error into an *Error; any other error is
// returned as it is.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}

	e := &Error{Code: st.Code(), Message: st.Message(), status: err}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == ErrorDomain && e.Reason == "" {
				e.Reason, e.Metadata = d.GetReason(), d.GetMetadata()
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Fields = append(e.Fields, FieldViolation{
					Field: v.GetField(), Description: v.GetDescription(),
				})
			}
		}
	}
	return e
}

// interrupted is the error of a call whose context ended while it waited
// to retry after last.
func interrupted(ctx context.Context, last error) error {
	st := status.FromContextError(ctx.Err())
	msg := fmt.Sprintf("%s while waiting to retry after: %s",
		st.Message(), status.Convert(last).Message())
	return fromStatus(status.Error(st.Code(), msg))
}
