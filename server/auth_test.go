package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store"
)

// The bearer tokens of the callers that testCallers admits, one per role.
const (
	readerToken = "reader-secret-token"
	writerToken = "writer-secret-token"
	adminToken  = "admin-secret-token"
	badToken    = "nobody-knows-this-token"
)

// testCallers is a tokens file with one caller of each role.
var testCallers = fmt.Sprintf(`# callers of the tests
reader dashboard %s
writer backend   %s  # the platform's backend
admin  ops       %s
`, server.HashToken(readerToken), server.HashToken(writerToken), server.HashToken(adminToken))

// startGuardedServer serves a fresh database behind a guard that knows
// testCallers and applies limits.
func startGuardedServer(
	t *testing.T, wrap func(store.Store) store.Store, limits server.Limits, logger *slog.Logger,
) *testServer {
	t.Helper()
	callers, err := server.ParseCallers(strings.NewReader(testCallers), "tokens.txt")
	if err != nil {
		t.Fatalf("ParseCallers: %v", err)
	}
	guard := server.NewGuard(callers, limits)
	return startLoggedServer(t, wrap, logger, guard.ServerOptions()...)
}

// withToken returns ctx carrying token as a bearer token; "" carries none.
func withToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// rpcCalls makes one call of each method of NamespaceService, with requests
// the service accepts once the caller is allowed in.
var rpcCalls = map[string]func(context.Context, nsallocv1.NamespaceServiceClient) error{
	"Reserve": func(ctx context.Context, c nsallocv1.NamespaceServiceClient) error {
		_, err := c.Reserve(ctx, &nsallocv1.ReserveRequest{AppId: appMath, AppName: "math"})
		return err
	},
	"Resolve": func(ctx context.Context, c nsallocv1.NamespaceServiceClient) error {
		_, err := c.Resolve(ctx, &nsallocv1.ResolveRequest{
			Key: &nsallocv1.ResolveRequest_AppId{AppId: appMath},
		})
		return err
	},
	"Release": func(ctx context.Context, c nsallocv1.NamespaceServiceClient) error {
		_, err := c.Release(ctx, &nsallocv1.ReleaseRequest{AppId: appOther})
		return err
	},
	"List": func(ctx context.Context, c nsallocv1.NamespaceServiceClient) error {
		_, err := c.List(ctx, &nsallocv1.ListRequest{})
		return err
	},
	"Preview": func(ctx context.Context, c nsallocv1.NamespaceServiceClient) error {
		_, err := c.Preview(ctx, &nsallocv1.PreviewRequest{AppName: "Math"})
		return err
	},
	"History": func(ctx context.Context, c nsallocv1.NamespaceServiceClient) error {
		_, err := c.History(ctx, &nsallocv1.HistoryRequest{Namespace: "math"})
		return err
	},
	"Backup": func(ctx context.Context, c nsallocv1.NamespaceServiceClient) error {
		stream, err := c.Backup(ctx, &nsallocv1.BackupRequest{})
		if err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	},
}

// serviceMethods lists every method of NamespaceService, unary and
// streaming, by its full name.
func serviceMethods() []string {
	desc := nsallocv1.NamespaceService_ServiceDesc
	var methods []string
	for _, m := range desc.Methods {
		methods = append(methods, "/"+desc.ServiceName+"/"+m.MethodName)
	}
	for _, s := range desc.Streams {
		methods = append(methods, "/"+desc.ServiceName+"/"+s.StreamName)
	}
	return methods
}

// TestEveryMethodHasARole keeps the role table complete: a method added to
// the service without a role fails here, rather than being refused to every
// caller, or worse, in production.
func TestEveryMethodHasARole(t *testing.T) {
	for _, method := range serviceMethods() {
		t.Run(method, func(t *testing.T) {
			if role, ok := server.MethodRole(method); !ok {
				t.Errorf("MethodRole(%q) = %v, false; want a role", method, role)
			}
			name := method[strings.LastIndex(method, "/")+1:]
			if _, ok := rpcCalls[name]; !ok {
				t.Errorf("rpcCalls has no call of %s: the matrix of TestRoleMatrix misses it",
					name)
			}
		})
	}
	if _, ok := server.MethodRole("/grpc.health.v1.Health/Check"); ok {
		t.Errorf("MethodRole(health Check) has a role; health is not checked")
	}
}

// TestRoleMatrix calls every method without a token, with an unknown token
// and as each role, and checks each answer against the role table:
// UNAUTHENTICATED, PERMISSION_DENIED, or let through. A call let through
// may still fail further in, with NOT_FOUND say, which shows it got past
// the guard.
func TestRoleMatrix(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := startGuardedServer(t, nil, server.Limits{}, logger)
	ctx := testCtx(t)

	callers := []struct {
		name, token string
		role        server.Role // 0: none
	}{
		{"no token", "", 0},
		{"bad token", badToken, 0},
		{"dashboard", readerToken, server.RoleReader},
		{"backend", writerToken, server.RoleWriter},
		{"ops", adminToken, server.RoleAdmin},
	}
	for _, method := range serviceMethods() {
		name := method[strings.LastIndex(method, "/")+1:]
		need, _ := server.MethodRole(method)
		for _, c := range callers {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				err := rpcCalls[name](withToken(ctx, c.token), ts.client)
				got := status.Code(err)
				switch {
				case c.role == 0:
					checkError(t, err, wantError{code: codes.Unauthenticated,
						reason: server.ReasonUnauthenticated})
				case c.role < need:
					checkError(t, err, wantError{code: codes.PermissionDenied,
						reason: server.ReasonPermissionDenied,
						words:  []string{c.name, c.role.String(), name, need.String()}})
				case got == codes.Unauthenticated || got == codes.PermissionDenied:
					t.Errorf("%s as %s: got %v, want to get past the guard", name, c.name, err)
				}
				if err != nil && strings.Contains(err.Error(), c.token) && c.token != "" {
					t.Errorf("the error shows the token: %v", err)
				}
			})
		}
	}

	for _, token := range []string{readerToken, writerToken, adminToken, badToken} {
		if strings.Contains(logs.String(), token) {
			t.Errorf("the log shows the token %q", token)
		}
	}
}

// TestHealthNeedsNoToken checks that probes pass a guarded server without
// a token.
func TestHealthNeedsNoToken(t *testing.T) {
	ts := startGuardedServer(t, nil, server.Limits{}, nil)
	resp, err := ts.health.Check(testCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health Check without a token = %v, %v; want SERVING", resp, err)
	}
}

// TestHistoryNamesTheTokensCaller checks that the caller a token names is
// the one the service records.
func TestHistoryNamesTheTokensCaller(t *testing.T) {
	ts := startGuardedServer(t, nil, server.Limits{}, nil)
	ctx := testCtx(t)
	writer := withToken(ctx, writerToken)

	if _, err := ts.client.Reserve(writer, &nsallocv1.ReserveRequest{
		AppId: appMath, AppName: "Math",
	}); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if _, err := ts.client.Release(writer, &nsallocv1.ReleaseRequest{AppId: appMath}); err != nil {
		t.Fatalf("Release: %v", err)
	}
	resp, err := ts.client.History(withToken(ctx, readerToken),
		&nsallocv1.HistoryRequest{Namespace: "math"})
	if err != nil {
		t.Fatalf("History: %v", err)
	}

	want := []nsallocv1.EventKind{
		nsallocv1.EventKind_EVENT_KIND_RESERVED, nsallocv1.EventKind_EVENT_KIND_RETIRED,
	}
	events := resp.GetEvents()
	if len(events) != len(want) {
		t.Fatalf("History has %d events, want %d: %v", len(events), len(want), events)
	}
	for i, e := range events {
		if e.GetKind() != want[i] || e.GetCaller() != "backend" {
			t.Errorf("event %d = %s by %q, want %s by %q",
				i, e.GetKind(), e.GetCaller(), want[i], "backend")
		}
	}
}

// TestCallLogNamesTheCaller checks the caller in the call log's lines, for
// a known caller and for a refused one, and that no token is logged.
func TestCallLogNamesTheCaller(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := startGuardedServer(t, nil, server.Limits{}, logger)
	ctx := testCtx(t)

	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"known caller", readerToken, "caller=dashboard"},
		{"unknown token", badToken, "code=Unauthenticated"},
		{"refused role", readerToken, "code=PermissionDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(logs.String())
			if tt.name == "refused role" {
				_ = rpcCalls["Reserve"](withToken(ctx, tt.token), ts.client)
			} else {
				_ = rpcCalls["List"](withToken(ctx, tt.token), ts.client)
			}

			// A unary call's line is written before its answer is sent.
			got := logs.String()[before:]
			if !strings.Contains(got, "call finished") || !strings.Contains(got, tt.want) {
				t.Errorf("log = %q, want a call finished line with %q", got, tt.want)
			}
			if strings.Contains(got, tt.token) {
				t.Errorf("log = %q, shows the token", got)
			}
		})
	}
}

func TestParseCallers(t *testing.T) {
	hash := server.HashToken("a")
	other := server.HashToken("b")
	tests := []struct {
		name    string
		file    string
		want    int // callers
		wantErr []string
	}{
		{name: "callers, comments and blank lines",
			file: "# ours\n\nreader dash " + hash + "\n  admin ops " + other + " # on call\n",
			want: 2},
		{name: "too few fields", file: "reader dash\n",
			wantErr: []string{"tokens.txt:1:", "2 fields", "ROLE NAME SHA256HEX"}},
		{name: "too many fields", file: "# x\nreader dash " + hash + " extra\n",
			wantErr: []string{"tokens.txt:2:", "4 fields"}},
		{name: "unknown role", file: "owner dash " + hash + "\n",
			wantErr: []string{"tokens.txt:1:", `role "owner"`}},
		{name: "upper-case hash", file: "reader dash " + strings.ToUpper(hash) + "\n",
			wantErr: []string{"tokens.txt:1:", "lower-case hex"}},
		{name: "short hash", file: "reader dash abc123\n",
			wantErr: []string{"tokens.txt:1:", `hash "abc123"`}},
		{name: "not hex", file: "reader dash " + strings.Repeat("g", 64) + "\n",
			wantErr: []string{"tokens.txt:1:", "hex"}},
		{name: "bad name", file: "reader da/sh " + hash + "\n",
			wantErr: []string{"tokens.txt:1:", `name "da/sh"`}},
		{name: "reserved name", file: "reader anonymous " + hash + "\n",
			wantErr: []string{"tokens.txt:1:", `"anonymous"`}},
		{name: "duplicate name",
			file:    "reader dash " + hash + "\nwriter dash " + other + "\n",
			wantErr: []string{"tokens.txt:2:", `"dash"`, "line 1"}},
		{name: "duplicate hash",
			file:    "reader dash " + hash + "\n\nwriter ci " + hash + "\n",
			wantErr: []string{"tokens.txt:3:", "token hash of line 1"}},
		{name: "no callers", file: "# nobody yet\n", wantErr: []string{"tokens.txt", "no callers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			callers, err := server.ParseCallers(strings.NewReader(tt.file), "tokens.txt")
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("ParseCallers = %d callers, want an error", callers.Len())
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCallers: %v", err)
			}
			if got := callers.Len(); got != tt.want {
				t.Errorf("got %d callers, want %d", got, tt.want)
			}
		})
	}
}

func TestBearerTokenForms(t *testing.T) {
	ts := startGuardedServer(t, nil, server.Limits{}, nil)
	ctx := testCtx(t)
	list := func(ctx context.Context) error {
		_, err := ts.client.List(ctx, &nsallocv1.ListRequest{})
		return err
	}

	tests := []struct {
		name  string
		pairs []string // metadata key, value, ...
		want  codes.Code
	}{
		{"bearer", []string{"authorization", "Bearer " + readerToken}, codes.OK},
		{"scheme in lower case", []string{"authorization", "bearer " + readerToken}, codes.OK},
		{"basic scheme", []string{"authorization", "Basic " + readerToken},
			codes.Unauthenticated},
		{"bare token", []string{"authorization", readerToken}, codes.Unauthenticated},
		{"two tokens", []string{"authorization", "Bearer " + readerToken,
			"authorization", "Bearer " + adminToken}, codes.Unauthenticated},
		{"empty token", []string{"authorization", "Bearer "}, codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := list(metadata.AppendToOutgoingContext(ctx, tt.pairs...))
			if got := status.Code(err); got != tt.want {
				t.Errorf("List = %v, want %s", err, tt.want)
			}
		})
	}
}
