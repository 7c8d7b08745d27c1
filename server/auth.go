package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc/metadata"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// Role is what a caller may do. Each role may do everything the roles
// before it may.
type Role int

// The roles, from the least allowed to the most.
const (
	// RoleReader may look namespaces up: Resolve, List, Preview, History.
	RoleReader Role = iota + 1
	// RoleWriter may also change them: Reserve, Release.
	RoleWriter
	// RoleAdmin may also copy the whole store: Backup.
	RoleAdmin
)

// String returns the role's name as the tokens file spells it.
func (r Role) String() string {
	switch r {
	case RoleReader:
		return "reader"
	case RoleWriter:
		return "writer"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParseRole reads a role's name: reader, writer or admin.
func ParseRole(s string) (Role, error) {
	for _, r := range []Role{RoleReader, RoleWriter, RoleAdmin} {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("role %q: want reader, writer or admin", s)
}

// methodRoles is the least role each method of NamespaceService needs. A
// method missing here is refused to every caller; a test keeps it complete.
var methodRoles = map[string]Role{
	"Resolve": RoleReader,
	"List":    RoleReader,
	"Preview": RoleReader,
	"History": RoleReader,
	"Reserve": RoleWriter,
	"Release": RoleWriter,
	"Backup":  RoleAdmin,
}

// MethodRole returns the least role that may call fullMethod, such as
// "/nsalloc.v1.NamespaceService/Reserve", and whether it has one.
func MethodRole(fullMethod string) (Role, bool) {
	name, ok := strings.CutPrefix(fullMethod, servicePrefix)
	if !ok {
		return 0, false
	}
	r, ok := methodRoles[name]
	return r, ok
}

// servicePrefix starts the full name of every method of NamespaceService.
var servicePrefix = "/" + nsallocv1.NamespaceService_ServiceDesc.ServiceName + "/"

// maxCallerName is the longest caller name a tokens file may hold.
const maxCallerName = 64

// Caller is one caller a tokens file names.
type Caller struct {
	// Name is who the caller is; the service records it with every change.
	Name string
	// Role is what the caller may do.
	Role Role

	hash [sha256.Size]byte // SHA-256 of the caller's bearer token
}

// Callers is the table of known callers, read from a tokens file. It holds
// the SHA-256 of each bearer token, never a token itself.
type Callers struct {
	list []Caller
}

// LoadCallers reads the tokens file at path; see ParseCallers.
func LoadCallers(path string) (*Callers, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return ParseCallers(f, path)
}

// ParseCallers reads a tokens file: one caller a line, written
// "ROLE NAME SHA256HEX", where SHA256HEX is the SHA-256 of the caller's
// bearer token in lower-case hex. A # starts a comment and blank lines are
// skipped. source names the file in errors, which give the line number.
// Names and hashes must be unique, and there must be at least one caller.
func ParseCallers(r io.Reader, source string) (*Callers, error) {
	c := &Callers{}
	names := map[string]int{}
	hashes := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}

		caller, err := parseCallerLine(fields)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", source, n, err)
		}
		if first, dup := names[caller.Name]; dup {
			return nil, fmt.Errorf("%s:%d: caller %q is already on line %d",
				source, n, caller.Name, first)
		}
		if first, dup := hashes[caller.hash]; dup {
			return nil, fmt.Errorf("%s:%d: caller %q has the token hash of line %d",
				source, n, caller.Name, first)
		}
		names[caller.Name], hashes[caller.hash] = n, n
		c.list = append(c.list, caller)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if len(c.list) == 0 {
		return nil, fmt.Errorf("%s: no callers: want lines of ROLE NAME SHA256HEX", source)
	}
	return c, nil
}

// parseCallerLine reads the fields of one line of a tokens file.
func parseCallerLine(fields []string) (Caller, error) {
	if len(fields) != 3 {
		return Caller{}, fmt.Errorf("%d fields: want ROLE NAME SHA256HEX", len(fields))
	}
	role, err := ParseRole(fields[0])
	if err != nil {
		return Caller{}, err
	}
	name := fields[1]
	if err := CheckCallerName(name); err != nil {
		return Caller{}, err
	}

	caller := Caller{Name: name, Role: role}
	hexHash := fields[2]
	if len(hexHash) != 2*sha256.Size || strings.ToLower(hexHash) != hexHash {
		return Caller{}, fmt.Errorf("hash %q: want the SHA-256 of the token,"+
			" 64 lower-case hex digits", hexHash)
	}
	if _, err := hex.Decode(caller.hash[:], []byte(hexHash)); err != nil {
		return Caller{}, fmt.Errorf("hash %q: want 64 lower-case hex digits", hexHash)
	}
	return caller, nil
}

// CheckCallerName accepts a caller name of 1 to 64 letters, digits, '.',
// '_', '-' and '@', other than those the server gives callers it cannot
// name ("anonymous" and "unknown").
func CheckCallerName(name string) error {
	if name == "" {
		return errors.New("name is empty")
	}
	if len(name) > maxCallerName {
		return fmt.Errorf("name %q: longer than %d characters", name, maxCallerName)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("._-@", r)
		if !ok {
			return fmt.Errorf("name %q: %q is not a letter, digit, '.', '_', '-' or '@'",
				name, r)
		}
	}
	if name == AnonymousCaller || name == UnknownCaller {
		return fmt.Errorf("name %q: the server uses it for callers it cannot name", name)
	}
	return nil
}

// Len returns how many callers the table holds.
func (c *Callers) Len() int { return len(c.list) }

// lookup returns the caller whose token is token. It compares the token's
// hash with every caller's, in constant time and without stopping at a
// match, so that the time it takes tells nothing about the table.
func (c *Callers) lookup(token string) (Caller, bool) {
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range c.list {
		if subtle.ConstantTimeCompare(sum[:], c.list[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Caller{}, false
	}
	return c.list[found], true
}

// HashToken returns the SHA-256 of token in lower-case hex, as a tokens
// file holds it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// bearerPrefix starts the authorization metadata that carries a token.
const bearerPrefix = "bearer "

// identity is what the server learned about a call's caller before the call
// log runs: the caller, or why there is none.
type identity struct {
	caller Caller
	err    error // why the call names no known caller; nil when it does
}

// identityKey is the context key of a call's identity.
type identityKey struct{}

// identify finds the caller of a call from its authorization metadata. It
// never refuses a call: authorize does, after the call log has started, so
// that refused calls are logged too.
func (c *Callers) identify(ctx context.Context) context.Context {
	token, err := bearerToken(ctx)
	if err != nil {
		return context.WithValue(ctx, identityKey{}, identity{err: err})
	}
	caller, ok := c.lookup(token)
	if !ok {
		err := unauthenticated("unknown bearer token")
		return context.WithValue(ctx, identityKey{}, identity{err: err})
	}
	ctx = context.WithValue(ctx, identityKey{}, identity{caller: caller})
	return WithCaller(ctx, caller.Name)
}

// bearerToken returns the token of the call's "authorization: Bearer ..."
// metadata.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	switch {
	case len(values) == 0:
		return "", unauthenticated(`no bearer token: send metadata "authorization: Bearer TOKEN"`)
	case len(values) > 1:
		return "", unauthenticated("more than one authorization value")
	}
	value := values[0]
	if len(value) <= len(bearerPrefix) || !strings.EqualFold(value[:len(bearerPrefix)],
		bearerPrefix) {
		return "", unauthenticated(`authorization is not "Bearer TOKEN"`)
	}
	return strings.TrimSpace(value[len(bearerPrefix):]), nil
}

// unauthenticated is the refusal of a call that names no known caller.
func unauthenticated(msg string) error {
	return &refusal{cause: errUnauthenticated, reason: ReasonUnauthenticated, msg: msg}
}

// authorize refuses a call to fullMethod unless identify found a caller
// whose role allows it.
func authorize(ctx context.Context, fullMethod string) error {
	id, ok := ctx.Value(identityKey{}).(identity)
	if !ok {
		return toStatus(unauthenticated("the caller was not identified"))
	}
	if id.err != nil {
		return toStatus(id.err)
	}

	method := strings.TrimPrefix(fullMethod, servicePrefix)
	need, ok := MethodRole(fullMethod)
	if !ok {
		return toStatus(&refusal{
			cause: errPermissionDenied, reason: ReasonPermissionDenied,
			msg:  fmt.Sprintf("method %s has no role; it is refused to every caller", method),
			meta: map[string]string{"caller": id.caller.Name, "method": method},
		})
	}
	if id.caller.Role < need {
		return toStatus(&refusal{
			cause: errPermissionDenied, reason: ReasonPermissionDenied,
			msg: fmt.Sprintf("caller %q has role %s, which may not call %s (it needs %s)",
				id.caller.Name, id.caller.Role, method, need),
			meta: map[string]string{
				"caller": id.caller.Name, "role": id.caller.Role.String(),
				"method": method, "required_role": need.String(),
			},
		})
	}
	return nil
}
