package server

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/nsalloc/nsalloc/store"
)

// ErrorDomain is the domain of every google.rpc.ErrorInfo the service sends.
const ErrorDomain = "nsalloc"

// Reasons carried in google.rpc.ErrorInfo. Clients may switch on them.
const (
	// ReasonNamespaceTaken: another app holds the key of the namespace
	// asked for (ALREADY_EXISTS).
	ReasonNamespaceTaken = "NAMESPACE_TAKEN"
	// ReasonNamespaceReserved: the namespace asked for is reserved
	// (ALREADY_EXISTS).
	ReasonNamespaceReserved = "NAMESPACE_RESERVED"
	// ReasonNamespaceRetired: the namespace is retired; with Reserve its key
	// can never be had (ALREADY_EXISTS), with Resolve the caller did not
	// ask for retired namespaces (FAILED_PRECONDITION).
	ReasonNamespaceRetired = "NAMESPACE_RETIRED"
	// ReasonAppRetired: the app was released and gets no namespace again
	// (FAILED_PRECONDITION).
	ReasonAppRetired = "APP_RETIRED"
	// ReasonAppNotFound: the app has no namespace (NOT_FOUND).
	ReasonAppNotFound = "APP_NOT_FOUND"
	// ReasonNamespaceNotFound: no namespace has that name (NOT_FOUND).
	ReasonNamespaceNotFound = "NAMESPACE_NOT_FOUND"
	// ReasonUnavailable: the store is closed because the server is
	// shutting down (UNAVAILABLE); another replica or a retry will do.
	ReasonUnavailable = "STORE_UNAVAILABLE"
	// ReasonCorrupt: the store's indexes disagree or a record cannot be
	// read (DATA_LOSS); the server's log has the details.
	ReasonCorrupt = "STORE_CORRUPT"
	// ReasonInternal: a fault of the server (INTERNAL); its log has the
	// cause.
	ReasonInternal = "INTERNAL"
	// ReasonOverloaded: the server has as many calls in flight as it
	// admits (RESOURCE_EXHAUSTED); retry after a back-off.
	ReasonOverloaded = "OVERLOADED"
	// ReasonUnauthenticated: the call carries no bearer token, or one the
	// server does not know (UNAUTHENTICATED).
	ReasonUnauthenticated = "UNAUTHENTICATED"
	// ReasonPermissionDenied: the caller's role does not allow the method
	// (PERMISSION_DENIED).
	ReasonPermissionDenied = "PERMISSION_DENIED"
	// ReasonRateLimited: the caller is past its rate limit
	// (RESOURCE_EXHAUSTED); retry after a back-off.
	ReasonRateLimited = "RATE_LIMITED"
)

// The service's own outcomes, beside those of package store.
var (
	// errReserved is returned when an exact reservation asks for a name on
	// the reserved list.
	errReserved = errors.New("namespace reserved")

	// errRetired is returned when a look-up finds a retired namespace and
	// the caller did not ask for retired ones.
	errRetired = errors.New("namespace retired")

	// errInvalid is wrapped by every *invalidRequest.
	errInvalid = errors.New("invalid request")

	// errPanic stands for a panic that the recovery interceptor caught.
	errPanic = errors.New("handler panicked")

	// errOverloaded is returned when a call finds no free slot in time.
	errOverloaded = errors.New("server overloaded")

	// errUnauthenticated is returned when a call names no known caller.
	errUnauthenticated = errors.New("unauthenticated")

	// errPermissionDenied is returned when the caller's role does not allow
	// the method.
	errPermissionDenied = errors.New("permission denied")

	// errRateLimited is returned when a caller is past its rate limit.
	errRateLimited = errors.New("rate limited")
)

// refusal is an outcome the caller should see as it is: the message, the
// ErrorInfo reason and its metadata. Its cause selects the status code.
type refusal struct {
	cause  error
	reason string
	msg    string
	meta   map[string]string
}

// Error returns the message the caller sees.
func (r *refusal) Error() string { return r.msg }

// Unwrap returns the outcome that selects the status code.
func (r *refusal) Unwrap() error { return r.cause }

// codeFor is the one mapping from outcomes to gRPC codes.
func codeFor(err error) codes.Code {
	switch {
	case errors.Is(err, errInvalid):
		return codes.InvalidArgument
	case errors.Is(err, store.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, store.ErrNamespaceTaken), errors.Is(err, errReserved):
		return codes.AlreadyExists
	case errors.Is(err, store.ErrAppRetired), errors.Is(err, errRetired):
		return codes.FailedPrecondition
	case errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrUnavailable):
		return codes.Unavailable
	case errors.Is(err, errOverloaded), errors.Is(err, errRateLimited):
		return codes.ResourceExhausted
	case errors.Is(err, errUnauthenticated):
		return codes.Unauthenticated
	case errors.Is(err, errPermissionDenied):
		return codes.PermissionDenied
	case errors.Is(err, store.ErrCorrupt):
		return codes.DataLoss
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	default:
		return codes.Internal
	}
}

// toStatus turns any error of a handler into the status error the client
// gets. Only refusals and invalid requests keep their words; other errors
// are reduced to their code, so that no internal detail crosses the wire.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	code := codeFor(err)

	var invalid *invalidRequest
	if errors.As(err, &invalid) {
		return withDetails(status.New(code, invalid.Error()), &errdetails.BadRequest{
			FieldViolations: invalid.violations,
		})
	}

	var r *refusal
	if errors.As(err, &r) {
		return withDetails(status.New(code, r.msg), &errdetails.ErrorInfo{
			Domain: ErrorDomain, Reason: r.reason, Metadata: r.meta,
		})
	}

	reason, msg := ReasonInternal, "internal error"
	switch code {
	case codes.Unavailable:
		reason, msg = ReasonUnavailable, "the store is closed; the server is shutting down"
		if errors.Is(err, store.ErrUnavailable) {
			msg = "the store cannot be reached or has no quorum; retry"
		}
	case codes.DataLoss:
		reason, msg = ReasonCorrupt, "the store is damaged; the server's log has the details"
	case codes.DeadlineExceeded, codes.Canceled:
		return status.FromContextError(err).Err()
	}
	return withDetails(status.New(code, msg), &errdetails.ErrorInfo{
		Domain: ErrorDomain, Reason: reason,
	})
}

// withDetails adds details to st; the status stays usable without them.
func withDetails(st *status.Status, details ...protoadapt.MessageV1) error {
	detailed, err := st.WithDetails(details...)
	if err != nil {
		return st.Err()
	}
	return detailed.Err()
}

// invalidRequest lists what is wrong with a request, field by field.
type invalidRequest struct {
	violations []*errdetails.BadRequest_FieldViolation
}

// Error joins the descriptions of every problem.
func (e *invalidRequest) Error() string {
	parts := make([]string, len(e.violations))
	for i, v := range e.violations {
		parts[i] = v.Description
	}
	return strings.Join(parts, "; ")
}

// Unwrap makes every invalid request an errInvalid.
func (e *invalidRequest) Unwrap() error { return errInvalid }
