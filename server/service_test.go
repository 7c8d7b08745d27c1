package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/nsalloc/nsalloc/naming"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

func TestReserve(t *testing.T) {
	ts := startServer(t, nil)
	ctx := testCtx(t)

	// The story runs in order: each step sees the state the earlier left.
	steps := []struct {
		name        string
		req         *nsallocv1.ReserveRequest
		wantName    string
		wantCreated bool
		wantErr     *wantError
	}{
		{name: "first app gets the base",
			req:      &nsallocv1.ReserveRequest{AppId: appMath, AppName: "Math"},
			wantName: "math", wantCreated: true},
		{name: "same app again keeps its namespace whatever its name",
			req:      &nsallocv1.ReserveRequest{AppId: appMath, AppName: "Physics"},
			wantName: "math"},
		{name: "upper-case app id is the same app",
			req:      &nsallocv1.ReserveRequest{AppId: strings.ToUpper(appMath), AppName: "Math"},
			wantName: "math"},
		{name: "second app gets a tag",
			req:      &nsallocv1.ReserveRequest{AppId: appMath2, AppName: "math"},
			wantName: "math-x1c2d3e4f", wantCreated: true},
		{name: "exact on a taken key is refused",
			req: &nsallocv1.ReserveRequest{AppId: appOther, AppName: "Ma-th", Exact: true},
			wantErr: &wantError{code: codes.AlreadyExists, reason: "NAMESPACE_TAKEN",
				words: []string{`"ma-th"`, `"math"`}}},
		{name: "exact on a reserved name is refused",
			req: &nsallocv1.ReserveRequest{AppId: appOther, AppName: "WASI", Exact: true},
			wantErr: &wantError{code: codes.AlreadyExists, reason: "NAMESPACE_RESERVED",
				words: []string{`"wasi"`, "reserved"}}},
		{name: "exact without usable characters is invalid",
			req: &nsallocv1.ReserveRequest{AppId: appOther, AppName: "!!!", Exact: true},
			wantErr: &wantError{code: codes.InvalidArgument, field: "app_name",
				words: []string{"app_name", "exact"}}},
		{name: "a reserved base gets a tag",
			req:      &nsallocv1.ReserveRequest{AppId: appOther, AppName: "wasi"},
			wantName: "wasi-xaa000000", wantCreated: true},
		{name: "no usable characters gives app and a tag",
			req:      &nsallocv1.ReserveRequest{AppId: appUnknown, AppName: "日本語"},
			wantName: "app-xbb000000", wantCreated: true},
		{name: "exact on a free name succeeds",
			req: &nsallocv1.ReserveRequest{
				AppId: "cc000000-0000-4000-8000-000000000003", AppName: "Café", Exact: true,
			},
			wantName: "cafe", wantCreated: true},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			resp, err := ts.client.Reserve(ctx, step.req)
			if step.wantErr != nil {
				checkError(t, err, *step.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			ns := resp.GetNamespace()
			if ns.GetName() != step.wantName || resp.GetCreated() != step.wantCreated {
				t.Errorf("got %q created=%v, want %q created=%v",
					ns.GetName(), resp.GetCreated(), step.wantName, step.wantCreated)
			}
			if ns.GetAppId() != strings.ToLower(step.req.GetAppId()) {
				t.Errorf("app_id = %q, want the canonical form of %q",
					ns.GetAppId(), step.req.GetAppId())
			}
			if ns.GetState() != nsallocv1.State_STATE_ACTIVE || ns.GetCreateTime() == nil ||
				ns.GetRetireTime() != nil {
				t.Errorf("namespace = %v, want active with a create time only", ns)
			}
		})
	}
}

func TestReserveRetired(t *testing.T) {
	ts := startServer(t, nil)
	ts.reserve(t, appMath, "math")
	ts.release(t, appMath)

	_, err := ts.client.Reserve(testCtx(t), &nsallocv1.ReserveRequest{
		AppId: appMath, AppName: "math",
	})
	checkError(t, err, wantError{code: codes.FailedPrecondition, reason: "APP_RETIRED",
		words: []string{appMath, `"math"`}})

	// The retired name is never given again, not even with exact.
	_, err = ts.client.Reserve(testCtx(t), &nsallocv1.ReserveRequest{
		AppId: appOther, AppName: "Math", Exact: true,
	})
	checkError(t, err, wantError{code: codes.AlreadyExists, reason: "NAMESPACE_RETIRED",
		words: []string{`"math"`, "retired"}})

	got := ts.reserve(t, appOther, "Math")
	if got.GetNamespace().GetName() != "math-xaa000000" {
		t.Errorf("Reserve after a retired base = %q, want %q",
			got.GetNamespace().GetName(), "math-xaa000000")
	}
}

func TestResolve(t *testing.T) {
	ts := startServer(t, nil)
	ts.reserve(t, appMath, "Math")
	ts.reserve(t, appOther, "Old")
	ts.release(t, appOther)

	tests := []struct {
		name     string
		req      *nsallocv1.ResolveRequest
		wantName string
		wantErr  *wantError
	}{
		{name: "by app id",
			req: &nsallocv1.ResolveRequest{Key: &nsallocv1.ResolveRequest_AppId{
				AppId: appMath}},
			wantName: "math"},
		{name: "by upper-case app id",
			req: &nsallocv1.ResolveRequest{Key: &nsallocv1.ResolveRequest_AppId{
				AppId: strings.ToUpper(appMath)}},
			wantName: "math"},
		{name: "by namespace",
			req: &nsallocv1.ResolveRequest{Key: &nsallocv1.ResolveRequest_Namespace{
				Namespace: "math"}},
			wantName: "math"},
		{name: "unknown app",
			req: &nsallocv1.ResolveRequest{Key: &nsallocv1.ResolveRequest_AppId{
				AppId: appUnknown}},
			wantErr: &wantError{code: codes.NotFound, reason: "APP_NOT_FOUND",
				words: []string{appUnknown}}},
		{name: "unknown namespace",
			req: &nsallocv1.ResolveRequest{Key: &nsallocv1.ResolveRequest_Namespace{
				Namespace: "physics"}},
			wantErr: &wantError{code: codes.NotFound, reason: "NAMESPACE_NOT_FOUND",
				words: []string{`"physics"`}}},
		{name: "same key is not the same name",
			req: &nsallocv1.ResolveRequest{Key: &nsallocv1.ResolveRequest_Namespace{
				Namespace: "ma-th"}},
			wantErr: &wantError{code: codes.NotFound, reason: "NAMESPACE_NOT_FOUND"}},
		{name: "retired by name",
			req: &nsallocv1.ResolveRequest{Key: &nsallocv1.ResolveRequest_Namespace{
				Namespace: "old"}},
			wantErr: &wantError{code: codes.FailedPrecondition, reason: "NAMESPACE_RETIRED",
				words: []string{`"old"`, "include_retired"}}},
		{name: "retired by app",
			req: &nsallocv1.ResolveRequest{Key: &nsallocv1.ResolveRequest_AppId{
				AppId: appOther}},
			wantErr: &wantError{code: codes.FailedPrecondition, reason: "NAMESPACE_RETIRED"}},
		{name: "retired with include_retired",
			req: &nsallocv1.ResolveRequest{
				Key:            &nsallocv1.ResolveRequest_Namespace{Namespace: "old"},
				IncludeRetired: true,
			},
			wantName: "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ts.client.Resolve(testCtx(t), tt.req)
			if tt.wantErr != nil {
				checkError(t, err, *tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got := resp.GetNamespace().GetName(); got != tt.wantName {
				t.Errorf("got %q, want %q", got, tt.wantName)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	ts := startServer(t, nil)
	ts.reserve(t, appMath, "math")
	ctx := testCtx(t)

	first, err := ts.client.Release(ctx, &nsallocv1.ReleaseRequest{AppId: appMath})
	if err != nil {
		t.Fatalf("Release: %v", err)
	}
	ns := first.GetNamespace()
	if ns.GetName() != "math" || ns.GetState() != nsallocv1.State_STATE_RETIRED ||
		ns.GetRetireTime() == nil {
		t.Fatalf("Release = %v, want math retired with a retire time", ns)
	}

	// Releasing again answers the same, retire time included.
	again, err := ts.client.Release(ctx, &nsallocv1.ReleaseRequest{AppId: appMath})
	if err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if !again.GetNamespace().GetRetireTime().AsTime().Equal(ns.GetRetireTime().AsTime()) {
		t.Errorf("second Release moved the retire time: %v, want %v",
			again.GetNamespace().GetRetireTime(), ns.GetRetireTime())
	}

	_, err = ts.client.Release(ctx, &nsallocv1.ReleaseRequest{AppId: appUnknown})
	checkError(t, err, wantError{code: codes.NotFound, reason: "APP_NOT_FOUND",
		words: []string{appUnknown}})
}

func TestList(t *testing.T) {
	ts := startServer(t, nil)
	const total = 250
	var wg sync.WaitGroup
	for i := range total {
		wg.Go(func() {
			ts.reserve(t, fmt.Sprintf("%08x-0000-4000-8000-000000000000", i+1),
				fmt.Sprintf("n%03d", i))
		})
	}
	wg.Wait()
	ts.reserve(t, appMath, "math")
	ctx := testCtx(t)

	t.Run("pages", func(t *testing.T) {
		var names []string
		token := ""
		for range total {
			resp, err := ts.client.List(ctx, &nsallocv1.ListRequest{
				PageSize: 7, PageToken: token, Prefix: "n",
			})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			for _, ns := range resp.GetNamespaces() {
				names = append(names, ns.GetName())
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if len(names) != total {
			t.Fatalf("listed %d namespaces, want %d", len(names), total)
		}
		for i, name := range names {
			if want := fmt.Sprintf("n%03d", i); name != want {
				t.Fatalf("namespace %d = %q, want %q", i, name, want)
			}
		}
	})

	t.Run("default page size", func(t *testing.T) {
		resp, err := ts.client.List(ctx, &nsallocv1.ListRequest{})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if n := len(resp.GetNamespaces()); n != 100 || resp.GetNextPageToken() == "" {
			t.Errorf("got %d namespaces, token %q; want 100 and a token",
				n, resp.GetNextPageToken())
		}
	})

	t.Run("largest page", func(t *testing.T) {
		resp, err := ts.client.List(ctx, &nsallocv1.ListRequest{PageSize: 1000})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if n := len(resp.GetNamespaces()); n != total+1 || resp.GetNextPageToken() != "" {
			t.Errorf("got %d namespaces, token %q; want %d and none",
				n, resp.GetNextPageToken(), total+1)
		}
	})

	t.Run("token of another prefix", func(t *testing.T) {
		resp, err := ts.client.List(ctx, &nsallocv1.ListRequest{PageSize: 1, Prefix: "n"})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		_, err = ts.client.List(ctx, &nsallocv1.ListRequest{
			PageToken: resp.GetNextPageToken(), Prefix: "m",
		})
		checkError(t, err, wantError{code: codes.InvalidArgument, field: "page_token",
			words: []string{"page_token", "prefix"}})
	})

	t.Run("tampered token", func(t *testing.T) {
		resp, err := ts.client.List(ctx, &nsallocv1.ListRequest{PageSize: 1})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		token := []byte(resp.GetNextPageToken())
		token[2] ^= 1
		_, err = ts.client.List(ctx, &nsallocv1.ListRequest{PageToken: string(token)})
		checkError(t, err, wantError{code: codes.InvalidArgument, field: "page_token"})
	})
}

func TestPreview(t *testing.T) {
	ts := startServer(t, nil)
	ts.reserve(t, appMath, "math")
	ts.reserve(t, appOther, "old")
	ts.release(t, appOther)
	none := nsallocv1.Unavailability_UNAVAILABILITY_UNSPECIFIED

	tests := []struct {
		name string
		req  *nsallocv1.PreviewRequest
		want *nsallocv1.PreviewResponse
	}{
		{name: "free",
			req:  &nsallocv1.PreviewRequest{AppName: "Physics Lab"},
			want: &nsallocv1.PreviewResponse{BaseName: "physics-lab", BaseFree: true}},
		{name: "free with app id",
			req: &nsallocv1.PreviewRequest{AppName: "Physics", AppId: appUnknown},
			want: &nsallocv1.PreviewResponse{BaseName: "physics", BaseFree: true,
				Namespace: "physics"}},
		{name: "taken",
			req: &nsallocv1.PreviewRequest{AppName: "Ma th", AppId: appUnknown},
			want: &nsallocv1.PreviewResponse{BaseName: "ma-th",
				Unavailability:       nsallocv1.Unavailability_UNAVAILABILITY_TAKEN,
				ConflictingNamespace: "math", Namespace: "ma-th-xbb000000"}},
		{name: "retired",
			req: &nsallocv1.PreviewRequest{AppName: "OLD"},
			want: &nsallocv1.PreviewResponse{BaseName: "old",
				Unavailability:       nsallocv1.Unavailability_UNAVAILABILITY_RETIRED,
				ConflictingNamespace: "old"}},
		{name: "reserved",
			req: &nsallocv1.PreviewRequest{AppName: "Spin", AppId: appUnknown},
			want: &nsallocv1.PreviewResponse{BaseName: "spin",
				Unavailability: nsallocv1.Unavailability_UNAVAILABILITY_RESERVED,
				Namespace:      "spin-xbb000000"}},
		{name: "no usable characters",
			req: &nsallocv1.PreviewRequest{AppName: "!!!", AppId: appUnknown},
			want: &nsallocv1.PreviewResponse{
				Unavailability: nsallocv1.Unavailability_UNAVAILABILITY_NO_USABLE_CHARACTERS,
				Namespace:      "app-xbb000000"}},
		{name: "existing app",
			req: &nsallocv1.PreviewRequest{AppName: "Anything", AppId: appMath},
			want: &nsallocv1.PreviewResponse{BaseName: "anything", BaseFree: true,
				Namespace: "math"}},
		{name: "released app",
			req:  &nsallocv1.PreviewRequest{AppName: "Anything", AppId: appOther},
			want: &nsallocv1.PreviewResponse{BaseName: "anything", BaseFree: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.snapshot(t)
			got, err := ts.client.Preview(testCtx(t), tt.req)
			if err != nil {
				t.Fatalf("Preview: %v", err)
			}
			if got.GetBaseName() != tt.want.GetBaseName() ||
				got.GetBaseFree() != tt.want.GetBaseFree() ||
				got.GetUnavailability() != tt.want.GetUnavailability() ||
				got.GetConflictingNamespace() != tt.want.GetConflictingNamespace() ||
				got.GetNamespace() != tt.want.GetNamespace() {
				t.Errorf("Preview = %v, want %v", got, tt.want)
			}
			if got.GetBaseFree() != (got.GetUnavailability() == none) {
				t.Errorf("base_free %v disagrees with %s",
					got.GetBaseFree(), got.GetUnavailability())
			}
			hasExisting := tt.req.GetAppId() == appMath || tt.req.GetAppId() == appOther
			if (got.GetExisting() != nil) != hasExisting {
				t.Errorf("existing = %v, want one: %v", got.GetExisting(), hasExisting)
			}
			if after := ts.snapshot(t); len(after) != len(before) {
				t.Errorf("Preview wrote: %d records before, %d after", len(before), len(after))
			}
		})
	}
}

// TestReserveRace races 64 clients over names that share one key.
func TestReserveRace(t *testing.T) {
	ts := startServer(t, nil)
	ctx := testCtx(t)
	names := []string{"race", "Race", "ra-ce", "race!"}
	const clients, apps = 64, 2048

	type result struct {
		appID, name string
		err         error
	}
	results := make(chan result, apps)
	work := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range work {
				appID := fmt.Sprintf("%08x-%04x-4000-8000-%012x", i*7919+1, i, i)
				resp, err := ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{
					AppId: appID, AppName: names[i%len(names)],
				})
				results <- result{appID, resp.GetNamespace().GetName(), err}
			}
		})
	}
	for i := range apps {
		work <- i
	}
	close(work)
	wg.Wait()
	close(results)

	owner := map[string]string{}
	baseHolders := 0
	for r := range results {
		if r.err != nil {
			t.Fatalf("Reserve(%s): %v", r.appID, r.err)
		}
		if err := naming.ValidateNamespace(r.name); err != nil {
			t.Errorf("namespace %q is not valid: %v", r.name, err)
		}
		if prev, dup := owner[r.name]; dup {
			t.Fatalf("namespace %q given to %s and %s", r.name, prev, r.appID)
		}
		owner[r.name] = r.appID
		if naming.Key(r.name) == "race" {
			baseHolders++
		}
	}
	if baseHolders != 1 {
		t.Errorf("%d apps hold key %q, want exactly 1", baseHolders, "race")
	}

	for name, appID := range owner {
		resp, err := ts.client.Resolve(ctx, &nsallocv1.ResolveRequest{
			Key: &nsallocv1.ResolveRequest_AppId{AppId: appID},
		})
		if err != nil || resp.GetNamespace().GetName() != name {
			t.Fatalf("Resolve(%s) = %q, %v; want %q",
				appID, resp.GetNamespace().GetName(), err, name)
		}
	}
}

// TestReserveIdempotentUnderLoad sends one app's Reserve 100 times at once.
func TestReserveIdempotentUnderLoad(t *testing.T) {
	ts := startServer(t, nil)
	ctx := testCtx(t)
	const calls = 100

	var wg sync.WaitGroup
	responses := make([]*nsallocv1.ReserveResponse, calls)
	errs := make([]error, calls)
	for i := range calls {
		wg.Go(func() {
			responses[i], errs[i] = ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{
				AppId: appMath, AppName: fmt.Sprintf("math %d", i%3),
			})
		})
	}
	wg.Wait()

	created := 0
	names := map[string]bool{}
	for i, resp := range responses {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		names[resp.GetNamespace().GetName()] = true
		if resp.GetCreated() {
			created++
		}
	}
	if len(names) != 1 || created != 1 {
		t.Errorf("got namespaces %v with created=true %d times; want one namespace, created once",
			names, created)
	}
	if n := len(ts.snapshot(t)); n != 1 {
		t.Errorf("store holds %d records, want 1", n)
	}
}
