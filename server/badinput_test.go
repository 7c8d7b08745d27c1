package server_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// TestBadInput sends every class of malformed request. Each must fail with
// INVALID_ARGUMENT naming the field and the value, write nothing, and leave
// the server serving.
func TestBadInput(t *testing.T) {
	ts := startServer(t, nil)
	ts.reserve(t, appMath, "math")
	c := ts.client
	long := strings.Repeat("a", 257)

	tests := []struct {
		name  string
		call  func(ctx context.Context) error
		field string
		words []string
	}{
		{"reserve without app_id", reserve(c, "", "math"), "app_id", []string{"required"}},
		{"reserve with a word as app_id", reserve(c, "abc", "math"), "app_id",
			[]string{`app_id "abc"`, "UUID"}},
		{"reserve with the nil UUID", reserve(c, "00000000-0000-0000-0000-000000000000", "m"),
			"app_id", []string{"00000000-0000-0000-0000-000000000000", "nil"}},
		{"reserve with a braced UUID", reserve(c, "{"+appOther+"}", "m"), "app_id",
			[]string{appOther}},
		{"reserve with a UUID without dashes", reserve(c, strings.ReplaceAll(appOther, "-", ""),
			"m"), "app_id", []string{strings.ReplaceAll(appOther, "-", "")}},
		{"reserve without app_name", reserve(c, appOther, ""), "app_name", []string{"required"}},
		{"reserve with 257 bytes of name", reserve(c, appOther, long), "app_name",
			[]string{"257 bytes", "256"}},
		{"reserve with a name that is not UTF-8", reserve(c, appOther, "caf\xe9"), "app_name",
			[]string{"UTF-8"}},
		{"reserve with a newline in the name", reserve(c, appOther, "a\nb"), "app_name",
			[]string{`"a\nb"`, "control"}},
		{"reserve with a NUL in the name", reserve(c, appOther, "a\x00b"), "app_name",
			[]string{"control"}},
		{"resolve without a key", func(ctx context.Context) error {
			_, err := c.Resolve(ctx, &nsallocv1.ResolveRequest{})
			return err
		}, "key", []string{"app_id or namespace"}},
		{"resolve a bad app_id", resolveApp(c, "9423dfaa"), "app_id", []string{`"9423dfaa"`}},
		{"resolve an invalid namespace", resolveName(c, "Math"), "namespace",
			[]string{`"Math"`}},
		{"resolve a namespace with a digit word", resolveName(c, "math-9423dfaa"), "namespace",
			[]string{`"math-9423dfaa"`}},
		{"resolve an empty namespace", resolveName(c, ""), "namespace", []string{"required"}},
		{"release without app_id", release(c, ""), "app_id", []string{"required"}},
		{"release a bad app_id", release(c, "not-a-uuid"), "app_id", []string{`"not-a-uuid"`}},
		{"list a negative page", list(c, &nsallocv1.ListRequest{PageSize: -1}), "page_size",
			[]string{"-1", "1000"}},
		{"list too large a page", list(c, &nsallocv1.ListRequest{PageSize: 1001}), "page_size",
			[]string{"1001"}},
		{"list with a made-up token", list(c, &nsallocv1.ListRequest{PageToken: "abc"}),
			"page_token", []string{`"abc"`, "not a page token"}},
		{"list with an upper-case prefix", list(c, &nsallocv1.ListRequest{Prefix: "Ma"}),
			"prefix", []string{`"Ma"`}},
		{"preview without app_name", preview(c, "", ""), "app_name", []string{"required"}},
		{"preview with a bad app_id", preview(c, "math", "x"), "app_id", []string{`"x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			before, writes := ts.snapshot(t), ts.db.Stats().Writes

			err := tt.call(ctx)

			checkError(t, err, wantError{code: codes.InvalidArgument, field: tt.field,
				words: append([]string{tt.field}, tt.words...)})
			if after := ts.snapshot(t); len(after) != len(before) ||
				ts.db.Stats().Writes != writes {
				t.Errorf("the store changed: %d records before, %d after", len(before), len(after))
			}
			resp, err := ts.health.Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health after a bad request = %v, %v; want SERVING", resp, err)
			}
		})
	}
}

// TestBadInputReportsEveryField shows that one request with several
// problems names all of them.
func TestBadInputReportsEveryField(t *testing.T) {
	ts := startServer(t, nil)
	_, err := ts.client.Reserve(testCtx(t), &nsallocv1.ReserveRequest{AppId: "x", AppName: ""})
	checkError(t, err, wantError{code: codes.InvalidArgument, field: "app_id",
		words: []string{`app_id "x"`, "app_name is required"}})
	checkError(t, err, wantError{code: codes.InvalidArgument, field: "app_name"})
}

func reserve(c nsallocv1.NamespaceServiceClient, appID, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.Reserve(ctx, &nsallocv1.ReserveRequest{AppId: appID, AppName: name})
		return err
	}
}

func resolveApp(c nsallocv1.NamespaceServiceClient, appID string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.Resolve(ctx, &nsallocv1.ResolveRequest{
			Key: &nsallocv1.ResolveRequest_AppId{AppId: appID},
		})
		return err
	}
}

func resolveName(c nsallocv1.NamespaceServiceClient, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.Resolve(ctx, &nsallocv1.ResolveRequest{
			Key: &nsallocv1.ResolveRequest_Namespace{Namespace: name},
		})
		return err
	}
}

func release(c nsallocv1.NamespaceServiceClient, appID string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.Release(ctx, &nsallocv1.ReleaseRequest{AppId: appID})
		return err
	}
}

func list(
	c nsallocv1.NamespaceServiceClient, req *nsallocv1.ListRequest,
) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.List(ctx, req)
		return err
	}
}

func preview(c nsallocv1.NamespaceServiceClient, name, appID string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.Preview(ctx, &nsallocv1.PreviewRequest{AppName: name, AppId: appID})
		return err
	}
}
