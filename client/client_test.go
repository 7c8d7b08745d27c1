package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nsalloc/nsalloc/client"
	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store/bolt"
)

func TestReserve(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := dial(t, ts.Addr())
	ctx := testCtx(t)

	exact := []client.ReserveOption{client.Exact()}
	// The steps run in order on one database: each sees what the ones
	// before it stored.
	steps := []struct {
		name          string
		releaseBefore string // app released before the call
		appID         string
		appName       string
		opts          []client.ReserveOption
		wantName      string
		wantCreated   bool
		wantErr       *wantError
	}{
		{name: "first", appID: appMath, appName: "Math", wantName: "math", wantCreated: true},
		{name: "again", appID: appMath, appName: "Other", wantName: "math"},
		{name: "tagged", appID: appMath2, appName: "math", wantName: "math-x1c2d3e4f",
			wantCreated: true},
		{name: "exact free", appID: appOther, appName: "Graph", opts: exact,
			wantName: "graph", wantCreated: true},
		{name: "exact taken", appID: appUnknown, appName: "MATH", opts: exact,
			wantErr: &wantError{is: client.ErrTaken, reason: client.ReasonNamespaceTaken}},
		{name: "exact reserved", appID: appUnknown, appName: "Admin", opts: exact,
			wantErr: &wantError{is: client.ErrTaken, reason: client.ReasonNamespaceReserved}},
		{name: "exact retired", releaseBefore: appMath, appID: appUnknown, appName: "math",
			opts:    exact,
			wantErr: &wantError{is: client.ErrTaken, reason: client.ReasonNamespaceRetired}},
		{name: "released app", appID: appMath, appName: "Math",
			wantErr: &wantError{is: client.ErrRetired, reason: client.ReasonAppRetired}},
		{name: "bad app id", appID: "9423dfaa", appName: "Math",
			wantErr: &wantError{is: client.ErrInvalid, field: "app_id"}},
		{name: "empty app name", appID: appUnknown, appName: "",
			wantErr: &wantError{is: client.ErrInvalid, field: "app_name"}},
	}

	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.releaseBefore != "" {
				if _, err := c.Release(ctx, step.releaseBefore); err != nil {
					t.Fatalf("Release(%s): %v", step.releaseBefore, err)
				}
			}

			ns, created, err := c.Reserve(ctx, step.appID, step.appName, step.opts...)

			if step.wantErr != nil {
				checkError(t, err, *step.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			if ns.Name != step.wantName || created != step.wantCreated {
				t.Errorf("got %q, created %v; want %q, created %v",
					ns.Name, created, step.wantName, step.wantCreated)
			}
			if ns.AppID != step.appID || ns.State != client.StateActive ||
				ns.CreateTime.IsZero() || !ns.RetireTime.IsZero() {
				t.Errorf("got %+v, want app %s, active, created at some time, not retired",
					ns, step.appID)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := dial(t, ts.Addr())
	ctx := testCtx(t)
	reserve(t, c, appMath, "Math")
	reserve(t, c, appMath2, "Graph")
	if _, err := c.Release(ctx, appMath2); err != nil {
		t.Fatalf("Release: %v", err)
	}

	tests := []struct {
		name        string
		resolve     func() (client.Namespace, error)
		wantName    string
		wantState   client.State
		wantErr     *wantError
		wantRetired bool
	}{
		{
			name:     "by app",
			resolve:  func() (client.Namespace, error) { return c.ResolveApp(ctx, appMath) },
			wantName: "math", wantState: client.StateActive,
		},
		{
			name:     "by name",
			resolve:  func() (client.Namespace, error) { return c.ResolveName(ctx, "math") },
			wantName: "math", wantState: client.StateActive,
		},
		{
			name:    "unknown app",
			resolve: func() (client.Namespace, error) { return c.ResolveApp(ctx, appUnknown) },
			wantErr: &wantError{is: client.ErrNotFound, reason: client.ReasonAppNotFound},
		},
		{
			name:    "unknown name",
			resolve: func() (client.Namespace, error) { return c.ResolveName(ctx, "nope") },
			wantErr: &wantError{is: client.ErrNotFound, reason: client.ReasonNamespaceNotFound},
		},
		{
			name:    "retired by app",
			resolve: func() (client.Namespace, error) { return c.ResolveApp(ctx, appMath2) },
			wantErr: &wantError{is: client.ErrRetired, reason: client.ReasonNamespaceRetired},
		},
		{
			name:    "retired by name",
			resolve: func() (client.Namespace, error) { return c.ResolveName(ctx, "graph") },
			wantErr: &wantError{is: client.ErrRetired, reason: client.ReasonNamespaceRetired},
		},
		{
			name: "retired included",
			resolve: func() (client.Namespace, error) {
				return c.ResolveName(ctx, "graph", client.IncludeRetired())
			},
			wantName: "graph", wantState: client.StateRetired,
		},
		{
			name: "retired app included",
			resolve: func() (client.Namespace, error) {
				return c.ResolveApp(ctx, appMath2, client.IncludeRetired())
			},
			wantName: "graph", wantState: client.StateRetired,
		},
		{
			name:    "bad app id",
			resolve: func() (client.Namespace, error) { return c.ResolveApp(ctx, "x") },
			wantErr: &wantError{is: client.ErrInvalid, field: "app_id"},
		},
		{
			name:    "bad name",
			resolve: func() (client.Namespace, error) { return c.ResolveName(ctx, "Math") },
			wantErr: &wantError{is: client.ErrInvalid, field: "namespace"},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := tt.resolve()

			if tt.wantErr != nil {
				checkError(t, err, *tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if ns.Name != tt.wantName || ns.State != tt.wantState {
				t.Errorf("got %q %v, want %q %v", ns.Name, ns.State, tt.wantName, tt.wantState)
			}
			retired := !ns.RetireTime.IsZero()
			if retired != (tt.wantState == client.StateRetired) {
				t.Errorf("got RetireTime %v for a namespace %v", ns.RetireTime, ns.State)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := dial(t, ts.Addr())
	ctx := testCtx(t)
	reserved := reserve(t, c, appMath, "Math")

	tests := []struct {
		name    string
		appID   string
		wantErr *wantError
	}{
		{name: "active", appID: appMath},
		{name: "already released", appID: appMath},
		{name: "unknown", appID: appUnknown,
			wantErr: &wantError{is: client.ErrNotFound, reason: client.ReasonAppNotFound}},
		{name: "bad app id", appID: "",
			wantErr: &wantError{is: client.ErrInvalid, field: "app_id"}},
	}

	var firstRetire time.Time
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := c.Release(ctx, tt.appID)

			if tt.wantErr != nil {
				checkError(t, err, *tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Release: %v", err)
			}
			if ns.Name != reserved.Name || ns.State != client.StateRetired {
				t.Errorf("got %q %v, want %q retired", ns.Name, ns.State, reserved.Name)
			}
			if firstRetire.IsZero() {
				firstRetire = ns.RetireTime
			}
			if ns.RetireTime.IsZero() || !ns.RetireTime.Equal(firstRetire) {
				t.Errorf("got RetireTime %v, want %v, the first release's", ns.RetireTime,
					firstRetire)
			}
		})
	}
}

func TestList(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := dial(t, ts.Addr())
	ctx := testCtx(t)

	// More namespaces than one page of List holds, reserved concurrently
	// through the one client.
	const loads = 1005
	var wg sync.WaitGroup
	errs := make(chan error, loads)
	ids := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range ids {
				id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1)
				if _, _, err := c.Reserve(ctx, id, fmt.Sprintf("load %04d", i)); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range loads {
		ids <- i
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Reserve: %v", err)
	}
	reserve(t, c, appMath, "Math")

	tests := []struct {
		name      string
		prefix    string
		wantCount int
		wantFirst string
		wantLast  string
	}{
		{name: "all", prefix: "", wantCount: loads + 1, wantFirst: "load0000", wantLast: "math"},
		{name: "prefix over pages", prefix: "load", wantCount: loads,
			wantFirst: "load0000", wantLast: "load1004"},
		{name: "prefix", prefix: "ma", wantCount: 1, wantFirst: "math", wantLast: "math"},
		{name: "none", prefix: "zz", wantCount: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var names []string
			for ns, err := range c.List(ctx, tt.prefix) {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				names = append(names, ns.Name)
			}

			if len(names) != tt.wantCount {
				t.Fatalf("got %d namespaces, want %d", len(names), tt.wantCount)
			}
			if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
				t.Errorf("names are not strictly increasing")
			}
			if len(names) > 0 && (names[0] != tt.wantFirst || names[len(names)-1] != tt.wantLast) {
				t.Errorf("got %q … %q, want %q … %q",
					names[0], names[len(names)-1], tt.wantFirst, tt.wantLast)
			}
		})
	}

	t.Run("break", func(t *testing.T) {
		var got int
		for _, err := range c.List(ctx, "") {
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got++; got == 3 {
				break
			}
		}
		if got != 3 {
			t.Errorf("got %d namespaces, want 3", got)
		}
	})

	t.Run("error", func(t *testing.T) {
		var errs []error
		for ns, err := range c.List(ctx, "Load") {
			if err == nil {
				t.Fatalf("got %q, want an error", ns.Name)
			}
			errs = append(errs, err)
		}
		if len(errs) != 1 {
			t.Fatalf("got %d errors, want 1", len(errs))
		}
		checkError(t, errs[0], wantError{is: client.ErrInvalid, field: "prefix"})
	})
}

func TestListPage(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := dial(t, ts.Addr())
	ctx := testCtx(t)
	for i, name := range []string{"Alpha", "Beta", "Gamma"} {
		reserve(t, c, fmt.Sprintf("%08x-0000-4000-8000-000000000001", i+1), name)
	}

	first, err := c.ListPage(ctx, "", "", 2)
	if err != nil {
		t.Fatalf("ListPage: %v", err)
	}
	if got := pageNames(first); !slices.Equal(got, []string{"alpha", "beta"}) ||
		first.NextPageToken == "" {
		t.Fatalf("first page: got %q, token %q; want [alpha beta] and a token",
			got, first.NextPageToken)
	}

	second, err := c.ListPage(ctx, "", first.NextPageToken, 2)
	if err != nil {
		t.Fatalf("ListPage: %v", err)
	}
	if got := pageNames(second); !slices.Equal(got, []string{"gamma"}) ||
		second.NextPageToken != "" {
		t.Fatalf("second page: got %q, token %q; want [gamma] and no token",
			got, second.NextPageToken)
	}

	tests := []struct {
		name      string
		prefix    string
		token     string
		size      int
		wantField string
	}{
		{name: "size too large", size: 5000, wantField: "page_size"},
		{name: "size past int32", size: 1 << 40, wantField: "page_size"},
		{name: "negative size", size: -1, wantField: "page_size"},
		{name: "forged token", token: "forged", wantField: "page_token"},
		{name: "token of another prefix", prefix: "b", token: first.NextPageToken,
			wantField: "page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ListPage(ctx, tt.prefix, tt.token, tt.size)
			checkError(t, err, wantError{is: client.ErrInvalid, field: tt.wantField})
		})
	}
}

func pageNames(p client.Page) []string {
	names := make([]string, len(p.Namespaces))
	for i, ns := range p.Namespaces {
		names[i] = ns.Name
	}
	return names
}

func TestPreview(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := dial(t, ts.Addr())
	ctx := testCtx(t)
	reserve(t, c, appMath, "Math")

	tests := []struct {
		name     string
		appName  string
		appID    string
		want     client.Preview
		wantErr  *wantError
		existing string
	}{
		{name: "free", appName: "Graph", want: client.Preview{BaseName: "graph", BaseFree: true}},
		{name: "free for an app", appName: "Graph", appID: appOther,
			want: client.Preview{BaseName: "graph", BaseFree: true, Namespace: "graph"}},
		{name: "taken", appName: "math", appID: appOther, want: client.Preview{
			BaseName: "math", Unavailability: client.UnavailabilityTaken,
			ConflictingNamespace: "math", Namespace: "math-xaa000000",
		}},
		{name: "existing", appName: "Other", appID: appMath, existing: "math",
			want: client.Preview{BaseName: "other", BaseFree: true, Namespace: "math"}},
		{name: "reserved", appName: "Admin", want: client.Preview{
			BaseName: "admin", Unavailability: client.UnavailabilityReserved,
		}},
		{name: "no usable characters", appName: "---", want: client.Preview{
			Unavailability: client.UnavailabilityNoUsableCharacters,
		}},
		{name: "empty name", appName: "",
			wantErr: &wantError{is: client.ErrInvalid, field: "app_name"}},
		{name: "bad app id", appName: "Math", appID: "nope",
			wantErr: &wantError{is: client.ErrInvalid, field: "app_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Preview(ctx, tt.appName, tt.appID)

			if tt.wantErr != nil {
				checkError(t, err, *tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Preview: %v", err)
			}
			if got.Existing.Name != tt.existing {
				t.Errorf("got existing %q, want %q", got.Existing.Name, tt.existing)
			}
			got.Existing = client.Namespace{}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := dial(t, ts.Addr())
	ctx := testCtx(t)
	reserve(t, c, appMath, "Math")
	released, err := c.Release(ctx, appMath)
	if err != nil {
		t.Fatalf("Release: %v", err)
	}

	events, err := c.History(ctx, "math")
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	want := []client.Event{
		{Kind: client.EventReserved, Namespace: "math", AppID: appMath,
			Time: released.CreateTime, Caller: server.AnonymousCaller},
		{Kind: client.EventRetired, Namespace: "math", AppID: appMath,
			Time: released.RetireTime, Caller: server.AnonymousCaller},
	}
	if len(events) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(events), len(want), events)
	}
	for i := range want {
		if got := events[i]; got.Kind != want[i].Kind || got.Namespace != want[i].Namespace ||
			got.AppID != want[i].AppID || !got.Time.Equal(want[i].Time) ||
			got.Caller != want[i].Caller {
			t.Errorf("event %d: got %+v, want %+v", i, got, want[i])
		}
	}

	tests := []struct {
		name      string
		namespace string
		want      wantError
	}{
		{name: "unknown", namespace: "nope",
			want: wantError{is: client.ErrNotFound, reason: client.ReasonNamespaceNotFound}},
		{name: "bad name", namespace: "No",
			want: wantError{is: client.ErrInvalid, field: "namespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.History(ctx, tt.namespace)
			checkError(t, err, tt.want)
		})
	}
}

func TestBackup(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := dial(t, ts.Addr())
	ctx := testCtx(t)
	want := reserve(t, c, appMath, "Math")

	var buf bytes.Buffer
	n, err := c.Backup(ctx, &buf)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if n != int64(buf.Len()) || n == 0 {
		t.Fatalf("got n = %d, want %d bytes written and more than 0", n, buf.Len())
	}

	// The copy is a database that serves what was reserved.
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatalf("write copy: %v", err)
	}
	db, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatalf("open copy: %v", err)
	}
	defer db.Close()
	rec, err := db.ByName(ctx, "math")
	if err != nil || rec.AppID != want.AppID {
		t.Fatalf("copy: got %+v, %v; want the record of %s", rec, err, want.AppID)
	}
}

func TestBackupWriterFails(t *testing.T) {
	ts := startServer(t, serverConfig{})
	var attempts attemptCounter
	c := dial(t, ts.Addr(), attempts.option())
	ctx := testCtx(t)

	broken := errors.New("disk full")
	tests := []struct {
		name string
		w    io.Writer
		want error
	}{
		{name: "error", w: failingWriter{err: broken}, want: broken},
		{name: "short write", w: failingWriter{short: true}, want: io.ErrShortWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attempts.n.Store(0)

			_, err := c.Backup(ctx, tt.w)

			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if got := attempts.n.Load(); got != 1 {
				t.Errorf("got %d attempts, want 1", got)
			}
		})
	}
}

// failingWriter takes half of the first write and fails.
type failingWriter struct {
	err   error
	short bool
}

func (w failingWriter) Write(p []byte) (int, error) {
	if w.short {
		return len(p) / 2, nil
	}
	return len(p) / 2, w.err
}

// reserve reserves a namespace or fails the test.
func reserve(t *testing.T, c *client.Client, appID, appName string) client.Namespace {
	t.Helper()
	ns, _, err := c.Reserve(testCtx(t), appID, appName)
	if err != nil {
		t.Fatalf("Reserve(%s, %q): %v", appID, appName, err)
	}
	return ns
}
