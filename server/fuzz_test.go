package server_test

import (
	"context"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nsalloc/nsalloc/naming"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store/bolt"
)

// FuzzRequests sends arbitrary fields to the handlers that do not write. A
// request is either answered with valid namespaces or refused with
// INVALID_ARGUMENT (NOT_FOUND for a look-up in the empty store); it never
// panics and never fails otherwise.
func FuzzRequests(f *testing.F) {
	f.Add("Math", "9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e", "math", "", "ma")
	f.Add("", "", "", "abc", "")
	f.Add("caf\xe9", "9423DFAA-2BD8-43FA-BCD9-B0599EA44D5E", "Math", "AQ", "Ma")
	f.Add("a\x00b", "{9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e}", "math-9423dfaa", "////", "-")
	f.Add("日本語", "00000000-0000-0000-0000-000000000000", "a--b", "AQFtAA", "a-")

	db, err := bolt.Open(filepath.Join(f.TempDir(), "nsalloc.db"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	svc, err := server.NewService(context.Background(), server.Options{Store: db})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, appName, appID, namespace, token, prefix string) {
		ctx := context.Background()

		preview, err := svc.Preview(ctx, &nsallocv1.PreviewRequest{AppName: appName, AppId: appID})
		requireCode(t, "Preview", err, codes.InvalidArgument)
		if err == nil {
			for _, name := range []string{preview.GetBaseName(), preview.GetNamespace()} {
				if name != "" && !naming.IsNamespace(name) {
					t.Fatalf("Preview(%q, %q) answered %q, not a namespace", appName, appID, name)
				}
			}
		}

		_, err = svc.Resolve(ctx, &nsallocv1.ResolveRequest{
			Key: &nsallocv1.ResolveRequest_Namespace{Namespace: namespace},
		})
		requireCode(t, "Resolve", err, codes.InvalidArgument, codes.NotFound)

		_, err = svc.History(ctx, &nsallocv1.HistoryRequest{Namespace: namespace})
		requireCode(t, "History", err, codes.InvalidArgument, codes.NotFound)

		_, err = svc.List(ctx, &nsallocv1.ListRequest{PageToken: token, Prefix: prefix})
		requireCode(t, "List", err, codes.InvalidArgument)
	})
}

// requireCode fails unless err is nil or a status with one of codes.
func requireCode(t *testing.T, what string, err error, allowed ...codes.Code) {
	t.Helper()
	if err == nil {
		return
	}
	got := status.Code(err)
	for _, code := range allowed {
		if got == code {
			return
		}
	}
	t.Fatalf("%s: %v, want success or one of %v", what, err, allowed)
}
