// Package client is the Go client of nsalloc.v1.NamespaceService.
//
// A backend reserves a namespace when it creates an app and releases it when
// it deletes the app; a CLI resolves an app's namespace before it publishes
// a package, and builds the package reference with PackageRef:
//
//	c, err := client.Dial("nsalloc.internal:443", client.WithToken(token))
//	...
//	ns, created, err := c.Reserve(ctx, appID, appName)
//
// Dial connects over TLS unless WithInsecure is given, and refuses to send a
// token in plaintext to an address that is not loopback. Every method takes
// a default deadline when ctx has none (WithTimeout), and retries with
// back-off when the server is unavailable (WithRetry): each call of the
// service is safe to repeat.
//
// Methods return plain Go values (Namespace, Event, Preview) and errors that
// errors.Is matches against the sentinels ErrNotFound, ErrTaken, ErrRetired,
// ErrInvalid, ErrUnauthenticated, ErrPermissionDenied, ErrUnavailable,
// ErrOverloaded and ErrRateLimited. errors.As finds an *Error with the
// server's reason, metadata and refused fields, and status.Code still reads
// the gRPC code.
//
// The package never logs. A Client is safe for concurrent use.
package client
